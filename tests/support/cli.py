"""Running briefbot commands in-process and capturing what a user would see."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from bot.cli import main


@dataclass
class Outcome:
    """Exit status and output of one command."""

    code: int
    out: str
    err: str

    def json(self) -> Any:
        """Standard output parsed as JSON."""
        return json.loads(self.out)


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> Outcome:
    """Run ``briefbot ARGS`` in this process."""
    capsys.readouterr()
    code = main(list(args))
    captured = capsys.readouterr()
    return Outcome(code, captured.out, captured.err)
