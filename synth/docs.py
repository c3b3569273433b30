"""Generate the gold column dictionary (``docs/columns.md``) from :mod:`synth.schema`.

Usage: ``python -m synth.docs`` rewrites the file; ``python -m synth.docs --check`` exits 1 when
it is out of date (the tests run the same comparison).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pyspark.sql.types import DataType, StructType

from synth.schema import GOLD_SCHEMAS

DOC_PATH = Path(__file__).resolve().parents[1] / "docs" / "columns.md"

_INTRO = """# Gold tables: column dictionary

Generated from `synth/schema.py` by `python -m synth.docs`; do not edit by hand. Tables live under
`<lakehouse>/gold/<table>` (Delta). Each is rebuilt from one silver version; its table properties
record `synth.silver_table`, `synth.silver_version` and `synth.features_fingerprint` (a hash of the
`features` config). Profiles are built from silver's train split: users and items without a train
event have no profile row (the features report counts them). Interactions cover every split.
"""


def _type(dtype: DataType) -> str:
    return dtype.simpleString()


def render_table(name: str, schema: StructType) -> str:
    """Return the Markdown section of one table."""
    lines = [f"## `{name}`", "", "| column | type | nullable | description |", "|---|---|---|---|"]
    for f in schema.fields:
        comment = str(f.metadata.get("comment", "")).replace("|", "\\|")
        lines.append(
            f"| `{f.name}` | `{_type(f.dataType)}` | {'yes' if f.nullable else 'no'} | {comment} |"
        )
    return "\n".join(lines) + "\n"


def render() -> str:
    """Return the whole column dictionary."""
    sections = [render_table(name, schema) for name, schema in GOLD_SCHEMAS.items()]
    return _INTRO + "\n" + "\n".join(sections)


def main(argv: list[str] | None = None) -> int:
    """Write (or with ``--check``, compare) ``docs/columns.md``; return an exit code."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the file is out of date")
    args = parser.parse_args(argv)
    text = render()
    current = DOC_PATH.read_text(encoding="utf-8") if DOC_PATH.is_file() else ""
    if args.check:
        if current != text:
            sys.stderr.write(f"{DOC_PATH} is out of date: run `python -m synth.docs`\n")
            return 1
        return 0
    DOC_PATH.parent.mkdir(parents=True, exist_ok=True)
    DOC_PATH.write_text(text, encoding="utf-8")
    sys.stdout.write(f"wrote {DOC_PATH}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
