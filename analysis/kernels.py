"""Compiled (numba) loops for the per-event work that numpy does in many passes.

Each kernel defines its result exactly, so that every code path (processor, notebooks,
RDataFrame filters) agrees to the last bit:

* :func:`row_sums` adds a row's cells in float64 *in cell order* — what RDataFrame's
  ``std::accumulate(v.begin(), v.end(), 0.)`` does (the cut values of NTUPLE.md's
  calorimeter branches are defined this way; docs/analysis.md);
* :func:`ecal_summary` is both ECAL sections' :func:`row_sums`, the :func:`argmax_of_sum`
  and the centre cell's sum, in one pass; :func:`cut_stages` the cut-flow depth and N−1
  masks of a pass/fail matrix;
* :func:`row_max` is ``numpy.max(a, axis=1)`` (NaN propagates);
* :func:`argmax_of_sum` is ``numpy.argmax(a + b, axis=1)`` with the float32 sum (first
  maximum, first NaN wins, as numpy);
* :func:`bin_regular` / :func:`bin_variable` are boost-histogram's ``axis.index`` + 1 (the
  flow-bin position, underflow 0) for a regular / variable axis with under- and overflow;
* :func:`fill_counts` / :func:`fill_weighted` add 1 / the weights in event order into
  float64 bins, like ``np.bincount`` and ``Hist.fill``.

The tests (tests/test_kernels.py) compare each with its numpy / boost-histogram definition
on random and edge-case inputs (hypothesis). numba compiles on first use and caches the
machine code next to this file (``cache=True``); no threads are started.
"""

from __future__ import annotations

import numba
import numpy as np

_jit = numba.njit(cache=True, nogil=True, boundscheck=False)


@_jit
def row_sums(a):
    """Per-row sum of a 2-D array, accumulated in float64 in column order."""
    n, m = a.shape
    out = np.empty(n, dtype=np.float64)
    n4 = n - n % 4
    for i in range(0, n4, 4):  # four rows side by side, each in column order
        s0 = s1 = s2 = s3 = 0.0
        for j in range(m):
            s0 += np.float64(a[i, j])
            s1 += np.float64(a[i + 1, j])
            s2 += np.float64(a[i + 2, j])
            s3 += np.float64(a[i + 3, j])
        out[i], out[i + 1], out[i + 2], out[i + 3] = s0, s1, s2, s3
    for i in range(n4, n):
        s = 0.0
        for j in range(m):
            s += np.float64(a[i, j])
        out[i] = s
    return out


@_jit
def row_max(a):
    """Per-row maximum of a 2-D array (at least one column), NaN if the row has a NaN
    (``numpy.max(a, axis=1)``)."""
    n, m = a.shape
    out = np.empty(n, dtype=a.dtype)
    for i in range(n):
        best = a[i, 0]
        for j in range(1, m):
            v = a[i, j]
            if v > best or v != v:
                best = v
                if v != v:
                    break
        out[i] = best
    return out


@_jit
def _argmax_row(a, b, i):
    """``numpy.argmax(a[i] + b[i])``: first maximum, or the first NaN."""
    best = a[i, 0] + b[i, 0]
    if best != best:
        return 0
    k = 0
    for j in range(1, a.shape[1]):
        v = a[i, j] + b[i, j]
        if v != v:
            return j
        if v > best:
            best = v
            k = j
    return k


@_jit
def argmax_of_sum(a, b):
    """``numpy.argmax(a + b, axis=1)`` for two 2-D arrays of one dtype (sum in that dtype)."""
    out = np.empty(a.shape[0], dtype=np.intp)
    for i in range(a.shape[0]):
        out[i] = _argmax_row(a, b, i)
    return out


@_jit
def ecal_summary(pre, main, center):
    """One pass over the two ECAL sections (n, cells) of one dtype: the float64 cell-order
    sums of each (as :func:`row_sums`), the argmax of their per-cell sum (as
    :func:`argmax_of_sum`) and the per-cell sum of cell ``center``. Four events are summed
    side by side (each still in cell order): one event's chain of dependent additions
    leaves the adders idle."""
    n, m = pre.shape
    s_pre = np.empty(n, dtype=np.float64)
    s_main = np.empty(n, dtype=np.float64)
    arg = np.empty(n, dtype=np.intp)
    cen = np.empty(n, dtype=pre.dtype)
    n4 = n - n % 4
    for i in range(0, n4, 4):
        a0 = a1 = a2 = a3 = 0.0
        b0 = b1 = b2 = b3 = 0.0
        for j in range(m):
            a0 += np.float64(pre[i, j])
            a1 += np.float64(pre[i + 1, j])
            a2 += np.float64(pre[i + 2, j])
            a3 += np.float64(pre[i + 3, j])
            b0 += np.float64(main[i, j])
            b1 += np.float64(main[i + 1, j])
            b2 += np.float64(main[i + 2, j])
            b3 += np.float64(main[i + 3, j])
        s_pre[i], s_pre[i + 1], s_pre[i + 2], s_pre[i + 3] = a0, a1, a2, a3
        s_main[i], s_main[i + 1], s_main[i + 2], s_main[i + 3] = b0, b1, b2, b3
    for i in range(n4, n):
        a = 0.0
        b = 0.0
        for j in range(m):
            a += np.float64(pre[i, j])
            b += np.float64(main[i, j])
        s_pre[i] = a
        s_main[i] = b
    for i in range(n):
        arg[i] = _argmax_row(pre, main, i)
        cen[i] = pre[i, center] + main[i, center]
    return s_pre, s_main, arg, cen


@_jit
def cut_stages(masks):
    """From the (k, n) pass/fail matrix of k ordered cuts: ``depth`` (n,), the number of
    leading cuts each event passes, and ``nm1`` (k, n), whether every cut but cut c passes
    (no cut failed, or only c)."""
    k, n = masks.shape
    depth = np.empty(n, dtype=np.int64)
    nm1 = np.empty((k, n), dtype=np.bool_)
    for i in range(n):
        d = 0
        alive = True
        nfail = 0
        failed = -1
        for c in range(k):
            if masks[c, i]:
                if alive:
                    d += 1
            else:
                alive = False
                nfail += 1
                failed = c
        depth[i] = d
        for c in range(k):
            nm1[c, i] = nfail == 0 or (nfail == 1 and failed == c)
    return depth, nm1


@_jit
def hits_per_station(offsets, stations, columns, k):
    """(n, k) hit counts: hit h of event i counts in column ``columns[stations[h] + 128]``
    (−1: a station not asked for). ``stations`` is int8 (NTUPLE.md ``hit_station``)."""
    n = len(offsets) - 1
    out = np.zeros((n, k), dtype=np.int64)
    for i in range(n):
        for h in range(offsets[i], offsets[i + 1]):
            c = columns[np.int64(stations[h]) + 128]
            if c >= 0:
                out[i, c] += 1
    return out


@_jit
def bin_regular(x, bins, start, stop):
    """Flow-bin position (0 underflow, 1..bins, bins+1 overflow and NaN) of each value on a
    regular axis: boost-histogram's ``regular::index`` (z = (x − start)/(stop − start),
    ``int(z · bins)``) plus one."""
    delta = stop - start
    out = np.empty(x.shape[0], dtype=np.intp)
    for i in range(x.shape[0]):
        z = (x[i] - start) / delta
        if z < 1.0:
            if z >= 0.0:
                out[i] = np.intp(z * bins) + 1
            else:
                out[i] = 0
        else:
            out[i] = bins + 1
    return out


@_jit
def bin_variable(x, edges):
    """Flow-bin position of each value on a variable axis: ``upper_bound(edges, x) − 1``
    (boost-histogram's ``variable::index``, last edge and NaN to overflow) plus one."""
    out = np.empty(x.shape[0], dtype=np.intp)
    ne = edges.shape[0]
    for i in range(x.shape[0]):
        v = x[i]
        if np.isnan(v):
            out[i] = ne
            continue
        lo, hi = 0, ne
        while lo < hi:  # first edge > v
            mid = (lo + hi) // 2
            if v < edges[mid]:
                hi = mid
            else:
                lo = mid + 1
        out[i] = lo
    return out


@_jit
def fill_counts(flat, k, proc, masks, rows, sumw, seen):
    """Unit weights: add 1 per entry to the bins of every stage the event passes.

    ``flat`` (n·k,): bin of each of the event's k values within one process block (event
    major); ``proc`` (n,): the event's process index; ``masks`` (S_all, n) bool and
    ``rows`` the stage rows of this histogram (−1: every event); ``sumw`` (len(rows),
    n_proc · block) float64 gets the counts (exact integers, as ``np.bincount``); ``seen``
    (len(rows), n_proc): the process has an event in that stage. The mask is added (0 or
    1) rather than branched on, one stage at a time: a tight loop without mispredictions."""
    n = proc.shape[0]
    nb = sumw.shape[1]
    m = seen.shape[1]
    block = nb // m
    counts = np.zeros(nb, dtype=np.int64)
    for s in range(rows.shape[0]):
        r = rows[s]
        counts[:] = 0
        if k == 1:
            if r < 0:
                for i in range(n):
                    counts[flat[i] + proc[i] * block] += 1
            else:
                mk = masks[r]
                for i in range(n):
                    counts[flat[i] + proc[i] * block] += mk[i]
        else:
            for i in range(n):
                if r < 0 or masks[r, i]:
                    base = proc[i] * block
                    for j in range(i * k, i * k + k):
                        counts[flat[j] + base] += 1
        for p in range(m):
            total = 0
            for b in range(p * block, (p + 1) * block):
                sumw[s, b] += counts[b]
                total += counts[b]
            seen[s, p] = total > 0
    return seen


@_jit
def fill_weighted(flat, k, proc, masks, rows, w, sumw, sumw2, seen):
    """As :func:`fill_counts` with weights ``w``: ``sumw`` and ``sumw2`` get w and w² added
    in event order (the float64 sums ``np.bincount(weights=...)`` and ``Hist.fill``
    make)."""
    n = proc.shape[0]
    block = sumw.shape[1] // seen.shape[1]
    for i in range(n):
        p = proc[i]
        base = p * block
        wi = w[i]
        for s in range(rows.shape[0]):
            r = rows[s]
            if r >= 0 and not masks[r, i]:
                continue
            seen[s, p] = True
            for j in range(i * k, i * k + k):
                sumw[s, base + flat[j]] += wi
                sumw2[s, base + flat[j]] += wi * wi
    return seen


__all__ = ["argmax_of_sum", "bin_regular", "bin_variable", "cut_stages", "ecal_summary",
           "fill_counts", "fill_weighted", "hits_per_station", "row_max", "row_sums"]
