"""Secure Mailbox fixtures: a profile, and a message redirected through the real relay
seams (message_accept, the spool) into the real encrypted store, in temporary directories."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest

from relay.services.accept import message_accept
from securemailbox.models import DeliveryProfile
from securemailbox.services import securemessage_redirect
from securemailbox.views.rendering import cache_clear
from tests.securemailbox.helpers import SENDER, Redirected, make_raw, notification_raw, token_from


@pytest.fixture(autouse=True)
def _dirs(request, settings, tmp_path):
    if "mailgate_stack" in request.fixturenames:  # the stack's directories and broker
        yield
        return
    request.getfixturevalue("memory_broker")
    settings.MAILGATE_SPOOL_DIR = tmp_path / "spool"
    settings.MAILGATE_SECURE_STORE_DIR = tmp_path / "secure"
    settings.MAILGATE_HOSTNAME = "mailgate.test"
    settings.MAILGATE_BASE_URL = "https://mail.example"
    cache_clear()
    yield
    cache_clear()


@pytest.fixture
def profile(db) -> DeliveryProfile:
    return DeliveryProfile.objects.create(
        name="My delivery profile",
        notification_sender="secureMailer@sender.test",
        organisation_name="Sender Corp",
    )


@pytest.fixture
def redirect(profile) -> Callable[..., Redirected]:
    def run(raw: bytes | None = None, *, rcpts: Sequence[str] = ("bob@partner.test",),
            profile_name: str | None = None) -> Redirected:  # fmt: skip
        message = message_accept(
            raw=raw or make_raw(), envelope_sender=SENDER, recipients=list(rcpts),
            client_ip="127.0.0.1",
        )  # fmt: skip
        items = securemessage_redirect(
            message=message,
            recipients=list(message.recipients.all()),
            profile_name=profile_name or profile.name,
        )
        tokens = [token_from(notification_raw(item)) for item in items]
        return Redirected(message, items, tokens)

    return run
