"""Every command of the command layer reachable from Slack: the catch-all ``/briefbot TEXT``
and the native ``/quiet`` and ``/digest``, as signed HTTP-mode requests through bolt to the
real command layer, service and store (SQLite and PostgreSQL); permissions stay the
command layer's, with workspace admins from ``users.info``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest

from bot.config import Settings
from bot.core.subscriptions import channel_scope, user_scope
from tests.adapters.test_slack_followups import Bot, start
from tests.support.slack_server import FakeSlack
from tests.support.slack_server import slack_api as slack_api


@pytest.fixture
def bot(env: dict[str, str], slack_api: FakeSlack) -> Iterator[Bot]:
    made = start(Settings.load(), slack_api)
    slack_api.add_user("UADMIN", admin=True)
    slack_api.add_user("U1")
    try:
        yield made
    finally:
        made.server.close()
        asyncio.run(made.app.aclose())


def ephemeral(slack_api: FakeSlack, count: int) -> str:
    """The text of the ``count``-th ephemeral reply (waiting for it), its blocks as JSON."""
    call = slack_api.wait_for("chat.postEphemeral", count)[count - 1]
    assert call.params["channel"] == "C1"
    return json.dumps(call.params.get("blocks"))


def test_briefbot_quiet_sets_the_persons_quiet_hours(bot: Bot, slack_api: FakeSlack) -> None:
    assert bot.running.command("/briefbot", "quiet 22:00-07:00 Europe/Berlin").status_code == 200
    assert "Quiet hours set" in ephemeral(slack_api, 1)
    quiet = bot.app.service.quiet_hours("slack", "U1")
    assert quiet is not None and "Europe/Berlin" in quiet.label() and "22:00" in quiet.label()
    assert bot.app.service.quiet_hours("slack", "UADMIN") is None


def test_native_quiet_sets_and_clears_them(bot: Bot, slack_api: FakeSlack) -> None:
    assert bot.running.command("/quiet", "23:00-06:30 Asia/Tokyo").status_code == 200
    assert "Quiet hours set" in ephemeral(slack_api, 1)
    quiet = bot.app.service.quiet_hours("slack", "U1")
    assert quiet is not None and "Asia/Tokyo" in quiet.label()
    assert bot.running.command("/quiet", "off").status_code == 200
    assert "cleared" in ephemeral(slack_api, 2)
    assert bot.app.service.quiet_hours("slack", "U1") is None


def test_briefbot_help_and_briefbot_alone_list_the_commands(bot: Bot, slack_api: FakeSlack) -> None:
    assert bot.running.command("/briefbot", "help").status_code == 200
    listed = ephemeral(slack_api, 1)
    for name in ("/brief", "/ask", "/subscribe", "/mute", "/unmute", "/quiet", "/digest me", "/briefbot"):
        assert name in listed
    assert bot.running.command("/briefbot", "").status_code == 200
    assert "/subscribe" in ephemeral(slack_api, 2)
    assert not slack_api.calls_to("chat.postMessage")  # help is shown to the asker only


def test_briefbot_mute_and_unmute_for_the_person(bot: Bot, slack_api: FakeSlack) -> None:
    """Slack keeps /mute for itself: muting goes through /briefbot."""
    assert bot.running.command("/briefbot", "mute nvidia").status_code == 200
    assert "Muted" in ephemeral(slack_api, 1)
    assert bot.app.service.mutes(user_scope("slack", "U1")) == ["nvidia"]
    assert bot.running.command("/briefbot", "unmute nvidia").status_code == 200
    assert "Unmuted" in ephemeral(slack_api, 2)
    assert bot.app.service.mutes(user_scope("slack", "U1")) == []


def test_native_digest_me_sets_the_persons_own_digest(bot: Bot, slack_api: FakeSlack) -> None:
    assert bot.running.command("/digest", "me 08:00 Europe/Berlin").status_code == 200
    assert "Your digest by direct message" in ephemeral(slack_api, 1)
    digest = bot.app.service.personal_digest("slack", "U1")
    assert digest is not None and digest.tz == "Europe/Berlin"
    assert bot.running.command("/briefbot", "digest me off").status_code == 200
    assert "off" in ephemeral(slack_api, 2)
    assert bot.app.service.personal_digest("slack", "U1") is None


def test_admin_commands_under_briefbot_keep_the_command_layers_permissions(
    bot: Bot, slack_api: FakeSlack
) -> None:
    """A member's /briefbot feeds add is refused; a workspace admin's (users.info) channel
    mute and digest topics go through."""
    before = [f.url for f in bot.app.service.list_feeds()]
    assert bot.running.command("/briefbot", "feeds add https://news.example/feed.xml").status_code == 200
    assert "for admins" in ephemeral(slack_api, 1)
    assert [f.url for f in bot.app.service.list_feeds()] == before
    assert bot.running.command("/digest", "topics chips").status_code == 200
    assert "for admins" in ephemeral(slack_api, 2)
    assert bot.app.service.channel("slack", "C1") is None

    assert bot.running.command("/briefbot", "mute channel nvidia", user="UADMIN").status_code == 200
    assert "in this channel" in ephemeral(slack_api, 3)
    assert bot.app.service.mutes(channel_scope("slack", "C1")) == ["nvidia"]
    assert bot.running.command("/briefbot", "schedule 09:00 Europe/Berlin", user="UADMIN").status_code == 200
    assert "Europe/Berlin" in ephemeral(slack_api, 4)
    channel = bot.app.service.channel("slack", "C1")
    assert channel is not None and channel.tz == "Europe/Berlin"


def test_an_unknown_command_under_briefbot_is_one_line(bot: Bot, slack_api: FakeSlack) -> None:
    assert bot.running.command("/briefbot", "frobnicate now").status_code == 200
    text = ephemeral(slack_api, 1)
    assert "unknown command" in text and "/help" in text and "Traceback" not in text
