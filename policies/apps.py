from django.apps import AppConfig


class PoliciesConfig(AppConfig):
    name = "policies"
    verbose_name = "Content policies"

    def ready(self) -> None:
        from . import signals

        signals.connect()
