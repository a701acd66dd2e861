"""Story clustering benchmark: 50,000 synthetic articles added incrementally.

Word lists come from ../shared/bench/feedfarm.py (imported by path). About 30% of the
articles are near-duplicates (lightly edited copies) of earlier ones. Prints total time,
per-article latency and peak RSS (ru_maxrss) at 10k, 20k and 50k articles.

    .venv/bin/python bench/stories.py [--n 50000]
"""

from __future__ import annotations

import argparse
import importlib.util
import random
import resource
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.core.extract import default_gazetteer, default_taxonomy, extract  # noqa: E402
from bot.core.stories import ClusterInput, StoryClusterer  # noqa: E402

FEEDFARM = ROOT.parent / "shared" / "bench" / "feedfarm.py"


def _farm():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("feedfarm", FEEDFARM)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def articles(n: int, seed: int = 7) -> list[tuple[str, str, str, datetime]]:
    farm = _farm()
    r = random.Random(seed)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    out: list[tuple[str, str, str, datetime]] = []
    for i in range(n):
        when = start + timedelta(seconds=90 * 86400 * i / n)
        if out and r.random() < 0.3:
            _, title, text, _ = out[r.randrange(max(0, len(out) - 2000), len(out))]
            words = text.split()
            for _ in range(3):
                words[r.randrange(len(words))] = r.choice(farm.FILLER)
            out.append((f"a{i}", title, " ".join(words), when))
            continue
        a, b = r.sample(farm.COMPANIES, 2)
        verb = r.choice(farm.VERBS)
        if "%d" in verb:
            verb = verb % r.randint(1, 60)
        chip = r.choice(farm.CHIPS)
        title = f"{a} {verb} {b} as {chip} demand grows"
        filler = " ".join(r.choice(farm.FILLER) for _ in range(r.randint(60, 260)))
        out.append((f"a{i}", title, f"{a} {verb} {b}. {filler} The deal involves {chip}.", when))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=50_000)
    args = ap.parse_args()
    tax, gaz = default_taxonomy(), default_gazetteer()
    items = [ClusterInput(i, t, x, w, extract(t, x, tax, gaz)) for i, t, x, w in articles(args.n)]
    marks = {10_000, 20_000, args.n}
    c = StoryClusterer()
    t0 = last = time.perf_counter()
    done_prev = 0
    for k, item in enumerate(items, 1):
        c.add(item)
        if k in marks:
            now = time.perf_counter()
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
            print(
                f"{k:>6} articles: total {now - t0:6.2f} s, "
                f"{1e3 * (now - t0) / k:.3f} ms/article overall, "
                f"{1e3 * (now - last) / (k - done_prev):.3f} ms/article in this slice, "
                f"{len(c.stories)} stories, peak RSS {peak:.0f} MiB (process, incl. inputs)"
            )
            last, done_prev = now, k


if __name__ == "__main__":
    main()
