"""Settings from environment variables and an optional ``briefbot.toml``.

Precedence: environment, then the TOML file (``BRIEFBOT_CONFIG`` or ``./briefbot.toml``),
then defaults. In the TOML file a setting is written without its ``BRIEFBOT_`` prefix and
in lower case (``database_url = "..."``, ``openai_model = "..."``). A bad value raises
:class:`~bot.errors.ConfigError` with a one-line message naming the setting.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bot.errors import ConfigError

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _as_bool(name: str, raw: object) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


def _as_positive_int(name: str, raw: object) -> int:
    try:
        value = int(str(raw).strip())
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
    if value <= 0:
        raise ConfigError(f"{name} must be greater than zero, got {value}")
    return value


def _as_count(name: str, raw: object) -> int:
    try:
        value = int(str(raw).strip())
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
    if value < 0:
        raise ConfigError(f"{name} must not be negative, got {value}")
    return value


def _as_float(name: str, raw: object, *, positive: bool) -> float:
    try:
        value = float(str(raw).strip())
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise ConfigError(f"{name} must be a finite number, got {raw!r}")
    if positive and value <= 0:
        raise ConfigError(f"{name} must be greater than zero, got {value:g}")
    if value < 0:
        raise ConfigError(f"{name} must not be negative, got {value:g}")
    return value


def _as_port(name: str, raw: object) -> int | None:
    if raw in (None, ""):
        return None
    value = _as_positive_int(name, raw)
    if value > 65535:
        raise ConfigError(f"{name} must be a TCP port (1-65535), got {value}")
    return value


def _as_str(name: str, raw: object) -> str | None:
    text = str(raw).strip() if raw is not None else ""
    return text or None


def _as_http_url(name: str, raw: object) -> str | None:
    text = _as_str(name, raw)
    if text is None:
        return None
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"{name} must be an http(s) URL, got {text!r}")
    return text.rstrip("/")


def _as_database_url(name: str, raw: object) -> str | None:
    text = _as_str(name, raw)
    if text is None:
        return None
    scheme = text.split(":", 1)[0].lower()
    if not (scheme.startswith("sqlite") or scheme.startswith("postgresql")):
        raise ConfigError(f"{name} must be a sqlite:/// or postgresql+psycopg:// URL, got {text!r}")
    return text


def _as_file(name: str, raw: object) -> Path | None:
    text = _as_str(name, raw)
    if text is None:
        return None
    path = Path(text).expanduser()
    if not path.is_file():
        raise ConfigError(f"{name} names {text!r}, which is not a readable file")
    return path


def _as_duration(name: str, raw: object) -> int:
    """ "3h", "90m", "1d", "45s" or plain seconds -> seconds (zero allowed)."""
    text = str(raw).strip().lower()
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    scale = units.get(text[-1:], 0) if text else 0
    number = text[:-1] if scale else text
    try:
        value = int(number.strip())
    except ValueError:
        raise ConfigError(
            f"{name} must be a duration such as 3h, 90m or 10800 (seconds), got {raw!r}"
        ) from None
    if value < 0:
        raise ConfigError(f"{name} must not be negative, got {raw!r}")
    return value * (scale or 1)


def _as_quiet_hours(name: str, raw: object) -> tuple[str, str] | None:
    """ "22:00-07:00" -> ("22:00", "07:00"); empty means none."""
    text = str(raw or "").strip()
    if not text:
        return None
    start, sep, end = (p.strip() for p in text.partition("-"))
    parts = (start, end)
    ok = bool(sep) and all(
        len(p) == 5
        and p[2] == ":"
        and p[:2].isdigit()
        and p[3:].isdigit()
        and int(p[:2]) < 24
        and int(p[3:]) < 60
        for p in parts
    )
    if not ok or start == end:
        raise ConfigError(
            f"{name} must be two different times HH:MM-HH:MM (UTC), e.g. 22:00-07:00, got {raw!r}"
        )
    return start, end


def _as_list(name: str, raw: object) -> list[str]:
    if isinstance(raw, list):
        return [str(x).strip() for x in raw if str(x).strip()]
    return [part.strip() for part in str(raw or "").split(",") if part.strip()]


@dataclass(frozen=True)
class Settings:
    """Everything briefbot can be configured with. Build it with :meth:`Settings.load`."""

    data_dir: Path = Path("data")
    database_url: str = ""
    allow_private_feeds: bool = False
    load_default_feeds: bool = True
    feed_interval: int = 900
    fetch_concurrency: int = 32
    fetch_per_host: int = 4
    max_feed_bytes: int = 10 * 1024 * 1024
    parse_workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    http_port: int | None = None
    admins: list[str] = field(default_factory=list)
    embeddings_model: str | None = None  # e.g. "text-embedding-3-small"; unset: full-text search only
    semantic_window: int = 50_000  # newest passage vectors kept in memory for semantic search
    taxonomy_file: Path | None = None  # extends bot/data/taxonomy.toml
    gazetteer_file: Path | None = None  # extends bot/data/gazetteer.toml
    slack_bot_token: str | None = None
    slack_app_token: str | None = None
    slack_signing_secret: str | None = None
    slack_client_id: str | None = None  # with the secret: the OAuth install flow, several workspaces
    slack_client_secret: str | None = None
    slack_api_url: str = "https://slack.com/api/"  # the Web API base URL (GovSlack, proxies, tests)
    slack_thread_followups: bool = True  # answer replies in threads the bot answered, no mention needed
    discord_token: str | None = None
    discord_api_url: str = "https://discord.com/api/v10"  # the REST base URL (proxies, tests)
    openai_api_key: str | None = None
    openai_base_url: str | None = None
    openai_model: str | None = None
    openai_timeout: float = 60.0  # seconds per model request
    openai_max_retries: int = 3  # retries after 429, 5xx, timeouts, connection errors
    llm_tokens_per_briefing: int = 60_000
    llm_tokens_per_day: int = 1_000_000
    llm_price_input: float = 0.15  # USD per million tokens, for estimates only
    llm_price_output: float = 0.60
    digest_max_late: int = 3 * 3600  # seconds: a digest missed while down is posted late if younger
    quiet_hours: tuple[str, str] | None = None  # ("22:00", "07:00") in UTC: no alerts then
    alerts_per_hour: int = 5  # alerts per person per hour at most
    leader_retry: int = 15  # seconds between a standby instance's tries to take the scheduler lock
    retention_days: int = 365  # articles older than this go in the daily housekeeping; 0 keeps all

    @classmethod
    def load(cls, env: Mapping[str, str] | None = None, config_file: Path | None = None) -> Settings:
        """Read settings from ``env`` (default ``os.environ``) and the TOML file."""
        env = os.environ if env is None else env
        file_values = _read_toml(config_file, env)
        values: dict[str, Any] = {}
        for f in fields(cls):
            env_name = _ENV_NAMES[f.name]
            raw: object = env.get(env_name)
            if raw is None:
                raw = file_values.get(f.name, file_values.get(env_name))
            if raw is None:
                continue
            values[f.name] = _PARSERS[f.name](env_name, raw)
        settings = cls(**{k: v for k, v in values.items() if v is not None})
        if not settings.database_url:
            url = f"sqlite:///{settings.data_dir / 'briefbot.db'}"
            settings = replace(settings, database_url=url)
        return settings

    @property
    def uses_sqlite(self) -> bool:
        """True when the database is the embedded SQLite file."""
        return self.database_url.startswith("sqlite")

    @property
    def llm_configured(self) -> bool:
        """True when an OpenAI-compatible endpoint can be called."""
        return bool(self.openai_api_key or self.openai_base_url)


def _read_toml(config_file: Path | None, env: Mapping[str, str]) -> dict[str, Any]:
    explicit = config_file or (Path(env["BRIEFBOT_CONFIG"]) if env.get("BRIEFBOT_CONFIG") else None)
    path = explicit or Path("briefbot.toml")
    if not path.exists():
        if explicit is not None:
            raise ConfigError(f"BRIEFBOT_CONFIG names {str(path)!r}, which does not exist")
        return {}
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    section = data.get("briefbot", data)
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: [briefbot] must be a table")
    return {str(k).lower() if not str(k).isupper() else str(k): v for k, v in section.items()}


_PLATFORM_NAMES = {
    "slack_bot_token": "SLACK_BOT_TOKEN",
    "slack_app_token": "SLACK_APP_TOKEN",
    "slack_signing_secret": "SLACK_SIGNING_SECRET",
    "slack_client_id": "SLACK_CLIENT_ID",
    "slack_client_secret": "SLACK_CLIENT_SECRET",
    "discord_token": "DISCORD_TOKEN",
    "openai_api_key": "OPENAI_API_KEY",
    "openai_base_url": "OPENAI_BASE_URL",
    "openai_model": "OPENAI_MODEL",
}
_ENV_NAMES = {f.name: _PLATFORM_NAMES.get(f.name, "BRIEFBOT_" + f.name.upper()) for f in fields(Settings)}

_PARSERS: dict[str, Callable[[str, object], Any]] = {
    "data_dir": lambda n, raw: Path(str(raw)).expanduser(),
    "database_url": _as_database_url,
    "allow_private_feeds": _as_bool,
    "load_default_feeds": _as_bool,
    "feed_interval": _as_positive_int,
    "fetch_concurrency": _as_positive_int,
    "fetch_per_host": _as_positive_int,
    "max_feed_bytes": _as_positive_int,
    "parse_workers": _as_positive_int,
    "http_port": _as_port,
    "admins": _as_list,
    "embeddings_model": _as_str,
    "semantic_window": _as_positive_int,
    "taxonomy_file": _as_file,
    "gazetteer_file": _as_file,
    "slack_bot_token": _as_str,
    "slack_app_token": _as_str,
    "slack_signing_secret": _as_str,
    "slack_client_id": _as_str,
    "slack_client_secret": _as_str,
    "slack_api_url": lambda n, raw: (_as_http_url(n, raw) or "https://slack.com/api") + "/",
    "slack_thread_followups": _as_bool,
    "discord_token": _as_str,
    "discord_api_url": lambda n, raw: _as_http_url(n, raw) or "https://discord.com/api/v10",
    "openai_api_key": _as_str,
    "openai_base_url": _as_http_url,
    "openai_model": _as_str,
    "openai_timeout": lambda n, raw: _as_float(n, raw, positive=True),
    "openai_max_retries": _as_count,
    "llm_tokens_per_briefing": _as_positive_int,
    "llm_tokens_per_day": _as_positive_int,
    "llm_price_input": lambda n, raw: _as_float(n, raw, positive=False),
    "llm_price_output": lambda n, raw: _as_float(n, raw, positive=False),
    "digest_max_late": _as_duration,
    "quiet_hours": _as_quiet_hours,
    "alerts_per_hour": _as_positive_int,
    "leader_retry": _as_positive_int,
    "retention_days": _as_count,
}
