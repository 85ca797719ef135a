"""The compiled kernels (analysis/kernels.py) against their definitions, bit for bit.

The kernels define the cut values (calorimeter sums in cell order, the ECAL argmax) and the
histogram bins and sums, so each is compared with an independent numpy / boost-histogram
formulation on random inputs (hypothesis) that include NaN, ±inf, ties, bin edges and
values of very different size (where the summation order shows).
"""

from __future__ import annotations

import hist
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from analysis import kernels

FAST = settings(max_examples=60, deadline=None)

floats32 = st.one_of(st.floats(-1e6, 1e6, width=32), st.sampled_from(
    [0.0, -0.0, 1e-30, 1e30, -1e30, float("nan"), float("inf"), float("-inf"), 3.0]))
floats64 = st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                     st.sampled_from([0.0, -0.0, 1e16, -1e16, 1.0]))


def table(dtype, elements, max_rows=13, max_cols=9, min_cols=1):
    return hnp.arrays(dtype, st.tuples(st.integers(0, max_rows), st.integers(min_cols, max_cols)),
                      elements=elements)


def sequential_sums(a) -> np.ndarray:
    """Row sums in column order: np.add.accumulate is sequential by definition."""
    a = np.asarray(a, dtype=np.float64)
    if a.shape[0] == 0:
        return np.zeros(0)
    with np.errstate(invalid="ignore", over="ignore"):  # inf − inf, 1e308 + 1e308
        return np.add.accumulate(a, axis=1)[:, -1]


@FAST
@given(table(np.float32, floats32))
def test_row_sums_float32_in_column_order(a):
    np.testing.assert_array_equal(kernels.row_sums(a), sequential_sums(a))


cancelling = st.sampled_from([1e16, -1e16, 1.0, 3.0, 1e-3, -2.5])


@FAST
@given(st.one_of(table(np.float64, floats64), table(np.float64, cancelling, max_cols=40)))
def test_row_sums_float64_in_column_order(a):
    np.testing.assert_array_equal(kernels.row_sums(a), sequential_sums(a))


def test_row_sums_order_matters_and_is_cell_order():
    a = np.array([[1e16, 1.0, -1e16, 1.0]] * 5)
    assert kernels.row_sums(a).tolist() == [1.0] * 5  # (1e16 + 1) − 1e16 + 1 in order
    assert np.sum(a[:, [0, 2, 1, 3]], axis=1).tolist() == [2.0] * 5  # another order differs


@FAST
@given(st.one_of(table(np.float64, floats64), table(np.int64, st.integers(-10, 10))))
def test_row_max_is_numpy_max(a):
    np.testing.assert_array_equal(kernels.row_max(a), np.max(a, axis=1) if len(a) else
                                  np.zeros(0, a.dtype))


def pairs(max_rows=13, cols=36):
    shape = st.tuples(st.integers(0, max_rows), st.just(cols))
    return shape.flatmap(lambda s: st.tuples(
        hnp.arrays(np.float32, s, elements=st.one_of(
            st.sampled_from([0.0, 1.0, 2.0, float("nan"), float("-inf")]),
            st.floats(0, 100, width=32))),
        hnp.arrays(np.float32, s, elements=st.one_of(
            st.sampled_from([0.0, 1.0, float("nan")]), st.floats(0, 100, width=32)))))


@FAST
@given(pairs(cols=7))
def test_argmax_of_sum_is_numpy_argmax(ab):
    a, b = ab
    want = np.argmax(a + b, axis=1) if len(a) else np.zeros(0, dtype=np.intp)
    np.testing.assert_array_equal(kernels.argmax_of_sum(a, b), want)


@FAST
@given(pairs())
def test_ecal_summary(ab):
    pre, main = ab
    s_pre, s_main, arg, cen = kernels.ecal_summary(pre, main, 21)
    np.testing.assert_array_equal(s_pre, sequential_sums(pre))
    np.testing.assert_array_equal(s_main, sequential_sums(main))
    np.testing.assert_array_equal(arg, np.argmax(pre + main, axis=1) if len(pre) else
                                  np.zeros(0, dtype=np.intp))
    np.testing.assert_array_equal(cen, (pre + main)[:, 21])
    assert cen.dtype == np.float32


@FAST
@given(hnp.arrays(np.bool_, st.tuples(st.integers(0, 6), st.integers(0, 30))))
def test_cut_stages(masks):
    k, n = masks.shape
    depth, nm1 = kernels.cut_stages(masks)
    for i in range(n):
        d = 0
        while d < k and masks[d, i]:
            d += 1
        assert depth[i] == d
        for c in range(k):
            assert nm1[c, i] == all(masks[j, i] for j in range(k) if j != c)


@FAST
@given(st.lists(st.lists(st.integers(-128, 127), max_size=6), max_size=20),
       st.lists(st.integers(-128, 127), min_size=1, max_size=5, unique=True))
def test_hits_per_station(events, stations):
    offsets = np.cumsum([0] + [len(e) for e in events]).astype(np.int64)
    flat = np.array([h for e in events for h in e], dtype=np.int8)
    columns = np.full(256, -1, dtype=np.int64)
    for j, s in enumerate(stations):
        columns[s + 128] = j
    got = kernels.hits_per_station(offsets, flat, columns, len(stations))
    want = np.array([[e.count(s) for s in stations] for e in events],
                    dtype=np.int64).reshape(len(events), len(stations))
    np.testing.assert_array_equal(got, want)


def _edges_and_neighbours(edges) -> np.ndarray:
    e = np.asarray(edges, dtype=np.float64)
    return np.concatenate([e, np.nextafter(e, -np.inf), np.nextafter(e, np.inf),
                           [np.nan, np.inf, -np.inf, 1e300, -1e300]])


@FAST
@given(st.integers(1, 200), st.floats(-1e3, 1e3), st.floats(1e-3, 1e3),
       hnp.arrays(np.float64, st.integers(0, 40), elements=floats64))
def test_bin_regular_is_boost(bins, start, width, x):
    stop = start + width
    axis = hist.axis.Regular(bins, start, stop)
    x = np.concatenate([x, _edges_and_neighbours(axis.edges)])
    np.testing.assert_array_equal(kernels.bin_regular(x, bins, start, stop), axis.index(x) + 1)


@FAST
@given(st.lists(st.floats(-1e4, 1e4), min_size=2, max_size=20, unique=True),
       hnp.arrays(np.float64, st.integers(0, 40), elements=floats64))
def test_bin_variable_is_boost(edges, x):
    edges = np.sort(np.asarray(edges, dtype=np.float64))
    axis = hist.axis.Variable(edges)
    x = np.concatenate([x, _edges_and_neighbours(edges)])
    np.testing.assert_array_equal(kernels.bin_variable(x, edges), axis.index(x) + 1)


def fill_inputs(draw_k):
    @st.composite
    def inputs(draw):
        n = draw(st.integers(0, 60))
        k = draw_k
        m = draw(st.integers(1, 3))
        block = draw(st.integers(1, 6))
        flat = draw(hnp.arrays(np.intp, n * k, elements=st.integers(0, block - 1)))
        proc = draw(hnp.arrays(np.intp, n, elements=st.integers(0, m - 1)))
        masks = draw(hnp.arrays(np.bool_, (3, n)))
        rows = np.array(draw(st.lists(st.integers(-1, 2), min_size=1, max_size=4)),
                        dtype=np.intp)
        w = draw(hnp.arrays(np.float64, n, elements=st.floats(-10, 10)))
        return n, k, m, block, flat, proc, masks, rows, w
    return inputs()


def reference_fill(n, k, m, block, flat, proc, masks, rows, w):
    keys = (proc[:, None] * block + flat.reshape(n, k))
    sumw, sumw2, seen = [], [], []
    for r in rows:
        sel = np.ones(n, dtype=bool) if r < 0 else masks[r]
        kk = keys[sel].reshape(-1)
        ww = np.repeat(w[sel], k)
        sumw.append(np.bincount(kk, weights=ww, minlength=m * block))
        sumw2.append(np.bincount(kk, weights=ww * ww, minlength=m * block))
        seen.append(np.isin(np.arange(m), proc[sel]))
    return np.array(sumw), np.array(sumw2), np.array(seen)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("k", [1, 3])
def test_fills_are_bincount_bit_for_bit(k, weighted):
    """Both kernels add in event order, as np.bincount does: equal to the last bit."""
    @FAST
    @given(fill_inputs(k))
    def check(args):
        n, k_, m, block, flat, proc, masks, rows, w = args
        w = w if weighted else np.ones(n)
        sumw = np.zeros((len(rows), m * block))
        sumw2 = np.zeros_like(sumw)
        seen = np.zeros((len(rows), m), dtype=bool)
        if weighted:
            kernels.fill_weighted(flat, k_, proc, masks, rows, w, sumw, sumw2, seen)
        else:
            kernels.fill_counts(flat, k_, proc, masks, rows, sumw, seen)
            sumw2 = sumw  # unit weights: the counts are both sums
        want, want2, want_seen = reference_fill(n, k_, m, block, flat, proc, masks, rows, w)
        np.testing.assert_array_equal(sumw, want)
        np.testing.assert_array_equal(sumw2, want2)
        np.testing.assert_array_equal(seen, want_seen)
    check()
