"""Admin UI views for the relay policies: login required, CRUD, refused deletes."""

import pytest
from django.urls import reverse

from relay.models import DeliveryRoute, ExternalDomain, SendingConnectionPolicy

pytestmark = pytest.mark.django_db

LIST_URLS = ["relay:sendingpolicy-list", "relay:route-list", "relay:domain-list"]


@pytest.mark.parametrize(
    "name",
    [*LIST_URLS, "relay:sendingpolicy-create", "relay:route-create", "relay:domain-create"],
)
def test_admin_pages_require_login(client, name):
    response = client.get(reverse(name))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_dashboard_requires_login(client):
    assert client.get("/").status_code == 302


@pytest.mark.parametrize("name", LIST_URLS)
def test_list_pages_render_with_navigation(admin_client, name):
    response = admin_client.get(reverse(name))
    assert response.status_code == 200
    body = response.content.decode()
    for label in [
        "Relay Policies",
        "Sending Connection Policies",
        "Delivery Routes",
        "External Domains/Hosts",
        "Delivery policies",
        "Secure Mailbox",
        "Message tracking",
    ]:
        assert label in body


def test_create_edit_search_and_delete_a_route(admin_client):
    response = admin_client.post(
        reverse("relay:route-create"),
        {"name": "Loopback route", "use_dns_first": "on", "hosts_text": "127.0.0.1"},
        follow=True,
    )
    assert "&#x27;Loopback route&#x27; created." in response.content.decode()
    route = DeliveryRoute.objects.get(name="Loopback route")
    assert route.hosts == ["127.0.0.1"]
    admin_client.post(
        reverse("relay:route-edit", args=[route.pk]),
        {"name": "Loopback route", "use_dns_first": "on", "hosts_text": "127.0.0.1:2525"},
    )
    route.refresh_from_db()
    assert route.hosts == ["127.0.0.1:2525"]
    found = admin_client.get(reverse("relay:route-list"), {"q": "loopback"}).content.decode()
    assert "Loopback route" in found
    missing = admin_client.get(reverse("relay:route-list"), {"q": "nothing-like-it"})
    assert "Loopback route" not in missing.content.decode()
    admin_client.post(reverse("relay:route-delete", args=[route.pk]))
    assert not DeliveryRoute.objects.filter(name="Loopback route").exists()


def test_invalid_post_shows_form_errors_not_a_500(admin_client):
    response = admin_client.post(reverse("relay:route-create"), {"name": "", "hosts_text": "[::1"})
    assert response.status_code == 200
    body = response.content.decode()
    assert "missing" in body and "This field is required." in body


def test_delete_in_use_is_refused_with_a_message(admin_client):
    route = DeliveryRoute.objects.create(name="Partner route", hosts=["192.0.2.1"])
    policy = SendingConnectionPolicy.objects.create(name="Require TLS", require_tls=True)
    ExternalDomain.objects.create(domain="partner.example", route=route, sending_policy=policy)
    response = admin_client.post(reverse("relay:route-delete", args=[route.pk]), follow=True)
    assert "still in use by &#x27;partner.example&#x27;" in response.content.decode()
    assert DeliveryRoute.objects.filter(pk=route.pk).exists()
    response = admin_client.post(
        reverse("relay:sendingpolicy-delete", args=[policy.pk]), follow=True
    )
    assert "still in use" in response.content.decode()
    assert SendingConnectionPolicy.objects.filter(pk=policy.pk).exists()


def test_builtin_defaults_cannot_be_deleted(admin_client):
    default = SendingConnectionPolicy.objects.get(name="Default")
    response = admin_client.post(
        reverse("relay:sendingpolicy-delete", args=[default.pk]), follow=True
    )
    assert "built-in default" in response.content.decode()
    assert SendingConnectionPolicy.objects.filter(pk=default.pk).exists()


def test_csrf_is_enforced(client, admin_user):
    from django.test import Client

    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(admin_user)
    response = csrf_client.post(reverse("relay:route-create"), {"name": "x", "use_dns_first": "on"})
    assert response.status_code == 403
    assert not DeliveryRoute.objects.filter(name="x").exists()


def test_static_assets_are_served_locally(client):
    from django.contrib.staticfiles import finders

    assert finders.find("vendor/bootstrap.min.css")
    assert finders.find("vendor/bootstrap.bundle.min.js")
    login = client.get(reverse("login")).content.decode()
    assert "cdn" not in login.lower()
    assert "/static/vendor/bootstrap.min.css" in login


def _entry(domain, **over):
    fields = {
        "domain": domain,
        "route": DeliveryRoute.objects.get(name="Default"),
        "sending_policy": SendingConnectionPolicy.objects.get(name="Default"),
    }
    fields.update(over)
    return ExternalDomain.objects.create(**fields)


def _list(admin_client, name, q=None):
    params = {} if q is None else {"q": q}
    response = admin_client.get(reverse(name), params)
    assert response.status_code == 200
    return response.content.decode()


def test_domain_list__shows_an_idn_in_both_forms(admin_client):
    _entry("xn--bcher-kva.example")
    _entry("plain.example")
    body = _list(admin_client, "relay:domain-list")
    assert ">bücher.example (xn--bcher-kva.example)</a>" in body
    assert ">plain.example</a>" in body


@pytest.mark.parametrize(
    "term", ["bücher", "Bücher.example", "BÜCHER.EXAMPLE.", "xn--bcher", "kva.exa"]
)
def test_domain_list__search_by_u_label_or_a_label_finds_the_stored_entry(admin_client, term):
    _entry("xn--bcher-kva.example")
    _entry("partner.example")
    body = _list(admin_client, "relay:domain-list", term)
    assert ">bücher.example (xn--bcher-kva.example)</a>" in body
    assert "partner.example" not in body


def test_domain_list__search_covers_comment_route_and_policy(admin_client):
    route = DeliveryRoute.objects.create(name="Partner route", hosts=["192.0.2.1"])
    policy = SendingConnectionPolicy.objects.create(name="Strict TLS", require_tls=True)
    _entry("routed.example", route=route)
    _entry("strict.example", sending_policy=policy)
    _entry("noted.example", comment="Contract 42 (Müller AG)")
    assert "routed.example" in _list(admin_client, "relay:domain-list", "partner ROUTE")
    found = _list(admin_client, "relay:domain-list", "strict tls")
    assert "strict.example" in found and "routed.example" not in found
    found = _list(admin_client, "relay:domain-list", "müller")  # non-ASCII, not a domain
    assert "noted.example" in found and "strict.example" not in found
    missing = _list(admin_client, "relay:domain-list", "nothing-like-it")
    assert "Nothing here yet." in missing


def test_domain_list__search_with_an_invalid_domain_term_is_not_an_error(admin_client):
    _entry("partner.example")
    body = _list(admin_client, "relay:domain-list", "ü ü")
    assert "Nothing here yet." in body


def test_sending_policy_list__search_by_name(admin_client):
    SendingConnectionPolicy.objects.create(name="Partner strict", require_tls=True)
    SendingConnectionPolicy.objects.create(name="Opportunistic", require_tls=False)
    everything = _list(admin_client, "relay:sendingpolicy-list")
    assert all(f">{n}</a>" in everything for n in ["Partner strict", "Opportunistic", "Default"])
    found = _list(admin_client, "relay:sendingpolicy-list", "STRICT")
    assert ">Partner strict</a>" in found
    assert ">Opportunistic</a>" not in found and ">Default</a>" not in found
    missing = _list(admin_client, "relay:sendingpolicy-list", "nothing-like-it")
    assert "</a></td>" not in missing and "Nothing here yet." in missing


def test_domain_edit__shows_the_u_label_and_names_the_a_label(admin_client):
    entry = _entry("xn--bcher-kva.example")
    body = admin_client.get(reverse("relay:domain-edit", args=[entry.pk])).content.decode()
    assert 'value="bücher.example"' in body
    assert "Stored in its A-label form: xn--bcher-kva.example." in body


def test_route_form__page_loads_the_reorder_script_and_keeps_the_textarea(admin_client):
    route = DeliveryRoute.objects.create(name="Two hosts", hosts=["192.0.2.1", "[::1]:2525"])
    for url in [reverse("relay:route-create"), reverse("relay:route-edit", args=[route.pk])]:
        body = admin_client.get(url).content.decode()
        assert '<script src="/static/relay/route_hosts.js"></script>' in body
        assert '<textarea name="hosts_text"' in body
    assert "192.0.2.1\n[::1]:2525</textarea>" in body


def test_route_reorder_script_is_served_locally(client):
    from django.contrib.staticfiles import finders

    path = finders.find("relay/route_hosts.js")
    assert path
    with open(path, encoding="utf-8") as script:
        text = script.read()
    assert "id_hosts_text" in text and "http" not in text
