"""Slack's OAuth install flow, for running one briefbot in several workspaces.

With ``SLACK_CLIENT_ID`` and ``SLACK_CLIENT_SECRET`` set (and the signing secret), the bolt
app gets :func:`oauth_settings`: installations and OAuth states live in briefbot's own
database through slack_sdk's :class:`SQLAlchemyInstallationStore` and
:class:`SQLAlchemyOAuthStateStore` (their tables are migration 13), and every request is
authorised with the bot token of its team instead of one ``SLACK_BOT_TOKEN``.

- ``GET /slack/install`` redirects (302) to Slack's authorize page with the manifest's bot
  scopes and a fresh ``state``, also set as a cookie for the browser that started it;
- ``GET /slack/oauth_redirect?code=..&state=..`` checks the state (cookie and table, once),
  exchanges the code with ``oauth.v2.access`` on ``BRIEFBOT_SLACK_API_URL`` and stores the
  installation; bolt answers with a small success or failure page.

:func:`handle_oauth` runs either request through the app's :class:`OAuthFlow` for any HTTP
server (briefbot's serves them beside ``/slack/events``). Scheduled digests and alerts go out
with the token of the installation that owns each destination
(:mod:`bot.adapters.slack.workspaces`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from pathlib import Path

from slack_bolt import App, BoltRequest
from slack_bolt.oauth.oauth_settings import OAuthSettings
from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore
from sqlalchemy import Engine

log = logging.getLogger(__name__)

INSTALL_PATH = "/slack/install"
REDIRECT_PATH = "/slack/oauth_redirect"
MANIFEST = Path(__file__).with_name("manifest.yml")
STATE_SECONDS = 600  # how long an install link's state is valid
_SCOPE = re.compile(r"^\s*-\s*([a-z][a-z0-9_.:-]*)\s*(?:#.*)?$")


def manifest_scopes(path: Path = MANIFEST) -> list[str]:
    """The bot scopes of the app manifest (``oauth_config.scopes.bot``), in order.

    A small reader for that one list, so no YAML library is needed: the ``- scope`` lines
    under ``bot:`` inside ``oauth_config:``."""
    scopes: list[str] = []
    section = ""
    bot_indent: int | None = None
    for line in path.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        indent = len(line) - len(line.lstrip())
        if indent == 0:
            section = stripped.rstrip(":")
            bot_indent = None
            continue
        if section != "oauth_config":
            continue
        if stripped == "bot:":
            bot_indent = indent
            continue
        if bot_indent is not None:
            match = _SCOPE.match(line)
            if match and indent >= bot_indent:
                scopes.append(match.group(1))
            elif indent <= bot_indent:
                bot_indent = None
    return scopes


def authorize_url(api_url: str) -> str:
    """Slack's authorize page beside the Web API at ``api_url``
    (``https://slack.com/api/`` -> ``https://slack.com/oauth/v2/authorize``)."""
    root = api_url.rstrip("/").removesuffix("/api")
    return f"{root}/oauth/v2/authorize"


def oauth_settings(
    client_id: str,
    client_secret: str,
    engine: Engine,
    *,
    api_url: str = "https://slack.com/api/",
    scopes: list[str] | None = None,
) -> OAuthSettings:
    """Bolt's OAuth settings: installations and states in ``engine``'s database, the
    manifest's scopes, install at ``/slack/install`` (a redirect, no page of its own),
    Slack back at ``/slack/oauth_redirect``."""
    return OAuthSettings(
        client_id=client_id,
        client_secret=client_secret,
        scopes=scopes if scopes is not None else manifest_scopes(),
        install_path=INSTALL_PATH,
        redirect_uri_path=REDIRECT_PATH,
        install_page_rendering_enabled=False,
        authorization_url=authorize_url(api_url),
        installation_store=SQLAlchemyInstallationStore(client_id=client_id, engine=engine, logger=log),
        state_store=SQLAlchemyOAuthStateStore(expiration_seconds=STATE_SECONDS, engine=engine, logger=log),
        state_expiration_seconds=STATE_SECONDS,
    )


def handle_oauth(
    app: App, path: str, query: str, headers: Mapping[str, str]
) -> tuple[int, bytes, dict[str, str]]:
    """``GET /slack/install`` or ``GET /slack/oauth_redirect`` through ``app``'s OAuth flow:
    the status, body and headers to answer (404 for any other path or without OAuth).

    Blocks on the database and on ``oauth.v2.access``: run it in a thread from an event loop."""
    flow = app.oauth_flow
    if flow is None or path not in (flow.install_path, flow.redirect_uri_path):
        return 404, b"not found\n", {"content-type": "text/plain; charset=utf-8"}
    request = BoltRequest(
        body="", query=query, headers={name.lower(): [value] for name, value in headers.items()}
    )
    try:
        if path == flow.install_path:
            response = flow.handle_installation(request)
        else:
            response = flow.handle_callback(request)
    except Exception:  # the database or Slack failed: one line to the browser, the rest logged
        log.exception("slack oauth %s failed", path)
        return (
            500,
            b"the Slack installation failed on our side; the error is logged\n",
            {"content-type": "text/plain; charset=utf-8"},
        )
    out = {name.lower(): values[0] for name, values in response.headers.items() if values}
    out.pop("content-length", None)
    return response.status, response.body.encode("utf-8"), out
