from django.urls import path

from .views import editor, tester

app_name = "policies"

urlpatterns = [
    path("", editor.policy_list, name="policy-list"),
    path("new/", editor.policy_create, name="policy-create"),
    path("test/", tester.policy_test, name="policy-test"),
    path("<int:pk>/", editor.policy_edit, name="policy-edit"),
    path("<int:pk>/delete/", editor.policy_delete, name="policy-delete"),
    path("<int:pk>/toggle/", editor.policy_toggle, name="policy-toggle"),
    path("<int:pk>/move/<str:direction>/", editor.policy_move, name="policy-move"),
]
