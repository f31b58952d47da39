"""The Celery app. Tasks only ring the doorbell: the database holds the queue."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mailgate.settings")

app = Celery("mailgate")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
