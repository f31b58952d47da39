"""The portal's rate limits (securemailbox/ratelimit.py LIMITS), each scope on its own: every
test spreads its requests so that only the scope under test can be the one that blocks.
Per-item wrong passwords and codes sent per item are in test_verification.py, misses per IP
in test_portal_attacks.py (T-2)."""

from __future__ import annotations

import re
from email import message_from_bytes, policy

import pytest
from django.test import Client

from relay.models import Message
from relay.models.queue import Relation
from relay.spool import spool_read
from securemailbox.models import Verification
from securemailbox.ratelimit import LIMITS, client_network

pytestmark = pytest.mark.django_db


def browser(ip: str) -> Client:
    return Client(REMOTE_ADDR=ip)


def test_misses__limited_per_network_across_addresses_each_under_its_own_limit(redirect):
    done = redirect()
    per_ip, per_net = LIMITS["miss-ip"].count, LIMITS["miss-net"].count
    spread = per_ip - 10  # each address stays well under the per-IP limit
    hosts = -(-per_net // spread)  # enough addresses in one /24 to use up the network's
    for host in range(1, hosts + 1):
        scanner = browser(f"198.51.100.{host}")
        for i in range(spread):
            assert scanner.get(f"/m/{'D' * 40}{host:03d}{i % 10}/").status_code in (404, 429)
    # A fresh address in the same /24 is blocked, even with a valid token ...
    assert browser("198.51.100.200").get(f"/m/{done.token}/").status_code == 429
    # ... and the neighbouring network is not affected at all.
    assert browser("198.51.101.1").get(f"/m/{done.token}/").status_code == 200


def test_misses__the_network_is_a_slash_24_or_a_slash_64():
    assert client_network("198.51.100.77") == "198.51.100.0/24"
    assert client_network("2001:db8:1:2:aaaa::1") == "2001:db8:1:2::/64"
    assert client_network("not-an-ip") == "not-an-ip"


def test_wrong_answers__limited_per_client_across_items(redirect, profile):
    profile.verification = Verification.CODE
    profile.save()
    per_item, per_ip = LIMITS["verify-item"].count, LIMITS["verify-ip"].count
    spread = per_item - 3  # under every item's own limit
    items = [redirect() for _ in range(-(-per_ip // spread))]
    attacker = browser("203.0.113.9")
    for done in items:
        for _ in range(spread):
            attacker.post(f"/m/{done.token}/", {"action": "verify", "code": "00000000"})
    # A new item, never tried before: the attacker's address is blocked even with the
    # right code, and the recipient (another address) is not.
    fresh = redirect()
    code = _send_code(attacker, fresh.token)
    blocked = attacker.post(f"/m/{fresh.token}/", {"action": "verify", "code": code})
    assert blocked.status_code == 200 and "Too many attempts" in blocked.content.decode()
    reader = browser("192.0.2.44")
    code = _send_code(reader, fresh.token)
    assert reader.post(f"/m/{fresh.token}/", {"action": "verify", "code": code}).status_code == 302
    assert reader.get(f"/m/{fresh.token}/body/").status_code == 200


def _send_code(client: Client, token: str) -> str:
    assert client.post(f"/m/{token}/", {"action": "send"}).status_code == 302
    mail = Message.objects.filter(relation=Relation.CODE).latest("id")
    text = message_from_bytes(spool_read(mail.spool_name), policy=policy.default).get_content()
    return re.search(r"\b(\d{8})\b", text).group(1)


def test_replies__limited_per_item_whoever_sends_them(redirect):
    done = redirect()
    limit = LIMITS["reply-item"].count
    readers = [browser("192.0.2.1"), browser("192.0.2.2")]
    for n in range(limit):
        response = readers[n % 2].post(f"/m/{done.token}/reply/", {"text": f"reply {n}"})
        assert response.status_code == 302, n
    third = browser("203.0.113.50")
    refused = third.post(f"/m/{done.token}/reply/", {"text": "one more"})
    assert refused.status_code == 200 and "Too many replies" in refused.content.decode()
    assert Message.objects.filter(relation=Relation.REPLY).count() == limit
    # Another item's replies are counted on their own.
    other = redirect()
    assert third.post(f"/m/{other.token}/reply/", {"text": "hi"}).status_code == 302


def forwarded(for_: str, proxy: str = "172.18.0.5") -> Client:
    return Client(REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR=for_)


@pytest.mark.parametrize(
    ("proxies", "remote", "xff", "expected"),
    [
        ([], "172.18.0.5", "203.0.113.9", "172.18.0.5"),  # no trusted proxy: header ignored
        (["172.18.0.0/16"], "172.18.0.5", "203.0.113.9", "203.0.113.9"),
        # What the client wrote itself is on the left: only the proxy's own hop counts.
        (["172.18.0.0/16"], "172.18.0.5", "1.2.3.4, 203.0.113.9", "203.0.113.9"),
        (["172.18.0.0/16", "10.9.0.1"], "172.18.0.5", "203.0.113.9, 10.9.0.1", "203.0.113.9"),
        (["172.18.0.0/16"], "198.51.100.7", "203.0.113.9", "198.51.100.7"),  # not our proxy
        (["172.18.0.0/16"], "172.18.0.5", "garbage", "172.18.0.5"),
        (["172.18.0.0/16"], "172.18.0.5", "", "172.18.0.5"),
    ],
)
def test_client_ip__behind_a_trusted_proxy_only(settings, rf, proxies, remote, xff, expected):
    from securemailbox.ratelimit import client_ip

    settings.MAILGATE_TRUSTED_PROXIES = proxies
    request = rf.get("/", REMOTE_ADDR=remote, HTTP_X_FORWARDED_FOR=xff)
    assert client_ip(request) == expected


def test_misses__behind_a_trusted_proxy_one_scanner_does_not_lock_out_other_readers(
    settings, redirect
):
    settings.MAILGATE_TRUSTED_PROXIES = ["172.18.0.0/16"]
    done = redirect()
    scanner = forwarded("203.0.113.9")
    for i in range(LIMITS["miss-ip"].count + 1):
        scanner.get(f"/m/{'E' * 40}{i:03d}/")
    assert scanner.get(f"/m/{done.token}/").status_code == 429  # the scanner is blocked
    # A reader elsewhere, through the same proxy, still opens the message.
    assert forwarded("192.0.2.44").get(f"/m/{done.token}/").status_code == 200
