"""The delivery policy list and editor. Thin: forms validate, services write."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from policies import services
from policies.engine import PolicySpec, PolicySyntaxError
from policies.forms import ACTION_PARAMS, CONDITION_PARAMS, PolicyEditor
from policies.loader import policy_queryset
from policies.loopcheck.collect import loop_check_run
from policies.models import ContentPolicy

from .sentence import highlight, policy_sentence, sentence_html

SECTION = "Content Policies"
TITLE = "Delivery policies"


def crumbs(*tail: tuple[str, str | None]) -> list[tuple[str, str | None]]:
    return [(SECTION, None), ("Outbound", None), (TITLE, reverse("policies:policy-list")), *tail]


@login_required
def policy_list(request: HttpRequest) -> HttpResponse:
    rows = []
    policies = list(policy_queryset())
    for index, policy in enumerate(policies):
        try:
            sentence: Any = sentence_html(PolicySpec.from_dict(policy.to_spec()))
        except PolicySyntaxError as error:  # stored before a stricter engine: show, don't crash
            sentence = f"This policy cannot be used: {error}"
        rows.append(
            {
                "policy": policy,
                "number": index + 1,
                "sentence": sentence,
                "first": index == 0,
                "last": index == len(policies) - 1,
            }
        )
    context = {
        "title": TITLE,
        "rows": rows,
        "breadcrumbs": [*crumbs()[:2], (TITLE, None)],
        # The loop check runs on every view of the list: the article's warning, made visible.
        "loop_findings": loop_check_run().findings,
        "loop_check_url": reverse("policysetup:loop-check"),
    }
    return render(request, "policies/policy_list.html", context)


@login_required
def policy_create(request: HttpRequest) -> HttpResponse:
    return _edit(request, None)


@login_required
def policy_edit(request: HttpRequest, pk: int) -> HttpResponse:
    return _edit(request, get_object_or_404(ContentPolicy, pk=pk))


def _edit(request: HttpRequest, policy: ContentPolicy | None) -> HttpResponse:
    editor = PolicyEditor(request.POST or None, instance=policy)
    preview = None
    if request.method == "POST" and editor.is_valid():
        if "preview" in request.POST:
            preview = highlight(policy_sentence(editor.spec))
        else:
            saved = editor.save()
            if saved is not None:
                verb = "created" if policy is None else "saved"
                messages.success(request, f"'{saved}' {verb}.")
                return redirect("policies:policy-list")
    elif policy is not None and request.method != "POST":
        preview = _stored_sentence(policy)
    heading = "New delivery policy" if policy is None else f"Edit delivery policy: {policy}"
    context = {
        "title": heading,
        "editor": editor,
        "policy": policy,
        "preview": preview,
        "condition_params": CONDITION_PARAMS,
        "action_params": ACTION_PARAMS,
        "breadcrumbs": crumbs((heading, None)),
    }
    return render(request, "policies/policy_form.html", context, status=200)


def _stored_sentence(policy: ContentPolicy) -> Any:
    try:
        return highlight(policy_sentence(PolicySpec.from_dict(policy.to_spec())))
    except PolicySyntaxError as error:  # stored before a stricter engine: show, don't crash
        return f"This policy cannot be used as stored: {error}"


@login_required
def policy_delete(request: HttpRequest, pk: int) -> HttpResponse:
    policy = get_object_or_404(ContentPolicy, pk=pk)
    if request.method == "POST":
        services.policy_delete(policy=policy)
        messages.success(request, f"'{policy}' deleted.")
        return redirect("policies:policy-list")
    context = {
        "object": policy,
        "singular": "delivery policy",
        "list_url": reverse("policies:policy-list"),
        "breadcrumbs": crumbs((f"Delete {policy}", None)),
    }
    return render(request, "crud/confirm_delete.html", context)


@login_required
@require_POST
def policy_toggle(request: HttpRequest, pk: int) -> HttpResponse:
    policy = get_object_or_404(ContentPolicy, pk=pk)
    enabled = request.POST.get("enabled", "1" if not policy.enabled else "0") == "1"
    services.policy_set_enabled(policy=policy, enabled=enabled)
    messages.success(request, f"'{policy}' {'enabled' if enabled else 'disabled'}.")
    return redirect("policies:policy-list")


@login_required
@require_POST
def policy_move(request: HttpRequest, pk: int, direction: str) -> HttpResponse:
    policy = get_object_or_404(ContentPolicy, pk=pk)
    if direction not in ("up", "down"):
        return redirect("policies:policy-list")
    if services.policy_move(policy=policy, direction=direction):  # type: ignore[arg-type]
        messages.success(request, f"'{policy}' moved {direction}.")
    return redirect("policies:policy-list")
