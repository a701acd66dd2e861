"""Settings: environment, briefbot.toml, defaults, and one-line errors naming the setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import Settings
from bot.errors import ConfigError


def test_defaults_put_sqlite_under_the_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = Settings.load(env={})
    assert settings.database_url == "sqlite:///data/briefbot.db"
    assert settings.allow_private_feeds is False
    assert not settings.llm_configured


def test_environment_overrides_toml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "briefbot.toml").write_text(
        'data_dir = "/srv/bb"\nopenai_model = "from-file"\nfetch_per_host = 3\nadmins = ["slack:U1"]\n'
    )
    settings = Settings.load(env={"OPENAI_MODEL": "from-env", "BRIEFBOT_ALLOW_PRIVATE_FEEDS": "yes"})
    assert settings.openai_model == "from-env"
    assert settings.fetch_per_host == 3
    assert settings.admins == ["slack:U1"]
    assert settings.allow_private_feeds is True
    assert settings.database_url == "sqlite:////srv/bb/briefbot.db"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("BRIEFBOT_ALLOW_PRIVATE_FEEDS", "maybe", "BRIEFBOT_ALLOW_PRIVATE_FEEDS must be true or false"),
        ("BRIEFBOT_FETCH_CONCURRENCY", "many", "BRIEFBOT_FETCH_CONCURRENCY must be a whole number"),
        ("BRIEFBOT_FEED_INTERVAL", "0", "BRIEFBOT_FEED_INTERVAL must be greater than zero"),
        ("BRIEFBOT_HTTP_PORT", "70000", "BRIEFBOT_HTTP_PORT must be a TCP port"),
        ("BRIEFBOT_DATABASE_URL", "mysql://x", "BRIEFBOT_DATABASE_URL must be a sqlite"),
        ("OPENAI_BASE_URL", "ftp://x", "OPENAI_BASE_URL must be an http(s) URL"),
    ],
)
def test_bad_values_name_the_setting(
    name: str, value: str, message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as info:
        Settings.load(env={name: value})
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_broken_toml_is_one_line_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "briefbot.toml").write_text("data_dir = [unclosed\n")
    with pytest.raises(ConfigError, match=r"cannot read briefbot\.toml"):
        Settings.load(env={})
    with pytest.raises(ConfigError, match="does not exist"):
        Settings.load(env={"BRIEFBOT_CONFIG": str(tmp_path / "missing.toml")})
