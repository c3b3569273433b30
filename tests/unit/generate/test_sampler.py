"""Pure-Python parts of the block sampler: ids, the plan, Arrow batches."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from pyspark.sql.types import LongType, StringType, StructField, StructType

from synth.errors import InvalidDataError
from synth.generate.sampler import (
    ROWS_PER_RUN,
    _map_array,
    check_conditions,
    plan_blocks,
    run_tag,
    synthetic_id,
    to_record_batch,
)
from synth.models.encoding import ColumnSpec, DenseShares, TableEncoder
from synth.schema import ROW
from synth.seeding import derive_seed


class TestSyntheticId:
    def test_synthetic_id_is_negative_and_distinct_per_row_and_run(self):
        # Run
        ids = {synthetic_id(run, row) for run in ("a", "b") for row in (0, 1, ROWS_PER_RUN - 1)}
        # Assert
        assert len(ids) == 6 and all(i < 0 for i in ids)
        assert synthetic_id("a", 0) == -(run_tag("a") << 32) - 1

    def test_synthetic_id_pinned_tag(self):
        assert run_tag("bench") == derive_seed(0, "run", "bench") & (2**31 - 1)

    def test_synthetic_id_row_out_of_range(self):
        with pytest.raises(ValueError, match="out of range"):
            synthetic_id("a", ROWS_PER_RUN)


class TestPlanBlocks:
    def test_plan_blocks_numbers_rows_across_groups(self):
        # Run
        blocks = plan_blocks([25, 0, 10], block_rows=10, seed=3)
        # Assert
        assert [(b.group, b.index, b.offset, b.rows) for b in blocks] == [
            (0, 0, 0, 10),
            (0, 1, 10, 10),
            (0, 2, 20, 5),
            (2, 0, 25, 10),
        ]
        assert blocks[1].seed == derive_seed(3, "block", 0, 1)
        assert len({b.seed for b in blocks}) == 4

    def test_plan_blocks_does_not_depend_on_later_groups(self):
        assert plan_blocks([25], 10, 1) == plan_blocks([25, 7], 10, 1)[:3]


def _encoder() -> TableEncoder:
    frame = pd.DataFrame(
        {"n": [0, 1, 2, 3] * 5, "tag": ["a", "b"] * 10, "x": np.linspace(0, 1, 20)}
    )
    specs = [
        ColumnSpec("n", "count"),
        ColumnSpec("tag", "categorical"),
        ColumnSpec("x", "continuous"),
    ]
    return TableEncoder(specs).fit(frame)


class TestCheckConditions:
    def test_check_conditions_accepts_categorical_and_count(self):
        check_conditions(_encoder(), {"tag": "a", "n": 2})

    def test_check_conditions_rejects_unknown_and_continuous(self):
        with pytest.raises(InvalidDataError, match="not a model column"):
            check_conditions(_encoder(), {"nope": 1})
        with pytest.raises(InvalidDataError, match="continuous"):
            check_conditions(_encoder(), {"x": 0.5})


class TestArrow:
    def test_map_array_keeps_nonzero_shares_and_nulls(self):
        # Setup
        shares = DenseShares(
            ["a", "b", "__other__"],
            np.array([[0.5, 0.5, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]),
            np.array([False, False, True]),
        )
        # Run
        out = _map_array(shares).to_pylist()
        # Assert
        assert out == [[("a", 0.5), ("b", 0.5)], [("__other__", 1.0)], None]

    def test_to_record_batch_numbers_rows_from_the_offset(self):
        # Setup
        schema = StructType(
            [
                StructField(ROW, LongType(), False),
                StructField("n", LongType()),
                StructField("tag", StringType()),
            ]
        )
        columns = {"n": pd.Series([1, 2]), "tag": pd.Series(["a", None], dtype=object)}
        # Run
        batch = to_record_batch(columns, schema, offset=40)  # type: ignore[arg-type]
        # Assert
        assert batch.schema.names == [ROW, "n", "tag"]
        assert batch.column(0).to_pylist() == [40, 41]
        assert batch.column(2).to_pylist() == ["a", None]
        assert batch.column(1).type == pa.int64()
