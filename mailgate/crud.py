"""Generic Admin UI list/create/edit/delete views, shared by every configuration object.

Views stay thin: forms validate, models store. Deleting an object that is still in use is
refused with a message naming what uses it (models use on_delete=PROTECT)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.db.models import ProtectedError, Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.views import generic


class CrudMixin(LoginRequiredMixin):
    """Common context: the section title, the URL names and breadcrumbs."""

    title: str = ""
    url_prefix: str = ""  # e.g. "relay:route" → relay:route-list, -create, -edit, -delete
    section: str = ""

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        ctx = super().get_context_data(**kwargs)  # type: ignore[misc]
        ctx.update(
            title=self.title,
            singular=self.model._meta.verbose_name,  # type: ignore[attr-defined]
            url_prefix=self.url_prefix,
            list_url=reverse(f"{self.url_prefix}-list"),
            create_url=reverse(f"{self.url_prefix}-create"),
            breadcrumbs=[(self.section, None), (self.title, reverse(f"{self.url_prefix}-list"))],
        )
        return ctx


class CrudListView(CrudMixin, generic.ListView):
    template_name = "crud/list.html"
    search_fields: tuple[str, ...] = ("name",)
    paginate_by = 50
    columns: tuple[tuple[str, str], ...] = ()  # (label, attribute)

    def get_queryset(self) -> QuerySet[Any]:
        qs = super().get_queryset()
        term = self.request.GET.get("q", "").strip()
        if term:
            query = Q()
            for field in self.search_fields:
                query |= Q(**{f"{field}__icontains": term})
            qs = qs.filter(query)
        return qs

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        ctx = super().get_context_data(**kwargs)
        ctx["q"] = self.request.GET.get("q", "")
        ctx["columns"] = self.columns
        ctx["rows"] = [
            (obj, [getattr(obj, attr) for _, attr in self.columns]) for obj in ctx["object_list"]
        ]
        ctx["breadcrumbs"] = [*ctx["breadcrumbs"][:1], (self.title, None)]
        return ctx


class CrudFormMixin(CrudMixin):
    template_name: str | None = "crud/form.html"

    def get_success_url(self) -> str:
        return reverse(f"{self.url_prefix}-list")

    def form_valid(self, form: Any) -> HttpResponse:
        response = super().form_valid(form)  # type: ignore[misc]
        verb = "created" if getattr(self, "creating", False) else "saved"
        messages.success(self.request, f"'{self.object}' {verb}.")  # type: ignore[attr-defined]
        return response


class CrudCreateView(CrudFormMixin, generic.CreateView):
    creating = True


class CrudUpdateView(CrudFormMixin, generic.UpdateView):
    pass


class CrudDeleteView(CrudMixin, generic.DeleteView):
    template_name = "crud/confirm_delete.html"

    def get_success_url(self) -> str:
        return reverse(f"{self.url_prefix}-list")

    def refuse_reason(self, obj: Any) -> str | None:
        """A reason this object may not be deleted (built-in defaults), or None."""
        return None

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        obj = self.get_object()
        reason = self.refuse_reason(obj)
        if reason:
            messages.error(request, reason)
            return HttpResponseRedirect(self.get_success_url())
        try:
            obj.delete()
        except ProtectedError as exc:
            users = ", ".join(sorted({f"'{o}'" for o in exc.protected_objects})[:10])
            messages.error(request, f"'{obj}' is still in use by {users}; change those first.")
            return HttpResponseRedirect(self.get_success_url())
        messages.success(request, f"'{obj}' deleted.")
        return HttpResponseRedirect(self.get_success_url())
