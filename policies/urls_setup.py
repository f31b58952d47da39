"""The secure setup wizard and the loop check page.

No app_name: mailgate/urls.py includes this under "policies/" with the namespace
"policysetup": ``include(("policies.urls_setup", "policysetup"))``.
"""

from django.urls import path

from . import views_setup

urlpatterns = [
    path("setup/", views_setup.secure_setup_view, name="setup"),
    path("loop-check/", views_setup.loop_check_view, name="loop-check"),
]
