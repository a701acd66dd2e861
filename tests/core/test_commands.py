"""The shared command layer: parsing, permissions, and every command against the real store."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from bot.config import Settings
from bot.core.briefing import BriefItem
from bot.core.commands import Command, CommandContext, CommandLayer, Reply, is_admin, neutral, parse
from bot.errors import UsageError
from bot.runtime.wiring import App, build
from tests.cli.test_story_commands import WIRE_A, WIRE_B, rss
from tests.support.cli import run_cli
from tests.support.feedserver import FeedServer

USER = CommandContext("slack", "U1", "C1", thread_id="T1")
ADMIN = CommandContext("slack", "UA", "C1", is_platform_admin=True)
NOW = datetime.now(UTC)
IRONWOOD = (
    "ironwood-1",
    "Google makes Ironwood TPUs generally available",
    "Google said Ironwood, its seventh-generation TPU, is now generally available to Google Cloud "
    "customers. Ironwood pods scale to 9,216 chips and Anthropic plans to use up to one million TPUs.",
    NOW - timedelta(hours=2),
)


# ---- parsing ------------------------------------------------------------------------------


def test_slash_case_and_spaces_do_not_matter() -> None:
    expected = Command("brief", ("chips",), (False,), "chips")
    assert parse("/brief chips") == expected
    assert parse("brief chips") == expected
    assert parse("   BRIEF    chips  ") == expected
    assert parse("/Brief\tchips\n") == expected
    assert parse("help").name == "help" and parse("?").name == "help"
    assert parse("unsub AWS").name == "unsubscribe"


def test_the_catch_all_runs_the_command_it_names() -> None:
    """``/briefbot COMMAND ...`` (the chat platforms' catch-all) is COMMAND; alone it is help."""
    assert parse("/briefbot mute nvidia") == parse("/mute nvidia")
    assert parse("briefbot /quiet 22:00-07:00 Europe/Berlin") == parse("quiet 22:00-07:00 Europe/Berlin")
    assert parse("/briefbot").name == "help" and parse("/BriefBot   ").name == "help"
    with pytest.raises(UsageError, match="unknown command 'frobnicate'"):
        parse("/briefbot frobnicate")


def test_quoted_arguments() -> None:
    straight = parse('/subscribe keyword "liquid cooling"')
    assert straight.args == ("keyword", "liquid cooling") and straight.quoted == (False, True)
    smart = parse("subscribe “liquid cooling”")  # phones type curly quotes
    assert smart.args == ("liquid cooling",) and smart.quoted == (True,)
    single = parse("mute 'power grid' now")
    assert single.args == ("power grid", "now") and single.quoted == (True, False)
    unclosed = parse('subscribe "liquid cooling')
    assert unclosed.args == ('"liquid', "cooling")
    question = parse("ask  what's new on   Trainium?")
    assert question.rest == "what's new on Trainium?"  # apostrophes are not quotes


def test_unknown_empty_and_oversized_messages_are_usage_errors() -> None:
    with pytest.raises(UsageError, match=r"unknown command '/frobnicate'; /help lists the commands"):
        parse("/frobnicate now")
    with pytest.raises(UsageError, match="empty command"):
        parse("  \x00 ")
    with pytest.raises(UsageError, match="too long"):
        parse("brief " + "x" * 5000)


def test_control_and_invisible_characters_are_dropped() -> None:
    command = parse("bri\u200bef\x00 chi\x1bps")
    assert command == Command("brief", ("chips",), (False,), "chips")


def test_neutral_defuses_mentions_and_control_characters() -> None:
    text = neutral("hi <!channel> and <!here> <@U123> <#C9> <@&77> @everyone @Here a@b.example\x1b[2J\nok")
    assert "<!" not in text and "<@" not in text and "<#" not in text
    assert "@everyone" not in text and "@Here" not in text
    assert "a@b.example" in text and "\x1b" not in text and text.endswith("\nok")


# ---- permissions --------------------------------------------------------------------------


def test_admins_come_from_settings_and_the_platform() -> None:
    admins = ["slack:U1", " discord : 42 "]
    assert is_admin(USER, admins)
    assert is_admin(CommandContext("SLACK", "U1", "C1"), admins)  # platform names are not case-sensitive
    assert not is_admin(CommandContext("slack", "u1", "C1"), admins)  # user ids are
    assert not is_admin(CommandContext("discord", "U1", "C1"), admins)
    assert is_admin(CommandContext("discord", "42", "C1"), admins)
    assert not is_admin(USER, [])
    assert is_admin(ADMIN, [])


@pytest.fixture
def app(env: dict[str, str]) -> Iterator[App]:
    """The wired app on an empty store (both databases)."""
    built = build(Settings.load())
    yield built
    asyncio.run(built.aclose())


@pytest.fixture
def layer(app: App) -> CommandLayer:
    return CommandLayer(app.service, admins=["slack:U9"])


def test_admin_commands_are_refused_to_others(layer: CommandLayer) -> None:
    for text in ("/feeds list", "/schedule 09:00", "/digest topics chips", "/mute channel crypto"):
        reply = layer.handle(USER, text)
        assert reply.error and reply.ephemeral, text
        assert "admins" in reply.text and "\n" not in reply.text
    refusal = layer.handle(USER, "/feeds add https://a.example/feed")
    assert refusal.text.startswith("/feeds is for admins") and layer.service.list_feeds() == []
    help_text = layer.handle(USER, "help").text
    assert "/subscribe" in help_text
    assert "Admins also have /feeds, /schedule, /digest and /followups." in help_text
    assert "Admin commands:" not in help_text
    named = CommandContext("slack", "U9", "C1")  # in BRIEFBOT_ADMINS
    assert not layer.handle(named, "/feeds list").error
    assert "Admin commands:" in layer.handle(named, "help").text
    assert not layer.handle(ADMIN, "/schedule 08:00").error


def test_help_for_one_command(layer: CommandLayer) -> None:
    assert layer.handle(USER, "help subscribe").text.startswith("/subscribe WHAT")
    assert "(admins only)" in layer.handle(USER, "help /schedule").text
    assert layer.handle(USER, "help nothing").error


# ---- subscriptions and mutes ----------------------------------------------------------------


def test_subscribe_resolves_aliases_and_refuses_unknown_names(layer: CommandLayer) -> None:
    reply = layer.handle(USER, "/subscribe AWS")
    assert reply.text == "Following company Amazon (you wrote 'AWS')." and reply.ephemeral
    assert layer.handle(USER, "subscribe amazon").text == "You already follow company Amazon."
    assert layer.handle(USER, "subscribe chips").text == "Following topic chips."
    assert layer.handle(USER, "subscribe chip TPU v7").text == "Following chip Ironwood (you wrote 'TPU v7')."
    assert layer.handle(USER, 'subscribe "Liquid  Cooling"').text == 'Following keyword "liquid cooling".'
    assert layer.handle(USER, "subscribe keyword power grid").text == 'Following keyword "power grid".'

    unknown = layer.handle(USER, "subscribe company Foocorp")
    assert unknown.error and unknown.text == "unknown company 'Foocorp'; add it to the gazetteer to track it"
    vague = layer.handle(USER, "subscribe Foocorp")
    assert vague.error and "not a topic, company or chip" in vague.text
    assert 'subscribe keyword "foocorp"' in vague.text
    assert layer.handle(USER, "subscribe").error
    assert layer.handle(USER, "subscribe topic crypto").text.startswith("unknown topic 'crypto'")

    listed = layer.handle(USER, "subscriptions").text
    assert listed == (
        "You follow: company Amazon, topic chips, chip Ironwood, "
        'keyword "liquid cooling", keyword "power grid".'
    )
    other = CommandContext("slack", "U2", "C1")
    assert layer.handle(other, "subscriptions").text.startswith("You follow nothing yet")
    subs = layer.service.subscriptions("slack", "U1")
    assert [(s.kind, s.value) for s in subs][:2] == [("company", "Amazon"), ("topic", "chips")]


def test_unsubscribe(layer: CommandLayer) -> None:
    layer.handle(USER, "subscribe AWS")
    layer.handle(USER, 'subscribe "liquid cooling"')
    assert layer.handle(USER, "unsubscribe Amazon Web Services").text == "No longer following company Amazon."
    assert (
        layer.handle(USER, "unsubscribe liquid cooling").text
        == 'No longer following keyword "liquid cooling".'
    )
    missing = layer.handle(USER, "unsubscribe chips")
    assert missing.error and missing.text == "you do not follow that; see /subscriptions"
    assert layer.handle(USER, "subscriptions").text.startswith("You follow nothing yet")


def test_mutes_for_a_person_and_for_a_channel(layer: CommandLayer) -> None:
    assert (
        layer.handle(USER, "mute Crypto").text
        == "Muted 'crypto' for you: stories mentioning it are left out."
    )
    assert layer.handle(USER, "mute crypto").text == "'crypto' is already muted for you."
    assert layer.handle(ADMIN, "mute channel bitcoin").text.startswith("Muted 'bitcoin' in this channel")
    assert layer.handle(USER, 'mute "channel"').text.startswith("Muted 'channel' for you")
    listed = layer.handle(USER, "subscriptions").text.splitlines()
    assert listed[1:] == ["Muted for you: crypto, channel.", "Muted in this channel: bitcoin."]
    assert layer.handle(USER, "unmute crypto").text == "Unmuted 'crypto' for you."
    assert layer.handle(USER, "unmute crypto").error
    assert layer.handle(USER, "mute").error
    assert layer.handle(USER, "mute x").error  # a single character would mute nearly everything


# ---- schedules and digests --------------------------------------------------------------------


def test_schedule_validates_time_and_zone(layer: CommandLayer) -> None:
    assert layer.handle(ADMIN, "schedule").text.startswith("This channel has no digest yet")
    reply = layer.handle(ADMIN, "/schedule 7:30 europe/paris mon,wed")
    assert reply.text == "This channel's digest: 07:30 Europe/Paris, mon,wed; all topics."
    channel = layer.service.channel("slack", "C1")
    assert channel is not None and (channel.at, channel.tz, channel.days) == (
        "07:30",
        "Europe/Paris",
        "mon,wed",
    )
    assert (
        layer.handle(ADMIN, "schedule 6pm daily").text
        == "This channel's digest: 18:00 Europe/Paris, daily; all topics."
    )

    for text, message in (
        ("schedule 25:00", "bad time '25:00'"),
        ("schedule 9h", "bad time '9h'"),
        ("schedule 09:00 Mars/Olympus", "unknown time zone 'Mars/Olympus'"),
        ("schedule 09:00 ../../etc/passwd", "unknown time zone"),
        ("schedule 09:00 UTC Europe/Paris", "one time zone please"),
    ):
        refused = layer.handle(ADMIN, text)
        assert refused.error and refused.text.startswith(message), (text, refused.text)
    assert (
        layer.handle(ADMIN, "schedule").text
        == "This channel's digest: 18:00 Europe/Paris, daily; all topics."
    )


def test_a_channel_turned_off_by_a_failed_delivery_says_so_and_schedule_turns_it_back_on(
    layer: CommandLayer,
) -> None:
    layer.handle(ADMIN, "/schedule 09:00 UTC")
    assert layer.service.disable_destination("slack:C1")  # what the outbox does on channel_not_found
    assert layer.handle(ADMIN, "schedule").text == (
        "This channel's digest: 09:00 UTC, weekdays; all topics "
        "(off after a delivery failure: /schedule HH:MM turns it back on)."
    )
    assert (
        layer.handle(ADMIN, "/schedule 09:00").text
        == "This channel's digest: 09:00 UTC, weekdays; all topics."
    )
    channel = layer.service.channel("slack", "C1")
    assert channel is not None and channel.enabled


def test_digest_topics_are_validated(layer: CommandLayer) -> None:
    assert layer.handle(ADMIN, "digest topics Chips, cloud").text == (
        "This channel's digest: 09:00 UTC, weekdays; chips, cloud."
    )
    refused = layer.handle(ADMIN, "digest topics chips,crypto")
    assert refused.error and refused.text.startswith("unknown topic 'crypto'; topics are: ")
    assert layer.handle(ADMIN, "digest topics").text == "This channel's digest covers: chips, cloud."
    assert layer.handle(ADMIN, "digest topics all").text.endswith("; all topics.")
    assert layer.handle(ADMIN, "digest now").error


def test_feeds_for_admins(layer: CommandLayer) -> None:
    assert layer.handle(ADMIN, "feeds list").text == "No feeds yet: /feeds add URL"
    assert (
        layer.handle(ADMIN, "feeds add https://a.example/feed chips").text == "Added https://a.example/feed"
    )
    assert (
        layer.handle(ADMIN, "feeds add https://a.example/feed").text
        == "Already reading https://a.example/feed"
    )
    assert "https://a.example/feed" in layer.handle(ADMIN, "feeds").text
    refused = layer.handle(ADMIN, "feeds add file:///etc/passwd")
    assert refused.error and "\n" not in refused.text
    assert layer.handle(ADMIN, "feeds remove https://a.example/feed").text.startswith("Removed")
    assert layer.handle(ADMIN, "feeds remove https://a.example/feed").error
    assert layer.handle(ADMIN, "feeds destroy").error


# ---- hostile input ----------------------------------------------------------------------------


def test_hostile_input_gets_one_line_replies(layer: CommandLayer) -> None:
    for text in (
        "x" * 10_000,
        "subscribe <!channel>",
        "subscribe keyword @everyone",
        "mute <@U0001>",
        "/\x00\x1b[31m",
        "subscribe company " + "A" * 3000,
        "schedule <!here>",
        'subscribe "',
    ):
        sender = ADMIN if text.startswith("schedule") else USER
        reply = layer.handle(sender, text)
        assert isinstance(reply, Reply) and reply.error, text
        assert "\n" not in reply.text and len(reply.text) <= 300, text
        assert "<!" not in reply.text and "<@" not in reply.text and "@everyone" not in reply.text
        assert "\x1b" not in reply.text and "\x00" not in reply.text
    answer = layer.handle(USER, "ask <!channel> @everyone what is up?")
    assert not answer.error and "<!channel>" not in answer.text and "@everyone" not in answer.text


def test_an_unexpected_failure_is_one_line(layer: CommandLayer, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(**_: object) -> None:
        raise RuntimeError("connection reset\nwith details")

    monkeypatch.setattr(layer.service, "deals", broken)
    reply = layer.handle(USER, "deals")
    assert reply.error and reply.text == "/deals failed on our side; the error is logged"


# ---- commands over news ---------------------------------------------------------------------


@pytest.fixture
def news(env: dict[str, str], feed_server: FeedServer, capsys: pytest.CaptureFixture[str]) -> Iterator[App]:
    """Two feeds ingested and analysed, then the wired app."""
    feed_server.feed("/a.xml", rss("Wire A", [*WIRE_A, IRONWOOD]))
    feed_server.feed("/b.xml", rss("Wire B", WIRE_B))
    for path in ("/a.xml", "/b.xml"):
        assert run_cli(capsys, "feeds", "add", feed_server.url(path)).code == 0
    assert run_cli(capsys, "ingest").code == 0
    built = build(Settings.load())
    yield built
    asyncio.run(built.aclose())


def test_brief_stories_deals_and_ask_over_news(news: App) -> None:
    layer = CommandLayer(news.service)
    brief = layer.handle(USER, "brief all")
    assert brief.briefing is not None and not brief.error and not brief.ephemeral
    headlines = [i.headline for i in brief.briefing.items]
    assert any("Gaudi 3" in h for h in headlines) and any("Ironwood" in h for h in headlines)
    assert brief.text == brief.briefing.top_line

    recent = layer.handle(USER, "/brief")  # the last 24 hours: only the Ironwood story is that new
    assert recent.briefing is not None
    assert [i.headline for i in recent.briefing.items] == [IRONWOOD[1]]
    money = layer.handle(USER, "brief Investment all")
    assert money.briefing is not None
    invested = {r.story.headline for r in news.service.stories(since=None, topic="investment")}
    assert {i.headline for i in money.briefing.items} == invested
    assert "Amazon to invest up to $4 billion in Anthropic" in invested and len(invested) < len(headlines)
    assert layer.handle(USER, "brief crypto").text.startswith("unknown topic 'crypto'")
    assert layer.handle(USER, "brief 24h 7d").error

    stories = layer.handle(USER, "stories all").text.splitlines()
    assert stories[0].startswith("1. ") and any("outlets)" in line for line in stories)
    assert layer.handle(USER, "stories policy all").text == "No stories about policy yet."

    deals = layer.handle(USER, "deals AWS").text
    assert "Amazon -> Anthropic: investment, up to $4 billion" in deals
    assert layer.handle(USER, "deals Foocorp").text.startswith("unknown company 'Foocorp'")

    answer = layer.handle(USER, "ask How much did Amazon invest in Anthropic?")
    assert answer.answer is not None and answer.answer.found and "$4 billion" in answer.text
    follow = layer.handle(USER, "ask and which chips?")
    assert follow.answer is not None and "Amazon" in follow.answer.query  # same thread: context kept
    turns = news.store.thread_turns("slack:C1:T1")
    assert [t.role for t in turns] == ["user", "bot", "user", "bot"]
    assert layer.handle(USER, "ask").text.startswith("ask needs a question")


def test_mute_leaves_stories_out_of_that_channels_brief(news: App) -> None:
    layer = CommandLayer(news.service)
    assert any("Gaudi" in i.headline for i in _briefed(layer, ADMIN))
    assert layer.handle(ADMIN, "mute channel gaudi").text.startswith("Muted 'gaudi' in this channel")
    assert not any("Gaudi" in i.headline for i in _briefed(layer, USER))  # anyone asking in that channel
    elsewhere = CommandContext("slack", "U1", "C2")
    assert any("Gaudi" in i.headline for i in _briefed(layer, elsewhere))

    layer.handle(elsewhere, "mute ironwood")  # a person's own mute follows them to any channel
    assert not any("Ironwood" in i.headline for i in _briefed(layer, elsewhere))
    assert not any("Ironwood" in i.headline for i in _briefed(layer, USER))
    assert any("Ironwood" in i.headline for i in _briefed(layer, CommandContext("slack", "U2", "C2")))


def test_brief_uses_the_channels_digest_topics(news: App) -> None:
    layer = CommandLayer(news.service)
    layer.handle(ADMIN, "digest topics investment")
    invested = {r.story.headline for r in news.service.stories(since=None, topic="investment")}
    assert {i.headline for i in _briefed(layer, USER)} == invested
    assert len(_briefed(layer, CommandContext("slack", "U1", "C2"))) == 4  # other channels: every topic


def _briefed(layer: CommandLayer, ctx: CommandContext) -> list[BriefItem]:
    reply = layer.handle(ctx, "brief all")
    assert reply.briefing is not None, reply.text
    return list(reply.briefing.items)
