"""``briefbot doctor``: check settings, database, model endpoint, chat tokens and feeds.

Each check prints one line, ``OK``, ``WARN`` or ``FAIL``, and for anything not OK what
to do about it. Every check catches its own errors into a ``FAIL`` line, so the command
never shows a traceback. Exit status 0 when nothing failed, 1 otherwise. Nothing is
changed: the database is not migrated and no feed is fetched. Slack and Discord tokens
are checked for shape, then signed in with once (Slack's ``auth.test``, Discord's
``GET /users/@me``): a refused token fails, an unreachable platform is a warning.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from bot.config import Settings
from bot.errors import ConfigError
from bot.runtime.metrics import (
    LATEST_SCHEMA,
    delivery_problems,
    feed_problems,
    job_lag_seconds,
    schema_version,
)
from bot.store import open_engine

OK = "OK"
WARN = "WARN"
FAIL = "FAIL"

LLM_TIMEOUT = 5.0  # seconds for GET /models
CHAT_TIMEOUT = 5.0  # seconds for Slack's auth.test and Discord's /users/@me
STUCK_AFTER = timedelta(minutes=15)  # a claimed delivery older than this was left by a crash
LAG_WARN = timedelta(hours=1)
MAX_NAMED = 5  # feeds named in one line
# A Discord bot token: base64 user id, timestamp and HMAC, separated by dots.
DISCORD_TOKEN = re.compile(r"^[A-Za-z0-9_-]{17,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{20,}$")


@dataclass(frozen=True)
class Check:
    """One check's outcome: ``fix`` says what to do when it is not OK."""

    name: str
    status: str
    detail: str
    fix: str | None = None

    def line(self) -> str:
        """The one-line form printed by ``briefbot doctor``."""
        text = f"{self.status:<4}  {self.name}: {self.detail}"
        return f"{text} -> {self.fix}" if self.fix and self.status != OK else text


def register(commands: Any) -> None:
    """Add the ``doctor`` command."""
    doctor = commands.add_parser(
        "doctor",
        help="check settings, database, model endpoint, chat tokens and feeds, and say what to fix",
        description="Check the settings, the database (reachable, migrated), the model endpoint (when "
        "configured), the Slack and Discord tokens (shape, then one sign-in), feed health and the delivery "
        "outbox. "
        "Prints one line per check: OK, WARN or FAIL with what to do. Exits 1 when anything failed.",
    )
    doctor.add_argument("--json", action="store_true", help="print the checks as one JSON object")
    doctor.set_defaults(handler=_doctor)


def _doctor(args: argparse.Namespace) -> int:
    checks = run_checks()
    failed = any(c.status == FAIL for c in checks)
    if args.json:
        from bot.cli.common import print_json

        print_json({"ok": not failed, "checks": [asdict(c) for c in checks]})
    else:
        for check in checks:
            print(check.line())
    return 1 if failed else 0


def run_checks(env: dict[str, str] | None = None, now: datetime | None = None) -> list[Check]:
    """Every check, in order; later checks are skipped when settings or the database fail."""
    now = now or datetime.now(UTC)
    try:
        settings = Settings.load(env)
    except ConfigError as exc:
        return [Check("settings", FAIL, str(exc), "correct that setting in the environment or briefbot.toml")]
    except Exception as exc:
        return [Check("settings", FAIL, _one_line(exc), "check the environment and briefbot.toml")]
    checks = [Check("settings", OK, "loaded")]
    checks.extend(_database_checks(settings, now))
    checks.extend(_guard_many("model endpoint", lambda: check_llm(settings)))
    checks.extend(_guard_many("chat tokens", lambda: check_tokens(settings)))
    return checks


def _database_checks(settings: Settings, now: datetime) -> list[Check]:
    """The database, then (when it answers) feeds and deliveries."""
    path = settings.database_url.split("///", 1)[1] if "///" in settings.database_url else ""
    if settings.uses_sqlite and path and path != ":memory:" and not Path(path).expanduser().exists():
        return [  # not opened: opening would create it
            Check(
                "database",
                WARN,
                f"no SQLite database yet at {path}",
                "it is created at the first start: run `briefbot feeds list` or `briefbot run`",
            )
        ]
    try:
        engine = open_engine(settings.database_url, run_migrations=False)
    except Exception as exc:
        return [Check("database", FAIL, _one_line(exc), _database_fix(settings))]
    try:
        database = _guard("database", lambda: check_database(engine, settings))
        if database.status == FAIL:
            return [database]
        return [
            database,
            _guard("feeds", lambda: check_feeds(engine, now)),
            _guard("deliveries", lambda: check_deliveries(engine, now)),
        ]
    finally:
        engine.dispose()


def _guard(name: str, check: Callable[[], Check]) -> Check:
    """Run one check; any exception becomes a FAIL line naming the check."""
    try:
        return check()
    except Exception as exc:
        return Check(name, FAIL, _one_line(exc), "run with BRIEFBOT_DEBUG=1 for details")


def _guard_many(name: str, checks: Callable[[], list[Check]]) -> list[Check]:
    """Run a check that yields several lines; an exception becomes one FAIL line."""
    try:
        return checks()
    except Exception as exc:
        return [Check(name, FAIL, _one_line(exc), "run with BRIEFBOT_DEBUG=1 for details")]


def _one_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    first = (text.splitlines() or [""])[0]
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def _database_fix(settings: Settings) -> str:
    if settings.uses_sqlite:
        return "check that BRIEFBOT_DATA_DIR / BRIEFBOT_DATABASE_URL names a writable place"
    return "check that PostgreSQL is running and BRIEFBOT_DATABASE_URL (host, user, password, database)"


def check_database(engine: Engine, settings: Settings) -> Check:
    """Reachable, and at the latest schema version."""
    try:
        version = schema_version(engine)
    except Exception as exc:
        return Check(
            "database", FAIL, f"cannot reach the database: {_one_line(exc)}", _database_fix(settings)
        )
    kind = "SQLite" if settings.uses_sqlite else "PostgreSQL"
    if version is None:
        return Check(
            "database",
            WARN,
            f"{kind} answers but briefbot's tables are not there yet",
            "they are created at the first start: run `briefbot feeds list` or `briefbot run`",
        )
    if version > LATEST_SCHEMA:
        return Check(
            "database",
            FAIL,
            f"schema version {version} is newer than this briefbot ({LATEST_SCHEMA})",
            "upgrade briefbot, or point BRIEFBOT_DATABASE_URL at this version's database",
        )
    if version < LATEST_SCHEMA:
        return Check(
            "database",
            WARN,
            f"schema version {version}, this briefbot has {LATEST_SCHEMA}",
            "migrations apply at the next start of any briefbot command (e.g. `briefbot feeds list`)",
        )
    return Check("database", OK, f"{kind} reachable, schema version {version} (latest)")


def check_feeds(engine: Engine, now: datetime) -> Check:
    """Feeds failing or disabled, named with their last error; overdue fetches."""
    total, problems = feed_problems(engine)
    if total == 0:
        return Check(
            "feeds", WARN, "no feeds", "add some: `briefbot feeds add URL` or `briefbot feeds import FILE`"
        )
    if problems:
        named = "; ".join(
            f"{p.name} ({p.status}, {p.error_count} errors: {p.last_error or 'no error recorded'})"
            for p in problems[:MAX_NAMED]
        )
        more = f"; and {len(problems) - MAX_NAMED} more" if len(problems) > MAX_NAMED else ""
        return Check(
            "feeds",
            WARN,
            f"{len(problems)} of {total} feeds failing or disabled: {named}{more}",
            "check the URLs with `briefbot feeds list`; remove dead ones with `briefbot feeds remove`",
        )
    lag = job_lag_seconds(engine, now)
    if lag > LAG_WARN.total_seconds():
        return Check(
            "feeds",
            WARN,
            f"{total} feeds healthy, but the most overdue fetch is {lag / 3600:.1f} h late",
            "start `briefbot run` (it polls the feeds), or check that it is running",
        )
    return Check("feeds", OK, f"{total} feeds, none failing")


def check_deliveries(engine: Engine, now: datetime) -> Check:
    """Deliveries that failed, and claims never confirmed (left by a crash)."""
    found = delivery_problems(engine, now, STUCK_AFTER)
    parts: list[str] = []
    if found.failed:
        parts.append(f"{found.failed} failed (last: {found.last_error or 'no error recorded'})")
    if found.stuck:
        since = found.oldest_stuck.strftime("%Y-%m-%d %H:%M") if found.oldest_stuck else "?"
        parts.append(f"{found.stuck} claimed but unconfirmed since {since} UTC")
    if not parts:
        return Check("deliveries", OK, "none failed or stuck")
    fixes = []
    if found.failed:
        fixes.append("re-add or re-enable the channel (`briefbot channels list`) once the bot may post there")
    if found.stuck:
        fixes.append("a `briefbot run` resolves unconfirmed deliveries at start")
    return Check("deliveries", WARN, "; ".join(parts), "; ".join(fixes))


def check_llm(settings: Settings) -> list[Check]:
    """GET /models on the configured endpoint (short timeout), and the embeddings model."""
    if not settings.llm_configured:
        unset = [Check("model endpoint", OK, "not configured: extractive summaries and answers")]
        if settings.embeddings_model:
            unset.append(
                Check(
                    "embeddings",
                    WARN,
                    f"BRIEFBOT_EMBEDDINGS_MODEL={settings.embeddings_model} but no endpoint is configured",
                    "set OPENAI_BASE_URL or OPENAI_API_KEY, or unset BRIEFBOT_EMBEDDINGS_MODEL",
                )
            )
        return unset
    from bot.llm.client import probe_models  # the openai SDK loads only when a model is configured

    probe = probe_models(settings, timeout=LLM_TIMEOUT)
    url = probe.url
    if probe.outcome == "refused":
        return [
            Check("model endpoint", FAIL, f"{url} refused the key ({probe.status})", "check OPENAI_API_KEY")
        ]
    if probe.outcome == "no-list":  # some compatible servers do not list models
        return [
            Check(
                "model endpoint",
                WARN,
                f"{url} answers but has no /models (404); the model could not be checked",
                "check that OPENAI_BASE_URL ends in the API root (often /v1)",
            )
        ]
    if probe.outcome == "status":
        return [
            Check("model endpoint", FAIL, f"{url}/models answered {probe.status}", "check OPENAI_BASE_URL")
        ]
    if probe.outcome == "unreachable" and probe.error is not None:
        return [
            Check(
                "model endpoint",
                FAIL,
                f"cannot reach {url}: {_one_line(probe.error)}",
                "check OPENAI_BASE_URL and that the server is running",
            )
        ]
    models = list(probe.models)
    checks: list[Check] = []
    model = settings.openai_model
    if model and models and model not in models:
        checks.append(
            Check(
                "model endpoint",
                WARN,
                f"{url} answers but does not list {model}",
                "check OPENAI_MODEL against the endpoint's models",
            )
        )
    else:
        checks.append(Check("model endpoint", OK, f"{url} answers ({len(models)} models)"))
    if settings.embeddings_model:
        if models and settings.embeddings_model not in models:
            checks.append(
                Check(
                    "embeddings",
                    WARN,
                    f"{url} does not list {settings.embeddings_model}",
                    "check BRIEFBOT_EMBEDDINGS_MODEL against the endpoint's models",
                )
            )
        else:
            checks.append(Check("embeddings", OK, f"{settings.embeddings_model} configured"))
    return checks


def check_tokens(settings: Settings) -> list[Check]:
    """Slack and Discord credentials, by shape only (no network)."""
    checks: list[Check] = []
    bot, app, secret = settings.slack_bot_token, settings.slack_app_token, settings.slack_signing_secret
    if bot or app or secret:
        problems: list[tuple[str, str]] = []
        if not bot:
            problems.append(
                ("SLACK_BOT_TOKEN is not set", "set SLACK_BOT_TOKEN (xoxb-...) from the app's OAuth page")
            )
        elif not bot.startswith("xoxb-"):
            problems.append(
                (
                    "SLACK_BOT_TOKEN does not start with xoxb-",
                    "use the Bot User OAuth Token (xoxb-...), not a user token",
                )
            )
        if app and not app.startswith("xapp-"):
            problems.append(
                (
                    "SLACK_APP_TOKEN does not start with xapp-",
                    "use an app-level token with connections:write (xapp-...)",
                )
            )
        if bot and not app:  # no Socket Mode: Slack calls us over HTTP
            if not secret:
                problems.append(
                    (
                        "HTTP mode (no SLACK_APP_TOKEN) needs SLACK_SIGNING_SECRET",
                        "set SLACK_SIGNING_SECRET from the app's Basic Information page, or SLACK_APP_TOKEN",
                    )
                )
            if not settings.http_port:
                problems.append(
                    (
                        "HTTP mode (no SLACK_APP_TOKEN) needs BRIEFBOT_HTTP_PORT",
                        "set BRIEFBOT_HTTP_PORT, or SLACK_APP_TOKEN",
                    )
                )
        if problems:
            checks.append(
                Check("slack", FAIL, "; ".join(p for p, _ in problems), "; ".join(f for _, f in problems))
            )
        else:
            mode = "Socket Mode" if app else f"HTTP mode on port {settings.http_port}"
            checks.append(slack_sign_in(settings, mode))
    if settings.discord_token:
        if DISCORD_TOKEN.match(settings.discord_token):
            checks.append(discord_sign_in(settings))
        else:
            checks.append(
                Check(
                    "discord",
                    FAIL,
                    "DISCORD_TOKEN does not look like a bot token (three dot-separated parts)",
                    "copy the token from the Developer Portal's Bot page (not the client secret)",
                )
            )
    if not checks:
        checks.append(Check("chat", OK, "no Slack or Discord credentials: `briefbot run` starts the console"))
    return checks


def slack_sign_in(settings: Settings, mode: str) -> Check:
    """``auth.test`` with SLACK_BOT_TOKEN on ``BRIEFBOT_SLACK_API_URL``."""
    import httpx

    url = settings.slack_api_url + "auth.test"
    try:
        response = httpx.post(
            url, headers={"Authorization": f"Bearer {settings.slack_bot_token}"}, timeout=CHAT_TIMEOUT
        )
        data = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        return Check(
            "slack",
            WARN,
            f"tokens look right ({mode}) but Slack did not answer at {url}: {_one_line(exc)}",
            "check the network, or BRIEFBOT_SLACK_API_URL",
        )
    if not isinstance(data, Mapping) or not data.get("ok"):
        error = data.get("error") if isinstance(data, Mapping) else None
        return Check(
            "slack",
            FAIL,
            f"Slack refused SLACK_BOT_TOKEN: {error or f'HTTP {response.status_code}'}",
            "copy the Bot User OAuth Token (xoxb-...) again from the app's OAuth page; reinstall if revoked",
        )
    who = f"{data.get('user') or 'the bot'} in {data.get('team') or data.get('team_id') or 'its workspace'}"
    return Check("slack", OK, f"signed in as {who} ({mode})")


def discord_sign_in(settings: Settings) -> Check:
    """``GET /users/@me`` with DISCORD_TOKEN on ``BRIEFBOT_DISCORD_API_URL``."""
    import httpx

    url = settings.discord_api_url.rstrip("/") + "/users/@me"
    try:
        response = httpx.get(
            url, headers={"Authorization": f"Bot {settings.discord_token}"}, timeout=CHAT_TIMEOUT
        )
    except httpx.HTTPError as exc:
        return Check(
            "discord",
            WARN,
            f"token looks right but Discord did not answer at {url}: {_one_line(exc)}",
            "check the network, or BRIEFBOT_DISCORD_API_URL",
        )
    if response.status_code in (401, 403):
        return Check(
            "discord",
            FAIL,
            f"Discord refused DISCORD_TOKEN (HTTP {response.status_code})",
            "reset the token on the Developer Portal's Bot page and set DISCORD_TOKEN to the new one",
        )
    if response.status_code != 200:
        return Check(
            "discord", WARN, f"Discord answered HTTP {response.status_code} at {url}", "try again later"
        )
    try:
        name = str(response.json().get("username") or "the bot")
    except (ValueError, AttributeError):
        name = "the bot"
    return Check("discord", OK, f"signed in as {name}")
