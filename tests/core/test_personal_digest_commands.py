"""`/digest me`: anyone's own digest by direct message, turned on, shown and off."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from bot.config import Settings
from bot.core.commands import CommandContext, CommandLayer
from bot.runtime.wiring import App, build

USER = CommandContext("slack", "U1", "C1")
OTHER = CommandContext("slack", "U2", "C1")


@pytest.fixture
def layer(env: dict[str, str]) -> Iterator[CommandLayer]:
    built: App = build(Settings.load())
    yield CommandLayer(built.service)
    asyncio.run(built.aclose())


def test_digest_me_turns_a_personal_digest_on_and_off_for_anyone(layer: CommandLayer) -> None:
    assert "no personal digest" in layer.handle(USER, "/digest me").text
    on = layer.handle(USER, "/digest me 7:30 europe/paris daily")
    assert not on.error and on.ephemeral
    assert on.text.startswith("Your digest by direct message: 07:30 Europe/Paris, daily")
    digest = layer.service.personal_digest("slack", "U1")
    assert digest is not None and digest.channel_id == "user:U1" and digest.person == "U1"
    assert digest.scope == "user:slack:U1"  # the person's own mutes
    assert layer.service.personal_digest("slack", "U2") is None
    assert (
        "Your digest by direct message: 07:30 Europe/Paris, daily."
        in layer.handle(USER, "subscriptions").text
    )
    assert "digest" not in layer.handle(OTHER, "subscriptions").text
    changed = layer.handle(USER, "digest ME 08:00")  # the zone and days are kept
    assert "08:00 Europe/Paris, daily" in changed.text
    assert layer.handle(USER, "/digest me off").text == "Your personal digest is off."
    assert layer.service.personal_digest("slack", "U1") is None
    assert layer.handle(USER, "/digest me off").text == "You had no personal digest."
    assert layer.handle(USER, "/digest topics chips").error  # the channel's digest stays admin-only
    assert "/digest me" in layer.handle(USER, "help").text


def test_digest_me_validates_time_zone_and_days(layer: CommandLayer) -> None:
    for text, expected in (
        ("/digest me 25:00", "bad time '25:00'"),
        ("/digest me 9:00 Mars/Olympus", "unknown time zone 'Mars/Olympus'"),
        ("/digest me soon", "bad time 'soon'"),
        ("/digest me 9:00 Europe/Paris Asia/Tokyo", "one time zone please"),
    ):
        reply = layer.handle(USER, text)
        assert reply.error and reply.ephemeral and "\n" not in reply.text, text
        assert expected in reply.text, (text, reply.text)
    assert layer.service.personal_digest("slack", "U1") is None
