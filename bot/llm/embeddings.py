"""Passage embeddings on the OpenAI-compatible ``/v1/embeddings`` endpoint, once per passage."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from bot.core.search import SearchHit
from bot.core.semantic import VectorIndex, VectorStore, normalise, to_bytes
from bot.llm.client import LLMClient

BATCH = 256


class SemanticStore(VectorStore, Protocol):
    """Vectors plus turning passage ids into search hits."""

    def hits_for_passages(self, ranked: Sequence[tuple[int, float]]) -> list[SearchHit]:
        """Hits for (passage id, score) pairs, in order."""
        ...


class Embedder:
    """Embeds passages that have no vector yet, and questions, with one model."""

    def __init__(self, client: LLMClient, store: SemanticStore, model: str, *, window: int = 50_000) -> None:
        self.client = client
        self.store = store
        self.model = model
        self.index = VectorIndex(model, window)

    def embed_new(self, limit: int = 10_000) -> int:
        """Embed up to ``limit`` passages without a vector (newest first); returns how many."""
        done = 0
        while done < limit:
            todo = self.store.passages_without_vectors(self.model, min(BATCH, limit - done))
            if not todo:
                break
            vectors = self.client.embed([text for _, text in todo], self.model)
            self.store.save_vectors(
                self.model, [(pid, to_bytes(normalise(v))) for (pid, _), v in zip(todo, vectors, strict=True)]
            )
            done += len(todo)
        return done

    def nearest(self, question: str, k: int = 20) -> list[tuple[int, float]]:
        """(passage id, cosine) of the passages closest to ``question``."""
        self.index.refresh(self.store)
        vector: Sequence[float] = self.client.embed([question], self.model)[0]
        return self.index.nearest(vector, k)

    def ranked_hits(self, question: str, k: int = 20) -> list[SearchHit]:
        """The passages closest to ``question`` as search hits (the Asker's SemanticRanker)."""
        return self.store.hits_for_passages(self.nearest(question, k))
