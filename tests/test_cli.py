"""The command line as a user meets it: help everywhere, one-line errors, first-start defaults."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from bot.cli import build_parser, main
from tests.support.cli import run_cli

Cap = pytest.CaptureFixture[str]


def all_commands(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [prefix]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += all_commands(sub, (*prefix, name))
    return found


def test_every_command_has_help(capsys: Cap) -> None:
    commands = all_commands(build_parser())
    assert ("feeds", "import") in commands and ("ingest",) in commands
    for command in commands:
        with pytest.raises(SystemExit) as exit_info:
            main([*command, "--help"])
        assert exit_info.value.code == 0
        assert "usage: briefbot" in capsys.readouterr().out


def test_python_dash_m_bot_runs() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "bot", "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert "feeds" in out and "ingest" in out


def test_bad_setting_is_one_line_error(
    env: dict[str, str], capsys: Cap, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BRIEFBOT_FETCH_CONCURRENCY", "lots")
    outcome = run_cli(capsys, "feeds", "list")
    assert outcome.code == 1
    assert outcome.err == "briefbot: error: BRIEFBOT_FETCH_CONCURRENCY must be a whole number, got 'lots'\n"


def test_unreachable_database_is_one_line_error(
    env: dict[str, str], capsys: Cap, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "BRIEFBOT_DATABASE_URL", "postgresql+psycopg://x:pw@127.0.0.1:1/none?connect_timeout=2"
    )
    outcome = run_cli(capsys, "feeds", "list")
    assert outcome.code == 1 and outcome.err.startswith("briefbot: error: cannot open the database")
    assert outcome.err.count("\n") == 1 and "pw" not in outcome.err


def test_default_feeds_load_once_on_first_start(
    env: dict[str, str], capsys: Cap, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BRIEFBOT_LOAD_DEFAULT_FEEDS", "true")
    listed = run_cli(capsys, "feeds", "list", "--json").json()
    urls = {f["url"] for f in listed}
    assert len(urls) >= 15
    assert "https://blogs.nvidia.com/feed/" in urls and "https://aws.amazon.com/blogs/aws/feed/" in urls
    assert {f["topic"] for f in listed} >= {"chips", "cloud", "datacenter"}
    # An admin removes one; it stays removed on the next start.
    assert run_cli(capsys, "feeds", "remove", "https://blogs.nvidia.com/feed/").code == 0
    again = {f["url"] for f in run_cli(capsys, "feeds", "list", "--json").json()}
    assert "https://blogs.nvidia.com/feed/" not in again and len(again) == len(urls) - 1


def test_list_shows_next_fetch_and_errors_in_text(env: dict[str, str], capsys: Cap) -> None:
    assert "no feeds yet" in run_cli(capsys, "feeds", "list").out
    run_cli(capsys, "feeds", "add", "https://a.example/feed", "--topic", "chips")
    text = run_cli(capsys, "feeds", "list").out
    assert "STATUS" in text and "new" in text and "https://a.example/feed" in text
    (feed,) = run_cli(capsys, "feeds", "list", "--json").json()
    assert set(feed) >= {"url", "title", "status", "last_fetch", "error_count", "next_fetch"}
