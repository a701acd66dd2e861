"""`make eval`: the story-intelligence evaluation on ../shared/corpus/articles.

Serves the 59 labelled articles as feeds on loopback, ingests and analyses them with the
real CLI into a fresh database, and prints clustering, extraction and deal figures
(tests/support/evaluation.py does the work).

    .venv/bin/python bench/evaluate.py [--database-url postgresql+psycopg://...]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.evaluation import evaluate, evaluate_questions  # noqa: E402
from tests.support.feedserver import FeedServer  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--database-url", help="use this (empty) database instead of a temporary SQLite file")
    args = ap.parse_args()
    if not CORPUS.is_dir():
        print(f"evaluate: the shared corpus is missing at {CORPUS}", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as tmp, FeedServer() as server:
        url = args.database_url or f"sqlite:///{tmp}/eval.db"
        env = {
            "BRIEFBOT_DATA_DIR": tmp,
            "BRIEFBOT_DATABASE_URL": url,
            "BRIEFBOT_ALLOW_PRIVATE_FEEDS": "1",
            "BRIEFBOT_LOAD_DEFAULT_FEEDS": "0",
            "BRIEFBOT_PARSE_WORKERS": "1",
            "BRIEFBOT_CONFIG": "",
        }
        result = evaluate(CORPUS, server, env, url)
        qa = evaluate_questions(CORPUS, env)
    print(result.report())
    print(qa.report())
    return 0


if __name__ == "__main__":
    sys.exit(main())
