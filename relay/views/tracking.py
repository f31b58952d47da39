"""Message tracking (placeholder until the relay work lands)."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from relay.models import Message


@login_required
def message_list(request: HttpRequest) -> HttpResponse:
    return render(
        request, "relay/message_list.html", {"messages_page": Message.objects.all()[:100]}
    )


@login_required
def message_detail(request: HttpRequest, queue_id: str) -> HttpResponse:
    message = get_object_or_404(Message, queue_id=queue_id)
    return render(request, "relay/message_detail.html", {"message": message})
