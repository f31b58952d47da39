"""`/healthz` and `manage.py healthcheck`: every part healthy, then each part failing."""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from django.core.management import call_command

from mailgate import health
from mailgate.broker import start_embedded_redis
from mailgate.celery import app
from tests.support.smtp_sinks import free_port

pytestmark = pytest.mark.django_db


def _use_broker(url: str) -> None:
    with contextlib.suppress(Exception):
        app.pool.force_close_all()
    app._pool = None
    app.conf.broker_url = url


@pytest.fixture(scope="module")
def broker_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server, url = start_embedded_redis(tmp_path_factory.mktemp("broker"))
    yield url
    server.shutdown()


class _Sink:
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        return "250 OK"


@pytest.fixture
def healthy(settings: Any, tmp_path: Any, broker_url: str) -> Iterator[Any]:
    """Settings under which every check passes: a spool dir, a broker, a listening smtpd."""
    port = free_port("127.0.0.1")
    controller = Controller(_Sink(), hostname="127.0.0.1", port=port)
    controller.start()
    settings.MAILGATE_SPOOL_DIR = tmp_path / "spool"
    settings.MAILGATE_SMTP_HOST = "0.0.0.0"  # the listener's bind-all → checked on loopback
    settings.MAILGATE_SMTP_PORT = port
    old = app.conf.broker_url
    _use_broker(broker_url)
    try:
        yield settings
    finally:
        _use_broker(old)
        controller.stop()


def test_healthz_all_ok(client, healthy):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["failing"] == []
    assert set(body["checks"]) == {"db", "broker", "spool", "smtpd"}
    assert all(check["ok"] for check in body["checks"].values())
    assert response["Cache-Control"].startswith("max-age=0")
    assert not any(healthy.MAILGATE_SPOOL_DIR.iterdir()), "the probe file is removed"


def test_healthz_needs_no_login_and_no_session(client, healthy):
    response = client.get("/healthz?only=db")
    assert response.status_code == 200
    assert list(response.json()["checks"]) == ["db"]


def test_spool_not_writable_is_503_naming_it(client, healthy, tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the spool directory should be")
    healthy.MAILGATE_SPOOL_DIR = blocker / "spool"
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "fail" and body["failing"] == ["spool"]
    assert body["checks"]["db"]["ok"] and body["checks"]["smtpd"]["ok"]


def test_smtpd_not_listening_is_503_naming_it(client, healthy):
    healthy.MAILGATE_SMTP_PORT = free_port("127.0.0.1")
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["failing"] == ["smtpd"]
    assert "ConnectionRefused" in response.json()["checks"]["smtpd"]["detail"]


def test_smtpd_that_does_not_greet_220_fails(client, healthy):
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        healthy.MAILGATE_SMTP_PORT = listener.getsockname()[1]
        healthy.MAILGATE_SMTP_HOST = "127.0.0.1"
        # Accepted by the kernel, never answered: the check times out quickly.
        health_timeout = health.TIMEOUT
        health.TIMEOUT = 0.3
        try:
            response = client.get("/healthz?only=smtpd")
        finally:
            health.TIMEOUT = health_timeout
    assert response.status_code == 503
    assert response.json()["failing"] == ["smtpd"]


def test_broker_down_is_503_naming_it(client, healthy):
    _use_broker(f"redis://127.0.0.1:{free_port('127.0.0.1')}/0")
    response = client.get("/healthz?only=db,broker")
    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == ["broker"]
    assert body["checks"]["broker"]["ms"] < 5000


def test_unknown_check_is_400(client):
    response = client.get("/healthz?only=db,nope")
    assert response.status_code == 400
    assert "nope" in response.json()["error"]


def test_command_exit_status(healthy, capsys):
    call_command("healthcheck", "--only", "db,broker")
    assert json.loads(capsys.readouterr().out)["status"] == "ok"
    healthy.MAILGATE_SMTP_PORT = free_port("127.0.0.1")
    with pytest.raises(SystemExit) as exc:
        call_command("healthcheck", "--only", "db,smtpd")
    assert exc.value.code == 1
    assert json.loads(capsys.readouterr().out)["failing"] == ["smtpd"]


def test_command_http_check_against_the_live_server(healthy, live_server, capsys):
    call_command("healthcheck", "--only", "db", "--http", f"{live_server.url}/healthz?only=db")
    report = json.loads(capsys.readouterr().out)
    assert report["http"] == {"ok": True, "detail": "HTTP 200"}
    with pytest.raises(SystemExit):
        call_command("healthcheck", "--only", "db", "--http", f"{live_server.url}/healthz?only=x")
    assert json.loads(capsys.readouterr().out)["failing"] == ["http"]
