"""deploy/gunicorn.conf.py: the web service's worker model follows its environment."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

CONF = Path(__file__).resolve().parents[2] / "deploy" / "gunicorn.conf.py"


def _conf(monkeypatch: pytest.MonkeyPatch, **env: str) -> dict:
    for name in ("GUNICORN_THREADS", "GUNICORN_WORKER_CLASS", "GUNICORN_WORKERS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(CONF))


def test_sync_workers_by_default_and_an_empty_setting_means_the_default(monkeypatch):
    assert _conf(monkeypatch)["worker_class"] == "sync"
    settings = _conf(monkeypatch, GUNICORN_WORKER_CLASS="", GUNICORN_THREADS="")
    assert settings["worker_class"] == "sync" and settings["threads"] == 1


def test_threads_select_gthread_unless_a_class_is_named(monkeypatch):
    settings = _conf(monkeypatch, GUNICORN_THREADS="4")
    assert settings["worker_class"] == "gthread" and settings["threads"] == 4
    assert _conf(monkeypatch, GUNICORN_WORKER_CLASS="gthread")["worker_class"] == "gthread"
    assert _conf(monkeypatch, GUNICORN_WORKERS="7")["workers"] == 7
