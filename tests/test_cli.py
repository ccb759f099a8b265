"""The ``spami`` command line: simulate, integrate, and errors that name the fix."""

from __future__ import annotations

import mudata
import numpy as np
import pytest

from fastspami.cli import main


def test_simulate_then_integrate_writes_the_documented_slots(tmp_path, capsys):
    sim = tmp_path / "sim.h5mu"
    out = tmp_path / "out.h5mu"
    assert main(["simulate", "-o", str(sim), "--grid-size", "12", "--seed", "1"]) == 0
    code = main(
        ["integrate", str(sim), "-o", str(out), "--epochs", "5", "--weights", "1,1,10,10,5"]
    )
    assert code == 0
    result = mudata.read_h5mu(out)
    assert result.obsm["X_spami"].shape == (144, 64)
    attention = np.asarray(result.obsm["spami_attention"])
    np.testing.assert_allclose(attention.sum(axis=1), 1.0, rtol=1e-5)
    assert "X_spami_rna" in result.obsm and "spami_reconstruction" in result.mod["adt"].obsm
    assert len(result.uns["spami"]["loss_history"]["total"]) == 5
    assert "wrote" in capsys.readouterr().out


def test_integrate_trains_on_tiles_when_asked(tmp_path):
    sim = tmp_path / "sim.h5mu"
    out = tmp_path / "out.h5mu"
    assert main(["simulate", "-o", str(sim), "--grid-size", "12", "--seed", "1"]) == 0
    assert main(["integrate", str(sim), "-o", str(out), "--epochs", "3", "--tile-spots", "50"]) == 0
    result = mudata.read_h5mu(out)
    assert result.uns["spami"]["config"]["tile_spots"] == 50
    assert result.obsm["X_spami"].shape == (144, 64)
    assert np.isfinite(result.obsm["X_spami"]).all()


def test_missing_input_file_is_a_clear_error(tmp_path, capsys):
    code = main(["integrate", str(tmp_path / "nope.h5mu"), "-o", str(tmp_path / "o.h5mu")])
    assert code == 2
    err = capsys.readouterr().err
    assert "nope.h5mu: no such file. Check the path" in err
    assert not (tmp_path / "o.h5mu").exists()


def test_simulate_takes_signal_and_leak_and_refuses_bad_values(tmp_path, capsys):
    sim = tmp_path / "weak.h5mu"
    args = ["simulate", "-o", str(sim), "--grid-size", "6", "--scenario", "complementary_rna_adt"]
    assert main([*args, "--signal", "0.4", "--leak", "0.2"]) == 0
    params = mudata.read_h5mu(sim).uns["dataset"]
    assert params["signal"] == pytest.approx(0.4) and params["leak"] == pytest.approx(0.2)
    bad = tmp_path / "bad.h5mu"
    assert main(["simulate", "-o", str(bad), "--grid-size", "6", "--leak", "2"]) == 2
    assert "leak=2.0 must be a fraction in [0, 1]" in capsys.readouterr().err
    assert not bad.exists()


def test_too_few_spots_for_k_is_reported_before_training(tmp_path, capsys):
    sim = tmp_path / "tiny.h5mu"
    assert main(["simulate", "-o", str(sim), "--grid-size", "6"]) == 0
    code = main(["integrate", str(sim), "-o", str(tmp_path / "o.h5mu"), "--k", "40"])
    assert code == 2
    assert "needs at least 41" in capsys.readouterr().err


def test_unknown_scenario_names_the_valid_ones(tmp_path, capsys):
    out = tmp_path / "sim.h5mu"
    with pytest.raises(SystemExit) as exit_info:
        main(["simulate", "-o", str(out), "--scenario", "rna_protein"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "rna_protein" in err and "rna_adt" in err and "complementary_rna_atac" in err
    assert not out.exists()


def test_help_shows_defaults_but_not_unset_ones(capsys):
    with pytest.raises(SystemExit):
        main(["bench", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "numbers of spots" in text and "(default: [1000, 10000, 100000])" in text
    assert "(default: None)" not in text and "(default: False)" not in text


def test_version_is_the_installed_packages(capsys):
    from importlib.metadata import version

    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"spami {version('spami')}"


def test_integrate_offers_every_fusion_the_model_has():
    from fastspami.cli import build_parser
    from fastspami.model.presets import FUSIONS

    parser = build_parser()
    for fusion in FUSIONS:
        args = parser.parse_args(["integrate", "in.h5mu", "-o", "out.h5mu", "--fusion", fusion])
        assert args.fusion == fusion
    assert set(FUSIONS) == {"attention", "concat", "mean"}


def test_integrate_takes_a_precision_and_records_the_one_that_ran(tmp_path, capsys):
    """``--precision bf16``: bfloat16 where this CPU multiplies it natively, else float32
    with a warning; the output says which ran. A precision that does not exist is refused."""
    import torch

    from fastspami._kernels.precision import bf16_supported

    sim = tmp_path / "sim.h5mu"
    out = tmp_path / "out.h5mu"
    assert main(["simulate", "-o", str(sim), "--grid-size", "12", "--seed", "1"]) == 0
    assert (
        main(["integrate", str(sim), "-o", str(out), "--epochs", "3", "--precision", "bf16"]) == 0
    )
    uns = mudata.read_h5mu(out).uns["spami"]
    assert uns["config"]["precision"] == "bf16"
    assert uns["precision"] == ("bf16" if bf16_supported(torch.device("cpu")) else "float32")
    with pytest.raises(SystemExit):
        main(["integrate", str(sim), "-o", str(out), "--precision", "fp16"])
    assert "invalid choice: 'fp16'" in capsys.readouterr().err
