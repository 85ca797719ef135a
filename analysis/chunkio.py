"""Reading one chunk of the ``events`` tree: only the branches a selection touches, basket
by basket, straight into native numpy arrays.

Why not coffea's NanoEvents or ``TTree.arrays``: for the fixed-size branches of NTUPLE.md
(scalars and ``float[6][6]``-like arrays, ≈ 99 % of the bytes) uproot first concatenates the
big-endian baskets into a new big-endian array and then byte-swaps that into another new
array; NanoEvents adds its form and virtual-array machinery on top, and coffea's work
function opens the file once per chunk (≈ 8 ms). Here each basket is decompressed by uproot
(every codec, checksums checked) and copied *once*, byte-swapping on the way, into the
chunk's output; open files are kept per thread (keyed by path, size, mtime and inode, so a
rewritten file is reopened); a basket that runs on past the chunk is kept for the next one.
Measured in docs/performance.md: the read of the 16 branches of the 2023 selection costs
0.7–0.8 of a plain ``uproot.iterate``.

Any branch this fast path does not know (jagged with headers, strings, objects) and any
basket whose size does not match its entry count is read by uproot's own
``TBranch.array``, so the values never depend on which path read them (tests compare both).
"""

from __future__ import annotations

import ctypes
import mmap
import os
import platform
import threading
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

import awkward as ak
import numpy as np
import uproot

#: open files kept per thread (a worker processes chunks of a few files at a time)
MAX_OPEN_FILES = 4

_local = threading.local()


def _stat_key(path: str) -> tuple:
    try:
        st = os.stat(path)
    except OSError:  # remote (xrootd, http): no stat, the name decides
        return (path,)
    return (path, st.st_size, st.st_mtime_ns, st.st_ino)


def open_tree(path: str, treename: str = "events"):
    """The TTree ``treename`` of ``path``, from this thread's small cache of open files.

    uproot's array cache is off (each basket is read once per chunk here), so an open file
    holds only its metadata; the least recently used file is closed beyond
    :data:`MAX_OPEN_FILES`."""
    cache: OrderedDict = getattr(_local, "files", None)
    if cache is None:
        cache = _local.files = OrderedDict()
    key = (_stat_key(path), treename)
    if key in cache:
        cache.move_to_end(key)
        return cache[key][1]
    # local files are memory-mapped (≈ 0.04 µs/event less than uproot's default source,
    # which opens the file and copies the bytes for every basket); release_pages() keeps
    # the mapped pages from piling up in the resident set
    local = "://" not in path or path.startswith("file://")
    opts = {"handler": uproot.source.file.MemmapSource} if local else {}
    f = uproot.open(path, array_cache=None, object_cache=None, **opts)
    try:
        tree = f[treename]
    except Exception:
        f.close()
        raise
    cache[key] = (f, tree)
    while len(cache) > MAX_OPEN_FILES:
        _, (old, _) = cache.popitem(last=False)
        _forget_baskets()
        old.close()
    return tree


def release_pages(tree) -> None:
    """Drop the pages of ``tree``'s memory-mapped file from this process (they stay in the
    page cache): the pages a chunk touched count in the resident set until then, so
    without this a long run's RSS would grow to the size of its files."""
    source = tree.file.source
    mm = getattr(getattr(source, "file", None), "_mmap", None)
    if isinstance(source, uproot.source.file.MemmapSource) and mm is not None:
        try:
            mm.madvise(mmap.MADV_DONTNEED)
        except (AttributeError, OSError, ValueError):
            pass  # not on this platform: only the RSS figure grows (clean file pages)


def close_files() -> None:
    """Close this thread's cached files (tests, end of a worker)."""
    _forget_baskets()
    cache = getattr(_local, "files", None)
    while cache:
        _, (f, _) = cache.popitem()
        f.close()


def _forget_baskets() -> None:
    """Drop the baskets kept for the next chunk (before their file is closed)."""
    getattr(_local, "straddling", {}).clear()


def _baskets(branch, start: int, stop: int) -> Iterable[tuple[int, int, int]]:
    """(basket number, first entry, entry after last) of the baskets overlapping the range."""
    offsets = branch.entry_offsets
    first = int(np.searchsorted(offsets, start, side="right")) - 1
    for i in range(max(first, 0), len(offsets) - 1):
        lo, hi = int(offsets[i]), int(offsets[i + 1])
        if lo >= stop:
            break
        if hi > start:
            yield i, lo, hi


_tuned = False


def tune_allocator() -> bool:
    """Keep freed heap memory for reuse instead of returning it to the system (glibc only;
    ``NA64_MALLOC_TUNING=0`` turns it off). Returns whether it is in effect.

    Why: every chunk makes tens of MB of temporaries (decompressed baskets, masks, float64
    columns). With glibc's defaults they are mmap'ed or trimmed from the heap when freed and
    page-faulted in again by the next chunk — ≈ 16 000 page faults per 100 000 events, a
    third of the processing time (docs/performance.md). ``M_MMAP_THRESHOLD`` 64 MB and
    ``M_TRIM_THRESHOLD`` 512 MB make the next chunk reuse the same pages; the resident
    memory then stays at the run's peak (bounded by the chunk size) until the process ends.
    """
    global _tuned
    if _tuned:
        return True
    if os.environ.get("NA64_MALLOC_TUNING", "1") == "0" or platform.system() != "Linux" \
            or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(None)
        M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc malloc.h
        _tuned = bool(libc.mallopt(M_MMAP_THRESHOLD, 64 << 20)) and \
            bool(libc.mallopt(M_TRIM_THRESHOLD, 512 << 20))
    except (OSError, AttributeError):
        return False
    return _tuned


def chunk_buffers() -> dict:
    """This thread's output buffers, reused from chunk to chunk by ``run()``'s work function
    (one chunk at a time per thread): a fresh 50 MB of outputs per chunk costs ≈ 0.2 µs per
    event in page faults alone (docs/performance.md)."""
    pool = getattr(_local, "buffers", None)
    if pool is None:
        pool = _local.buffers = {}
    return pool


def _basket(branch, i: int, hi: int, stop: int):
    """Basket ``i`` of ``branch`` (entries up to ``hi``), decompressed. A basket that runs on
    past the chunk (``hi > stop``) is kept for this thread's next chunk, which starts inside
    it: coffea chunks by entries, not baskets, and each chunk boundary would otherwise
    decompress the basket it falls in twice."""
    cache = getattr(_local, "straddling", None)
    if cache is None:
        cache = _local.straddling = {}
    key = (id(branch), branch.name)
    hit = cache.get(key)
    if hit is not None and hit[0] == i and hit[1] is branch:
        basket = hit[2]
    else:
        basket = branch.basket(i)
    if hi > stop:
        cache[key] = (i, branch, basket)
    else:
        cache.pop(key, None)
    return basket


def _read_fixed(branch, interp, start: int, stop: int, buffers: dict | None
                ) -> np.ndarray | None:
    """A fixed-size (``AsDtype``) branch: each basket byte-swapped once into the output."""
    src = np.dtype(interp.from_dtype)
    inner = src.shape
    base = src.base if inner else src
    shape, dtype = (stop - start, *inner), base.newbyteorder("=")
    out = None if buffers is None else buffers.get(branch.name)
    if out is None or out.shape != shape or out.dtype != dtype:
        out = np.empty(shape, dtype=dtype)
        if buffers is not None:
            buffers[branch.name] = out
    for i, lo, hi in _baskets(branch, start, stop):
        data = _basket(branch, i, hi, stop).data
        if len(data) != (hi - lo) * src.itemsize:
            return None  # not the plain layout: let uproot decide
        vals = data.view(base).reshape(hi - lo, *inner)
        a, b = max(lo, start), min(hi, stop)
        np.copyto(out[a - start:b - start], vals[a - lo:b - lo])
    return out


def _read_jagged(branch, interp, start: int, stop: int) -> ak.Array | None:
    """A jagged (``AsJagged(AsDtype)``, no per-entry header) branch, e.g. ``hit_station``."""
    src = np.dtype(interp.content.from_dtype)
    if src.shape or interp.header_bytes != 0:
        return None
    counts, contents = [], []
    for i, lo, hi in _baskets(branch, start, stop):
        bk = _basket(branch, i, hi, stop)
        offs = bk.byte_offsets
        data = bk.data
        if offs is None or len(offs) != hi - lo + 1 or offs[-1] != len(data) \
                or np.any(offs % src.itemsize):
            return None
        a, b = max(lo, start), min(hi, stop)
        o = offs[a - lo:b - lo + 1] // src.itemsize
        counts.append(np.diff(o))
        contents.append(data.view(src)[o[0]:o[-1]])
    n = np.concatenate(counts) if counts else np.zeros(0, dtype=np.int64)
    content = (np.concatenate(contents) if contents else np.zeros(0, src)).astype(
        src.newbyteorder("="), copy=False)
    offsets = np.zeros(len(n) + 1, dtype=np.int64)
    np.cumsum(n, out=offsets[1:])
    layout = ak.contents.ListOffsetArray(ak.index.Index64(offsets),
                                         ak.contents.NumpyArray(content))
    return ak.Array(layout)


def read_branch(branch, start: int, stop: int, buffers: dict | None = None
                ) -> np.ndarray | ak.Array:
    """Entries [start, stop) of ``branch``: a native numpy array (fixed size) or an awkward
    array (jagged), identical to ``branch.array(..., library="ak")`` converted the same way.

    ``buffers`` (:func:`chunk_buffers`): write fixed-size branches into these reused arrays;
    the result is then only valid until the next chunk of this thread is read."""
    interp = branch.interpretation
    out = None
    if isinstance(interp, uproot.AsDtype):
        out = _read_fixed(branch, interp, start, stop, buffers)
    elif isinstance(interp, uproot.AsJagged) and isinstance(interp.content, uproot.AsDtype):
        out = _read_jagged(branch, interp, start, stop)
    if out is not None:
        return out
    arr = branch.array(entry_start=start, entry_stop=stop, library="ak")
    if isinstance(interp, uproot.AsDtype):
        return ak.to_numpy(arr)
    return arr


def _branch_names(tree) -> dict[str, None]:
    """The tree's top-level branch names (kept on the tree object: uproot lists them by
    walking every branch, each time)."""
    names = getattr(tree, "_na64_branch_names", None)
    if names is None:
        names = dict.fromkeys(tree.keys(recursive=False))
        tree._na64_branch_names = names
    return names


class ChunkEvents:
    """Entries [start, stop) of an ``events`` tree as columns read on first access.

    What the processors need of an events object: ``len``, ``fields``, ``metadata``,
    ``events[name]`` (a branch, read once and kept for the chunk) and ``events[mask]``
    (the chunk without some events, e.g. bad spills). Cuts reach it through
    :func:`analysis.cuts.column` like any other events object."""

    def __init__(self, tree: Any, start: int, stop: int, metadata: dict | None = None,
                 *, buffers: dict | None = None, _columns: dict | None = None,
                 _mask: np.ndarray | None = None):
        self._tree = tree
        self._buffers = buffers
        self._start, self._stop = int(start), int(stop)
        self.metadata = dict(metadata or {})
        self._columns: dict[str, Any] = {} if _columns is None else _columns
        self._mask = _mask
        self._len = (self._stop - self._start) if _mask is None else int(np.count_nonzero(_mask))

    def __len__(self) -> int:
        return self._len

    @property
    def fields(self) -> list[str]:
        return list(_branch_names(self._tree))

    def __contains__(self, name: str) -> bool:
        return name in _branch_names(self._tree)

    def __getitem__(self, key):
        if isinstance(key, str):
            if key not in self._columns:
                if key not in _branch_names(self._tree):
                    raise KeyError(f"{self._tree.file.file_path}: the events tree has no "
                                   f"branch {key!r}")
                arr = read_branch(self._tree[key], self._start, self._stop, self._buffers)
                self._columns[key] = arr if self._mask is None else arr[self._mask]
            return self._columns[key]
        mask = np.asarray(key)
        if mask.dtype != bool or mask.shape != (len(self),):
            raise TypeError("ChunkEvents can be indexed by a branch name or a boolean mask "
                            "of its length")
        full = mask if self._mask is None else _compose(self._mask, mask)
        return ChunkEvents(self._tree, self._start, self._stop, self.metadata,
                           buffers=self._buffers, _mask=full,
                           _columns={k: v[mask] for k, v in self._columns.items()})


def _compose(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """The mask over the full range that keeps what ``inner`` keeps of ``outer``'s events."""
    full = np.zeros_like(outer)
    full[np.flatnonzero(outer)[inner]] = True
    return full


__all__ = ["MAX_OPEN_FILES", "ChunkEvents", "chunk_buffers", "close_files", "open_tree",
           "read_branch", "release_pages", "tune_allocator"]
