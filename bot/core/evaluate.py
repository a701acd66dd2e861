"""Clustering metrics: pairwise precision/recall/F1 and B-cubed, over the items of ``gold``.

Both take ``predicted`` and ``gold`` as ``{item id: cluster id}``. Items missing from
``predicted`` count as singletons; items only in ``predicted`` are ignored.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from itertools import combinations


@dataclass(frozen=True)
class Scores:
    precision: float
    recall: float
    f1: float


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


def _aligned(
    predicted: Mapping[str, Hashable], gold: Mapping[str, Hashable]
) -> tuple[list[str], dict[str, Hashable]]:
    ids = sorted(gold)
    pred: dict[str, Hashable] = {i: predicted.get(i, ("__singleton__", i)) for i in ids}
    return ids, pred


def pairwise_scores(predicted: Mapping[str, Hashable], gold: Mapping[str, Hashable]) -> Scores:
    """Precision and recall over pairs of items put in one cluster (1.0 when there are none)."""
    ids, pred = _aligned(predicted, gold)
    tp = fp = fn = 0
    for a, b in combinations(ids, 2):
        same_p = pred[a] == pred[b]
        same_g = gold[a] == gold[b]
        tp += same_p and same_g
        fp += same_p and not same_g
        fn += same_g and not same_p
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    return Scores(p, r, _f1(p, r))


def bcubed(predicted: Mapping[str, Hashable], gold: Mapping[str, Hashable]) -> Scores:
    """B-cubed precision and recall: per-item averages of cluster overlap."""
    ids, pred = _aligned(predicted, gold)
    if not ids:
        return Scores(1.0, 1.0, 1.0)
    both = Counter((pred[i], gold[i]) for i in ids)
    psize = Counter(pred[i] for i in ids)
    gsize = Counter(gold[i] for i in ids)
    p = sum(both[(pred[i], gold[i])] / psize[pred[i]] for i in ids) / len(ids)
    r = sum(both[(pred[i], gold[i])] / gsize[gold[i]] for i in ids) / len(ids)
    return Scores(p, r, _f1(p, r))
