"""Decrypt and render an item's message, with a small in-process cache.

A message page is two requests (the page and its sandboxed body), and readers reload; the
cache keeps the last few rendered messages for a short time (``MAILGATE_SECURE_RENDER_CACHE``
entries, default 32; 0 turns it off; ``MAILGATE_SECURE_RENDER_TTL`` seconds, default 60).
It lives in process memory only, never on disk; access is checked before every use.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict

from mailgate.logging import message_logger

from ..conf import setting
from ..crypto import store_read
from ..models import SecureMessage
from ..render import Rendered, message_render

_lock = threading.Lock()
_cache: OrderedDict[tuple[str, bool], tuple[float, Rendered]] = OrderedDict()


def _limits() -> tuple[int, float]:
    return setting("MAILGATE_SECURE_RENDER_CACHE"), float(setting("MAILGATE_SECURE_RENDER_TTL"))


def rendered_for(item: SecureMessage, *, allow_remote: bool) -> Rendered:
    size, ttl = _limits()
    key = (item.store_name, allow_remote)
    now = time.monotonic()
    if size > 0:
        with _lock:
            hit = _cache.get(key)
            if hit and now - hit[0] < ttl:
                _cache.move_to_end(key)
                return hit[1]
    raw = store_read(item.store_name)  # StoreError: the caller answers neutrally
    try:
        result = message_render(raw, allow_remote=allow_remote)
    except Exception:  # render never raises by design; if it does, show what we can (H-13)
        message_logger(item.queue_id, __name__).exception(
            "cannot render secure message %s", item.pk
        )
        result = Rendered(notes=["This message could not be displayed."])
    if size > 0:
        with _lock:
            _cache[key] = (now, result)
            while len(_cache) > size:
                _cache.popitem(last=False)
    return result


def cache_clear() -> None:
    with _lock:
        _cache.clear()
