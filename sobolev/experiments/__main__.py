"""``python -m sobolev.experiments``: run the book's experiments without Jupyter.

    python -m sobolev.experiments --list
    python -m sobolev.experiments student-teacher-sgd --show
    python -m sobolev.experiments student-teacher-sgd --scale paper --seeds 0-19 \\
        --out results/student-teacher-sgd
    # a SLURM job array of 4 tasks, each computing every 4th seed:
    #   sbatch --array=0-3 --wrap 'python -m sobolev.experiments NAME --scale paper \\
    #       --shard $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT --out results/NAME'
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys

from ..config import SCALES, set_threads
from ..results import ResultsError
from . import (
    aliases,
    default_results,
    format_seeds,
    get,
    names,
    parse_seeds,
    parse_shard,
    run,
)


def _catalogue() -> str:
    lines = ["experiments (settings per scale; `--show NAME` prints them in full):", ""]
    for name in names():
        experiment = get(name)
        also = aliases(name)
        label = f"  {name}" + (f" (also {', '.join(also)})" if also else "")
        lines.append(f"{label}: {experiment.title} [book/{experiment.chapter}.md]")
        for scale in SCALES:
            settings = experiment.settings_for(scale)
            text = json.dumps(settings, separators=(", ", "="), default=str)
            text = text.replace('"', "")[1:-1]
            if len(text) > 150:
                text = text[:147] + "..."
            lines.append(f"      {scale}: {text}")
    return "\n".join(lines)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m sobolev.experiments",
        description=(
            "Run an experiment of the book and store one results file per seed "
            "(OUT/<scale>/seed-<k>.npz). Started again with the same command, a run skips "
            "the seeds already stored and resumes a seed in progress from its checkpoint."
        ),
        epilog=_catalogue(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("name", nargs="?", help="the experiment (see the list below)")
    p.add_argument("--list", action="store_true", help="print the experiments' names and exit")
    p.add_argument("--show", action="store_true", help="print the experiment's settings and exit")
    p.add_argument("--scale", default="book", choices=SCALES, help="default: book")
    p.add_argument("--seeds", help="e.g. 0-4 or 0,2,7 (default: the scale's own seeds)")
    p.add_argument(
        "--shard",
        help="K/N: run every N-th seed from the K-th (0 <= K < N), e.g. "
        "$SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT",
    )
    p.add_argument("--out", help="results folder (default: results/NAME in the book's clone)")
    p.add_argument(
        "--checkpoint-every",
        type=int,
        metavar="STEPS",
        help="training steps between checkpoints (default: the experiment's own)",
    )
    p.add_argument("--device", help="torch device, e.g. cuda or cpu (default: cuda if present)")
    p.add_argument("--threads", type=int, help="CPU threads for torch (default 1)")
    p.add_argument(
        "--compile",
        action="store_true",
        help="use torch.compile where the experiment supports it (pays off in long runs)",
    )
    p.add_argument("--progress", action="store_true", help="show progress bars of training")
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")
    return p


def main(argv: list[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    if args.list:
        print("\n".join(names()))
        return 0
    if not args.name:
        p.error("name an experiment (or pass --list); the experiments are: " + ", ".join(names()))
    try:
        experiment = get(args.name)
    except ValueError as error:
        p.error(str(error))
    if args.show:
        for scale in SCALES:
            print(f"{scale}:")
            for key, value in experiment.settings_for(scale).items():
                print(f"  {key} = {value!r}")
        print(f"paper-scale command: {experiment.command('paper')}")
        return 0
    try:
        seeds = parse_seeds(args.seeds) if args.seeds else None
        shard = parse_shard(args.shard) if args.shard else None
    except ValueError as error:
        p.error(str(error))
    if args.checkpoint_every is not None and args.checkpoint_every < 1:
        p.error("--checkpoint-every must be at least 1")
    if args.device:
        os.environ["SOBOLEV_DEVICE"] = args.device
    os.environ["SOBOLEV_SCALE"] = args.scale
    if not args.progress:
        os.environ["SOBOLEV_QUIET"] = "1"
    try:
        set_threads(args.threads)
    except ValueError as error:
        p.error(str(error))
    out = pathlib.Path(args.out) if args.out else None
    if out is None:
        root = default_results()
        if root is None:
            p.error("--out is needed outside the book's clone")
        out = root / experiment.name
    log = (lambda message: None) if args.quiet else (lambda m: print(m, file=sys.stderr))
    try:
        runs = run(
            experiment,
            scale=args.scale,
            seeds=seeds,
            out=out,
            shard=shard,
            checkpoint_every=args.checkpoint_every,
            compile=args.compile,
            log=log,
        )
    except (ResultsError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if not args.quiet:
        print(
            f"{experiment.name} at scale {args.scale}: seeds {format_seeds(runs.seeds)} "
            f"in {out / args.scale}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
