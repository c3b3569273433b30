"""bin/compare_runs.py: exact field comparison, times and lakehouse roots left out."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("compare_runs", ROOT / "bin" / "compare_runs.py")
assert _spec is not None and _spec.loader is not None
compare_runs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(compare_runs)


def _write(path: Path, payload: dict) -> Path:
    path.write_text(json.dumps(payload), encoding="utf-8")
    return path


def test_equal_runs_with_other_times_and_roots_agree(tmp_path, capsys):
    a = _write(
        tmp_path / "a.json",
        {"x": 1.5, "table": "/a/lh/gold/t", "seconds": 3.0, "train_s": 9, "nan": float("nan")},
    )
    b = _write(
        tmp_path / "b.json",
        {"x": 1.5, "table": "/b/lh/gold/t", "seconds": 7.0, "train_s": 1, "nan": float("nan")},
    )
    assert compare_runs.main([str(a), str(b), "--root-a", "/a/lh", "--root-b", "/b/lh"]) == 0
    assert "0 difference(s)" in capsys.readouterr().out


def test_any_other_change_is_reported(tmp_path, capsys):
    a = _write(tmp_path / "a.json", {"m": {"ndcg": [0.1, 0.2]}, "verdict": "better", "k": 1})
    b = _write(tmp_path / "b.json", {"m": {"ndcg": [0.1, 0.2000001]}, "verdict": "worse"})
    assert compare_runs.main([str(a), str(b)]) == 1
    out = capsys.readouterr().out
    assert ".m.ndcg[1]: 0.2 vs 0.2000001" in out
    assert ".verdict: 'better' vs 'worse'" in out
    assert ".k: only in the first run" in out
    assert "3 difference(s)" in out
