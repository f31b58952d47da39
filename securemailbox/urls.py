from django.contrib.auth.decorators import login_required
from django.urls import path
from django.views.generic import TemplateView

app_name = "securemailbox"

urlpatterns = [
    path(
        "",
        login_required(
            TemplateView.as_view(
                template_name="placeholder.html",
                extra_context={"title": "Secure Mailbox", "text": "No secure messages yet."},
            )
        ),
        name="index",
    ),
]
