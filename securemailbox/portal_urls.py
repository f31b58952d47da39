"""The recipient portal (pURLs), outside the Admin UI."""

urlpatterns: list = []
