"""The policy tester page: run the policies over a pasted or uploaded message."""

from __future__ import annotations

import json

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from policies import services
from policies.engine import PolicySyntaxError
from policies.forms import PolicyTestForm
from policies.loader import PolicyLoadError

from .editor import crumbs

TITLE = "Test policies"


@login_required
def policy_test(request: HttpRequest) -> HttpResponse:
    form = PolicyTestForm(request.POST or None, request.FILES or None)
    verdict = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        chosen = list(data["policies"]) or None
        try:
            verdict = services.policy_test_run(
                data["raw"],
                client_ip=data["client_ip"],
                envelope_sender=data["sender"],
                recipients=data["recipients"],
                tags=data["tags"],
                policies=chosen,
            )
        except (services.PolicyTestError, PolicySyntaxError, PolicyLoadError) as error:
            form.add_error(None, str(error))
    context = {
        "title": TITLE,
        "form": form,
        "verdict": verdict,
        "verdict_json": json.dumps(verdict.to_dict(), indent=2) if verdict else "",
        "breadcrumbs": crumbs((TITLE, None)),
        "list_url": reverse("policies:policy-list"),
    }
    return render(request, "policies/policy_test.html", context)
