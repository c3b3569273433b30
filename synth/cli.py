"""Command line: ``synth run --config <yaml>``, one sub-command per stage, and ``synth inspect``.

Exit codes: 0 success; 2 bad config or bad input (one clear message on stderr, nothing
partial written); 1 any other failure (with a traceback).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence

import synth
from synth.config.job import load_job_config
from synth.errors import SynthError
from synth.spark import build_session
from synth.stages import STAGES

log = logging.getLogger("synth")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="synth", description="Spark-native synthetic e-commerce data"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (
        ("run", "run the pipeline (stage selection with --from / --to)"),
        *((s, f"run only the {s} stage") for s in STAGES),
    ):
        p = sub.add_parser(name, help=help_text)
        p.add_argument("--config", required=True, help="job config YAML (see configs/)")
        p.add_argument(
            "--spark-profile", default=None, help="spark_conf profile (overrides the config)"
        )
        p.add_argument("--lakehouse", default=None, help="lakehouse root (overrides the config)")
        p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
        if name in ("run", "train"):
            p.add_argument(
                "--resume",
                action="store_true",
                help="train: continue from the last checkpoint of the same model id",
            )
        if name == "run":
            p.add_argument("--from", dest="from_stage", choices=STAGES, default=STAGES[0])
            p.add_argument("--to", dest="to_stage", choices=STAGES, default=STAGES[-1])
    # `inspect` reads a new event log, not a job config: it proposes the config's source block.
    p = sub.add_parser("inspect", help="propose a generic source config (YAML) for an event log")
    p.add_argument("path", help="a file, folder or glob (compressed files are fine)")
    p.add_argument(
        "--format", dest="fmt", choices=("csv", "json", "parquet"), help="default: from extensions"
    )
    p.add_argument("--rows", type=int, default=10_000, help="rows to sample (default 10000)")
    p.add_argument("--name", default=None, help="source name (default: from the file name)")
    p.add_argument("--spark-profile", default="local", help="spark_conf profile (default local)")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return parser


def _inspect(args: argparse.Namespace) -> int:
    """``synth inspect``: print the proposed source config as YAML on stdout."""
    from synth.inspect import inspect_source

    try:
        proposal = inspect_source(
            args.path,
            fmt=args.fmt,
            sample_rows=args.rows,
            name=args.name,
            spark_profile=args.spark_profile,
        )
    except SynthError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    sys.stdout.write(proposal.to_yaml())
    sys.stdout.flush()
    return 0


def _stages(args: argparse.Namespace) -> tuple[str, ...]:
    if args.command != "run":
        return (args.command,)
    lo, hi = STAGES.index(args.from_stage), STAGES.index(args.to_stage)
    if lo > hi:
        raise SynthError(
            f"--from {args.from_stage} comes after --to {args.to_stage}; "
            f"stages run in order {list(STAGES)}"
        )
    return STAGES[lo : hi + 1]


def main(argv: Sequence[str] | None = None, *, default_command: str | None = None) -> int:
    """Parse arguments, build the session, run the stages; return the exit code."""
    raw = list(sys.argv[1:] if argv is None else argv)
    if default_command and (not raw or raw[0].startswith("-")):
        raw = [default_command, *raw]
    args = _parser().parse_args(raw)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # Which synth runs: under spark-submit the one shipped with --py-files comes first on the path.
    log.info("synth %s from %s", synth.__version__, os.path.dirname(synth.__file__ or "?"))
    if args.command == "inspect":
        return _inspect(args)
    from synth.pipeline import run  # the stages import torch, Spark ML ...: not for `inspect`

    def progress(line: str) -> None:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    try:
        overrides: dict[str, object] = {}
        if args.lakehouse:
            overrides["lakehouse"] = args.lakehouse
        if args.spark_profile:
            overrides["spark_profile"] = args.spark_profile
        cfg = load_job_config(args.config, overrides=overrides)
        if getattr(args, "resume", False):
            cfg = cfg.model_copy(update={"train": cfg.train.model_copy(update={"resume": True})})
        stages = _stages(args)
        spark = build_session(cfg.spark_profile, app_name=f"synth-{args.command}")
        summary = run(spark, cfg, stages=stages, progress=progress)
    except SynthError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    progress(f"lakehouse: {summary.lakehouse}")
    progress(f"summary:   {summary.path()}")
    written = summary.stages.get("report", {})
    if written:
        progress(f"report:    {written['report_html']}")
        progress(f"metrics:   {written['metrics_json']}")
        progress(f"verdict:   {written['headline']}")
    progress(json.dumps(summary.seconds))
    return 0
