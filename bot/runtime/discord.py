"""Wiring for Discord: the outbox's publisher of ``discord:`` destinations and the gateway client.

With ``DISCORD_TOKEN`` set, ``briefbot run`` posts digests and alerts for ``discord:``
destinations through :class:`DiscordPublisher` on ``BRIEFBOT_DISCORD_API_URL``, and
:func:`serve_discord` runs the discord.py client (:class:`BriefbotClient`: slash commands,
questions in messages and threads, buttons) until its ``stop`` event is set.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import aiohttp
import discord

from bot.adapters.discord.client import BriefbotClient
from bot.adapters.discord.publisher import DiscordPublisher
from bot.config import Settings
from bot.errors import BriefbotError
from bot.runtime.wiring import App

log = logging.getLogger(__name__)

PLATFORM = "discord"
READY_TIMEOUT = 60.0  # seconds from login to READY before giving up


def discord_publisher(settings: Settings) -> DiscordPublisher | None:
    """The publisher of ``discord:`` destinations, or None when no token is set."""
    if not settings.discord_token:
        return None
    return DiscordPublisher(settings.discord_token, settings.discord_api_url)


def discord_client(app: App) -> BriefbotClient:
    """The gateway client answering through the shared command layer (admins from
    ``BRIEFBOT_ADMINS``; the Asker's thread memory; 👍/👎 stored in the store)."""
    return BriefbotClient(
        app.service,
        api_url=app.settings.discord_api_url,
        admins=app.settings.admins,
        feedback=app.store,
    )


def _line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:200]


async def serve_discord(app: App, stop: asyncio.Event, *, ready_timeout: float = READY_TIMEOUT) -> None:
    """Log in with ``DISCORD_TOKEN``, connect to the gateway and serve until ``stop`` is set,
    then close the client.

    Raises :class:`BriefbotError` (one line) when no token is set, the token is refused, the
    API or the gateway cannot be reached, or the gateway connection ends for good.
    """
    token = app.settings.discord_token
    if not token:
        raise BriefbotError("DISCORD_TOKEN is not set")
    api = app.settings.discord_api_url
    client = discord_client(app)
    tasks: list[asyncio.Task[object]] = []
    try:
        await _login(client, token, api)
        gateway_failed = asyncio.Event()
        sessions = 0  # READYs (and RESUMEDs) so far

        async def on_connect() -> None:
            nonlocal sessions
            sessions += 1

        async def on_disconnect() -> None:
            # Never logged in over the gateway: unreachable. A drop after READY (Discord may
            # ask for a reconnect at any time, even before the guilds arrived) is discord.py's
            # to reconnect.
            if not sessions:
                gateway_failed.set()

        client.add_listener(on_connect, "on_connect")
        client.add_listener(on_disconnect, "on_disconnect")
        connect: asyncio.Task[object] = asyncio.create_task(client.connect(reconnect=True))
        ready: asyncio.Task[object] = asyncio.create_task(client.wait_until_ready())
        failed: asyncio.Task[object] = asyncio.create_task(gateway_failed.wait())
        stopped: asyncio.Task[object] = asyncio.create_task(stop.wait())
        tasks = [connect, ready, failed, stopped]
        done, _ = await asyncio.wait(
            {connect, ready, failed, stopped}, timeout=ready_timeout, return_when=asyncio.FIRST_COMPLETED
        )
        gateway = str(discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY)
        if connect in done:
            raise BriefbotError(f"cannot connect to the Discord gateway at {gateway}: {_ended(connect)}")
        if failed in done and ready not in done:
            raise BriefbotError(f"cannot reach the Discord gateway at {gateway}")
        if not done:
            raise BriefbotError(
                f"the Discord gateway at {gateway} did not get ready within {ready_timeout:g} s"
            )
        if stopped not in done:
            user = client.user
            log.info("discord: connected as %s to %d guilds", user, len(client.guilds))
            await asyncio.wait({connect, stopped}, return_when=asyncio.FIRST_COMPLETED)
            if connect.done() and not stop.is_set():
                raise BriefbotError(f"the Discord gateway connection ended: {_ended(connect)}")
    finally:
        await client.close()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task


def _ended(task: asyncio.Task[object]) -> str:
    exc = task.exception() if not task.cancelled() else None
    if isinstance(exc, discord.ConnectionClosed):
        return f"closed with code {exc.code}" + (f" ({_line(exc)})" if str(exc) else "")
    return _line(exc) if exc is not None else "closed"


async def _login(client: BriefbotClient, token: str, api: str) -> None:
    """``client.login`` with its failures as one-line BriefbotErrors."""
    try:
        await client.login(token)
    except discord.LoginFailure:
        raise BriefbotError(f"Discord refused DISCORD_TOKEN (401 from {api}); check the bot token") from None
    except discord.HTTPException as exc:
        raise BriefbotError(f"the Discord API at {api} answered HTTP {exc.status}: {_line(exc)}") from None
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        raise BriefbotError(f"cannot reach the Discord API at {api}: {type(exc).__name__}") from None
