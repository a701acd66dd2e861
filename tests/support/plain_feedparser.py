"""feedparser's reading of feed files, as JSON: run as a module, it shows feedparser as
shipped (that process never imports bot.ingest.parse and its speed-ups).

    python -m tests.support.plain_feedparser FILE ...
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from typing import Any

import feedparser

REPO_ROOT = Path(__file__).resolve().parents[2]


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in sorted(value.items())}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value if isinstance(value, str | int | float | type(None)) else repr(value)


def read_all(paths: list[str]) -> dict[str, Any]:
    """What feedparser makes of each file, as briefbot calls it (bytes, no sanitiser)."""
    out = {}
    for path in paths:
        headers = {"content-location": "https://feeds.example/" + Path(path).name}
        d = feedparser.parse(
            io.BytesIO(Path(path).read_bytes()),
            response_headers=headers,
            sanitize_html=False,
            resolve_relative_uris=False,
        )
        out[path] = json.loads(json.dumps(_plain({"feed": d.get("feed"), "entries": d.get("entries")})))
    return out


if __name__ == "__main__":
    print(json.dumps(read_all(sys.argv[1:])))
