"""Create the first administrator if there is none, and say how to log in."""

from __future__ import annotations

import os
import secrets
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create an admin account (MAILGATE_ADMIN_USER / MAILGATE_ADMIN_PASSWORD or generated)."

    def handle(self, *args: Any, **options: Any) -> None:
        user_model = get_user_model()
        username = os.environ.get("MAILGATE_ADMIN_USER", "admin")
        password_file = settings.VAR_DIR / "admin-password.txt"
        if user_model.objects.filter(username=username).exists():
            hint = (
                f"the password in {password_file}"
                if password_file.exists()
                else "the password you set"
            )
            self.stdout.write(f"Log in as '{username}' with {hint}.")
            return
        password = os.environ.get("MAILGATE_ADMIN_PASSWORD") or secrets.token_urlsafe(12)
        user_model.objects.create_superuser(username=username, email="", password=password)
        if not os.environ.get("MAILGATE_ADMIN_PASSWORD"):
            settings.VAR_DIR.mkdir(parents=True, exist_ok=True)
            password_file.write_text(password + "\n")
            password_file.chmod(0o600)
        self.stdout.write(f"Created admin account '{username}' with password: {password}")
