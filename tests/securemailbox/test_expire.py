"""Beat: securemessage_expire expires, purges the store once nothing can read it, and
drops old records; the Celery task is thin and registered under the scheduled name."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from django.utils import timezone

from securemailbox.models import ItemState, PortalThrottle, SecureMessage
from securemailbox.ratelimit import throttle_hit
from securemailbox.services import (
    securemessage_expire,
    securemessage_extend,
    securemessage_revoke,
)

pytestmark = pytest.mark.django_db


def stored(settings, item: SecureMessage) -> bool:
    return (Path(settings.MAILGATE_SECURE_STORE_DIR) / item.store_name).exists()


def test_task_name_matches_the_beat_schedule(settings):
    from securemailbox.tasks import securemessage_expire as task

    names = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert task.name == "securemailbox.tasks.securemessage_expire" in names


def test_expire_then_purge_after_the_grace_period(
    redirect, settings, client, django_capture_on_commit_callbacks
):
    done = redirect()
    item = done.item
    now = item.expires_at + dt.timedelta(seconds=1)
    assert securemessage_expire(now=now)["expired"] == 1
    item.refresh_from_db()
    assert item.state == ItemState.EXPIRED and stored(settings, item)
    assert client.get(f"/m/{done.token}/").status_code == 404
    # Still within the grace period: the admin can extend it and the link works again.
    assert securemessage_extend(item=item, days=3)
    assert client.get(f"/m/{done.token}/").status_code == 200
    item.refresh_from_db()
    later = item.expires_at + dt.timedelta(days=8)
    with django_capture_on_commit_callbacks(execute=True):
        result = securemessage_expire(now=later)
    item.refresh_from_db()
    assert result["purged"] == 1 and item.state == ItemState.PURGED
    assert not stored(settings, item) and not item.password_hash
    assert not securemessage_extend(item=item, days=3)
    much_later = later + dt.timedelta(days=settings.MAILGATE_RECORD_RETENTION_DAYS)
    assert securemessage_expire(now=much_later)["deleted"] == 1
    assert not SecureMessage.objects.exists()


def test_revoked_purged_but_the_file_kept_while_another_recipient_can_read(
    redirect, settings, django_capture_on_commit_callbacks
):
    done = redirect(rcpts=["bob@partner.test", "dave@partner.test"])
    bob, dave = done.items
    securemessage_revoke(item=bob)
    with django_capture_on_commit_callbacks(execute=True):
        securemessage_expire()
    bob.refresh_from_db()
    assert bob.state == ItemState.PURGED and stored(settings, dave)
    securemessage_revoke(item=dave)
    with django_capture_on_commit_callbacks(execute=True):
        securemessage_expire()
    assert not stored(settings, dave)


def test_old_rate_limit_counters_are_pruned():
    throttle_hit(scope="miss-ip", subject="192.0.2.1")
    securemessage_expire(now=timezone.now() + dt.timedelta(days=1))
    assert not PortalThrottle.objects.exists()


def test_management_command_runs_the_same_service(redirect):
    import io

    from django.core.management import call_command

    done = redirect()
    SecureMessage.objects.filter(pk=done.item.pk).update(
        expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    out = io.StringIO()
    call_command("securemailbox_expire", stdout=out)
    assert "expired: 1" in out.getvalue()
    assert SecureMessage.objects.get().state == ItemState.EXPIRED
