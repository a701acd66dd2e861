"""Optional semantic retrieval: passage vectors, cosine ranking and reciprocal rank fusion.

When an embeddings model is configured (``BRIEFBOT_EMBEDDINGS_MODEL`` on the
OpenAI-compatible endpoint), every passage gets a vector once, after analysis, and a
question is ranked twice: by full-text search and by cosine similarity of its vector to
the passages' vectors. The two rankings are fused with reciprocal rank fusion (Cormack et
al., 2009): ``score(p) = sum over rankings of 1 / (k + rank(p))`` with ``k = 60``, so a
passage near the top of either list rises, and one near the top of both rises most.

Vectors are unit-normalised float32; the cosine is a dot product. The ranking is exact
(brute force) over the newest ``window`` passages held in memory by ``VectorIndex``.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

RRF_K = 60
_T = TypeVar("_T", bound=Hashable)


def rrf(rankings: Iterable[Sequence[_T]], k: int = RRF_K) -> list[_T]:
    """Items of several best-first rankings, fused best first (ties: first seen)."""
    scores: dict[_T, float] = {}
    order: dict[_T, int] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, 1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank)
            order.setdefault(item, len(order))
    return sorted(scores, key=lambda item: (-scores[item], order[item]))


def normalise(vector: Sequence[float]) -> array[float]:
    """The vector scaled to length 1 (a zero vector stays zero), as float32."""
    norm = math.sqrt(sum(x * x for x in vector)) or 1.0
    return array("f", (x / norm for x in vector))


def to_bytes(vector: array[float]) -> bytes:
    """Little-endian float32 bytes for the store."""
    out = array("f", vector)
    if out.itemsize != 4:  # pragma: no cover - every platform briefbot runs on has 4-byte floats
        raise ValueError("float32 arrays are required")
    return out.tobytes()


def from_bytes(data: bytes) -> array[float]:
    """The inverse of :func:`to_bytes`."""
    out = array("f")
    out.frombytes(data)
    return out


class VectorStore(Protocol):
    """Passage vectors in the store."""

    def passages_without_vectors(self, model: str, limit: int) -> list[tuple[int, str]]:
        """(passage id, text) of passages that have no vector for ``model``, newest first."""
        ...

    def save_vectors(self, model: str, items: Sequence[tuple[int, bytes]]) -> None:
        """Store (passage id, float32 bytes) vectors."""
        ...

    def load_vectors(self, model: str, after_id: int, limit: int) -> list[tuple[int, bytes]]:
        """Vectors of passages with id > ``after_id``, oldest first, at most ``limit``."""
        ...


@dataclass
class VectorIndex:
    """The newest ``window`` passage vectors of one model, in memory, refreshed on use."""

    model: str
    window: int = 50_000
    ids: list[int] = field(default_factory=list)
    vectors: list[array[float]] = field(default_factory=list)

    def refresh(self, store: VectorStore) -> None:
        """Load vectors stored since the last refresh (newest kept, up to ``window``)."""
        last = self.ids[-1] if self.ids else 0
        while True:
            rows = store.load_vectors(self.model, last, 5000)
            if not rows:
                break
            for pid, data in rows:
                self.ids.append(pid)
                self.vectors.append(from_bytes(data))
            last = rows[-1][0]
        if len(self.ids) > self.window:
            del self.ids[: len(self.ids) - self.window]
            del self.vectors[: len(self.vectors) - self.window]

    def nearest(self, query: Sequence[float], k: int = 20) -> list[tuple[int, float]]:
        """(passage id, cosine) of the ``k`` passages closest to ``query``, best first."""
        q = normalise(query)
        scored = []
        for pid, vec in zip(self.ids, self.vectors, strict=True):
            if len(vec) != len(q):
                continue
            scored.append((sum(a * b for a, b in zip(q, vec, strict=True)), pid))
        scored.sort(reverse=True)
        return [(pid, score) for score, pid in scored[:k]]
