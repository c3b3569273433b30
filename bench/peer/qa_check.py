"""The cross-check: mostlyai-qa 1.10.11's own code on the same samples the project scores.

Not part of synth (and never imported by it): ``bench/behaviour.py`` runs this file with the
peer environment's Python and moves data as Parquet. For each generator it writes two things:

* ``columns``: mostlyai-qa's univariate accuracy (``mostlyai.qa._accuracy.calculate_accuracy``,
  ``1 - L1 / 2`` of the binned shares, rounded to 5 digits) on the **project's** bins of the same
  sampled events (``synth.evaluate.behaviour.binned_events``): it must equal the accuracy the
  project computes in Spark from those bins, column by column;
* ``report``: the package's full report (``mostlyai.qa.report``, sequential: ``user_id`` as the
  target context key, the holdout sample as holdout) on the raw sampled events, with the
  package's own binning and sampling: its overall accuracy, coherence and DCR share, a second
  opinion on the ranking of the generators (its bundled embedder runs offline). The package
  samples rows at random: its random state is set from ``--seed`` before each generator's
  report, so a rerun gives the same figures.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pandas as pd
from mostlyai import qa
from mostlyai.qa._accuracy import calculate_accuracy

COLUMNS = ("event_type", "category", "hour", "gap", "events_per_user")


def _pairs(values: list[str]) -> dict[str, Path]:
    return {k: Path(v) for k, v in (x.split("=", 1) for x in values)}


def column_accuracy(real: pd.DataFrame, synthetic: pd.DataFrame) -> dict[str, float]:
    """mostlyai-qa's univariate accuracy of each binned column."""
    out = {}
    for column in COLUMNS:
        r, s = real, synthetic
        if column == "events_per_user":  # one value per user
            r, s = r[r["step"] == 1], s[s["step"] == 1]
        observed, _ = calculate_accuracy(
            r[[column]].astype(str).reset_index(drop=True),
            s[[column]].astype(str).reset_index(drop=True),
        )
        out[column] = float(observed)
    return out


def _raw(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user_id": frame["user_id"].astype("int64"),
            "event_time": pd.to_datetime(frame["event_time"]),
            "event_type": frame["event_type"].astype(str),
            "category_id": frame["category_id"].astype(str),
            "product_id": frame["product_id"].astype(str),
        }
    ).sort_values(["user_id", "event_time"], kind="stable")


def main() -> None:
    """Score each generator with mostlyai-qa; write one JSON."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--real", required=True, help="raw sampled real training events")
    p.add_argument("--holdout", required=True, help="raw sampled holdout events")
    p.add_argument("--binned-real", required=True)
    p.add_argument("--synthetic", nargs="+", required=True, help="GEN=raw.parquet ...")
    p.add_argument("--binned", nargs="+", required=True, help="GEN=binned.parquet ...")
    p.add_argument("--workdir", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    real, holdout = _raw(pd.read_parquet(args.real)), _raw(pd.read_parquet(args.holdout))
    binned_real = pd.read_parquet(args.binned_real)
    binned = _pairs(args.binned)
    result: dict[str, object] = {"mostlyai_qa": qa.__version__}
    for gen, path in _pairs(args.synthetic).items():
        began = time.perf_counter()
        qa.set_random_state(args.seed)
        _, metrics = qa.report(
            syn_tgt_data=_raw(pd.read_parquet(path)),
            trn_tgt_data=real,
            hol_tgt_data=holdout,
            tgt_context_key="user_id",
            report_path=Path(args.workdir) / f"qa-{gen}.html",
            report_title=f"bench/behaviour: {gen}",
        )
        assert metrics is not None and metrics.accuracy is not None
        distances = metrics.distances
        result[gen] = {
            "columns": column_accuracy(binned_real, pd.read_parquet(binned[gen])),
            "report": {
                "accuracy": metrics.accuracy.overall,
                "univariate": metrics.accuracy.univariate,
                "bivariate": metrics.accuracy.bivariate,
                "coherence": metrics.accuracy.coherence,
                "dcr_share": distances.dcr_share if distances is not None else None,
            },
            "seconds": round(time.perf_counter() - began, 1),
        }
    Path(args.out).write_text(json.dumps(result, indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
