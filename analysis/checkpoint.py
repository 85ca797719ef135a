"""Per-chunk checkpoints in a safe format (JSON only, never pickles).

A checkpoint directory holds, for one processing configuration (selection, processor,
schema, bad-spill list: their hash is :func:`config_hash`), one JSON file per finished
chunk::

    DIR/CHECKPOINT.json                        marker written by the run that made DIR
    DIR/<config hash>/<file xxh3_64>/<entrystart>-<entrystop>.json

The key is the file's *content* checksum, so a regenerated file with the same name never
reuses stale chunks, and a moved file still does. Chunk files are written atomically
(temporary file + rename): a worker killed while writing leaves no half chunk. A chunk file
that cannot be decoded is ignored (the chunk is processed again). Loading is plain
``json.load`` plus numpy/hist construction: nothing in a checkpoint is executed, so
reading a directory you did not create is no code-execution risk (coffea's
``SimpleCheckpointer`` pickles; it is not used).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import hist
import numpy as np

FORMAT = 1
MARKER = "CHECKPOINT.json"


# ----------------------------------------------------------------------------------------
# encoding of processor output (dicts of numpy arrays, numbers and hist.Hist)
# ----------------------------------------------------------------------------------------


def encode(obj: Any) -> Any:
    """JSON-safe form of a processor output; :func:`decode` inverts it exactly."""
    from .results import hist_to_dict

    from .processors.histsums import HistogramSums

    if isinstance(obj, HistogramSums):
        obj = obj.to_hist()
    if isinstance(obj, hist.Hist):
        return {"__hist__": hist_to_dict(obj)}
    if isinstance(obj, np.ndarray):
        return {"__nd__": obj.dtype.str, "shape": list(obj.shape), "data": obj.ravel().tolist()}
    if isinstance(obj, Mapping):
        if all(isinstance(k, str) and not k.startswith("__") for k in obj):
            return {k: encode(v) for k, v in obj.items()}
        return {"__map__": [[encode(k), encode(v)] for k, v in obj.items()]}
    if isinstance(obj, (list, tuple)):
        return [encode(v) for v in obj]
    if isinstance(obj, (np.integer, np.bool_)):
        return obj.item()
    if isinstance(obj, np.floating):
        return float(obj)
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"cannot checkpoint a {type(obj).__name__}")


def decode(obj: Any) -> Any:
    from .results import hist_from_dict

    if isinstance(obj, dict):
        if "__hist__" in obj:
            return hist_from_dict(obj["__hist__"])
        if "__nd__" in obj:
            return np.asarray(obj["data"], dtype=np.dtype(obj["__nd__"])).reshape(obj["shape"])
        if "__map__" in obj:
            return {decode(k): decode(v) for k, v in obj["__map__"]}
        return {k: decode(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [decode(v) for v in obj]
    return obj


def config_hash(parts: Mapping[str, Any]) -> str:
    """sha256 of the canonical JSON of what determines a chunk's output."""
    text = json.dumps({"format": FORMAT, **parts}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (temporary file in the same directory, then
    ``os.replace``); creates the parent directory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class ChunkStore:
    """Finished chunks of one configuration under ``root`` (see module docstring)."""

    def __init__(self, root: str | os.PathLike, config: str):
        self.root = Path(root).absolute()
        self.config = config
        self.dir = self.root / config[:16]

    def prepare(self) -> None:
        """Create the directory (and its marker) or check that it is a checkpoint dir."""
        marker = self.root / MARKER
        if self.root.exists() and not marker.is_file() and any(self.root.iterdir()):
            raise ValueError(f"{self.root}: exists, is not empty and is not a checkpoint "
                             f"directory (no {MARKER}); choose another --checkpoint DIR")
        self.root.mkdir(parents=True, exist_ok=True)
        if not marker.is_file():
            atomic_write(marker, json.dumps({"format": FORMAT, "what": "na64 run chunk "
                                              "checkpoints (JSON only)"}) + "\n")

    def path(self, checksum: str, start: int, stop: int) -> Path:
        return self.dir / checksum / f"{int(start)}-{int(stop)}.json"

    def save(self, checksum: str, start: int, stop: int, dataset: str, output: Any) -> Path:
        p = self.path(checksum, start, stop)
        doc = {"format": FORMAT, "config": self.config, "checksum": checksum,
               "entrystart": int(start), "entrystop": int(stop), "dataset": dataset,
               "output": output}
        atomic_write(p, json.dumps(doc, allow_nan=True))
        return p

    def load(self, checksum: str, start: int, stop: int) -> Any | None:
        """The encoded output of a finished chunk, or None (absent or unreadable)."""
        p = self.path(checksum, start, stop)
        try:
            doc = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(doc, dict) or doc.get("format") != FORMAT \
                or doc.get("config") != self.config or doc.get("checksum") != checksum \
                or doc.get("entrystart") != int(start) or doc.get("entrystop") != int(stop):
            return None
        return doc.get("output")

    def has(self, checksum: str, start: int, stop: int) -> bool:
        return self.path(checksum, start, stop).is_file()


__all__ = ["ChunkStore", "FORMAT", "config_hash", "decode", "encode"]
