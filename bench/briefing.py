"""Briefing token benchmark: briefbot's map/reduce with a cache against one naive prompt.

Ingests the 59 articles of ../shared/corpus (served as feeds on loopback) into a fresh
SQLite database, then runs `briefbot brief --since all` twice against a local
OpenAI-compatible server (tests/support/openai_server.py) through the real openai SDK.
Input tokens are the server's own usage counts (a quarter of the characters). The naive
approach is one prompt holding every article text, counted the same way.

    .venv/bin/python bench/briefing.py [--limit 12]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.cli import main as cli  # noqa: E402
from bot.core.prompts import latest  # noqa: E402
from tests.support.evaluation import ingest_corpus, load_corpus  # noqa: E402
from tests.support.feedserver import FeedServer  # noqa: E402
from tests.support.openai_server import OpenAIServer, Reply, count_tokens  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus"
BLOCK = re.compile(r"<<<(DATA-[0-9a-f]+) id=(\d+)>>>\n(.*?)\n<<<END \1>>>", re.S)


EDITOR_LINE = "AMD and OpenAI sign a 6 gigawatts GPU deal."


def grounded(request: dict[str, Any]) -> Reply:
    if request["response_format"]["json_schema"]["name"] == "briefing_compose":
        return Reply.json({"top_line": EDITOR_LINE, "top_line_story_ids": [], "sections": []})
    """A well-behaved model: the first sentence of the first source block, cited."""
    match = BLOCK.search(request["messages"][1]["content"])
    n = int(match.group(2)) if match else 1
    text = " ".join(match.group(3).splitlines()[1:]) if match else ""
    first = re.split(r"(?<=\.)\s", text.strip())[0] or "No summary."
    cited = {"text": first, "citations": [n]}
    return Reply.json({"sentences": [cited], "why_it_matters": cited})


def run_brief(limit: int) -> dict[str, Any]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli(["brief", "--since", "all", "--limit", str(limit), "--json"])
    if code != 0:
        raise SystemExit(f"briefbot brief exited {code}")
    result: dict[str, Any] = json.loads(out.getvalue())
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=12, help="stories per briefing")
    args = ap.parse_args()
    articles = load_corpus(CORPUS)
    with tempfile.TemporaryDirectory() as tmp, FeedServer() as feeds, OpenAIServer() as api:
        env = {
            "BRIEFBOT_DATA_DIR": tmp,
            "BRIEFBOT_DATABASE_URL": f"sqlite:///{tmp}/bench.db",
            "BRIEFBOT_ALLOW_PRIVATE_FEEDS": "1",
            "BRIEFBOT_LOAD_DEFAULT_FEEDS": "0",
            "BRIEFBOT_PARSE_WORKERS": "1",
        }
        ingest_corpus(articles, feeds, env)
        os.environ.update(env)
        os.environ.update(
            {"OPENAI_BASE_URL": api.base_url, "OPENAI_API_KEY": "bench", "OPENAI_MODEL": "bench-model"}
        )
        api.respond_with(grounded)
        briefing = run_brief(args.limit)
        first = list(api.chat_requests)
        run_brief(args.limit)
        second = api.chat_requests[len(first) :]
    ours = sum(sum(count_tokens(str(m.get("content", ""))) for m in r.body["messages"]) for r in first)
    system = latest("story_summary").system
    naive = count_tokens(system) + sum(count_tokens(f"{a.title}\n{a.text}") for a in articles)
    print(
        f"corpus: {len(articles)} articles; briefing of at most {args.limit} stories, mode {briefing['mode']}"
    )
    print(f"naive (every article in one prompt): {naive:,} input tokens")
    share = 100 * ours / naive
    print(f"briefbot, first run: {ours:,} input tokens in {len(first)} calls ({share:.0f}% of naive)")
    print(f"briefbot, unchanged rerun: {len(second)} model calls")
    return 0


if __name__ == "__main__":
    sys.exit(main())
