"""Structured logs: the queue id on every line about a message; never a body or a token."""

from __future__ import annotations

import io
import json
import logging
import threading

import pytest

from mailgate.logging import (
    JSONFormatter,
    KeyValueFormatter,
    QueueIdFilter,
    logging_config,
    message_logger,
    queue_id_context,
)

BODY = "Subject: secret plans\r\n\r\nThe launch code is 0000."
TOKEN = "pUrLtOkEn-abcdefghijklmnopqrstuvwxyz0123456789"


@pytest.fixture(params=["kv", "json"])
def captured(request):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(KeyValueFormatter() if request.param == "kv" else JSONFormatter())
    handler.addFilter(QueueIdFilter())
    logger = logging.getLogger("tests.mailgate.logging")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield request.param, stream, logger
    logger.removeHandler(handler)


def lines(stream):
    return [line for line in stream.getvalue().splitlines() if line]


def test_message_logger_puts_the_queue_id_on_every_line(captured):
    fmt, stream, logger = captured
    log = message_logger("Q1A2B3", name=logger.name)
    log.info("accepted from %s", "127.0.0.10", extra={"size": 1234})
    log.warning("deferred: %s", "451 4.7.0 try later")
    out = lines(stream)
    assert len(out) == 2
    for line in out:
        if fmt == "json":
            assert json.loads(line)["queue_id"] == "Q1A2B3"
        else:
            assert "queue_id=Q1A2B3" in line
    assert "size=1234" in out[0] or json.loads(out[0])["size"] == 1234


def test_context_tags_plain_loggers_and_is_per_thread(captured):
    _, stream, logger = captured
    seen = {}

    def other_thread():
        logger.info("no message here")
        seen["done"] = True

    with queue_id_context("CTX9"):
        logger.info("processing")
        thread = threading.Thread(target=other_thread)
        thread.start()
        thread.join()
    logger.info("after")
    out = lines(stream)
    assert "CTX9" in out[0]
    assert "CTX9" not in out[1] and "CTX9" not in out[2]


def test_bodies_and_tokens_passed_as_extra_are_redacted(captured):
    _, stream, logger = captured
    log = message_logger("QB", name=logger.name)
    log.info(
        "stored",
        extra={"body": BODY, "raw": BODY.encode(), "purl_token": TOKEN, "api_key": TOKEN,
               "recipient": "c@partner.example"},
    )  # fmt: skip
    text = stream.getvalue()
    assert "launch code" not in text and "secret plans" not in text
    assert TOKEN not in text
    assert "c@partner.example" in text
    assert text.count("[redacted]") == 4


def test_exceptions_stay_on_one_line(captured):
    _, stream, logger = captured
    try:
        raise ValueError("bad\nthing")
    except ValueError:
        logger.exception("failed")
    out = lines(stream)
    assert len(out) == 1
    assert "ValueError" in out[0]


def test_kv_values_with_spaces_are_quoted():
    record = logging.LogRecord("x", logging.INFO, "f", 1, 'said "hi" = ok', (), None)
    record.queue_id = "Q"
    line = KeyValueFormatter().format(record)
    assert 'msg="said \\"hi\\" = ok"' in line
    assert line.split()[1:4] == ["level=INFO", "logger=x", "queue_id=Q"]


def test_settings_logging_config_is_valid():
    import logging.config

    for fmt in ("kv", "json", "plain"):
        logging.config.dictConfig(logging_config(fmt=fmt, level="INFO"))
    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)


def test_purl_tokens_in_paths_are_redacted(captured):
    _, stream, logger = captured
    logger.warning("Not Found: /m/%s/", TOKEN, extra={"path": f"/m/{TOKEN}/body/", "n": 3})
    text = stream.getvalue()
    assert TOKEN not in text
    assert "/m/[redacted]/" in text and "/m/[redacted]/body/" in text
