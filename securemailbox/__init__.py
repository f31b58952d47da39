"""Secure Mailbox: delivery profiles, redirected messages, pURLs and the recipient portal."""

# The tag on notifications (the vendor's exact words); equal to relay.models.queue.TAG_PURL.
TAG_PURL = "Secure Collaboration: PURL"
