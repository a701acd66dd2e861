"""`briefbot channels`: digest destinations from the command line, with one-line errors."""

from __future__ import annotations

import pytest

from tests.support.cli import run_cli

Cap = pytest.CaptureFixture[str]


def test_add_list_update_and_remove(env: dict[str, str], capsys: Cap) -> None:
    assert run_cli(capsys, "channels", "list").out.startswith("no channels yet")
    assert run_cli(capsys, "channels", "list", "--json").json() == []

    added = run_cli(capsys, "channels", "add", "slack:C0123")
    assert added.code == 0 and added.out == "added: slack:C0123  09:00 UTC, weekdays; all topics\n"
    paris = run_cli(
        capsys, "channels", "add", "Discord:987", "--at", "7:30", "--tz", "europe/paris",
        "--days", "Wed,mon", "--topics", "Chips, cloud", "--json",
    ).json()  # fmt: skip
    assert paris["created"] is True and paris["channel"] == "discord:987"
    assert (paris["at"], paris["tz"], paris["days"], paris["topics"]) == (
        "07:30",
        "Europe/Paris",
        "mon,wed",
        ["chips", "cloud"],
    )

    changed = run_cli(capsys, "channels", "add", "discord:987", "--days", "daily", "--topics", "all")
    assert changed.out == "updated: discord:987  07:30 Europe/Paris, daily; all topics\n"

    listed = run_cli(capsys, "channels", "list", "--json").json()
    assert [c["channel"] for c in listed] == ["discord:987", "slack:C0123"]
    assert set(listed[0]) == {
        "channel",
        "platform",
        "channel_id",
        "at",
        "tz",
        "days",
        "topics",
        "enabled",
        "created_at",
    }
    text = run_cli(capsys, "channels", "list").out.splitlines()
    assert text == [
        "discord:987  07:30 Europe/Paris, daily; all topics",
        "slack:C0123  09:00 UTC, weekdays; all topics",
    ]

    assert run_cli(capsys, "channels", "remove", "slack:C0123").out == "removed: slack:C0123\n"
    assert run_cli(capsys, "channels", "remove", "discord:987", "--json").json() == {"removed": "discord:987"}
    gone = run_cli(capsys, "channels", "remove", "discord:987")
    assert (
        gone.code == 1
        and gone.err == "briefbot: error: no channel discord:987; see `briefbot channels list`\n"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["teams:C1"], "unknown platform 'teams'; use one of slack, discord, console"),
        (["slack"], "'slack' is not PLATFORM:ID"),
        (["slack:"], "the channel id is empty"),
        (["slack:<!channel>"], "bad channel id '<!channel>'"),
        (["slack:C1", "--at", "24:00"], "bad time '24:00': write HH:MM on a 24-hour clock"),
        (["slack:C1", "--at", "noon"], "bad time 'noon'"),
        (["slack:C1", "--tz", "Mars/Olympus"], "unknown time zone 'Mars/Olympus'"),
        (["slack:C1", "--tz", "../../etc/passwd"], "unknown time zone '../../etc/passwd'"),
        (["slack:C1", "--days", "mon,funday"], "bad days 'mon,funday': use weekdays, daily or days"),
        (["slack:C1", "--topics", "chips,crypto"], "unknown topic 'crypto'; topics are: "),
    ],
)
def test_bad_input_is_one_line_naming_the_problem(
    env: dict[str, str], capsys: Cap, args: list[str], message: str
) -> None:
    outcome = run_cli(capsys, "channels", "add", *args)
    assert outcome.code == 1 and outcome.out == ""
    assert outcome.err.startswith(f"briefbot: error: {message}") and outcome.err.count("\n") == 1
    assert run_cli(capsys, "channels", "list", "--json").json() == []  # nothing half-added


def test_personal_digests_are_labelled_in_the_list(env: dict[str, str], capsys: Cap) -> None:
    from bot.config import Settings
    from bot.core.commands import CommandContext, CommandLayer
    from bot.runtime.wiring import build

    app = build(Settings.load())
    try:
        reply = CommandLayer(app.service).handle(CommandContext("slack", "U42", "C1"), "/digest me 07:30")
        assert not reply.error, reply.text
    finally:
        app.store.engine.dispose()
    listed = run_cli(capsys, "channels", "list").out
    assert "slack:user:U42  personal digest of U42 by direct message, 07:30" in listed
