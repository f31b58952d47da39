from django.urls import path

from relay.views import config, tracking

app_name = "relay"

urlpatterns = [
    path("sending-policies/", config.SendingPolicyList.as_view(), name="sendingpolicy-list"),
    path(
        "sending-policies/new/", config.SendingPolicyCreate.as_view(), name="sendingpolicy-create"
    ),
    path(
        "sending-policies/<int:pk>/",
        config.SendingPolicyUpdate.as_view(),
        name="sendingpolicy-edit",
    ),
    path(
        "sending-policies/<int:pk>/delete/",
        config.SendingPolicyDelete.as_view(),
        name="sendingpolicy-delete",
    ),
    path("routes/", config.RouteList.as_view(), name="route-list"),
    path("routes/new/", config.RouteCreate.as_view(), name="route-create"),
    path("routes/<int:pk>/", config.RouteUpdate.as_view(), name="route-edit"),
    path("routes/<int:pk>/delete/", config.RouteDelete.as_view(), name="route-delete"),
    path("external/", config.DomainList.as_view(), name="domain-list"),
    path("external/new/", config.DomainCreate.as_view(), name="domain-create"),
    path("external/<int:pk>/", config.DomainUpdate.as_view(), name="domain-edit"),
    path("external/<int:pk>/delete/", config.DomainDelete.as_view(), name="domain-delete"),
    path("messages/", tracking.message_list, name="message-list"),
    path("messages/actions/", tracking.message_action, name="message-action"),
    path("messages/<str:queue_id>/", tracking.message_detail, name="message-detail"),
]
