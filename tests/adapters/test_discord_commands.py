"""The slash commands and buttons over the fake gateway: every command deferred (type 5) before
its follow-up, embeds within limits with no mentions, errors as one ephemeral line, admin
commands only with Manage Server, autocomplete from the taxonomy and gazetteer, the deal graph
attached, and the persistent buttons (votes stored, subscribe, the follow-up modal answered
in the thread)."""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import select

from bot.adapters.discord.client import BriefbotClient
from bot.adapters.discord.components import ASK_FOLLOWUP, vote_id
from bot.adapters.discord.render import briefing_embeds
from bot.adapters.discord.views import FOLLOWUP_MODAL
from bot.core.commands import CommandContext, Reply
from bot.runtime.wiring import App
from bot.store.schema import feedback
from tests.adapters.test_discord_render import (
    HOSTILE,
    PING,
    _long_briefing,
    assert_within_limits,
    linked_urls,
)
from tests.support.discord_gateway import (
    CHANNEL_ID,
    EVERYONE_PERMISSIONS,
    MANAGE_GUILD,
    TOKEN,
    USER_ID,
    FakeGateway,
    connected,
    interaction_payload,
    message_payload,
    thread_payload,
    until,
)
from tests.support.discord_gateway import _restore_discord_globals as _restore_discord_globals
from tests.support.discord_gateway import app as app
from tests.support.discord_server import FakeDiscord, Request
from tests.support.discord_server import discord_api as discord_api

EPHEMERAL = 64


def command(
    api: FakeDiscord, name: str, options: dict[str, Any] | None = None, *, n: int = 1, **kw: Any
) -> dict[str, Any]:
    """An INTERACTION_CREATE for ``/name`` whose follow-ups the fake stores in CHANNEL_ID."""
    token = f"itoken-{name}-{n}"
    api.interaction(token, kw.pop("channel_id", CHANNEL_ID))
    opts = [
        {"name": k, "type": 5 if isinstance(v, bool) else 3, "value": v} for k, v in (options or {}).items()
    ]
    return interaction_payload(name, opts, interaction_id=str(410 + n), token=token, **kw)


def of_token(api: FakeDiscord, route: str, token: str) -> list[Request]:
    return [r for r in api.requests_to(route) if f"/{token}" in r.path]


async def run_command(api: FakeDiscord, gateway: Any, payload: dict[str, Any]) -> list[Request]:
    """Dispatch the interaction, wait for its follow-ups; assert the deferral came first."""
    token = payload["token"]
    await gateway.dispatch("INTERACTION_CREATE", payload)
    followups = await until(lambda: of_token(api, "followup", token), what=f"follow-up of {token}")
    await asyncio.sleep(0.2)  # later follow-ups (continuations, the graph)
    [callback] = of_token(api, "interaction_callback", token)
    assert callback.body["type"] == 5
    assert api.requests.index(callback) < api.requests.index(followups[0])
    followups = of_token(api, "followup", token)
    for f in followups:
        assert f.body["allowed_mentions"] == {"parse": []}
    return followups


def custom_ids(body: dict[str, Any]) -> list[str]:
    return [c["custom_id"] for row in body.get("components", []) for c in row["components"]]


def test_ask_is_deferred_then_answered_with_sources_and_buttons(app: App, discord_api: FakeDiscord) -> None:
    async def flow() -> list[Request]:
        async with connected(app, discord_api) as gateway:
            payload = command(discord_api, "ask", {"question": "how many chips do Ironwood pods scale to?"})
            return await run_command(discord_api, gateway, payload)

    [answer] = asyncio.run(flow())
    embed = answer.body["embeds"][0]
    assert "9,216" in embed["description"] and "https://ironwood-1.example/" in str(embed)
    assert_within_limits([answer.body["embeds"]])
    key = f"answer:discord:{CHANNEL_ID}:411"
    assert custom_ids(answer.body) == [vote_id("up", key), vote_id("down", key), ASK_FOLLOWUP]
    assert not int(answer.body.get("flags") or 0) & EPHEMERAL


def test_brief_posts_embeds_with_vote_and_subscribe_buttons(app: App, discord_api: FakeDiscord) -> None:
    async def flow() -> list[Request]:
        async with connected(app, discord_api) as gateway:
            return await run_command(discord_api, gateway, command(discord_api, "brief", {"since": "7d"}))

    followups = asyncio.run(flow())
    assert_within_limits([f.body["embeds"] for f in followups])
    ids = custom_ids(followups[-1].body)
    assert ids[0].startswith("briefbot:vote:up:discord:briefing:") and ids[1].startswith(
        "briefbot:vote:down:"
    )
    assert any(i.startswith("briefbot:sub:") for i in ids)
    assert all(len(i) <= 100 for i in ids)


def test_errors_are_one_ephemeral_line(app: App, discord_api: FakeDiscord) -> None:
    async def flow() -> tuple[list[Request], list[Request]]:
        async with connected(app, discord_api) as gateway:
            brief = await run_command(
                discord_api, gateway, command(discord_api, "brief", {"topic": "gardening"})
            )
            sub = await run_command(
                discord_api, gateway, command(discord_api, "subscribe", {"what": "Acme Widgets"}, n=2)
            )
            return brief, sub

    brief, sub = asyncio.run(flow())
    for followups in (brief, sub):
        [error] = followups
        assert int(error.body["flags"]) & EPHEMERAL
        assert "\n" not in error.body["content"] and "Traceback" not in error.body["content"]
    assert "unknown topic" in brief[0].body["content"]
    # the public "thinking" message of /brief is deleted so the error stays private
    assert of_token(discord_api, "delete_followup", "itoken-brief-1")
    [deferral] = of_token(discord_api, "interaction_callback", "itoken-subscribe-2")
    assert deferral.body["data"]["flags"] & EPHEMERAL  # /subscribe defers privately


def test_discord_refusing_the_answer_is_one_line_for_the_person_and_the_log(
    app: App, discord_api: FakeDiscord, caplog: pytest.LogCaptureFixture
) -> None:
    """The follow-up is refused (an expired interaction, say): the person still gets one
    ephemeral line and the log one line naming Discord's answer, with no traceback."""
    discord_api.fail("followup", 404, code=10015)

    async def flow() -> list[Request]:
        async with connected(app, discord_api) as gateway:
            await gateway.dispatch("INTERACTION_CREATE", command(discord_api, "subscriptions"))
            return await until(
                lambda: of_token(discord_api, "followup", "itoken-subscriptions-1")[1:],
                what="the report after the refused follow-up",
            )

    with caplog.at_level(logging.INFO):
        [report] = asyncio.run(flow())
    assert int(report.body["flags"]) & EPHEMERAL and report.body["allowed_mentions"] == {"parse": []}
    assert report.body["content"] == "That command failed on our side; the error is logged."
    [logged] = [r for r in caplog.records if "/subscriptions failed" in r.getMessage()]
    assert "HTTP 404" in logged.getMessage() and "Unknown Webhook" in logged.getMessage()
    assert not any(r.exc_info for r in caplog.records if r.name.startswith("bot."))


def test_schedule_needs_manage_server(app: App, discord_api: FakeDiscord) -> None:
    async def flow() -> tuple[list[Request], list[Request]]:
        async with connected(app, discord_api) as gateway:
            refused = await run_command(
                discord_api, gateway, command(discord_api, "schedule", {"at": "09:00"})
            )
            allowed = await run_command(
                discord_api,
                gateway,
                command(
                    discord_api,
                    "schedule",
                    {"at": "09:00", "zone": "Europe/Paris", "days": "weekdays"},
                    n=2,
                    permissions=EVERYONE_PERMISSIONS | MANAGE_GUILD,
                ),
            )
            return refused, allowed

    refused, allowed = asyncio.run(flow())
    assert "for admins" in refused[0].body["content"]
    assert "09:00" in str(allowed[0].body["embeds"]) and "Europe/Paris" in str(allowed[0].body["embeds"])
    channel = app.service.channel("discord", CHANNEL_ID)
    assert channel is not None and channel.tz == "Europe/Paris"


def test_subscribe_autocompletes_topics_companies_and_chips(app: App, discord_api: FakeDiscord) -> None:
    async def flow() -> list[Request]:
        async with connected(app, discord_api) as gateway:
            discord_api.interaction("itoken-auto", CHANNEL_ID)
            data = {
                "id": "500000000000000001",
                "name": "subscribe",
                "type": 1,
                "options": [{"name": "what", "type": 3, "value": "Iron", "focused": True}],
            }
            payload = interaction_payload(
                "subscribe", kind=4, data=data, token="itoken-auto", interaction_id="420"
            )
            await gateway.dispatch("INTERACTION_CREATE", payload)
            return await until(lambda: of_token(discord_api, "interaction_callback", "itoken-auto"))

    [callback] = asyncio.run(flow())
    assert callback.body["type"] == 8
    choices = callback.body["data"]["choices"]
    assert {"name": "Ironwood (chip)", "value": "chip:Ironwood"} in choices
    assert len(choices) <= 25


def test_subscribing_through_a_chosen_value_follows_it(app: App, discord_api: FakeDiscord) -> None:
    async def flow() -> list[Request]:
        async with connected(app, discord_api) as gateway:
            return await run_command(
                discord_api, gateway, command(discord_api, "subscribe", {"what": "chip:Ironwood"})
            )

    [reply] = asyncio.run(flow())
    assert int(reply.body["flags"]) & EPHEMERAL
    assert [(s.kind, s.value) for s in app.service.subscriptions("discord", USER_ID)] == [
        ("chip", "Ironwood")
    ]


def test_deals_with_graph_attaches_the_png(app: App, discord_api: FakeDiscord) -> None:
    assert app.service.deals()  # Google supplies Anthropic with TPUs

    def graph_sent(token: str) -> list[Request]:
        followups = of_token(discord_api, "followup", token)
        done = any(r.body.get("_files") or "no deals" in str(r.body.get("content")) for r in followups)
        return followups if done else []

    async def flow() -> tuple[list[Request], list[Request]]:
        async with connected(app, discord_api) as gateway:
            await run_command(discord_api, gateway, command(discord_api, "deals", {"graph": True}))
            drawn = await until(lambda: graph_sent("itoken-deals-1"), timeout=30, what="the graph")
            options = {"company": "company:Intel", "graph": True}
            await run_command(discord_api, gateway, command(discord_api, "deals", options, n=2))
            empty = await until(lambda: graph_sent("itoken-deals-2"), what="no graph")
            return drawn, empty

    drawn, empty = asyncio.run(flow())
    files = [f for r in drawn for f in r.body.get("_files", [])]
    assert [f["filename"] for f in files] == ["deals.png"]
    assert files[0]["data"].startswith(b"\x89PNG")
    assert "Google" in str(drawn[0].body["embeds"])  # the deals themselves come first
    [nothing] = [r for r in empty if "no deals" in str(r.body.get("content"))]
    assert int(nothing.body["flags"]) & EPHEMERAL and not nothing.body.get("_files")
    assert not any(r.body.get("_files") for r in empty)


def _click(custom_id: str, *, token: str, n: int, channel_id: str = CHANNEL_ID) -> dict[str, Any]:
    message = message_payload("700000000000000001", "", channel_id=channel_id, author_id="100000000000000001")
    message["components"] = [
        {"type": 1, "components": [{"type": 2, "style": 2, "label": "x", "custom_id": custom_id}]}
    ]
    data = {"custom_id": custom_id, "component_type": 2}
    return interaction_payload(
        "",
        kind=3,
        data=data,
        token=token,
        interaction_id=str(430 + n),
        message=message,
        channel_id=channel_id,
    )


def test_vote_and_subscribe_buttons_work_without_the_original_view(
    app: App, discord_api: FakeDiscord
) -> None:
    """Clicks on messages the client never sent (a restart, or the REST publisher): the
    custom id alone carries the key and the topic."""
    key = "digest:discord:300000000000000002:2026-11-26T09:00+01:00"

    async def flow() -> tuple[list[Request], list[Request], list[Request]]:
        async with connected(app, discord_api) as gateway:
            for n, (cid, token) in enumerate(
                [
                    (vote_id("up", key), "itoken-up"),
                    (vote_id("down", key), "itoken-down"),
                    ("briefbot:sub:chips", "itoken-sub"),
                ]
            ):
                await gateway.dispatch("INTERACTION_CREATE", _click(cid, token=token, n=n))
                await until(lambda t=token: of_token(discord_api, "interaction_callback", t), what=token)
            return tuple(
                of_token(discord_api, "interaction_callback", t)
                for t in ("itoken-up", "itoken-down", "itoken-sub")
            )  # type: ignore[return-value]

    up, down, sub = asyncio.run(flow())
    for [callback] in (up, down, sub):
        assert callback.body["type"] == 4 and callback.body["data"]["flags"] & EPHEMERAL
        assert callback.body["data"]["allowed_mentions"] == {"parse": []}
    assert "Thanks" in up[0].body["data"]["content"]
    with app.store.engine.connect() as conn:
        votes = conn.execute(
            select(feedback.c.platform, feedback.c.user_id, feedback.c.key, feedback.c.vote)
        ).all()
    assert [tuple(v) for v in votes] == [("discord", USER_ID, key, -1)]  # the later click replaced the first
    assert "chips" in {s.value for s in app.service.subscriptions("discord", USER_ID)}


def test_ask_a_follow_up_opens_a_modal_answered_in_the_thread(app: App, discord_api: FakeDiscord) -> None:
    thread_id = "700000000000000050"

    async def flow() -> tuple[list[Request], list[Request]]:
        async with connected(app, discord_api) as gateway:
            await gateway.dispatch("THREAD_CREATE", thread_payload(thread_id) | {"newly_created": True})
            await gateway.dispatch(
                "INTERACTION_CREATE", _click(ASK_FOLLOWUP, token="itoken-ask", n=9, channel_id=thread_id)
            )
            [modal] = await until(lambda: of_token(discord_api, "interaction_callback", "itoken-ask"))
            assert modal.body["type"] == 9 and modal.body["data"]["custom_id"] == FOLLOWUP_MODAL
            discord_api.interaction("itoken-modal", thread_id)
            data = {
                "custom_id": FOLLOWUP_MODAL,
                "components": [
                    {
                        "type": 1,
                        "components": [
                            {
                                "type": 4,
                                "custom_id": "question",
                                "value": "how many chips do Ironwood pods scale to?",
                            }
                        ],
                    }
                ],
            }
            payload = interaction_payload(
                "", kind=5, data=data, token="itoken-modal", interaction_id="499", channel_id=thread_id
            )
            await gateway.dispatch("INTERACTION_CREATE", payload)
            posted = await until(
                lambda: [r for r in discord_api.requests_to("create_message") if thread_id in r.path][1:],
                what="the answer in the thread",
            )
            return [modal], posted

    _, posted = asyncio.run(flow())
    answer = posted[-1].body
    assert answer["allowed_mentions"] == {"parse": []}
    assert "9,216" in answer["embeds"][0]["description"]
    assert app.store.thread_turns(f"discord:{CHANNEL_ID}:{thread_id}")


def _modal_submit(question: str, *, token: str, channel_id: str, message: dict[str, Any]) -> dict[str, Any]:
    data = {
        "custom_id": FOLLOWUP_MODAL,
        "components": [{"type": 1, "components": [{"type": 4, "custom_id": "question", "value": question}]}],
    }
    return interaction_payload(
        "", kind=5, data=data, token=token, interaction_id="498", channel_id=channel_id, message=message
    )


def test_a_follow_up_to_an_answer_in_the_channel_goes_to_a_thread_from_it(
    app: App, discord_api: FakeDiscord
) -> None:
    """/ask answered in the channel; "Ask a follow-up" on that answer: the follow-up is answered
    in a thread started from the answer, whose memory begins with it."""

    async def flow() -> tuple[str, list[Request]]:
        async with connected(app, discord_api) as gateway:
            await run_command(
                discord_api, gateway, command(discord_api, "ask", {"question": "what is Ironwood?"})
            )
            answer = discord_api.messages[CHANNEL_ID][-1]
            await gateway.dispatch(
                "INTERACTION_CREATE", _click(ASK_FOLLOWUP, token="itoken-ask2", n=8) | {"message": answer}
            )
            await until(lambda: of_token(discord_api, "interaction_callback", "itoken-ask2"), what="modal")
            discord_api.interaction("itoken-modal2", CHANNEL_ID)
            submit = _modal_submit(
                "how many chips do Ironwood pods scale to?",
                token="itoken-modal2",
                channel_id=CHANNEL_ID,
                message=answer,
            )
            await gateway.dispatch("INTERACTION_CREATE", submit)
            mid = answer["id"]
            posted = await until(
                lambda: [r for r in discord_api.requests_to("create_message") if mid in r.path][1:],
                what="the answer in the thread",
            )
            await until(lambda: of_token(discord_api, "followup", "itoken-modal2"), what="the note")
            return mid, posted

    mid, posted = asyncio.run(flow())
    [thread] = discord_api.requests_to("start_thread")
    assert thread.path == f"/channels/{CHANNEL_ID}/messages/{mid}/threads"
    assert "9,216" in posted[-1].body["embeds"][0]["description"]
    assert posted[-1].body["allowed_mentions"] == {"parse": []}
    turns = app.store.thread_turns(f"discord:{CHANNEL_ID}:{mid}")
    assert turns[0].role == "bot" and "what is Ironwood?" in turns[0].text  # the clicked answer
    assert [t.role for t in turns[1:]] == ["user", "bot"]
    [note] = of_token(discord_api, "followup", "itoken-modal2")
    assert note.body["content"] == "Answered in the thread." and int(note.body["flags"]) & EPHEMERAL


class ScriptedCommands:
    """The command layer's stand-in: answers every command with ``reply``."""

    def __init__(self, reply: Reply) -> None:
        self.reply = reply
        self.calls: list[tuple[CommandContext, str]] = []

    def handle(self, ctx: CommandContext, text: str) -> Reply:
        self.calls.append((ctx, text))
        return self.reply


async def _client_run(
    app: App, api: FakeDiscord, layer: ScriptedCommands, payload: dict[str, Any], messages: int
) -> None:
    """A BriefbotClient with ``layer`` connected to the fakes; ``payload`` dispatched, until
    ``messages`` messages were posted (follow-ups and thread messages)."""
    gateway = FakeGateway()
    api.gateway_url = await gateway.start()
    client = BriefbotClient(app.service, api_url=api.url, commands_layer=layer)
    try:
        await client.login(TOKEN)
        connecting = asyncio.create_task(client.connect())
        await until(lambda: api.requests_to("sync_commands"), what="sync")
        await gateway.dispatch("INTERACTION_CREATE", payload)
        await until(
            lambda: len(api.requests_to("followup") + api.requests_to("create_message")) >= messages,
            what="every part",
        )
        await client.close()
        await asyncio.wait_for(connecting, 10)
    finally:
        await gateway.close()


def test_a_long_hostile_briefing_continues_in_a_thread_and_pings_no_one(
    app: App, discord_api: FakeDiscord
) -> None:
    long, _ = _long_briefing()
    hostile = replace(long, top_line=f"{HOSTILE} [1]")
    layer = ScriptedCommands(Reply("top", briefing=hostile))
    payload = command(discord_api, "brief")
    asyncio.run(_client_run(app, discord_api, layer, payload, len(briefing_embeds(hostile))))

    assert layer.calls[0][0] == CommandContext("discord", USER_ID, CHANNEL_ID, None, is_platform_admin=False)
    [first] = of_token(discord_api, "followup", payload["token"])
    [thread] = discord_api.requests_to("start_thread")
    first_id = discord_api.messages[CHANNEL_ID][0]["id"]
    assert thread.path == f"/channels/{CHANNEL_ID}/messages/{first_id}/threads"
    rest = [
        r for r in discord_api.requests_to("create_message") if r.path == f"/channels/{first_id}/messages"
    ]
    assert rest, "the continuation goes to the thread"
    bodies = [first.body] + [r.body for r in rest]
    assert_within_limits([b["embeds"] for b in bodies])
    assert all(b["allowed_mentions"] == {"parse": []} for b in bodies)
    assert not any(PING.search(json.dumps(b["embeds"]) + (b.get("content") or "")) for b in bodies)
    assert "evil.example" not in " ".join(linked_urls([json.dumps(b["embeds"]) for b in bodies]))
    assert len(bodies) == len(briefing_embeds(hostile))
    # the buttons sit on the first message, the one in the channel
    assert [bool(b.get("components")) for b in bodies] == [True] + [False] * (len(bodies) - 1)
