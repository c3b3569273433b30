"""The table encoding: exact round trips for integers and categories, float round trips within
tolerance, bounded widths, nulls, JSON state, and clear errors (seeded property tests)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from synth.errors import InvalidDataError, NotFittedError
from synth.models.encoding import (
    ENCODING_VERSION,
    OTHER,
    ColumnSpec,
    Span,
    TableEncoder,
    fit_vgm,
)

SEEDS = range(5)


def _table(seed: int, n: int = 2_000) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    bimodal = np.where(rng.random(n) < 0.4, rng.normal(-5, 1, n), rng.normal(20, 3, n))
    counts = np.where(rng.random(n) < 0.6, 0, np.floor(rng.pareto(1.2, n) * 3) + 1)
    brands = rng.choice(
        [f"b{i}" for i in range(8)], n, p=[0.3, 0.2, 0.15, 0.1, 0.1, 0.1, 0.03, 0.02]
    )
    shares = []
    for _ in range(n):
        keys = rng.choice(
            ["electronics", "apparel", "kids", "unknown"], rng.integers(1, 4), replace=False
        )
        weights = rng.dirichlet(np.ones(len(keys)))
        shares.append({str(k): float(w) for k, w in zip(keys, weights, strict=True)})
    seconds = rng.integers(1_569_888_000, 1_572_566_400, n)
    return pd.DataFrame(
        {
            "price": bimodal,
            "n_events": counts.astype(np.int64),
            "brand": brands,
            "category_shares": shares,
            "last_seen": pd.to_datetime(seconds, unit="s"),
            "top_category": rng.integers(1, 6, n).astype(np.int64),
        }
    )


SPECS = [
    ColumnSpec("price", "continuous"),
    ColumnSpec("n_events", "count"),
    ColumnSpec("brand", "categorical"),
    ColumnSpec("category_shares", "shares"),
    ColumnSpec("last_seen", "timestamp"),
    ColumnSpec("top_category", "categorical"),
]


class TestRoundTrip:
    @pytest.mark.parametrize("seed", SEEDS)
    def test_reverse_transform_inverts_transform(self, seed):
        # Setup
        table = _table(seed)
        encoder = TableEncoder(SPECS).fit(table, seed=seed)
        # Run
        matrix = encoder.transform(table)
        back = encoder.reverse_transform(matrix.astype(np.float64))
        # Assert: integers, categories and timestamps exact; floats within tolerance
        assert matrix.shape == (len(table), encoder.width) and matrix.dtype == np.float32
        assert back["n_events"].tolist() == table["n_events"].tolist()
        assert back["brand"].tolist() == table["brand"].tolist()
        assert back["top_category"].tolist() == table["top_category"].tolist()
        assert (back["last_seen"] == table["last_seen"]).all()
        np.testing.assert_allclose(back["price"], table["price"], rtol=1e-5, atol=1e-4)
        for got, want in zip(back["category_shares"], table["category_shares"], strict=True):
            assert got.keys() == want.keys()
            assert all(abs(got[k] - want[k]) < 1e-5 for k in want)

    def test_float64_matrix_round_trips_floats_tightly(self):
        table = _table(0)
        encoder = TableEncoder([ColumnSpec("price", "continuous")]).fit(table)
        block = encoder.columns[0].encoder.transform(table["price"])
        back = encoder.columns[0].encoder.reverse(block)
        np.testing.assert_allclose(back, table["price"], rtol=1e-12, atol=1e-9)

    @pytest.mark.parametrize("seed", SEEDS)
    def test_any_matrix_decodes_to_valid_values(self, seed):
        # Setup: a generator's raw output is any real numbers
        table = _table(seed)
        encoder = TableEncoder(SPECS).fit(table, seed=seed)
        noise = np.random.default_rng(seed).normal(0, 2, (500, encoder.width))
        # Run
        back = encoder.reverse_transform(noise)
        # Assert
        assert (back["n_events"] >= 0).all() and back["n_events"].dtype == np.int64
        assert set(back["brand"]) <= set(table["brand"])
        assert set(back["top_category"]) <= set(table["top_category"])
        assert all(abs(sum(m.values()) - 1.0) < 1e-9 or not m for m in back["category_shares"])


class TestWidths:
    def test_spans_per_kind(self):
        encoder = TableEncoder(SPECS).fit(_table(1), seed=1)
        kinds = [[s.activation for s in c.spans] for c in encoder.columns]
        assert kinds[0] == ["tanh", "softmax"]  # continuous: offset, mode
        assert encoder.columns[1].spans == [Span(2, "softmax"), Span(1, "tanh")]  # count
        assert encoder.columns[2].spans == [Span(8, "softmax")]  # 8 brands, no other bucket
        assert encoder.columns[3].spans == [Span(5, "softmax", discrete=False)]  # 4 keys + other

    def test_high_cardinality_is_capped_with_an_other_bucket(self):
        # Setup: 5,000 distinct brands, cap 20
        rng = np.random.default_rng(3)
        brands = pd.Series([f"brand{int(v)}" for v in rng.zipf(1.3, 20_000) % 5_000])
        table = pd.DataFrame({"brand": brands})
        encoder = TableEncoder([ColumnSpec("brand", "categorical", max_categories=20)])
        encoder.fit(table)
        # Run
        back = encoder.reverse_transform(encoder.transform(table).astype(np.float64))["brand"]
        # Assert: width bounded; the 20 most frequent exact, the rest -> the designated value
        assert encoder.width == 21
        kept = set(encoder.columns[0].encoder.categories)
        other_value = encoder.columns[0].encoder.other_value
        assert other_value not in kept
        mask = brands.isin(kept)
        assert (back[mask] == brands[mask]).all()
        assert (back[~mask] == other_value).all()

    def test_seeded_decode_draws_the_long_tail_by_frequency(self):
        # Setup: 20 kept brands; the other bucket holds a long tail
        rng = np.random.default_rng(4)
        brands = pd.Series([f"brand{int(v)}" for v in rng.zipf(1.3, 20_000) % 5_000])
        encoder = TableEncoder([ColumnSpec("brand", "categorical", max_categories=20)])
        encoder.fit(pd.DataFrame({"brand": brands}))
        matrix = encoder.transform(pd.DataFrame({"brand": brands})).astype(np.float64)
        column = encoder.columns[0].encoder
        # Run
        first = encoder.reverse_transform(matrix, seed=1)["brand"]
        again = encoder.reverse_transform(matrix, seed=1)["brand"]
        # Assert: reproducible; tail rows become tail values, spread like the real tail
        pd.testing.assert_series_equal(first, again)
        tail_rows = ~brands.isin(column.categories)
        assert set(first[tail_rows]) <= set(column.tail)
        assert first[tail_rows].nunique() > 100
        real_top = brands[tail_rows].value_counts(normalize=True)
        got_top = first[tail_rows].value_counts(normalize=True)
        assert abs(got_top.get(real_top.index[0], 0) - real_top.iloc[0]) < 0.02

    def test_share_keys_beyond_the_cap_pool_into_other(self):
        table = pd.DataFrame({"s": [{"a": 0.5, "b": 0.3, "c": 0.2}, {"a": 1.0}]})
        encoder = TableEncoder([ColumnSpec("s", "shares", max_categories=1)]).fit(table)
        back = encoder.reverse_transform(encoder.transform(table).astype(np.float64))["s"]
        assert back[0] == pytest.approx({"a": 0.5, OTHER: 0.5}) and back[1] == {"a": 1.0}


class TestPointMasses:
    def _rates(self, seed: int, n: int = 4_000) -> pd.Series:
        # a purchase rate: 88% exactly 0, 3% each exactly 1/3, 1/2, 1, the rest spread in (0, 1)
        rng = np.random.default_rng(seed)
        pick = rng.random(n)
        spread = rng.beta(2, 5, n)
        return pd.Series(
            np.select(
                [pick < 0.88, pick < 0.91, pick < 0.94, pick < 0.97], [0.0, 1 / 3, 0.5, 1.0], spread
            )
        )

    @pytest.mark.parametrize("seed", SEEDS)
    def test_frequent_values_are_atoms_reproduced_exactly(self, seed):
        # Setup
        rates = self._rates(seed)
        table = pd.DataFrame({"rate": rates})
        encoder = TableEncoder([ColumnSpec("rate", "continuous")]).fit(table)
        column = encoder.columns[0].encoder
        # Run
        back = encoder.reverse_transform(encoder.transform(table).astype(np.float64))["rate"]
        # Assert: the four point masses are atoms, and come back as exactly those values
        assert column.atoms == [0.0, 1 / 3, 0.5, 1.0]
        atom_rows = rates.isin(column.atoms)
        assert (back[atom_rows] == rates[atom_rows]).all()
        np.testing.assert_allclose(back[~atom_rows], rates[~atom_rows], rtol=1e-5, atol=1e-5)

    def test_noise_decodes_inside_the_fitted_range(self):
        rates = self._rates(0)
        encoder = TableEncoder([ColumnSpec("rate", "continuous")])
        encoder.fit(pd.DataFrame({"rate": rates}))
        noise = np.random.default_rng(1).normal(0, 3, (2_000, encoder.width))
        back = encoder.reverse_transform(noise)["rate"]
        assert back.min() >= rates.min() and back.max() <= rates.max()

    def test_atoms_can_be_turned_off(self):
        rates = self._rates(0)
        encoder = TableEncoder([ColumnSpec("rate", "continuous", max_atoms=0)])
        encoder.fit(pd.DataFrame({"rate": rates}))
        assert encoder.columns[0].encoder.atoms == []

    def test_values_spanning_decades_get_modes_in_logs(self):
        # Setup: durations from seconds to weeks (in days), as a tenure column
        rng = np.random.default_rng(5)
        days = pd.Series(np.exp(rng.uniform(np.log(1e-4), np.log(30.0), 3_000)))
        table = pd.DataFrame({"tenure": days, "price": rng.normal(100, 10, 3_000)})
        encoder = TableEncoder(
            [ColumnSpec("tenure", "continuous"), ColumnSpec("price", "continuous")]
        ).fit(table)
        # Run
        back = encoder.reverse_transform(encoder.transform(table).astype(np.float64))
        # Assert: logs for the wide column only; small values keep their relative precision
        assert encoder.columns[0].encoder.log and not encoder.columns[1].encoder.log
        np.testing.assert_allclose(back["tenure"], days, rtol=1e-4)
        # values the real column never had (zero, negative) still encode to finite numbers
        odd = encoder.transform(pd.DataFrame({"tenure": [0.0, -3.0], "price": [100.0, 90.0]}))
        assert np.isfinite(odd).all()

    def test_a_column_of_only_atoms_maps_unseen_values_to_the_nearest(self):
        values = pd.DataFrame({"x": [0.0] * 50 + [1.0] * 50})
        encoder = TableEncoder([ColumnSpec("x", "continuous")]).fit(values)
        back = encoder.reverse_transform(
            encoder.transform(pd.DataFrame({"x": [0.2, 0.9, 1.0]})).astype(np.float64)
        )["x"]
        assert back.tolist() == [0.0, 1.0, 1.0]


class TestMixture:
    def test_finds_the_modes_and_prunes_the_rest(self):
        rng = np.random.default_rng(0)
        x = np.concatenate([rng.normal(0, 1, 3_000), rng.normal(50, 2, 1_000)])
        weights, means, stds = fit_vgm(x, max_modes=10, seed=0)
        big = weights > 0.05
        assert big.sum() == 2
        np.testing.assert_allclose(sorted(means[big]), [0, 50], atol=0.5)
        np.testing.assert_allclose(sorted(weights[big]), [0.25, 0.75], atol=0.03)
        assert np.isclose(weights.sum(), 1.0)

    def test_deterministic_for_a_seed(self):
        x = np.random.default_rng(1).lognormal(3, 1, 5_000)
        a = fit_vgm(x, max_modes=10, seed=7)
        b = fit_vgm(x, max_modes=10, seed=7)
        for u, v in zip(a, b, strict=True):
            np.testing.assert_array_equal(u, v)


class TestNulls:
    def test_null_indicator_and_round_trip(self):
        table = pd.DataFrame(
            {
                "rate": [0.5, None, 0.25, None, 1.0],
                "brand": ["a", None, "b", "a", None],
                "n": pd.array([1, None, 0, 3, 2], dtype="Int64"),
            }
        )
        specs = [
            ColumnSpec("rate", "continuous"),
            ColumnSpec("brand", "categorical"),
            ColumnSpec("n", "count"),
        ]
        encoder = TableEncoder(specs).fit(table)
        assert all(c.spans[0] == Span(2, "softmax") for c in encoder.columns)
        back = encoder.reverse_transform(encoder.transform(table).astype(np.float64))
        assert back["rate"].isna().tolist() == table["rate"].isna().tolist()
        assert back["brand"].tolist() == ["a", None, "b", "a", None]
        assert back["n"].tolist() == [1, None, 0, 3, 2]

    def test_nulls_unseen_at_fit_are_refused(self):
        encoder = TableEncoder([ColumnSpec("x", "continuous")]).fit(pd.DataFrame({"x": [1.0, 2.0]}))
        with pytest.raises(InvalidDataError, match="'x' has nulls, but had none"):
            encoder.transform(pd.DataFrame({"x": [1.0, None]}))


class TestState:
    def test_json_round_trip_gives_the_same_encoding(self):
        table = _table(2)
        encoder = TableEncoder(SPECS).fit(table, seed=2)
        text = encoder.to_json()
        again = TableEncoder.from_json(text)
        np.testing.assert_array_equal(again.transform(table), encoder.transform(table))
        assert again.spans == encoder.spans
        assert json.loads(text)["encoding_version"] == ENCODING_VERSION

    def test_other_version_is_refused(self):
        text = TableEncoder(SPECS).fit(_table(0)).to_json()
        data = json.loads(text)
        data["encoding_version"] = 99
        with pytest.raises(InvalidDataError, match="encoding_version 99.*refit"):
            TableEncoder.from_json(json.dumps(data))


class TestErrors:
    def test_empty_table(self):
        with pytest.raises(InvalidDataError, match="empty table"):
            TableEncoder(SPECS).fit(_table(0).iloc[:0])

    def test_all_null_column(self):
        with pytest.raises(InvalidDataError, match="'x' is entirely null"):
            TableEncoder([ColumnSpec("x", "continuous")]).fit(pd.DataFrame({"x": [None, None]}))

    def test_missing_column_and_unknown_kind(self):
        with pytest.raises(InvalidDataError, match=r"columns \['nope'\] are not in the table"):
            TableEncoder([ColumnSpec("nope", "count")]).fit(_table(0))
        with pytest.raises(ValueError, match="unknown column kinds"):
            TableEncoder([ColumnSpec("x", "ordinal")])  # type: ignore[arg-type]

    def test_negative_counts(self):
        with pytest.raises(InvalidDataError, match="declare it `continuous`"):
            TableEncoder([ColumnSpec("x", "count")]).fit(pd.DataFrame({"x": [1, -2]}))

    def test_not_fitted(self):
        with pytest.raises(NotFittedError, match="call fit"):
            TableEncoder(SPECS).transform(_table(0))


class TestLenient:
    def test_unseen_values_and_new_nulls_take_the_fill_value_and_are_counted(self):
        # Setup: fitted on a sample without "z" and without nulls in x
        fit = pd.DataFrame({"c": ["a", "a", "b"], "x": [1.0, 2.0, 3.0]})
        encoder = TableEncoder([ColumnSpec("c", "categorical"), ColumnSpec("x", "continuous")])
        encoder.fit(fit)
        rows = pd.DataFrame({"c": ["a", "z", "b"], "x": [1.0, None, 3.0]})
        # Run
        matrix, replaced = encoder.transform_lenient(rows)
        # Assert: row 1 had two replaced cells; strict transform names the problem
        assert replaced.tolist() == [0, 2, 0]
        back = encoder.reverse_transform(matrix.astype(np.float64))
        assert back["c"].tolist() == ["a", "a", "b"]
        with pytest.raises(InvalidDataError, match=r"'c': values not seen at fit time: \['z'\]"):
            encoder.transform(rows)
        with pytest.raises(InvalidDataError, match="'x' has nulls"):
            encoder.transform(rows.assign(c="a"))


class TestAllZeroCounts:
    """A count that is 0 in every fitted row (views of a purchase-only log) has no span."""

    def test_all_zero_count_has_no_span_and_decodes_to_zero(self):
        # Setup
        table = pd.DataFrame({"n_view": [0, 0, 0], "n_purchase": [1, 4, 0]})
        encoder = TableEncoder(
            [ColumnSpec("n_view", "count"), ColumnSpec("n_purchase", "count")]
        ).fit(table)
        # Run
        matrix = encoder.transform(table)
        noise = np.random.default_rng(0).normal(size=(5, encoder.width))
        decoded = encoder.reverse_transform(noise.astype(np.float32))
        # Assert: only n_purchase's three columns; n_view is 0 whatever the matrix says
        assert encoder.width == matrix.shape[1] == 3
        assert decoded.n_view.tolist() == [0] * 5
        restored = TableEncoder.from_json(encoder.to_json())
        assert restored.width == 3
        assert restored.reverse_transform(matrix).n_view.tolist() == [0, 0, 0]


# -- digamma: scipy's replaces the hand-written series (issue 17) ------------------------------
def _old_digamma(x: np.ndarray) -> np.ndarray:
    """The encoder's digamma before scipy's (recurrence up to 6, then the asymptotic series to
    the x^-6 term): a frozen oracle, kept here to bound what the switch changed."""
    x = np.asarray(x, dtype=np.float64).copy()
    result = np.zeros_like(x)
    while np.any(x < 6.0):
        small = x < 6.0
        result[small] -= 1.0 / x[small]
        x[small] += 1.0
    inv = 1.0 / x
    inv2 = inv * inv
    return result + np.log(x) - 0.5 * inv - inv2 * (1 / 12 - inv2 * (1 / 120 - inv2 / 252))


def test_scipy_digamma_differs_from_the_old_series_by_its_truncation_only():
    from scipy.special import digamma

    # the values fit_vgm evaluates: Dirichlet concentrations (1e-3 + counts) and nu / 2
    x = np.concatenate([np.geomspace(1e-3, 1e6, 5_000), np.linspace(5.0, 7.0, 2_001)])
    gap = np.abs(digamma(x) - _old_digamma(x))
    # the old series stopped before the x^-8 term, 1 / (240 x^8) <= 2.48e-9 at x >= 6
    assert gap.max() <= 1.0 / (240 * 6.0**8) + 1e-12
    assert gap[x >= 20].max() < 1e-12


def test_fit_vgm_with_scipy_digamma_matches_the_old_fit(monkeypatch):
    import synth.models.encoding as encoding

    rng = np.random.default_rng(7)
    samples = [
        np.concatenate([rng.normal(0, 1, 3_000), rng.normal(8, 0.5, 1_000)]),
        rng.lognormal(3.0, 1.2, 4_000),
        rng.exponential(2.0, 2_500),
    ]
    new = [encoding.fit_vgm(x, max_modes=10, seed=0) for x in samples]
    monkeypatch.setattr(encoding, "digamma", _old_digamma)
    old = [encoding.fit_vgm(x, max_modes=10, seed=0) for x in samples]
    for (w_new, m_new, s_new), (w_old, m_old, s_old) in zip(new, old, strict=True):
        assert w_new.shape == w_old.shape
        np.testing.assert_allclose(w_new, w_old, rtol=0, atol=1e-8)
        np.testing.assert_allclose(m_new, m_old, rtol=1e-8, atol=1e-8)
        np.testing.assert_allclose(s_new, s_old, rtol=1e-8, atol=1e-8)
