"""Message tracking: search the queue, follow one message's whole flow, act on messages."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.apps import apps
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from relay.models import Message, MessageState, Recipient, RecipientState
from relay.services import actions
from relay.spool import SpoolError, spool_open

PAGE_SIZE = 50
HEADER_LIMIT = 64 * 1024  # only this much of a spool file is read for the header view
CHAIN_LIMIT = 100


class TrackingFilter(forms.Form):
    q = forms.CharField(required=False, label="Search")
    state = forms.ChoiceField(
        required=False,
        choices=[
            ("", "Any state"),
            *[(v, f"Message {label.lower()}") for v, label in MessageState.choices],
            *[
                (v, f"A recipient {label.lower()}")
                for v, label in RecipientState.choices
                if v not in MessageState.values
            ],
        ],
        label="State",
    )
    domain = forms.CharField(required=False, label="Recipient domain")
    date_from = forms.DateField(
        required=False, label="From", widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        required=False, label="To", widget=forms.DateInput(attrs={"type": "date"})
    )
    tls = forms.ChoiceField(
        required=False,
        choices=[("", "TLS: any"), ("yes", "Delivered over TLS"), ("no", "Delivered in clear")],
        label="TLS",
    )

    def apply(self, qs: QuerySet[Message]) -> QuerySet[Message]:
        if not self.is_valid():
            return qs
        data = self.cleaned_data
        if q := data["q"].strip():
            qs = qs.filter(
                Q(queue_id__iexact=q)
                | Q(envelope_sender__icontains=q)
                | Q(header_from__icontains=q)
                | Q(subject__icontains=q)
                | Q(message_id_header__icontains=q)
                | Q(recipients__address__icontains=q)
            ).distinct()
        state = data["state"]
        if state in MessageState.values:
            qs = qs.filter(state=state)
        elif state:  # a recipient state: messages with at least one recipient in it
            qs = qs.filter(pk__in=Recipient.objects.filter(state=state).values("message_id"))
        if domain := data["domain"].strip().lower().rstrip("."):
            qs = qs.filter(pk__in=Recipient.objects.filter(domain=domain).values("message_id"))
        if data["date_from"]:
            qs = qs.filter(created_at__gte=_day_start(data["date_from"]))
        if data["date_to"]:
            qs = qs.filter(created_at__lt=_day_start(data["date_to"] + dt.timedelta(days=1)))
        if data["tls"]:
            delivered = qs.filter(attempts__outcome="delivered", attempts__tls=data["tls"] == "yes")
            qs = qs.filter(pk__in=delivered.values("pk"))
        return qs


def _day_start(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


@login_required
def message_list(request: HttpRequest) -> HttpResponse:
    form = TrackingFilter(request.GET or None)
    qs = form.apply(Message.objects.annotate(recipient_count=Count("recipients", distinct=True)))
    qs = qs.order_by("-created_at", "-id").prefetch_related("recipients")
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "form": form,
        "page_obj": page,
        "query": query.urlencode(),
        "breadcrumbs": [("Message tracking", None)],
    }
    return render(request, "relay/message_list.html", context)


@login_required
def message_detail(request: HttpRequest, queue_id: str) -> HttpResponse:
    message = get_object_or_404(Message, queue_id=queue_id)
    flow = message_flow(message)
    context = {
        "message": message,
        "recipients": message.recipients.select_related("dsn_message"),
        "attempts": message.attempts.all(),
        "headers": message_headers(message),
        "flow": flow,
        "secure_items": secure_items([m for _, m in flow] or [message]),
        "hop_limited": message.hold_reason.startswith("hop limit"),
        "breadcrumbs": [
            ("Message tracking", reverse("relay:message-list")),
            (message.queue_id, None),
        ],
    }
    return render(request, "relay/message_detail.html", context)


@login_required
@require_POST
def message_action(request: HttpRequest) -> HttpResponse:
    """POST action=retry|hold|release|bounce|delete, ids=<queue id>...; CSRF-protected."""
    action = request.POST.get("action", "")
    ids = request.POST.getlist("ids")
    chosen = list(Message.objects.filter(queue_id__in=ids))
    if action not in {*actions.ACTIONS, "delete"} or not chosen:
        messages.error(request, "Choose an action and at least one message.")
        return _back(request)
    busy = []
    for message in chosen:
        if action == "delete":
            if not actions.message_delete(message=message):
                busy.append(message)
        else:
            actions.ACTIONS[action](message=message)
    if busy:
        messages.warning(
            request,
            f"Not deleted, a worker is delivering them right now: "
            f"{', '.join(m.queue_id for m in busy)}. Hold them, or try again in a moment.",
        )
    handled = [m for m in chosen if m not in busy]
    label = {"retry": "Retry", "hold": "Hold", "release": "Release", "bounce": "Bounce"}
    done = "Deleted" if action == "delete" else f"{label[action]}:"
    if handled:
        messages.success(request, f"{done} {', '.join(m.queue_id for m in handled)}.")
    if action == "delete" and len(chosen) == 1 and not busy:
        return HttpResponseRedirect(reverse("relay:message-list"))
    return _back(request)


def _back(request: HttpRequest) -> HttpResponse:
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        target = reverse("relay:message-list")
    return HttpResponseRedirect(target or reverse("relay:message-list"))


def message_headers(message: Message) -> list[tuple[str, str]] | None:
    """The header fields as (name, unfolded value), read-only; None if the spool is gone."""
    try:
        with spool_open(message.spool_name) as stream:
            data = stream.read(HEADER_LIMIT)
    except (SpoolError, OSError):
        return None
    end = data.find(b"\r\n\r\n")
    block = data if end < 0 else data[: end + 2]
    fields: list[tuple[str, str]] = []
    for line in block.decode("utf-8", "replace").split("\r\n"):
        if line[:1] in (" ", "\t") and fields:  # RFC 5322 §2.2.3: unfold
            fields[-1] = (fields[-1][0], f"{fields[-1][1]} {line.strip()}")
        elif ":" in line:
            name, _, value = line.partition(":")
            fields.append((name, value.strip()))
    return fields


def message_flow(message: Message) -> list[tuple[int, Message]]:
    """The whole chain this message belongs to, as (depth, message) in tree order: from
    the first origin (parents followed up) down through every child (loop-back, DSN,
    notification), so one page shows the whole flow."""
    root = message
    seen = {root.pk}
    while root.parent_id is not None and len(seen) < CHAIN_LIMIT:
        parent = Message.objects.filter(pk=root.parent_id).first()
        if parent is None or parent.pk in seen:
            break
        seen.add(parent.pk)
        root = parent
    flow: list[tuple[int, Message]] = []
    stack: list[tuple[int, Message]] = [(0, root)]
    visited: set[int] = set()
    while stack and len(flow) < CHAIN_LIMIT:
        depth, node = stack.pop()
        if node.pk in visited:
            continue
        visited.add(node.pk)
        flow.append((depth, node))
        children = list(Message.objects.filter(parent_id=node.pk).order_by("-created_at", "-id"))
        stack.extend((depth + 1, child) for child in children)
    return flow if len(flow) > 1 else []


def secure_items(flow: list[Message]) -> list[Any]:
    """Secure Mailbox items made from a message of the flow or announced by one (if the app
    is in): the original's page shows the item its looped-back copy was redirected to."""
    try:
        model = apps.get_model("securemailbox", "SecureMessage")
    except LookupError:
        return []
    try:
        found = model.objects.filter(Q(message__in=flow) | Q(notification__in=flow))
        return list(found.select_related("message", "notification")[:50])
    except Exception:  # the app's tables may not exist yet (before its migration)
        return []
