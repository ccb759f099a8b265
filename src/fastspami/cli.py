"""The ``spami`` command line: simulate data, integrate a MuData file, time SpaMI against N."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Callable, Sequence

from fastspami.errors import ConfigError, InputDataError, SpamiError
from fastspami.model.ranges import CONFIG_RANGES, RUN_RANGES, Range, check_device, check_weights


def _weights(text: str) -> list[float]:
    try:
        weights = [float(w) for w in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"takes comma-separated numbers such as 1,1,10,10,5, got {text!r}"
        ) from None
    try:
        check_weights(weights)
    except ConfigError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return weights


def _in_range(allowed: Range) -> Callable[[str], int | float]:
    """An argparse type: the text as an integer or number, refused outside ``allowed``."""

    def parse(text: str) -> int | float:
        try:
            value = int(text) if allowed.kind == "integer" else float(text)
        except ValueError:
            value = None
        if value is None or not allowed.accepts(value):
            raise argparse.ArgumentTypeError(f"must be {allowed.describe()}, got {text!r}")
        return value

    parse.__name__ = f"{allowed.kind} option"  # what argparse names in its own messages
    return parse


def _device(text: str) -> str:
    try:
        check_device(text)
    except ConfigError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return text


class _DistinctNames(argparse.Action):
    """nargs='+' names, each given once (--modalities rna rna is refused)."""

    def __call__(self, parser, namespace, values, option_string=None):  # noqa: ANN001
        repeated = sorted({v for v in values if values.count(v) > 1})
        if repeated:
            parser.error(f"argument {option_string}: names {repeated} more than once")
        setattr(namespace, self.dest, values)


def _kinds(pairs: list[str] | None) -> dict[str, str] | None:
    if not pairs:
        return None
    out = {}
    for pair in pairs:
        name, sep, kind = pair.partition("=")
        if not sep:
            raise SpamiError(f"--modality-type takes NAME=TYPE (e.g. prot=adt), got {pair!r}")
        out[name] = kind
    return out


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows an option's default where it has one (not for None or a flag's False)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or action.default is False:
            return action.help
        return super()._get_help_string(action)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    from fastspami import __version__
    from fastspami.benchmark.bench_reference import REFERENCE_MAX_N
    from fastspami.data.simulation import PATTERNS, SCENARIOS
    from fastspami.model.presets import DEFAULT_PRESET, FUSIONS, PRECISIONS, PRESETS

    parser = argparse.ArgumentParser(prog="spami", description=__doc__)
    parser.add_argument("--version", action="version", version=f"spami {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", required=True)

    integ = sub.add_parser(
        "integrate",
        help="integrate the modalities of a .h5mu file with SpaMI",
        formatter_class=_HelpFormatter,
    )
    integ.add_argument("input", help="input MuData (.h5mu) following the data contract")
    integ.add_argument("-o", "--output", required=True, help="output .h5mu (input + results)")
    integ.add_argument(
        "--preset",
        default=DEFAULT_PRESET,
        choices=sorted(PRESETS),
        help="'robust' (ours, for your own data; on RNA + protein it concatenates the "
        "modality embeddings), or the paper's settings for a dataset (simulated, misar, "
        "brain_p22, thymus, paper_default) to reproduce the paper",
    )
    integ.add_argument(
        "--overwrite-input",
        action="store_true",
        help="allow -o to name the input file (it is then replaced by input + results)",
    )
    integ.add_argument(
        "--epochs",
        type=_in_range(CONFIG_RANGES["epochs"]),
        help="training epochs (default: the preset's)",
    )
    integ.add_argument(
        "--lr", type=_in_range(CONFIG_RANGES["lr"]), help="learning rate (default: the preset's)"
    )
    integ.add_argument(
        "--k",
        type=_in_range(CONFIG_RANGES["k"]),
        help="spatial neighbours per spot (default: the preset's)",
    )
    integ.add_argument(
        "--weights", type=_weights, help="w1,w2,w3,w4,w5 loss weights (default: the preset's)"
    )
    integ.add_argument(
        "--fusion",
        choices=FUSIONS,
        help="how modality embeddings are fused (default: the preset's)",
    )
    integ.add_argument(
        "--tile-spots",
        type=_in_range(Range("integer", low=1)),
        help="train on spatial tiles of about this many spots each (for 10^5-10^6 spots; "
        "default: the whole slice at once)",
    )
    integ.add_argument(
        "--modalities", nargs="+", action=_DistinctNames, help="use only these modalities"
    )
    integ.add_argument(
        "--modality-type", action="append", metavar="NAME=TYPE", help="e.g. prot=adt"
    )
    integ.add_argument(
        "--early-stopping",
        action="store_true",
        default=None,
        help="stop once the loss has not improved by 0.01 %% for 50 epochs",
    )
    integ.add_argument(
        "--precision",
        choices=PRECISIONS,
        help="bf16: the layers' dense products in bfloat16 (mixed precision) where the CPU "
        "or GPU multiplies it natively, else float32 with a warning (default: the preset's, "
        "float32)",
    )
    integ.add_argument(
        "--seed",
        type=_in_range(RUN_RANGES["seed"]),
        default=0,
        help="random seed (weights, dropout)",
    )
    integ.add_argument(
        "--threads", type=_in_range(RUN_RANGES["threads"]), default=1, help="CPU threads"
    )
    integ.add_argument("--device", type=_device, default="cpu", help="cpu or cuda[:N]")

    sim = sub.add_parser(
        "simulate",
        help="simulate a spatial multi-omics dataset",
        formatter_class=_HelpFormatter,
    )
    sim.add_argument("-o", "--output", required=True, help="output .h5mu")
    sim.add_argument("--scenario", default="rna_adt", choices=SCENARIOS, help="what to simulate")
    sim.add_argument("--grid-size", type=int, default=36, help="spots per side of the square grid")
    sim.add_argument("--noise-sd", type=float, default=0.5, help="s.d. of the Gaussian noise")
    sim.add_argument("--noise-mean", type=float, default=2.0, help="mean of the Gaussian noise")
    sim.add_argument(
        "--pattern",
        default="spami",
        choices=PATTERNS,
        help="spatial factors: SpaMI's tutorial pattern or NSF's ggblocks",
    )
    sim.add_argument("--seed", type=int, default=0, help="data seed (another seed, another draw)")
    bench = sub.add_parser(
        "bench",
        help="time and memory of SpaMI against the number of spots",
        formatter_class=_HelpFormatter,
    )
    bench.add_argument(
        "--sizes",
        type=_in_range(Range("integer", low=36)),  # the smallest grid is 6 x 6
        nargs="+",
        default=[1000, 10000, 100000],
        help="numbers of spots (each rounded to a square grid)",
    )
    bench.add_argument("--out", default="results/bench", help="folder for the csv and png")
    bench.add_argument(
        "--precision",
        nargs="+",
        choices=PRECISIONS,
        default=["float32"],
        help="train in each of these precisions, one row each, one after the other at every "
        "size on the same data (e.g. float32 bf16)",
    )
    bench.add_argument(
        "--threads", type=_in_range(RUN_RANGES["threads"]), default=2, help="CPU threads"
    )
    bench.add_argument("--device", type=_device, default="cpu", help="cpu or cuda[:N]")
    bench.add_argument(
        "--epochs-timed",
        type=_in_range(Range("integer", low=1)),
        default=5,
        help="epochs timed after one warm-up (median)",
    )
    bench.add_argument(
        "--feature-dims",
        type=_in_range(Range("integer", low=1)),
        nargs="+",
        help="train on random features of these widths (e.g. 50 30) instead of the simulation",
    )
    bench.add_argument(
        "--reference",
        action="store_true",
        help="also time the authors' SpaMI package (PyPI SpaMI 1.0.0) at each size, right "
        "after ours on the same features and threads; adds its times, peak memory, speedup "
        "and memory_ratio to scaling.csv",
    )
    bench.add_argument(
        "--reference-max-n",
        type=_in_range(Range("integer", low=36)),
        default=REFERENCE_MAX_N,
        help="largest N the authors' code runs at (its matrices are dense N x N)",
    )
    bench.add_argument(
        "--full-epochs",
        type=_in_range(Range("integer", low=0)),
        default=1000,
        help="0 skips full training",
    )
    bench.add_argument(
        "--full-max-n",
        type=_in_range(Range("integer", low=0)),
        default=100000,
        help="largest N trained fully",
    )
    bench.add_argument(
        "--tile-spots",
        type=_in_range(Range("integer", low=1)),
        help="train on tiles of about this many spots",
    )
    bench.add_argument(
        "--malloc-mmap-threshold",
        type=_in_range(Range("integer", low=0)),
        metavar="BYTES",
        help="train with glibc's MALLOC_MMAP_THRESHOLD_ set (e.g. 1048576): freed tensors "
        "go back to the OS, lowering peak RSS",
    )
    bench.add_argument(
        "--compare-tiled",
        action="store_true",
        help="train tiled (--tile-spots) and full-batch for --full-epochs epochs and write "
        "the ARI between their Leiden clusterings to tiled_vs_full.csv",
    )
    return parser


def run_bench(args: argparse.Namespace) -> None:
    """``spami bench``: the scaling table and plot, or (--compare-tiled) tiled vs full-batch."""
    from fastspami._utils.output_paths import check_output_folder
    from fastspami.benchmark.scaling import run_compare_tiled, run_scaling

    if args.compare_tiled and args.reference:
        raise SpamiError("--reference times the scaling runs; it does not go with --compare-tiled")
    if args.compare_tiled and (not args.tile_spots or args.full_epochs < 1):
        raise SpamiError("--compare-tiled needs --tile-spots and --full-epochs of at least 1")
    if args.compare_tiled and args.precision != ["float32"]:
        raise SpamiError("--compare-tiled trains in float32; leave out --precision")
    if args.reference:  # the authors' package must import before anything is measured
        from fastspami.methods.spami_reference_compat import load_reference

        load_reference()
    check_output_folder(args.out)  # before the hours of timing, not after
    if args.compare_tiled:
        path = run_compare_tiled(
            args.sizes,
            args.out,
            tile_spots=args.tile_spots,
            epochs=args.full_epochs,
            threads=args.threads,
            device=args.device,
        )
        print(f"wrote {path}")
        return
    path = run_scaling(
        args.sizes,
        args.out,
        threads=args.threads,
        device=args.device,
        full_epochs=args.full_epochs,
        full_max_n=args.full_max_n,
        tile_spots=args.tile_spots,
        epochs_timed=args.epochs_timed,
        feature_dims=args.feature_dims,
        malloc_mmap_threshold=args.malloc_mmap_threshold,
        reference=args.reference,
        reference_max_n=args.reference_max_n,
        precisions=args.precision,
    )
    print(f"wrote {path}")


def run_integrate(args: argparse.Namespace) -> None:
    """``spami integrate``: check the output and device, read, validate, train (through
    ``fastspami.tl.integrate``), write."""
    from pathlib import Path

    from fastspami._utils.output_paths import check_output_file
    from fastspami.data.contract import read_mudata, write_mudata
    from fastspami.model.presets import get_preset
    from fastspami.model.train import resolve_device
    from fastspami.tl import integrate

    k = args.k or get_preset(args.preset).k
    kinds = _kinds(args.modality_type)
    if not Path(args.input).is_file():
        read_mudata(args.input)  # raises its error: no such file
    # What would fail after training fails now: the output path, the device.
    check_output_file(
        args.output,
        inputs=[args.input],
        overwrite_input_hint=None if args.overwrite_input else "pass --overwrite-input",
        min_free_bytes=Path(args.input).stat().st_size,  # the output holds the input
    )
    resolve_device(args.device)
    try:
        mdata = read_mudata(args.input, k=k, kinds=kinds)
        integrate(
            mdata,
            seed=args.seed,
            threads=args.threads,
            device=args.device,
            preset=args.preset,
            modalities=args.modalities,
            kinds=kinds,
            epochs=args.epochs,
            lr=args.lr,
            k=args.k,
            weights=args.weights,
            fusion=args.fusion,
            early_stopping=args.early_stopping,
            tile_spots=args.tile_spots,
            precision=args.precision,
        )
    except InputDataError as err:  # preprocessing names the modality: add the file
        if str(args.input) in str(err):
            raise
        raise InputDataError(f"{args.input}: {err}") from None
    write_mudata(mdata, args.output)
    print(f"wrote {args.output}: obsm['X_spami'] {mdata.obsm['X_spami'].shape}")


def run_simulate(args: argparse.Namespace) -> None:
    """``spami simulate``: write a simulated dataset."""
    from fastspami._utils.output_paths import check_output_file
    from fastspami.data.contract import write_mudata
    from fastspami.data.simulation import simulate

    check_output_file(args.output)
    mdata = simulate(
        args.scenario,
        grid_size=args.grid_size,
        noise_sd=args.noise_sd,
        noise_mean=args.noise_mean,
        pattern=args.pattern,
        seed=args.seed,
    )
    write_mudata(mdata, args.output)
    print(f"wrote {args.output}: {mdata.n_obs} spots, modalities {list(mdata.mod)}")


COMMANDS = {"integrate": run_integrate, "simulate": run_simulate, "bench": run_bench}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``spami`` console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)
    # A plain `kill` (SIGTERM) ends the command like Ctrl-C: through the cleanup that
    # removes a half-written temporary file.
    previous = _on_sigterm(_exit_on_sigterm)
    try:
        COMMANDS[args.command](args)
    except SpamiError as err:
        print(f"spami {args.command}: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # the file system's own errors (disk full while writing a table)
        print(f"spami {args.command}: error: {err}", file=sys.stderr)
        return 1
    finally:
        _on_sigterm(previous)
    return 0


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def _on_sigterm(handler: object) -> object:
    """Install ``handler`` for SIGTERM; return the previous one (None off the main thread,
    where Python cannot set handlers)."""
    if handler is None:
        return None
    try:
        return signal.signal(signal.SIGTERM, handler)
    except ValueError:
        return None


if __name__ == "__main__":
    sys.exit(main())
