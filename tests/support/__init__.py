"""Reusable real test servers: SMTP sinks (aiosmtpd), a DNS server (dnslib), a test CA (trustme).

Fixture modules (register them in the root conftest's ``pytest_plugins``):
``tests.support.certs``, ``tests.support.smtp_sinks``, ``tests.support.dns_server``.
"""
