"""`briefbot run` with SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET and BRIEFBOT_HTTP_PORT: Slack's
HTTP mode on the health server's port, answering through the fake Slack Web API; SIGTERM
stops it cleanly."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

import httpx

from tests.support.slack_server import FakeSlack, signed_headers
from tests.support.slack_server import slack_api as slack_api

SECRET = "run-test-signing-secret"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_run_serves_slack_http_mode(env: dict[str, str], slack_api: FakeSlack, tmp_path: Path) -> None:
    port = free_port()
    child_env = dict(os.environ)
    child_env.update(
        {
            "SLACK_BOT_TOKEN": "xoxb-run",
            "SLACK_SIGNING_SECRET": SECRET,
            "BRIEFBOT_HTTP_PORT": str(port),
            "BRIEFBOT_SLACK_API_URL": slack_api.url,
        }
    )
    slack_api.add_user("U1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "run", "--limit", "0"],
        cwd=tmp_path,
        env=child_env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(base + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "briefbot run did not serve /healthz"
            time.sleep(0.1)
        form = urlencode(
            {"team_id": "T1", "channel_id": "C1", "user_id": "U1", "command": "/subscriptions", "text": ""}
        )
        head = {"Content-Type": "application/x-www-form-urlencoded", **signed_headers(form, SECRET)}
        assert httpx.post(base + "/slack/events", content=form, headers=head, timeout=10).status_code == 200
        bad = {**head, **signed_headers(form, "wrong")}
        assert httpx.post(base + "/slack/events", content=form, headers=bad, timeout=10).status_code == 401
        posted = slack_api.wait_for(("chat.postMessage", "chat.postEphemeral"), timeout=20)
        assert posted[0].token == "xoxb-run" and posted[0].params["channel"] == "C1"
        assert slack_api.calls_to("users.info")[0].params["user"] == "U1"
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err.decode()
        assert b"Slack (HTTP mode)" in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
