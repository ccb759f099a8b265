"""fastspami.benchmark.report_page: the reader's page shows each caption under its figure,
each table inline, grouped by section, readable offline (no script, relative images)."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
from matplotlib.figure import Figure

from fastspami import pl
from fastspami.benchmark import report, report_page
from fastspami.errors import InputDataError

CAPTIONS = {
    "workflow": "SpaMI benchmark\n===============\n\nThe figures of a run ({{ snakemake.config"
    '["seeds"] | length }} seeds).\n',
    "domain_maps": "Spatial domains on {{ snakemake.params.label }} (seed\n"
    "{{ snakemake.params.seed }}), beside the ground truth.\n\nColours are matched "
    "(``Hungarian``), **bold** and *italic* kept.\n",
    "summary": "Methods x metrics on {{ snakemake.params.label }}.\n",
    "cost": "Seconds and memory.\n",
}


def figure_png(path: Path, inches: tuple[float, float]) -> None:
    fig = Figure(figsize=inches)
    fig.add_subplot().plot([0, 1], [0, 1])
    path.parent.mkdir(parents=True, exist_ok=True)
    pl.save_figure(fig, path)


@pytest.fixture
def built(tmp_path):
    """A small report directory, its captions, and the page written from them."""
    root = tmp_path / "results" / "report"
    figure_png(root / "datasets/d0/domain_maps.png", (5.0, 2.5))
    figure_png(root / "cost.png", (3.0, 2.0))
    scores = pd.DataFrame(
        [
            {"dataset": "d0", "method": m, "variant": "default", "seed": 0}
            | {"clustering": "leiden", "metric": "ari", "value": v, "status": s, "reason": r}
            for m, v, s, r in [
                ("spami", 0.9, "ok", ""),
                ("mofa", float("nan"), "failed", "ValueError: boom"),
            ]
        ]
    )
    table = report.summary_table(scores)
    blocks = report.summary_blocks(table, "RNA + protein, noise sd 0.5")
    stem = root / "datasets/d0/summary"
    report.write_table(table, blocks, *(stem.with_suffix(f".{e}") for e in ("csv", "md", "html")))
    captions = []
    for name, text in CAPTIONS.items():
        path = tmp_path / "captions" / f"{name}.rst"
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
        captions.append(path)
    context = {"params": {"label": "RNA + protein, noise sd 0.5", "seed": 3}}
    section = "Simulation: RNA + protein"
    entries = [
        {"section": section, "subsection": "Noise sd 0.5", "kind": "figure"}
        | {"path": "datasets/d0/domain_maps.png", "caption": "domain_maps"}
        | {"title": "Spatial domains", "context": context},
        {"section": section, "subsection": "Noise sd 0.5", "kind": "table"}
        | {"path": "datasets/d0/summary.html", "caption": "summary", "context": context},
        {"section": "Cost", "subsection": "", "kind": "figure"}
        | {"path": "cost.png", "caption": "cost"},
    ]
    page = root / "index.html"
    report_page.write_index(page, entries, captions, {"seeds": [0, 1]})
    return page, page.read_text(), entries, captions


def test_each_figure_has_its_caption_directly_under_it(built):
    page, text, _, _ = built
    images = re.findall(r"<img [^>]*>", text)
    assert len(images) == 2
    pairs = re.findall(r"<img [^>]*src='([^']+)'[^>]*>\s*<figcaption>(.*?)</figcaption>", text)
    assert [src for src, _ in pairs] == ["datasets/d0/domain_maps.png", "cost.png"]
    maps_caption = pairs[0][1]
    # the template rendered with the entry's names, the .rst turned into paragraphs
    assert "Spatial domains on RNA + protein, noise sd 0.5 (seed 3), beside" in maps_caption
    assert maps_caption.count("<p>") == 2
    assert "<code>Hungarian</code>" in maps_caption and "<b>bold</b>" in maps_caption
    assert "<i>italic</i>" in maps_caption
    assert "{{" not in text and "``" not in text
    for src, _ in pairs:  # images referenced relative to the page, as they lie beside it
        assert (page.parent / src).is_file()


def test_figures_show_at_their_size_in_inches(built):
    _, text, _, _ = built
    widths = re.findall(r"<img [^>]*width='(\d+)'", text)
    assert widths == [str(5 * 96), str(3 * 96)]  # 96 CSS px per inch, whatever the dpi
    assert report_page.png_size(Path(built[0]).parent / "cost.png")[:2] == (450, 300)


def test_tables_inline_with_their_caption_and_notes(built):
    _, text, _, _ = built
    table_at = text.index("<table>")
    assert text.index("Methods x metrics on RNA + protein", table_at) > table_at
    assert "failed (1)" in text and "<li>MOFA+: failed (ValueError: boom)</li>" in text
    # the table's own headings sit below the page's section headings
    assert "<h4>RNA + protein, noise sd 0.5</h4>" in text and "<h1>RNA" not in text


def test_sections_contents_and_offline(built):
    _, text, _, _ = built
    assert "<h1>SpaMI benchmark</h1>" in text and "(2 seeds)" in text  # the introduction
    h2 = re.findall(r"<h2 id='([^']+)'>(.*?)</h2>", text)
    assert [title for _, title in h2] == ["Simulation: RNA + protein", "Cost"]
    assert "<h3 id='simulation-rna-protein--noise-sd-0-5'>Noise sd 0.5</h3>" in text
    for anchor, _ in h2:
        assert f"href='#{anchor}'" in text  # the contents link to each section
    assert "<script" not in text.lower() and "http" not in text  # nothing to fetch or run


def test_a_caption_naming_what_its_entry_lacks_is_refused(built, tmp_path):
    page, _, entries, captions = built
    entries[0]["context"] = {"params": {"label": "x"}}  # no seed
    with pytest.raises(InputDataError, match="seed"):
        report_page.write_index(page, entries, captions, {"seeds": [0]})
