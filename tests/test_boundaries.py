"""The core stays free of platform SDKs, HTTP, feed parsing and SQL."""

from __future__ import annotations

import json
import subprocess
import sys

FORBIDDEN = [
    "slack_bolt",
    "slack_sdk",
    "discord",
    "openai",
    "feedparser",
    "sqlalchemy",
    "httpx",
    "apscheduler",
]


def test_importing_the_core_loads_no_sdk_http_or_sql() -> None:
    code = (
        "import json, sys, pkgutil, importlib, bot.core\n"
        "for m in pkgutil.iter_modules(bot.core.__path__): importlib.import_module('bot.core.' + m.name)\n"
        "print(json.dumps(sorted(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    loaded = set(json.loads(out))
    leaked = [name for name in FORBIDDEN if any(m == name or m.startswith(name + ".") for m in loaded)]
    assert leaked == []
