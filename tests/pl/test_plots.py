"""fastspami.pl.style: every figure renders to a PNG of the size it announces, with matched colours."""

from __future__ import annotations

import colorsys
from itertools import combinations

import anndata as ad
import matplotlib
import matplotlib.image as mpimg
import mudata
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from matplotlib.colors import to_rgb
from matplotlib.container import BarContainer
from sklearn.metrics import adjusted_rand_score
from sklearn.neighbors import NearestNeighbors

from fastspami import pl
from fastspami.methods.registry import method_label

GRID = 12


@pytest.fixture(scope="module")
def spots():
    """A 12 x 12 grid in four quadrant domains 'a'..'d'."""
    rows, cols = np.divmod(np.arange(GRID * GRID), GRID)
    coords = np.column_stack([cols, rows]).astype(float)
    quadrant = (rows >= GRID // 2) * 2 + (cols >= GRID // 2)
    truth = np.array(list("abcd"), dtype=object)[quadrant]
    return coords, truth, quadrant


@pytest.fixture(scope="module")
def scores():
    """A tidy scores table: 2 methods x 2 noise levels x 2 seeds, SpaMI with one ablation."""
    rows = []
    for noise in (0.5, 2.0):
        for seed in (0, 1):
            for method, variant, base in [
                ("spami", "default", 0.9),
                ("spami", "no_cosine", 0.8),
                ("pca_concat", "default", 0.6),
            ]:
                for metric in ("ari", "ami", "nmi", "homogeneity", "morans_i_median"):
                    rows.append(
                        {
                            "dataset": f"sim-noise{noise:g}",
                            "scenario": "sim",
                            "noise": noise,
                            "method": method,
                            "variant": variant,
                            "seed": seed,
                            "clustering": "leiden",
                            "metric": metric,
                            "value": base - 0.1 * noise + 0.01 * seed,
                            "status": "ok",
                            "reason": "",
                        }
                    )
    failed = {**rows[0], "method": "seurat", "value": np.nan, "status": "failed"}
    return pd.DataFrame([*rows, failed])


def rendered(fig, tmp_path, name="figure.png"):
    """Save ``fig`` as PNG, check it is not blank and has figsize * dpi pixels; return it."""
    path = tmp_path / name
    pl.save_figure(fig, path)
    image = mpimg.imread(path)
    width, height = fig.get_size_inches() * pl.style.DPI
    assert abs(image.shape[1] - width) <= 1 and abs(image.shape[0] - height) <= 1
    assert image[..., :3].std() > 0.01, "the figure is blank"
    return image


def bar_groups(ax):
    """The bar groups of an axes (one per hue), without their error bars."""
    return [c for c in ax.containers if isinstance(c, BarContainer)]


def test_domain_maps_match_colours_to_the_truth(spots, tmp_path):
    coords, truth, quadrant = spots
    permuted = (quadrant + 1) % 4  # the same partition under other names
    failed = "failed: RuntimeError: no R"
    fig = pl.domain_maps(coords, {"SpaMI": permuted, "Seurat WNN": failed}, truth)
    rendered(fig, tmp_path)
    truth_ax, spami_ax, seurat_ax = fig.axes[:3]
    assert spami_ax.get_title() == "SpaMI · ARI 1.00"  # the same partition: ARI 1
    np.testing.assert_allclose(
        spami_ax.collections[0].get_facecolors(), truth_ax.collections[0].get_facecolors()
    )
    assert failed in " ".join(t.get_text() for t in seurat_ax.texts).replace("\n", " ")
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend == ["a", "b", "c", "d"]


def test_each_map_panel_gives_the_ari_of_its_clustering(spots, tmp_path):
    coords, truth, quadrant = spots
    rng = np.random.default_rng(1)
    noisy = np.where(rng.random(len(quadrant)) < 0.3, rng.integers(0, 4, len(quadrant)), quadrant)
    name = "PCA (concatenated)"  # with its score, too long for one line of a panel
    fig = pl.domain_maps(coords, {"SpaMI (robust)": noisy, name: quadrant}, truth)
    rendered(fig, tmp_path)
    ari = adjusted_rand_score(truth, noisy)
    assert 0.2 < ari < 0.9
    assert fig.axes[1].get_title() == f"SpaMI (robust) · ARI {ari:.2f}"
    assert fig.axes[2].get_title() == f"{name}\nARI 1.00"


def test_domain_colours_are_distinct_hues_not_shades_of_one():
    """Neighbouring domains must not differ only by shade, as tab20's pairs do."""

    def hue_gaps(colours):
        hues = [colorsys.rgb_to_hsv(*to_rgb(c))[0] * 360 for c in colours]
        return [min(abs(a - b), 360 - abs(a - b)) for a, b in combinations(hues, 2)]

    palette = pl.style.domain_palette([str(i) for i in range(12)])
    colours = list(palette.values())
    assert len({to_rgb(c) for c in colours}) == 12
    first = colours[: pl.style.DISTINCT_HUES]
    assert pl.style.DISTINCT_HUES >= 10
    assert min(hue_gaps(first)) >= 15
    # none is grey, which marks the clusters matched to no domain
    assert min(colorsys.rgb_to_hsv(*to_rgb(c))[1] for c in colours) > 0.4
    # the check tells the old palette apart: tab20 pairs two shades of one hue
    assert min(hue_gaps(matplotlib.colormaps["tab20"].colors[:10])) < 5


def test_extra_clusters_are_grey_and_named_once(spots, tmp_path):
    coords, truth, quadrant = spots
    split = np.where(np.arange(len(quadrant)) % 2 == 0, quadrant, quadrant + 4)  # 8 clusters
    fig = pl.domain_maps(coords, {"over-clustered": split}, truth)
    rendered(fig, tmp_path)
    colours = {tuple(c) for c in fig.axes[1].collections[0].get_facecolors()}
    assert len(colours) == 8
    assert [t.get_text() for t in fig.legends[0].get_texts()][-1] == "unmatched clusters"


def test_maps_without_truth_match_to_the_first_panel(spots, tmp_path):
    coords, _, quadrant = spots
    fig = pl.single_vs_integrated_maps(
        coords, {"RNA only": quadrant, "ADT only": (quadrant + 2) % 4, "RNA + ADT": quadrant}
    )
    rendered(fig, tmp_path)
    first, second = (ax.collections[0].get_facecolors() for ax in fig.axes[:2])
    np.testing.assert_allclose(first, second)
    assert [ax.get_title() for ax in fig.axes[:3]] == ["RNA only", "ADT only", "RNA + ADT"]


def test_embedding_umaps_with_a_fast_reducer(spots, tmp_path):
    coords, truth, quadrant = spots
    rng = np.random.default_rng(0)
    embedding = np.eye(4)[quadrant] + rng.normal(0, 0.1, (len(quadrant), 4))
    fig = pl.embedding_umaps(
        {"SpaMI": embedding, "MOFA+": "unavailable: mofapy2 missing"},
        truth,
        reducer=lambda x: x[:, :2],
        ari={"SpaMI": 0.8712},
    )
    rendered(fig, tmp_path)
    assert fig.axes[0].get_title() == "SpaMI · ARI 0.87"


def test_metric_vs_noise_draws_one_line_per_method(scores, tmp_path):
    fig = pl.metric_vs_noise(scores)
    rendered(fig, tmp_path)
    assert len(fig.axes) == 4  # one scenario x four metrics
    assert len(fig.axes[0].lines) == 2  # the failed method has no line ...
    np.testing.assert_allclose(fig.axes[0].lines[0].get_xdata(), [0.5, 2.0])
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend == ["SpaMI", "Seurat WNN: failed", "PCA (concatenated)"]  # ... but is named


def test_metric_vs_noise_names_scenarios_as_the_reader_does(scores, tmp_path):
    fig = pl.metric_vs_noise(scores, scenario_labels={"sim": "RNA + protein"})
    rendered(fig, tmp_path)
    assert fig.get_suptitle() == "RNA + protein"
    assert [ax.get_title() for ax in fig.axes] == ["ARI", "AMI", "NMI", "Homogeneity"]
    two = pd.concat([scores, scores.assign(scenario="comp")], ignore_index=True)
    labels = {"sim": "RNA + protein", "comp": "RNA + protein, complementary"}
    titles = [ax.get_title() for ax in pl.metric_vs_noise(two, scenario_labels=labels).axes]
    assert "RNA + protein, complementary: ARI" in titles and "RNA + protein: ARI" in titles
    assert not any("comp:" in t or "sim:" in t for t in titles)


def test_metric_vs_noise_names_a_method_that_does_not_apply(scores, tmp_path):
    na = scores[scores["method"] == "pca_concat"].assign(
        method="spatialglue", value=np.nan, status="not_applicable"
    )
    fig = pl.metric_vs_noise(pd.concat([scores, na]))
    rendered(fig, tmp_path)
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "SpatialGlue: not_applicable" in legend


def test_metric_vs_noise_says_at_which_noise_level_runs_failed(scores, tmp_path):
    lost = scores.copy()
    at_2 = lost["noise"] == 2.0
    pca = at_2 & (lost["method"] == "pca_concat")  # both seeds at noise 2
    spami = at_2 & (lost["method"] == "spami") & (lost["variant"] == "default") & lost["seed"].eq(1)
    lost.loc[pca | spami, ["value", "status"]] = [np.nan, "failed"]
    fig = pl.metric_vs_noise(lost)
    rendered(fig, tmp_path)
    legend = [t.get_text().replace("\n", " ") for t in fig.legends[0].get_texts()]
    assert "SpaMI: failed on 1 of 2 seeds at noise 2" in legend
    assert "PCA (concatenated): failed on 2 of 2 seeds at noise 2" in legend
    pca_line = fig.axes[0].lines[1]
    assert np.isnan(pca_line.get_ydata()[1])  # no point drawn at noise 2: the line stops


def test_ablation_bars_one_panel_per_noise_level(scores, tmp_path):
    fig = pl.ablation_bars(scores)
    rendered(fig, tmp_path)
    assert len(fig.axes) == 2
    names = [t.get_text() for t in fig.legends[0].get_texts()]
    assert names == ["full model", "w/o cosine loss"]


def test_ablation_colours_follow_the_variant_not_its_position(scores, tmp_path):
    robust = scores[scores["variant"] == "default"].assign(variant="robust")
    with_cosine = pl.ablation_bars(scores)  # default, no_cosine
    with_robust = pl.ablation_bars(pd.concat([scores, robust]))  # default, no_cosine, robust
    rendered(with_robust, tmp_path)

    def colours(fig):
        legend = fig.legends[0]
        return {
            t.get_text(): tuple(h.get_facecolor())
            for t, h in zip(legend.get_texts(), legend.legend_handles, strict=True)
        }

    first, second = colours(with_cosine), colours(with_robust)
    assert list(second) == ["full model", "w/o cosine loss", "robust preset"]
    assert first["w/o cosine loss"] == second["w/o cosine loss"]
    assert first["full model"] == second["full model"]
    assert len(set(second.values())) == 3
    only_robust = pl.ablation_bars(pd.concat([scores[scores["variant"] == "default"], robust]))
    assert colours(only_robust)["robust preset"] == second["robust preset"]
    assert colours(only_robust)["robust preset"] != first["w/o cosine loss"]  # not by position


def test_metric_bars_names_failed_methods(scores, tmp_path):
    fig = pl.metric_bars(scores[scores["noise"] == 0.5])
    rendered(fig, tmp_path)
    names = [t.get_text() for t in fig.legends[0].get_texts()]
    assert names == ["SpaMI", "Seurat WNN: failed", "PCA (concatenated)"]
    spami_bars = bar_groups(fig.axes[0])[0]
    assert spami_bars[0].get_height() == pytest.approx(0.855)  # mean of 0.85 and 0.86


def test_metric_bars_without_ground_truth_says_so(scores, tmp_path):
    fig = pl.metric_bars(scores[scores["metric"] == "morans_i_median"])
    rendered(fig, tmp_path)
    assert "ground truth" in fig.axes[0].texts[0].get_text()


def test_morans_boxplots(tmp_path):
    morans = pd.DataFrame(
        {
            "method": ["spami"] * 4 + ["random_control"] * 4,
            "variant": "default",
            "seed": 0,
            "clustering": "leiden",
            "cluster": list("abcd") * 2,
            "morans_i": [0.8, 0.9, 0.7, 0.85, 0.0, -0.02, 0.01, 0.03],
        }
    )
    fig = pl.morans_boxplots(morans)
    rendered(fig, tmp_path)
    ticks = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert ticks == ["SpaMI", "Random control"]

    # SpatialGlue does not apply: no Moran's I rows, but the scores table names it
    scores = pd.DataFrame(
        {
            "method": ["spami", "spatialglue"],
            "variant": "default",
            "seed": 0,
            "clustering": "leiden",
            "metric": "morans_i_median",
            "value": [0.8, np.nan],
            "status": ["ok", "not_applicable"],
        }
    )
    fig = pl.morans_boxplots(morans, scores=scores)
    rendered(fig, tmp_path)
    ticks = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert ticks == ["SpaMI", "SpatialGlue (not_applicable)", "Random control"]
    assert [t.get_text() for t in fig.axes[0].texts] == ["not_applicable"]  # its empty slot
    only_na = pl.morans_boxplots(morans.iloc[:0], scores=scores[1:])
    assert "SpatialGlue: not_applicable" in only_na.axes[0].texts[0].get_text().replace("\n", " ")


def test_marker_genes_finds_the_planted_markers(spots):
    _, truth, quadrant = spots
    rng = np.random.default_rng(0)
    expression = rng.normal(1.0, 0.2, (len(quadrant), 10))
    for domain in range(4):
        expression[quadrant == domain, 3 + domain] += 2.0
    names = [f"g{i}" for i in range(10)]
    assert pl.marker_genes(expression, names, truth) == ["g3", "g4", "g5", "g6"]


def _integrated_mudata(quadrant, coords):
    """A MuData as SpaMI's store_result leaves it: counts plus the reconstruction genes."""
    rng = np.random.default_rng(1)
    n_genes = 8
    rates = np.ones((len(quadrant), n_genes))
    for domain in range(4):
        rates[quadrant == domain, domain] = 20.0
    counts = rng.poisson(rates).astype(np.float32)
    rna = ad.AnnData(sp.csr_matrix(counts), var=pd.DataFrame(index=[f"g{i}" for i in range(8)]))
    rna.obs_names = [f"s{i}" for i in range(len(quadrant))]
    rna.obsm["spami_reconstruction_genes"] = np.log1p(rates[:, :6]).astype(np.float32)
    rna.uns["spami_reconstruction_genes"] = [f"g{i}" for i in range(6)]
    adt = ad.AnnData(rng.poisson(5, (len(quadrant), 3)).astype(np.float32), obs=rna.obs)
    with mudata.set_options(pull_on_update=False):
        mdata = mudata.MuData({"rna": rna, "adt": adt})
    mdata.obs["ground_truth"] = pd.Categorical(np.array(list("abcd"))[quadrant])
    mdata.obsm["spatial"] = coords
    return mdata


def test_denoising_maps_input_above_reconstruction(spots, tmp_path):
    coords, _, quadrant = spots
    mdata = _integrated_mudata(quadrant, coords)
    fig = pl.denoising_maps(mdata, ["g1", "not_reconstructed", "g2"])
    rendered(fig, tmp_path)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == ["g1: input", "g2: input", "g1: SpaMI", "g2: SpaMI"]
    found = pl.denoising_maps(mdata)  # markers found by DE per ground-truth domain
    assert [ax.get_title() for ax in found.axes if ax.get_title()][:4] == [
        "g0: input",
        "g1: input",
        "g2: input",
        "g3: input",
    ]


def test_attention_by_domain_plot(tmp_path):
    attention = pd.DataFrame(
        {
            "seed": [0, 0, 0, 0, 1, 1, 1, 1],
            "domain_source": "ground_truth",
            "domain": [1, 1, 2, 2] * 2,
            "modality": ["rna", "adt"] * 4,
            "mean_weight": [0.7, 0.3, 0.4, 0.6, 0.8, 0.2, 0.4, 0.6],
        }
    )
    fig = pl.attention_by_domain_plot(attention)
    rendered(fig, tmp_path)
    rna_bars = bar_groups(fig.axes[0])[0]
    assert [b.get_height() for b in rna_bars] == pytest.approx([0.75, 0.4])


def test_cost_plot_per_dataset_size(tmp_path):
    cost = pd.DataFrame(
        {
            "method": ["spami", "spami", "mofa", "mofa"],
            "variant": "default",
            "dataset": ["small", "large"] * 2,
            "n_spots": [100, 9000] * 2,
            "s": [10.0, 180.0, 5.0, 60.0],
            "max_rss_mb": [500.0, 2200.0, 400.0, 900.0],
            "status": ["ok", "ok", "ok", "failed"],
        }
    )
    fig = pl.cost_plot(cost)
    rendered(fig, tmp_path)
    assert fig.axes[0].get_yscale() == fig.axes[0].get_xscale() == "log"
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["SpaMI", "MOFA+"]
    spami, mofa = (container.lines[0] for container in fig.axes[0].containers)
    assert spami.get_xdata().tolist() == [100, 9000]
    assert spami.get_ydata().tolist() == [10.0, 180.0]
    assert mofa.get_xdata().tolist() == [100]  # MOFA+ failed at 9,000


def test_svg_for_print_and_message_figure(tmp_path):
    fig = pl.message_figure("nothing to draw", "Empty")
    rendered(fig, tmp_path)
    pl.save_figure(fig, tmp_path / "figure.svg")
    text = (tmp_path / "figure.svg").read_text()
    assert text.lstrip().startswith("<?xml") and "nothing to draw" in text


def test_method_labels_and_order():
    assert method_label("spami") == "SpaMI"
    assert method_label("spami", "no_cosine") == "SpaMI (w/o cosine loss)"
    assert pl.style.ordered_methods(["zeta", "random_control", "mofa", "spami"]) == [
        "spami",
        "mofa",
        "random_control",
        "zeta",
    ]
    assert pl.style.natural_sorted(["10", "2", "b", "1"]) == ["1", "2", "10", "b"]


@pytest.mark.slow
def test_umap_coordinates_separates_domains(spots):
    _, _, quadrant = spots
    rng = np.random.default_rng(0)
    embedding = np.eye(4)[quadrant] * 5 + rng.normal(0, 0.1, (len(quadrant), 4))
    points = pl.umap_coordinates(embedding, seed=0)
    assert points.shape == (len(quadrant), 2)
    _, neighbours = NearestNeighbors(n_neighbors=6).fit(points).kneighbors(points)
    same_domain = quadrant[neighbours[:, 1:]] == quadrant[:, None]
    assert same_domain.mean() > 0.95  # UMAP neighbours share their domain
