"""`briefbot prompts check` and `briefbot prompts list`."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.cli import main
from tests.core.test_prompts import GOOD, REPO_PROMPTS, SHIPPED, write
from tests.support.cli import run_cli

Cap = pytest.CaptureFixture[str]


def test_check_passes_on_the_shipped_prompts(capsys: Cap) -> None:
    count = len([p for p in REPO_PROMPTS.glob("*.md") if p.name != "README.md"])
    outcome = run_cli(capsys, "prompts", "check")
    assert (outcome.code, outcome.out, outcome.err) == (0, f"{count} prompts OK\n", "")
    assert run_cli(capsys, "prompts", "check", "--json").json() == {
        "ok": True,
        "prompts": count,
        "problems": [],
    }


def test_check_prints_one_line_per_problem_and_exits_1(tmp_path: Path, capsys: Cap) -> None:
    unused = write(tmp_path, GOOD.replace('"question"]', '"question", "audience"]'))
    undeclared = write(
        tmp_path,
        GOOD.replace('name = "demo"', 'name = "other"').replace("{{question}}", "{{question}} {{today}}"),
        "other.v1.md",
    )
    outcome = run_cli(capsys, "prompts", "check", "--dir", str(tmp_path))
    assert outcome.code == 1 and outcome.err == ""
    assert outcome.out.splitlines() == [
        f"{unused}: variable 'audience' is declared but not used",
        f"{undeclared}: variable 'today' is used but not declared",
    ]
    as_json = run_cli(capsys, "prompts", "check", "--dir", str(tmp_path), "--json")
    assert as_json.code == 1
    assert as_json.json() == {"ok": False, "prompts": 2, "problems": outcome.out.splitlines()}


def test_list_shows_name_version_schema_and_variables(capsys: Cap) -> None:
    listed = run_cli(capsys, "prompts", "list", "--json").json()
    assert {p["name"] for p in listed} == SHIPPED
    summary = next(p for p in listed if p["name"] == "story_summary")
    assert summary["version"] == 1 and summary["schema"] == "story_summary"
    assert summary["variables"] == ["marker", "headline", "facts", "sources"]
    text = run_cli(capsys, "prompts", "list")
    assert text.code == 0
    lines = text.out.splitlines()
    assert lines[0].split() == ["NAME", "VERSION", "SCHEMA", "VARIABLES"]
    assert any(line.split()[:3] == ["story_summary", "v1", "story_summary"] for line in lines)


def test_list_refuses_a_broken_directory_in_one_line(tmp_path: Path, capsys: Cap) -> None:
    write(tmp_path, GOOD.replace('schema = "answer_question"', 'schema = "poem"'))
    outcome = run_cli(capsys, "prompts", "list", "--dir", str(tmp_path))
    assert outcome.code == 1 and outcome.out == ""
    assert outcome.err.startswith("briefbot: error: ") and "unknown schema 'poem'" in outcome.err
    assert outcome.err.count("\n") == 1
    missing = run_cli(capsys, "prompts", "check", "--dir", str(tmp_path / "nowhere"))
    assert (
        missing.code == 1
        and missing.err == f"briefbot: error: no prompts directory at {tmp_path / 'nowhere'}\n"
    )


@pytest.mark.parametrize("command", [("prompts",), ("prompts", "check"), ("prompts", "list")])
def test_help(command: tuple[str, ...], capsys: Cap) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([*command, "--help"])
    assert exit_info.value.code == 0
    assert f"usage: briefbot {' '.join(command)}" in capsys.readouterr().out
