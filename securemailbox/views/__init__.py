"""Views: the Admin UI pages (admin.py) and the recipient portal (portal.py, verify.py)."""
