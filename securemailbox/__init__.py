"""Secure Mailbox: delivery profiles, redirected messages, pURLs and the recipient portal."""
