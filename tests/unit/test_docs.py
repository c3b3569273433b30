"""The gold column dictionary is generated from the schema module and kept in sync."""

from __future__ import annotations

from synth.docs import DOC_PATH, render
from synth.schema import GOLD_SCHEMAS


def test_column_dictionary_is_up_to_date():
    assert DOC_PATH.read_text(encoding="utf-8") == render(), "run `python -m synth.docs`"


def test_every_gold_column_is_documented():
    text = render()
    for name, schema in GOLD_SCHEMAS.items():
        assert f"## `{name}`" in text
        for field in schema.fields:
            assert field.metadata.get("comment"), f"{name}.{field.name} has no comment"
            assert f"| `{field.name}` |" in text
