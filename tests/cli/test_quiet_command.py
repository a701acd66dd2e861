"""/quiet through the console adapter: set, show, clear, and a bad zone named."""

from __future__ import annotations

from pathlib import Path

from tests.cli.test_console import run_bot


def test_quiet_hours_are_set_shown_and_cleared_from_the_chat(env: dict[str, str], tmp_path: Path) -> None:
    script = (
        "quiet 22:00-07:00 europe/berlin\n"
        "quiet\n"
        "subscriptions\n"
        "quiet 22:00-07:00 Mars/Olympus\n"
        "quiet off\n"
        "quiet\n"
        "help quiet\n"
    )
    done = run_bot(script.encode(), tmp_path)
    out = done.stdout.decode()
    assert done.returncode == 0, done.stderr.decode()
    assert "Quiet hours set: 22:00-07:00 Europe/Berlin." in out
    assert "Your quiet hours: 22:00-07:00 Europe/Berlin. /quiet off clears them." in out
    assert "Your quiet hours: 22:00-07:00 Europe/Berlin (alerts wait until they end)." in out
    assert "unknown time zone 'Mars/Olympus'" in out
    assert "Quiet hours cleared" in out
    assert "You have no quiet hours of your own." in out
    assert "/quiet HH:MM-HH:MM [TIME ZONE]" in out
    assert "Traceback" not in out + done.stderr.decode()
