"""The relay: relay policies, the inbound smtpd, the database queue, delivery and DSNs."""
