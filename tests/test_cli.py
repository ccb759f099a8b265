"""The ``spami`` command line: simulate, integrate, and errors that name the fix."""

from __future__ import annotations

import errno
import os

import mudata
import numpy as np
import pytest

from fastspami.cli import main


def test_simulate_then_integrate_writes_the_documented_slots(tmp_path, capsys):
    sim = tmp_path / "sim.h5mu"
    out = tmp_path / "out.h5mu"
    assert main(["simulate", "-o", str(sim), "--grid-size", "12", "--seed", "1"]) == 0
    code = main(["integrate", str(sim), "-o", str(out), "--preset", "simulated", "--epochs", "5"])
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
    assert (
        main(
            [
                "integrate",
                str(sim),
                "-o",
                str(out),
                "--preset",
                "simulated",
                "--epochs",
                "3",
                "--tile-spots",
                "50",
            ]
        )
        == 0
    )
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


def test_simulate_takes_pattern_and_seed_and_refuses_bad_values(tmp_path, capsys):
    sim = tmp_path / "ggblocks.h5mu"
    args = ["simulate", "-o", str(sim), "--grid-size", "6", "--scenario", "complementary_rna_adt"]
    assert main([*args, "--pattern", "ggblocks", "--seed", "4"]) == 0
    params = mudata.read_h5mu(sim).uns["dataset"]
    assert params["pattern"] == "ggblocks" and params["seed"] == 4
    bad = tmp_path / "bad.h5mu"
    assert main(["simulate", "-o", str(bad), "--grid-size", "6", "--noise-sd", "-1"]) == 2
    assert "noise_sd=-1.0 must be >= 0" in capsys.readouterr().err
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
    assert capsys.readouterr().out.strip() == f"spami {version('fastspami')}"


def test_integrate_offers_every_fusion_the_model_has():
    from fastspami.cli import build_parser
    from fastspami.model.presets import FUSIONS

    parser = build_parser()
    for fusion in FUSIONS:
        args = parser.parse_args(["integrate", "in.h5mu", "-o", "out.h5mu", "--fusion", fusion])
        assert args.fusion == fusion
    assert set(FUSIONS) == {"attention", "concat", "mean"}


# ---------------------------------------------------------------- refused before any work


@pytest.fixture(scope="module")
def small_input(tmp_path_factory):
    from fastspami.data.contract import write_mudata
    from fastspami.data.simulation import simulate

    path = tmp_path_factory.mktemp("cli") / "in.h5mu"
    write_mudata(simulate("rna_adt", grid_size=8, n_rna=40, n_adt=8, seed=0), path)
    return path


@pytest.fixture
def no_training(monkeypatch):
    """Fails the test if SpaMI's training starts: what is refused must be refused before."""
    import fastspami.methods.spami_method as spami_method

    def trains(*args, **kwargs):
        raise AssertionError("training started")

    monkeypatch.setattr(spami_method, "fit_spami", trains)


def _refused(argv, capsys) -> str:
    """Run the command; it must exit with status 2 and no traceback; return its stderr."""
    try:
        code = main(argv)
    except SystemExit as exit_info:  # argparse's refusal
        code = exit_info.code
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    return err


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--epochs", "0"], "argument --epochs: must be an integer >= 1, got '0'"),
        (["--epochs", "-3"], "argument --epochs: must be an integer >= 1, got '-3'"),
        (["--lr", "0"], "argument --lr: must be a finite number > 0, got '0'"),
        (["--lr", "-0.01"], "argument --lr: must be a finite number > 0, got '-0.01'"),
        (["--lr", "nan"], "argument --lr: must be a finite number > 0, got 'nan'"),
        (["--lr", "inf"], "argument --lr: must be a finite number > 0, got 'inf'"),
        (["--weights", "0,0,0,0,0"], "argument --weights: weights are all 0"),
        (["--weights", "1,-1,10,10,5"], "argument --weights: weights must be finite numbers >= 0"),
        (["--weights", "1,1,10,10"], "argument --weights: weights must have 5 entries"),
        (["--weights", "1,1,x"], "argument --weights: takes comma-separated numbers"),
        (["--tile-spots", "-5"], "argument --tile-spots: must be an integer >= 1, got '-5'"),
        (["--threads", "-2"], "argument --threads: must be an integer >= 1, got '-2'"),
        (["--threads", "0"], "argument --threads: must be an integer >= 1, got '0'"),
        (["--seed", "-1"], "argument --seed: must be an integer in [0, 4294967295], got '-1'"),
        (["--k", "0"], "argument --k: must be an integer >= 1, got '0'"),
        (["--modalities", "rna", "rna"], "argument --modalities: names ['rna'] more than once"),
        (["--device", "gpu"], "argument --device: device must be 'cpu', 'cuda' or 'cuda:N'"),
        (["--device", "cuda:x"], "argument --device: device must be 'cpu', 'cuda' or 'cuda:N'"),
    ],
)
def test_bad_settings_are_refused_with_status_2(
    small_input, tmp_path, capsys, no_training, option, message
):
    out = tmp_path / "out.h5mu"
    err = _refused(["integrate", str(small_input), "-o", str(out), *option], capsys)
    assert message in err
    assert not out.exists()


def test_weights_that_do_not_fit_the_modalities_are_refused_before_training(
    small_input, tmp_path, capsys, no_training
):
    out = tmp_path / "out.h5mu"
    err = _refused(["integrate", str(small_input), "-o", str(out), "--weights", "1,1,1"], capsys)
    assert "Got 3 loss weights for 2 modalities" in err
    err = _refused(
        ["integrate", str(small_input), "-o", str(out), "--modalities", "rna"]
        + ["--weights", "0,1,0,1,5"],
        capsys,
    )
    assert "leave no loss to train with 1 modality" in err


def test_cuda_where_torch_has_none_is_refused_before_reading(
    small_input, tmp_path, capsys, monkeypatch, no_training
):
    import torch

    import fastspami.data.contract

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(fastspami.data.contract, "read_mudata", lambda *a, **k: 1 / 0)
    err = _refused(
        ["integrate", str(small_input), "-o", str(tmp_path / "o.h5mu"), "--device", "cuda"],
        capsys,
    )
    assert "device 'cuda': this torch" in err and "sees no CUDA GPU" in err


def test_a_bad_setting_exits_2_without_a_traceback_from_the_shell(small_input, tmp_path):
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "fastspami.cli", "integrate", str(small_input)]
        + ["-o", str(tmp_path / "o.h5mu"), "--lr", "-1"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "argument --lr: must be a finite number > 0, got '-1'" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "sizes", [["0"], ["-5"], ["3"]], ids=["zero", "negative", "below a 6 x 6 grid"]
)
def test_bench_refuses_bad_sizes(tmp_path, capsys, sizes):
    err = _refused(["bench", "--out", str(tmp_path / "b"), "--sizes", *sizes], capsys)
    assert f"argument --sizes: must be an integer >= 36, got '{sizes[0]}'" in err
    assert not (tmp_path / "b").exists()


def test_bench_refuses_bad_counts(tmp_path, capsys):
    base = ["bench", "--out", str(tmp_path / "b"), "--sizes", "100"]
    assert "--epochs-timed: must be an integer >= 1" in _refused(
        [*base, "--epochs-timed", "0"], capsys
    )
    assert "--threads: must be an integer >= 1" in _refused([*base, "--threads", "0"], capsys)


# ---------------------------------------------------------------- the output, before training


def _output_refused(small_input, output, capsys, *extra) -> str:
    return _refused(["integrate", str(small_input), "-o", str(output), *extra], capsys)


def test_an_output_that_is_a_folder_is_refused_before_training(
    small_input, tmp_path, capsys, no_training
):
    folder = tmp_path / "results.h5mu"
    folder.mkdir()
    err = _output_refused(small_input, folder, capsys)
    assert f"{folder}: is a folder" in err


def test_an_output_under_a_file_is_refused_before_training(
    small_input, tmp_path, capsys, no_training
):
    blocker = tmp_path / "results"
    blocker.write_text("a file, not a folder")
    err = _output_refused(small_input, blocker / "out.h5mu", capsys)
    assert f"{blocker} is a file, not a folder" in err


def test_a_file_name_too_long_is_refused_before_training(
    small_input, tmp_path, capsys, no_training
):
    output = tmp_path / ("a" * 252 + ".h5mu")  # 257 bytes
    err = _output_refused(small_input, output, capsys)
    assert "the file name is 257 bytes long; this file system allows at most 255" in err


def test_a_folder_that_cannot_be_written_is_refused_before_training(
    small_input, tmp_path, capsys, monkeypatch, no_training
):
    """A read-only folder (as root, permissions do not stop a write: the refusal of the
    file system is simulated where the check writes its probe)."""
    import tempfile

    import fastspami._utils.output_paths

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(fastspami._utils.output_paths.tempfile, "mkstemp", read_only)
    err = _output_refused(small_input, tmp_path / "ro" / "out.h5mu", capsys)
    assert f"cannot write in {tmp_path / 'ro'} (Read-only file system)" in err
    monkeypatch.setattr(fastspami._utils.output_paths.tempfile, "mkstemp", tempfile.mkstemp)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes in a read-only folder")
def test_a_read_only_folder_is_refused_before_training(small_input, tmp_path, capsys, no_training):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        err = _output_refused(small_input, folder / "out.h5mu", capsys)
    finally:
        folder.chmod(0o755)
    assert f"cannot write in {folder} (Permission denied)" in err


def test_too_little_free_space_is_refused_before_training(
    small_input, tmp_path, capsys, monkeypatch, no_training
):
    import shutil

    import fastspami._utils.output_paths

    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(
        fastspami._utils.output_paths.shutil, "disk_usage", lambda _: usage._replace(free=1024)
    )
    err = _output_refused(small_input, tmp_path / "out.h5mu", capsys)
    assert "only 0 MB free" in err and "Free some space or write elsewhere" in err


def test_the_input_as_output_is_refused_unless_asked(small_input, tmp_path, capsys):
    import shutil

    copy = tmp_path / "data.h5mu"
    shutil.copyfile(small_input, copy)
    before = copy.read_bytes()
    err = _output_refused(copy, copy, capsys, "--epochs", "2")
    assert "is the input file itself" in err and "pass --overwrite-input" in err
    assert copy.read_bytes() == before
    args = ["integrate", str(copy), "-o", str(copy), "--epochs", "2", "--overwrite-input"]
    assert main(args) == 0
    assert "X_spami" in mudata.read_h5mu(copy).obsm


def test_a_full_disk_while_writing_leaves_no_file(small_input, tmp_path, capsys, monkeypatch):
    def fills_the_disk(self, filename, *args, **kwargs):
        with open(filename, "wb") as handle:
            handle.write(b"\x89HDF\r\n" + b"\0" * 4096)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(filename))

    monkeypatch.setattr(mudata.MuData, "write", fills_the_disk)
    out = tmp_path / "out" / "result.h5mu"
    err = _output_refused(small_input, out, capsys, "--epochs", "2")
    assert f"{out}: could not be written (No space left on device" in err
    assert list((tmp_path / "out").iterdir()) == []


def test_bench_refuses_an_output_folder_it_cannot_write_before_timing(tmp_path, capsys):
    blocker = tmp_path / "results"
    blocker.write_text("a file")
    err = _refused(["bench", "--out", str(blocker / "bench"), "--sizes", "100"], capsys)
    assert f"{blocker} is a file, not a folder" in err


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
