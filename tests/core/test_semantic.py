"""Reciprocal rank fusion and the in-memory vector index."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from bot.core.semantic import VectorIndex, from_bytes, normalise, rrf, to_bytes


def test_rrf_rewards_agreement() -> None:
    fused = rrf([["a", "b", "c"], ["c", "d", "a"]])
    assert fused[0] == "a"  # first and third beats first alone
    assert set(fused) == {"a", "b", "c", "d"} and fused.index("c") < fused.index("b")
    assert rrf([]) == [] and rrf([["x"]]) == ["x"]


def test_vectors_round_trip_normalised() -> None:
    v = normalise([3.0, 4.0])
    assert list(v) == pytest.approx([0.6, 0.8])
    assert list(from_bytes(to_bytes(v))) == pytest.approx([0.6, 0.8])
    assert list(normalise([0.0, 0.0])) == [0.0, 0.0]


class Store:
    def __init__(self, rows: list[tuple[int, Sequence[float]]]) -> None:
        self.rows = [(pid, to_bytes(normalise(v))) for pid, v in rows]

    def load_vectors(self, model: str, after_id: int, limit: int) -> list[tuple[int, bytes]]:
        return [r for r in self.rows if r[0] > after_id][:limit]

    def passages_without_vectors(self, model: str, limit: int) -> list[tuple[int, str]]:
        return []

    def save_vectors(self, model: str, items: Sequence[tuple[int, bytes]]) -> None:
        self.rows += list(items)


def test_nearest_and_refresh_keep_the_newest_window() -> None:
    store = Store([(1, [1.0, 0.0]), (2, [0.0, 1.0]), (3, [0.7, 0.7])])
    index = VectorIndex("m", window=2)
    index.refresh(store)
    assert index.ids == [2, 3]  # the newest two
    assert [pid for pid, _ in index.nearest([0.0, 1.0], k=2)] == [2, 3]
    store.rows.append((4, to_bytes(normalise([0.0, 1.0]))))
    index.refresh(store)
    assert index.ids == [3, 4]
    best, score = index.nearest([0.0, 2.0], k=1)[0]
    assert best == 4 and score == pytest.approx(1.0)
