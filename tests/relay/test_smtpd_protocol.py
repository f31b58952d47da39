"""smtpd_protocol._PerClass: aiosmtpd's per-connection tables, built from per-class names,
are the tables aiosmtpd builds itself."""

from __future__ import annotations

import asyncio
import builtins
import concurrent.futures
import inspect

import aiosmtpd.smtp

from relay.smtpd import SmtpdConfig, SmtpdServer
from relay.smtpd_protocol import MailgateSMTP, _per_class


def _tables(protocol) -> dict:
    """The tables with each bound method as (function, whose): comparable across two
    protocol objects of the same handler."""

    def method(bound):
        owner = getattr(bound, "__self__", None)
        whose = (
            "protocol"
            if owner is protocol
            else "handler"
            if owner is protocol.event_handler
            else owner
        )
        return getattr(bound, "__func__", bound), whose

    return {
        "auth": {k: (method(v.method), v.is_builtin) for k, v in protocol._auth_methods.items()},
        "hooks": {k: method(v) for k, v in protocol._handle_hooks.items()},
        "commands": {k: method(v) for k, v in protocol._smtp_methods.items()},
        "ehlo": protocol._ehlo_hook_ver,
    }


def test_a_connection_gets_the_same_commands_hooks_and_auth_as_aiosmtpd_builds(
    tmp_path, monkeypatch
):
    assert aiosmtpd.smtp.inspect is _per_class  # installed by importing the protocol
    server = SmtpdServer(SmtpdConfig.from_settings(tls_dir=tmp_path))

    def with_auth() -> MailgateSMTP:  # AUTH's built-in mechanisms left in: auth_* found
        return MailgateSMTP(server.handler, counter=server.counter, hostname="mg.test")

    async def both(make) -> tuple[dict, dict]:
        fast = make()
        with monkeypatch.context() as patch:  # aiosmtpd as it ships
            patch.setattr(aiosmtpd.smtp, "inspect", inspect)
            patch.setattr(aiosmtpd.smtp, "dir", builtins.dir)
            plain = make()
        return _tables(fast), _tables(plain)

    def run(make) -> tuple[dict, dict]:  # a thread of its own: no other loop runs there
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            return pool.submit(asyncio.run, both(make)).result()

    fast, plain = run(server._protocol)
    assert fast == plain
    fast_auth, plain_auth = run(with_auth)
    assert fast_auth == plain_auth and {"LOGIN", "PLAIN"} <= set(fast_auth["auth"])
    assert {"EHLO", "MAIL", "RCPT", "DATA", "STARTTLS", "QUIT"} <= set(fast["commands"])
    assert "DATA" in fast["hooks"] and fast["ehlo"] == "new"
    assert aiosmtpd.smtp.inspect is _per_class  # put back after the plain one


def test_an_instances_own_prefixed_attributes_are_seen_too():
    class Handler:
        async def handle_DATA(self, *args):
            return "250 OK"

    handler = Handler()
    handler.handle_RCPT = lambda *args: "250 OK"
    assert _per_class.names(handler) == ["handle_DATA", "handle_RCPT"]
    assert [name for name, _ in _per_class.getmembers(handler)] == ["handle_DATA", "handle_RCPT"]
    assert _per_class.signature(handler.handle_DATA) == inspect.signature(handler.handle_DATA)
