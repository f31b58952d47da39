from django.contrib.auth.decorators import login_required
from django.urls import path
from django.views.generic import TemplateView

app_name = "policies"

urlpatterns = [
    path(
        "",
        login_required(
            TemplateView.as_view(
                template_name="placeholder.html",
                extra_context={"title": "Delivery policies", "text": "No delivery policies yet."},
            )
        ),
        name="policy-list",
    ),
]
