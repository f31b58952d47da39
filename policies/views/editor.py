"""The delivery policy list and editor. Thin: forms validate, services write.

Every change that can alter what the enabled policies do is loop checked first (issue 6):
saving a policy enabled or saving an enabled one disabled, enabling, disabling, moving and
deleting. A change that adds loop check errors is not applied; the page shows the findings and
a button that applies it anyway. Only saving a policy that is and stays disabled is not checked.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

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
from policies.loopcheck.guard import ChangeCheck, change_loop_checked
from policies.models import ContentPolicy

from .sentence import highlight, policy_sentence, sentence_html

SECTION = "Content Policies"
TITLE = "Delivery policies"
#: the submit button (editor) or field (toggle, move) that applies a change despite findings
FORCE = "apply_anyway"

log = logging.getLogger(__name__)


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
    was_enabled = policy is not None and policy.enabled  # before the form writes the instance
    editor = PolicyEditor(request.POST or None, instance=policy)
    preview = None
    check = ChangeCheck()
    if request.method == "POST" and editor.is_valid():
        if "preview" in request.POST:
            preview = highlight(policy_sentence(editor.spec))
        else:
            saved, check = _save(request, editor, was_enabled=was_enabled)
            if saved is not None:
                verb = "created" if policy is None else "saved"
                _report(request, f"'{saved}' {verb}", check)
                return redirect("policies:policy-list")
            if check.blocked and policy is not None:
                policy.refresh_from_db()  # the rolled-back save changed the instance
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
        "loop_block": check if check.blocked else None,
        "force_name": FORCE,
    }
    return render(request, "policies/policy_form.html", context, status=200)


def _save(
    request: HttpRequest, editor: PolicyEditor, *, was_enabled: bool
) -> tuple[ContentPolicy | None, ChangeCheck]:
    if not (was_enabled or editor.form.cleaned_data["enabled"]):
        return editor.save(), ChangeCheck()  # disabled before and after: the check cannot change
    return change_loop_checked(editor.save, force=FORCE in request.POST)


def _report(request: HttpRequest, done: str, check: ChangeCheck) -> None:
    """The success message; findings the change added are named (the list shows them), and a
    change applied despite errors is logged."""
    messages.success(request, f"{done}.")
    if check.new_errors:
        codes = ", ".join(f.code for f in check.new_errors)
        log.warning("%s by %s despite loop check errors: %s", done, request.user, codes)
        messages.warning(request, f"Done although the loop check finds new errors: {codes}.")
    elif check.new_warnings:
        codes = ", ".join(f.code for f in check.new_warnings)
        messages.warning(request, f"The loop check has new warnings: {codes}.")


def _blocked(
    request: HttpRequest, policy: ContentPolicy, check: ChangeCheck, *, verb: str, **fields: str
) -> HttpResponse:
    """The findings of a toggle, move or delete that was not applied, and a form to apply it
    anyway."""
    context = {
        "title": f"{verb} '{policy}'?",
        "policy": policy,
        "check": check,
        "verb": verb,
        "action": request.path,
        "fields": {**fields, FORCE: "1"},
        "breadcrumbs": crumbs((f"{verb} {policy}", None)),
    }
    return render(request, "policies/loopcheck_confirm.html", context)


def _stored_sentence(policy: ContentPolicy) -> Any:
    try:
        return highlight(policy_sentence(PolicySpec.from_dict(policy.to_spec())))
    except PolicySyntaxError as error:  # stored before a stricter engine: show, don't crash
        return f"This policy cannot be used as stored: {error}"


@login_required
def policy_delete(request: HttpRequest, pk: int) -> HttpResponse:
    policy = get_object_or_404(ContentPolicy, pk=pk)
    if request.method == "POST":
        name = str(policy)
        _, check = change_loop_checked(lambda: _delete(policy), force=FORCE in request.POST)
        if check.blocked:  # rolled back: the instance lost its pk, the row is still there
            return _blocked(request, get_object_or_404(ContentPolicy, pk=pk), check, verb="Delete")
        _report(request, f"'{name}' deleted", check)
        return redirect("policies:policy-list")
    context = {
        "object": policy,
        "singular": "delivery policy",
        "list_url": reverse("policies:policy-list"),
        "breadcrumbs": crumbs((f"Delete {policy}", None)),
    }
    return render(request, "crud/confirm_delete.html", context)


def _delete(policy: ContentPolicy) -> bool:
    services.policy_delete(policy=policy)
    return True  # the guard checks a change that returns something


@login_required
@require_POST
def policy_toggle(request: HttpRequest, pk: int) -> HttpResponse:
    policy = get_object_or_404(ContentPolicy, pk=pk)
    enabled = request.POST.get("enabled", "1" if not policy.enabled else "0") == "1"
    verb = "Enable" if enabled else "Disable"
    done, check = change_loop_checked(
        lambda: services.policy_set_enabled(policy=policy, enabled=enabled),
        force=FORCE in request.POST,
    )
    if done is None:
        policy.refresh_from_db()
        return _blocked(request, policy, check, verb=verb, enabled="1" if enabled else "0")
    _report(request, f"'{policy}' {verb.lower()}d", check)
    return redirect("policies:policy-list")


@login_required
@require_POST
def policy_move(request: HttpRequest, pk: int, direction: str) -> HttpResponse:
    policy = get_object_or_404(ContentPolicy, pk=pk)
    if direction not in ("up", "down"):
        return redirect("policies:policy-list")
    step: Literal["up", "down"] = "up" if direction == "up" else "down"
    moved, check = change_loop_checked(
        lambda: services.policy_move(policy=policy, direction=step) or None,  # False: no move
        force=FORCE in request.POST,
    )
    if check.blocked:
        return _blocked(request, policy, check, verb=f"Move {direction}")
    if moved:
        _report(request, f"'{policy}' moved {direction}", check)
    return redirect("policies:policy-list")
