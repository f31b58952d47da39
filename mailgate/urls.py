"""Top-level URLs: the Admin UI (login required), the Secure Mailbox portal, health."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from . import views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("healthz", views.healthz, name="healthz"),
    path("metrics", views.metrics_view, name="metrics"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("relay/", include("relay.urls")),
    path("policies/", include("policies.urls")),
    path("policies/", include(("policies.urls_setup", "policysetup"))),
    path("securemailbox/", include("securemailbox.urls")),
    path("", include("securemailbox.portal_urls")),
    path("django-admin/", admin.site.urls),
]
