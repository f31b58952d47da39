"""The recipient portal (pURLs), outside the Admin UI: /m/<token>/...

The token is taken as any path segment and checked in the view, so a malformed token gets
the same neutral page as an unknown, expired or revoked one.
"""

from django.urls import path

from .views import portal

app_name = "portal"

urlpatterns = [
    path("m/<str:token>/", portal.message, name="message"),
    path("m/<str:token>/body/", portal.body, name="body"),
    path("m/<str:token>/attachment/<int:index>/", portal.attachment, name="attachment"),
    path("m/<str:token>/reply/", portal.reply, name="reply"),
]
