"""``/deals graph``: the command layer hands the adapters a graph to draw; Slack uploads the
PNG with files_upload_v2 (files.getUploadURLExternal, the upload, files.completeUploadExternal)
to the fake Web API over Socket Mode; the console saves it in the data directory; an empty
ledger or a failed upload is one line."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from bot.adapters.console import ConsoleAdapter
from bot.adapters.slack.app import SlackAdapter
from bot.adapters.slack.socket_mode import SocketModeConnection
from bot.config import Settings
from bot.core.commands import CommandContext, CommandLayer, DealGraph
from bot.render.ledger_graph import graph_png, ledger_edges
from bot.runtime.wiring import App, build
from tests.adapters.test_slack_socket import APP_TOKEN, BOT_TOKEN, slash
from tests.core.test_commands import news as news
from tests.support.slack_server import FakeSlack
from tests.support.slack_server import slack_api as slack_api
from tests.support.slack_socket import FakeSocket
from tests.support.slack_socket import slack_socket as slack_socket

USER = CommandContext("slack", "U1", "C1")
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def empty(env: dict[str, str]) -> Iterator[App]:
    """The wired app on an empty store."""
    built = build(Settings.load())
    yield built
    asyncio.run(built.aclose())


def connect(slack_api: FakeSlack, slack_socket: FakeSocket, layer: CommandLayer) -> SocketModeConnection:
    slack_api.socket_url = slack_socket.url
    slack_api.add_user("U1")
    adapter = SlackAdapter(layer, token=BOT_TOKEN, signing_secret="", api_url=slack_api.url)
    connection = SocketModeConnection(adapter.app, APP_TOKEN)
    connection.connect()
    return connection


# ---- the command layer ------------------------------------------------------------------------


def test_deals_graph_carries_the_ledger_to_draw(news: App) -> None:
    layer = CommandLayer(news.service)
    reply = layer.handle(USER, "/deals graph")
    assert reply.graph is not None and not reply.error
    assert reply.graph.deals == tuple(news.service.deals())
    assert reply.text == f"The deal graph: {len(reply.graph.deals)} deals." or reply.text.endswith("1 deal.")
    edges = ledger_edges(reply.graph.deals)
    assert any(e.source == "Amazon" and e.target == "Anthropic" and "$4B" in e.label for e in edges)
    for_aws = layer.handle(USER, "deals graph AWS")
    assert for_aws.graph is not None and for_aws.graph.title.endswith(": Amazon")
    assert all("Amazon" in r.deal.parties for r in for_aws.graph.deals)
    listed = layer.handle(USER, "deals AWS")  # the text ledger still works
    assert listed.graph is None and "Amazon -> Anthropic" in listed.text
    unknown = layer.handle(USER, "deals graph Foocorp")
    assert unknown.graph is None and unknown.text.startswith("unknown company 'Foocorp'")


def test_deals_graph_on_an_empty_ledger_is_one_line(empty: App) -> None:
    reply = CommandLayer(empty.service).handle(USER, "/deals graph")
    assert reply.graph is None and reply.ephemeral
    assert reply.text == ("No deals to draw yet: the graph appears once stories with deals are analysed.")


# ---- Slack ------------------------------------------------------------------------------------


def test_slack_uploads_the_graph_png_to_the_channel(
    news: App, slack_api: FakeSlack, slack_socket: FakeSocket
) -> None:
    layer = CommandLayer(news.service)
    connection = connect(slack_api, slack_socket, layer)
    try:
        slack_socket.ack_for(slack_socket.push("slash_commands", slash("/deals", "graph")))
        done = slack_api.wait_for("files.completeUploadExternal", timeout=30)[0]
    finally:
        connection.close()
    asked = slack_api.calls_to("files.getUploadURLExternal")[0].params
    assert asked["filename"] == "deal-graph.png" and int(asked["length"]) > 1000
    assert asked["alt_txt"]
    file_id = slack_api.calls_to("upload")[0].params["file_id"]
    png = slack_api.uploads[file_id]
    assert png.startswith(PNG) and len(png) == int(asked["length"])
    expected = layer.handle(USER, "deals graph")
    assert expected.graph is not None and png == graph_png(expected.graph)  # deterministic drawing
    assert Image.open(io.BytesIO(png)).size == (1600, 1000)
    assert done.params["channel_id"] == "C1" and done.token == BOT_TOKEN
    assert "The deal graph" in done.params["initial_comment"]
    assert '"title": "Who invests in, partners with and supplies whom"' in done.params["files"]
    shared = slack_api.messages["C1"][-1]
    assert shared["files"][0]["id"] == file_id
    assert slack_api.calls_to("chat.postMessage") == []  # the picture is the answer


def test_slack_graph_of_an_empty_ledger_is_an_ephemeral_line(
    empty: App, slack_api: FakeSlack, slack_socket: FakeSocket
) -> None:
    connection = connect(slack_api, slack_socket, CommandLayer(empty.service))
    try:
        slack_socket.ack_for(slack_socket.push("slash_commands", slash("/deals", "graph")))
        note = slack_api.wait_for("chat.postEphemeral")[0].params
    finally:
        connection.close()
    assert note["user"] == "U1" and "No deals to draw yet" in str(note["blocks"])
    assert slack_api.calls_to("files.getUploadURLExternal") == []


def test_slack_graph_upload_refused_is_told_in_one_line(
    news: App, slack_api: FakeSlack, slack_socket: FakeSocket
) -> None:
    slack_api.fail("files.completeUploadExternal", "not_in_channel")
    connection = connect(slack_api, slack_socket, CommandLayer(news.service))
    try:
        slack_socket.ack_for(slack_socket.push("slash_commands", slash("/deals", "graph")))
        note = slack_api.wait_for("chat.postEphemeral", timeout=30)[0].params
    finally:
        connection.close()
    assert note["user"] == "U1"
    assert note["text"] == (
        "Sorry, the deal graph could not be posted: not_in_channel (invite the app to this channel first)."
    )


def test_graph_png_refuses_an_empty_graph() -> None:
    with pytest.raises(Exception, match="no deals to draw"):
        graph_png(DealGraph((), "nothing"))


# ---- the console ------------------------------------------------------------------------------


def test_console_saves_the_graph_in_the_data_dir(news: App, tmp_path: Path) -> None:
    settings = Settings.load({"BRIEFBOT_DATA_DIR": str(tmp_path / "data")})
    console = ConsoleAdapter(news.service, settings, io.StringIO(), io.StringIO())
    printed = console.respond("deals graph")
    path = tmp_path / "data" / "deal-graph.png"
    assert printed.splitlines()[-1] == f"wrote {path}"
    assert printed.startswith("The deal graph")
    assert path.read_bytes().startswith(PNG)
    empty_text = console.respond("deals graph Foocorp")
    assert empty_text.startswith("unknown company 'Foocorp'")
