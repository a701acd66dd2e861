"""The shared corpus of real-world feeds, read in place from ``../shared`` beside the repository.

The files are never copied into the repository. When the directory is missing a test
that needs it fails under CI (``CI=true``), where the corpus is part of the checkout,
and is skipped elsewhere with the reason.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED = REPO_ROOT.parent / "shared"
MISSING = "<corpus missing>"


def _require(path: Path, what: str) -> Path:
    if path.exists():
        return path
    reason = f"{what} not found at {path}"
    if os.environ.get("CI", "").strip().lower() == "true":
        pytest.fail(f"{reason}; CI=true requires it (../shared beside the checkout)")
    pytest.skip(reason)


def corpus_dir() -> Path:
    """``../shared/corpus``; fails the calling test under CI=true when missing, else skips it."""
    return _require(SHARED / "corpus", "the shared corpus")


def feedfarm_path() -> Path:
    """``../shared/bench/feedfarm.py``, with the same rule as :func:`corpus_dir`."""
    return _require(SHARED / "bench" / "feedfarm.py", "the feed farm")


def feed_names() -> list[str]:
    """File names under ``corpus/feeds``, for parametrising at collection time.

    When the corpus is missing this is one placeholder, so that the test still runs and
    :func:`corpus_dir` fails or skips it, instead of pytest quietly collecting nothing.
    """
    feeds = SHARED / "corpus" / "feeds"
    if not feeds.is_dir():
        return [MISSING]
    return sorted(p.name for p in feeds.iterdir() if p.is_file())


def feed_bytes(name: str) -> bytes:
    """The bytes of ``corpus/feeds/<name>``."""
    return (corpus_dir() / "feeds" / name).read_bytes()


def feed_traits() -> dict[str, dict[str, Any]]:
    """The manifest's record of each feed file, by file name."""
    manifest = json.loads((corpus_dir() / "manifest.json").read_text(encoding="utf-8"))
    return {Path(f["file"]).name: f for f in manifest["feeds"]}
