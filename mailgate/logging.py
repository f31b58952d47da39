"""Structured logs: one line per record, key=value (default) or JSON, with the queue id.

Every line about a message carries `queue_id=<id>`: either log through
`message_logger(queue_id)` or run the code inside `queue_id_context(queue_id)`, which sets a
context variable that `QueueIdFilter` copies onto every record (threads and asyncio tasks
each see their own value).

Never logged: message bodies and secrets. Extra fields whose names say they hold a body, a
token, a password or a key are replaced by "[redacted]" by the formatters, whatever the
caller passes; callers log ids, sizes and addresses, not content.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

_queue_id: contextvars.ContextVar[str] = contextvars.ContextVar("mailgate_queue_id", default="")

REDACTED = "[redacted]"
# Substrings of extra-field names whose values are never written out.
SECRET_WORDS = ("body", "raw", "data", "content", "token", "password", "secret", "key", "purl")
# pURL paths (/m/<token>/...) carry a bearer token: it is cut out of every logged text, so
# "Not Found: /m/<token>/" from django.request or an access-log line cannot leak it.
PURL_PATH = re.compile(r"(/m/)[^/\s\"'?#]+")
# The attributes every LogRecord has; everything else on a record is an `extra` field.
_RECORD_ATTRS = frozenset(
    logging.LogRecord("", 0, "", 0, "", (), None).__dict__.keys()
    | {"message", "asctime", "queue_id", "taskName"}
)


def current_queue_id() -> str:
    return _queue_id.get()


@contextmanager
def queue_id_context(queue_id: str) -> Iterator[None]:
    """Tag every log line written inside the block with `queue_id`."""
    token = _queue_id.set(queue_id)
    try:
        yield
    finally:
        _queue_id.reset(token)


class MessageLoggerAdapter(logging.LoggerAdapter):  # type: ignore[type-arg]
    """A logger whose records all carry one message's queue id."""

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, Any]:
        extra = dict(kwargs.get("extra") or {})
        extra["queue_id"] = (self.extra or {}).get("queue_id", "")
        kwargs["extra"] = extra
        return msg, kwargs


def message_logger(queue_id: str, name: str = "mailgate.message") -> MessageLoggerAdapter:
    """`log = message_logger(msg.queue_id); log.info("delivered", extra={"host": h})`."""
    return MessageLoggerAdapter(logging.getLogger(name), {"queue_id": queue_id})


class QueueIdFilter(logging.Filter):
    """Copy the context's queue id onto records that do not carry one already."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "queue_id", ""):
            record.queue_id = _queue_id.get()
        return True


def redact_text(text: str) -> str:
    """`text` with pURL tokens in paths replaced by "[redacted]"."""
    return PURL_PATH.sub(r"\1[redacted]", text)


def _safe_value(name: str, value: Any) -> Any:
    if _is_secret(name):
        return REDACTED
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, list | tuple | dict):
        return json.loads(redact_text(json.dumps(value, default=str)))
    return redact_text(str(value))


def _is_secret(name: str) -> bool:
    lowered = name.lower()
    return any(word in lowered for word in SECRET_WORDS)


def record_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The fields of one line, in a stable order: time, level, logger, queue id, message,
    then the caller's extra fields (secrets redacted), then the exception."""
    fields: dict[str, Any] = {
        "ts": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
        "level": record.levelname,
        "logger": record.name,
    }
    queue_id = getattr(record, "queue_id", "") or _queue_id.get()
    if queue_id:
        fields["queue_id"] = queue_id
    fields["msg"] = redact_text(record.getMessage())
    for name, value in record.__dict__.items():
        if name in _RECORD_ATTRS or name.startswith("_"):
            continue
        fields[name] = _safe_value(name, value)
    return fields


def _exception_text(formatter: logging.Formatter, record: logging.LogRecord) -> str:
    text = ""
    if record.exc_info:
        text = formatter.formatException(record.exc_info)
    if record.stack_info:
        text = (text + "\n" if text else "") + formatter.formatStack(record.stack_info)
    return redact_text(text)


def _kv_value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    if text and not any(c in text for c in ' "=\\\n\r\t'):
        return text
    return json.dumps(text)  # quoted, with quotes, backslashes and newlines escaped


class KeyValueFormatter(logging.Formatter):
    """`ts=... level=INFO logger=relay queue_id=ABC msg="delivered" host=mx.example`."""

    def format(self, record: logging.LogRecord) -> str:
        fields = record_fields(record)
        exc = _exception_text(self, record)
        if exc:
            fields["exc"] = exc
        return " ".join(f"{name}={_kv_value(value)}" for name, value in fields.items())


class JSONFormatter(logging.Formatter):
    """One JSON object per line, for log shippers."""

    def format(self, record: logging.LogRecord) -> str:
        fields = record_fields(record)
        exc = _exception_text(self, record)
        if exc:
            fields["exc"] = exc
        return json.dumps(fields, default=str, ensure_ascii=False)


def logging_config(
    *, fmt: str = "kv", level: str = "INFO", overrides: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The LOGGING dict for settings: `fmt` is "kv", "json" or "plain"."""
    formatter = {
        "kv": {"()": "mailgate.logging.KeyValueFormatter"},
        "json": {"()": "mailgate.logging.JSONFormatter"},
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(queue_id)s] %(message)s"},
    }.get(fmt, {"()": "mailgate.logging.KeyValueFormatter"})
    loggers: dict[str, Any] = {"django.db.backends": {"level": "WARNING"}}
    for name, logger_level in (overrides or {}).items():
        loggers[name] = {"level": logger_level}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"queue_id": {"()": "mailgate.logging.QueueIdFilter"}},
        "formatters": {"structured": formatter},
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "structured",
                "filters": ["queue_id"],
            }
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": loggers,
    }
