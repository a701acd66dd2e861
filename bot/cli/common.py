"""Helpers shared by the command modules: settings, the app, output formatting."""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from bot.config import Settings
from bot.runtime.wiring import App, build


@asynccontextmanager
async def open_app() -> AsyncIterator[App]:
    """Load settings, build the app, and close it afterwards."""
    app = build(Settings.load())
    try:
        yield app
    finally:
        await app.aclose()


def print_json(value: Any) -> None:
    """Print ``value`` as JSON on standard output."""
    json.dump(value, sys.stdout, indent=2, ensure_ascii=False, default=_default)
    sys.stdout.write("\n")


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def when(value: datetime | None) -> str:
    """A short UTC timestamp for tables, or a dash."""
    return value.strftime("%Y-%m-%d %H:%M") if value else "-"


class ProgressBar:
    """A one-line progress bar on standard error, drawn only on a terminal."""

    def __init__(self, label: str, enabled: bool) -> None:
        self.label = label
        self.enabled = enabled and sys.stderr.isatty()

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled or total == 0:
            return
        width = 30
        filled = int(width * done / total)
        sys.stderr.write(f"\r{self.label} [{'#' * filled}{' ' * (width - filled)}] {done}/{total}")
        if done == total:
            sys.stderr.write("\r" + " " * (len(self.label) + width + 20) + "\r")
        sys.stderr.flush()
