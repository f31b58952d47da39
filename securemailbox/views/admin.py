"""Admin UI: Secure Mailbox items (list, detail, revoke/extend/resend) and delivery profiles."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.mixins import LoginRequiredMixin
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.views import generic
from django.views.decorators.http import require_POST

from mailgate.crud import CrudCreateView, CrudDeleteView, CrudListView, CrudUpdateView

from ..forms import DeliveryProfileForm, ExtendForm
from ..models import DeliveryProfile, ItemState, SecureMessage
from ..services import securemessage_extend, securemessage_resend, securemessage_revoke

SECTION = "Secure Mailbox"


class ItemList(LoginRequiredMixin, generic.ListView):
    template_name = "securemailbox/item_list.html"
    paginate_by = 50

    def get_queryset(self) -> QuerySet[SecureMessage]:
        qs = SecureMessage.objects.select_related("profile")
        term = self.request.GET.get("q", "").strip()
        if term:
            qs = qs.filter(
                Q(recipient_address__icontains=term)
                | Q(sender__icontains=term)
                | Q(header_from__icontains=term)
                | Q(subject__icontains=term)
                | Q(queue_id__iexact=term)
            )
        state = self.request.GET.get("state", "")
        if state in ItemState.values:
            qs = qs.filter(state=state)
        return qs

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        ctx = super().get_context_data(**kwargs)
        ctx.update(
            q=self.request.GET.get("q", ""),
            state=self.request.GET.get("state", ""),
            states=ItemState.choices,
            subnav="items",
            breadcrumbs=[(SECTION, None), ("Items", None)],
        )
        return ctx


class ItemDetail(LoginRequiredMixin, generic.DetailView):
    model = SecureMessage
    template_name = "securemailbox/item_detail.html"
    context_object_name = "item"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        ctx = super().get_context_data(**kwargs)
        ctx.update(
            extend_form=ExtendForm(),
            subnav="items",
            breadcrumbs=[
                (SECTION, None),
                ("Items", reverse("securemailbox:index")),
                (str(self.object), None),
            ],
        )
        return ctx


def _back(item: SecureMessage) -> HttpResponse:
    return HttpResponseRedirect(reverse("securemailbox:item-detail", args=[item.pk]))


@login_required
@require_POST
def item_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    item = get_object_or_404(SecureMessage, pk=pk)
    if securemessage_revoke(item=item):
        messages.success(request, "Revoked: the pURL no longer opens the message.")
    else:
        messages.error(request, "This item cannot be revoked in its state.")
    return _back(item)


@login_required
@require_POST
def item_extend(request: HttpRequest, pk: int) -> HttpResponse:
    item = get_object_or_404(SecureMessage, pk=pk)
    form = ExtendForm(request.POST)
    if form.is_valid() and securemessage_extend(item=item, days=form.cleaned_data["days"]):
        messages.success(request, f"Expiry extended by {form.cleaned_data['days']} day(s).")
    else:
        messages.error(request, "The expiry could not be extended (revoked or purged?).")
    return _back(item)


@login_required
@require_POST
def item_resend(request: HttpRequest, pk: int) -> HttpResponse:
    item = get_object_or_404(SecureMessage, pk=pk)
    if securemessage_resend(item=item):
        messages.success(request, "A new notification was sent; the previous pURL is invalid.")
    else:
        messages.error(request, "Only an active, unexpired item can be sent again.")
    return _back(item)


class ProfileMixin:
    model: Any = DeliveryProfile
    form_class: Any = DeliveryProfileForm
    title = "Delivery profiles"
    url_prefix = "securemailbox:profile"
    section = SECTION

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        ctx = super().get_context_data(**kwargs)  # type: ignore[misc]
        ctx["subnav"] = "profiles"
        return ctx


class ProfileList(ProfileMixin, CrudListView):
    template_name = "securemailbox/profile_list.html"
    search_fields = ("name", "notification_sender", "organisation_name")
    columns = (
        ("Name", "name"),
        ("Notification sender", "notification_sender"),
        ("Verification", "get_verification_display"),
        ("Expiry (days)", "expiry_days"),
        ("Secure reply", "allow_reply"),
        ("Attachments", "allow_attachment_download"),
    )

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        ctx = super().get_context_data(**kwargs)
        ctx["rows"] = [
            (obj, [v() if callable(v) else v for v in values]) for obj, values in ctx["rows"]
        ]
        return ctx


class ProfileFormMixin(ProfileMixin):
    template_name: Any = "securemailbox/profile_form.html"

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if "preview" in request.POST:  # show the preview of what was typed, save nothing
            self.object = self.get_object() if kwargs.get("pk") else None  # type: ignore[attr-defined]
            form = self.get_form()  # type: ignore[attr-defined]
            form.is_valid()
            return self.render_to_response(self.get_context_data(form=form))  # type: ignore[attr-defined]
        return super().post(request, *args, **kwargs)  # type: ignore[misc]


class ProfileCreate(ProfileFormMixin, CrudCreateView):
    pass


class ProfileUpdate(ProfileFormMixin, CrudUpdateView):
    pass


class ProfileDelete(ProfileMixin, CrudDeleteView):
    pass
