from django.apps import AppConfig


class SecureMailboxConfig(AppConfig):
    name = "securemailbox"
    verbose_name = "Secure Mailbox"
