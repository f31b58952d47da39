"""Admin UI URLs of the Secure Mailbox (login required)."""

from django.urls import path

from .views import admin

app_name = "securemailbox"

urlpatterns = [
    path("", admin.ItemList.as_view(), name="index"),
    path("items/<int:pk>/", admin.ItemDetail.as_view(), name="item-detail"),
    path("items/<int:pk>/revoke/", admin.item_revoke, name="item-revoke"),
    path("items/<int:pk>/extend/", admin.item_extend, name="item-extend"),
    path("items/<int:pk>/resend/", admin.item_resend, name="item-resend"),
    path("profiles/", admin.ProfileList.as_view(), name="profile-list"),
    path("profiles/new/", admin.ProfileCreate.as_view(), name="profile-create"),
    path("profiles/<int:pk>/", admin.ProfileUpdate.as_view(), name="profile-edit"),
    path("profiles/<int:pk>/delete/", admin.ProfileDelete.as_view(), name="profile-delete"),
]
