"""The delivery policy pages: login, list, create, edit, preview, delete, enable, move, tester."""

import pytest
from django.urls import reverse

from policies.engine import reference_policies
from policies.models import ContentPolicy
from policies.services import policy_from_spec
from relay.models import DeliveryRoute
from securemailbox.models import DeliveryProfile

pytestmark = pytest.mark.django_db

POLICY_1 = (
    "IF is sent from any of the IP addresses 127.0.0.1 EXCEPT IF message contains any of the "
    "headers: &#x27;X-SecureMailNotification&#x27; or message is a delivery status notification "
    "THEN Redirect to Secure Mailbox using &#x27;My delivery profile&#x27;"
)


@pytest.fixture
def profile():
    return DeliveryProfile.objects.create(
        name="My delivery profile", notification_sender="secureMailer@yourdomain.com"
    )


@pytest.fixture
def setup_a(profile):
    DeliveryRoute.objects.get_or_create(name="Default")
    return [policy_from_spec(spec) for spec in reference_policies("A")]


def editor_data(name, *, if_rows=(), except_rows=(), then_rows=(), initial=(0, 0, 0), **extra):
    data = {"name": name, "enabled": "on", **extra}
    for (prefix, rows), count in zip(
        (("if", if_rows), ("except", except_rows), ("then", then_rows)), initial, strict=True
    ):
        data[f"{prefix}-TOTAL_FORMS"] = str(len(rows))
        data[f"{prefix}-INITIAL_FORMS"] = str(count)
        for index, row in enumerate(rows):
            for key, value in row.items():
                data[f"{prefix}-{index}-{key}"] = value
    return data


def policy_1_data(profile, name="Policy 1", initial=(0, 0, 0)):
    return editor_data(
        name,
        if_rows=[{"kind": "sender_ip", "values": "127.0.0.1", "join": "and"}],
        except_rows=[
            {"kind": "header", "values": "X-SecureMailNotification", "join": "and"},
            {"kind": "is_dsn", "join": "or"},
        ],
        then_rows=[{"kind": "redirect_secure_mailbox", "profile": str(profile.pk)}],
        initial=initial,
    )


def _sentence_text(html):
    return html.replace('<span class="kw">', "").replace("</span>", "")


# --- Login ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["policies:policy-list", "policies:policy-create", "policies:policy-test"]
)
def test_pages_require_login(client, name):
    response = client.get(reverse(name))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("policies:policy-edit", [1]),
        ("policies:policy-delete", [1]),
        ("policies:policy-toggle", [1]),
        ("policies:policy-move", [1, "up"]),
    ],
)
def test_object_pages_and_posts_require_login(client, setup_a, name, args):
    pk = setup_a[0].pk
    args = [pk, *args[1:]]
    assert client.get(reverse(name, args=args)).status_code == 302
    assert client.post(reverse(name, args=args)).status_code == 302
    assert ContentPolicy.objects.filter(pk=pk, enabled=True).exists()


# --- The list -------------------------------------------------------------------------------------


def test_the_list_shows_each_policy_as_its_sentence_with_keywords(admin_client, setup_a):
    response = admin_client.get(reverse("policies:policy-list"))
    assert response.status_code == 200
    html = response.content.decode()
    assert '<span class="kw">EXCEPT IF</span>' in html
    assert '<span class="kw">THEN</span>' in html
    assert POLICY_1 in _sentence_text(html)
    assert "and continue processing" in html
    assert reverse("policies:policy-test") in html
    assert html.index("Redirect looped-back") < html.index("Mark Secure Mailbox notifications")


def test_a_value_that_looks_like_a_keyword_is_not_highlighted(admin_client, profile):
    policy_from_spec(
        {
            "id": 1,
            "name": "Odd subject",
            "if": [{"kind": "subject", "params": {"values": ["IF THEN <b>"]}}],
            "then": [{"kind": "add_tag", "params": {"tag": "odd"}}],
        }
    )
    html = admin_client.get(reverse("policies:policy-list")).content.decode()
    assert "&#x27;IF THEN &lt;b&gt;&#x27;" in html
    assert "<b>" not in html


def test_the_list_is_empty_without_policies(admin_client):
    html = admin_client.get(reverse("policies:policy-list")).content.decode()
    assert "No delivery policies yet" in html


# --- Create and edit ------------------------------------------------------------------------------


def test_the_editor_renders_empty_and_for_an_existing_policy(admin_client, setup_a):
    html = admin_client.get(reverse("policies:policy-create")).content.decode()
    assert 'id="add-if"' in html and 'id="add-except"' in html and 'id="add-then"' in html
    assert "policies/editor.js" in html
    html = admin_client.get(reverse("policies:policy-edit", args=[setup_a[1].pk])).content.decode()
    assert 'value="secureMailer*@yourdomain.com"' not in html  # a textarea, not an input
    assert "secureMailer*@yourdomain.com</textarea>" in html
    assert "and continue processing" in html
    assert 'id="policy-preview"' in html


def test_create_a_policy(admin_client, profile):
    response = admin_client.post(
        reverse("policies:policy-create"), policy_1_data(profile), follow=True
    )
    assert response.status_code == 200
    assert "&#x27;Policy 1&#x27; created." in response.content.decode()
    policy = ContentPolicy.objects.get(name="Policy 1")
    assert policy.position == 1
    assert [c.kind for c in policy.conditions.order_by("-section", "position")] == [
        "sender_ip",
        "header",
        "is_dsn",
    ]
    assert policy.actions.get().profile == profile
    assert POLICY_1 in _sentence_text(response.content.decode())


def test_preview_shows_the_sentence_and_saves_nothing(admin_client, profile):
    data = {**policy_1_data(profile), "preview": "1"}
    response = admin_client.post(reverse("policies:policy-create"), data)
    assert response.status_code == 200
    assert POLICY_1 in _sentence_text(response.content.decode())
    assert not ContentPolicy.objects.exists()


def test_edit_a_policy(admin_client, setup_a, profile):
    policy = setup_a[0]
    data = policy_1_data(profile, name="Renamed", initial=(1, 2, 1))
    data["except-1-DELETE"] = "on"
    data["continue_processing"] = "on"
    response = admin_client.post(reverse("policies:policy-edit", args=[policy.pk]), data)
    assert response.status_code == 302
    policy.refresh_from_db()
    assert policy.name == "Renamed"
    assert [c.kind for c in policy.conditions.filter(section="except")] == ["header"]


@pytest.mark.parametrize(
    ("change", "error"),
    [
        (
            {"if-0-values": "127.0.0.1\n300.1.1.1"},
            "Line 2: &#x27;300.1.1.1&#x27; is not an IP address",
        ),
        ({"except-0-values": "X Bad"}, "is not a header name"),
        ({"then-0-profile": ""}, "Required for this action."),
        ({"then-TOTAL_FORMS": "0"}, "THEN: needs at least one action"),
        ({"name": ""}, "This field is required."),
        ({"if-0-kind": "bogus"}, "Select a valid choice."),
        ({"if-TOTAL_FORMS": "x"}, "ManagementForm data is missing or has been tampered with"),
    ],
)
def test_invalid_input_is_a_page_with_errors_not_a_500(admin_client, profile, change, error):
    data = {**policy_1_data(profile), **change}
    response = admin_client.post(reverse("policies:policy-create"), data)
    assert response.status_code == 200
    assert error in response.content.decode()
    assert not ContentPolicy.objects.exists()


def test_a_duplicate_name_is_an_error(admin_client, setup_a, profile):
    data = policy_1_data(profile, name=setup_a[2].name.upper())
    response = admin_client.post(reverse("policies:policy-create"), data)
    assert response.status_code == 200
    assert "already used" in response.content.decode()


def test_editing_a_missing_policy_is_a_404(admin_client):
    assert admin_client.get(reverse("policies:policy-edit", args=[999])).status_code == 404


# --- Delete, enable, move -------------------------------------------------------------------------


def test_delete_asks_then_deletes(admin_client, setup_a):
    url = reverse("policies:policy-delete", args=[setup_a[1].pk])
    assert "Delete delivery policy" in admin_client.get(url).content.decode()
    response = admin_client.post(url, follow=True)
    assert "deleted." in response.content.decode()
    assert list(ContentPolicy.objects.values_list("position", flat=True)) == [1, 2]


def test_disable_and_enable(admin_client, setup_a):
    url = reverse("policies:policy-toggle", args=[setup_a[0].pk])
    admin_client.post(url, {"enabled": "0"})
    assert not ContentPolicy.objects.get(pk=setup_a[0].pk).enabled
    html = admin_client.get(reverse("policies:policy-list")).content.decode()
    assert 'data-action="enable"' in html
    admin_client.post(url, {"enabled": "1"})
    assert ContentPolicy.objects.get(pk=setup_a[0].pk).enabled


def test_toggle_and_move_refuse_get(admin_client, setup_a):
    assert (
        admin_client.get(reverse("policies:policy-toggle", args=[setup_a[0].pk])).status_code == 405
    )
    url = reverse("policies:policy-move", args=[setup_a[0].pk, "down"])
    assert admin_client.get(url).status_code == 405


def _order():
    return list(ContentPolicy.objects.order_by("position").values_list("name", flat=True))


def test_move_up_and_down(admin_client, setup_a):
    names = _order()
    admin_client.post(reverse("policies:policy-move", args=[setup_a[2].pk, "up"]))
    assert _order() == [names[0], names[2], names[1]]
    admin_client.post(reverse("policies:policy-move", args=[setup_a[2].pk, "down"]))
    assert _order() == names
    admin_client.post(reverse("policies:policy-move", args=[setup_a[0].pk, "up"]))  # first: no-op
    admin_client.post(reverse("policies:policy-move", args=[setup_a[2].pk, "sideways"]))
    assert _order() == names


def test_csrf_is_required_for_posts(client, admin_user, setup_a):
    from django.test import Client

    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(admin_user)
    response = csrf_client.post(reverse("policies:policy-toggle", args=[setup_a[0].pk]))
    assert response.status_code == 403


# --- The tester page ------------------------------------------------------------------------------

LOOPED = "From: alice@yourdomain.com\nTo: bob@partner.example\nSubject: Hello\n\nHi Bob\n"


def test_the_tester_runs_the_enabled_policies(admin_client, setup_a):
    response = admin_client.post(
        reverse("policies:policy-test"),
        {
            "message": LOOPED,
            "client_ip": "127.0.0.1",
            "sender": "alice@yourdomain.com",
            "recipients": "bob@partner.example",
        },
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "Redirect to Secure Mailbox</strong> using 'My delivery profile'" in html
    assert "fired, processing stopped" in html
    assert "not reached" in html
    assert "&quot;final&quot;: &quot;redirect&quot;" in html


def test_the_tester_takes_an_upload_and_chosen_policies(admin_client, setup_a):
    from django.core.files.uploadedfile import SimpleUploadedFile

    admin_client.post(reverse("policies:policy-toggle", args=[setup_a[2].pk]), {"enabled": "0"})
    upload = SimpleUploadedFile(
        "n.eml", b"From: secureMailer@yourdomain.com\r\nSubject: x\r\n\r\nhi\r\n"
    )
    response = admin_client.post(
        reverse("policies:policy-test"),
        {
            "upload": upload,
            "client_ip": "10.0.0.5",
            "sender": "secureMailer@yourdomain.com",
            "recipients": "bob@partner.example",
            "policies": [str(setup_a[2].pk)],
        },
    )
    html = response.content.decode()
    assert "X-SecureMailNotification: YES" in html


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"message": LOOPED, "client_ip": "1.2.3.999"}, "is not an IPv4 or IPv6 address"),
        ({"message": "", "client_ip": "127.0.0.1"}, "Paste a message or upload a file."),
        (
            {"message": LOOPED, "client_ip": "127.0.0.1", "recipients": ""},
            "This field is required.",
        ),
    ],
)
def test_the_tester_reports_bad_input(admin_client, setup_a, data, error):
    data = {"recipients": "bob@partner.example", "sender": "", **data}
    response = admin_client.post(reverse("policies:policy-test"), data)
    assert response.status_code == 200
    assert error in response.content.decode()


def test_the_tester_shows_what_could_not_be_read(admin_client, setup_a):
    response = admin_client.post(
        reverse("policies:policy-test"),
        {
            "message": "Received by hand\n" + LOOPED,
            "client_ip": "127.0.0.1",
            "sender": "alice@yourdomain.com",
            "recipients": "bob@partner.example",
        },
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="parse-notes"' in html
    assert "for the policies they count as absent" in html
    assert "the line &#x27;Received by hand&#x27; is not a header" in html
    assert "no header could be read: every header counts as absent" in html
    assert "Redirect to Secure Mailbox</strong>" in html  # evaluated, not refused
    assert "&quot;parse_notes&quot;: [" in html


def test_the_tester_evaluates_words_that_are_not_a_message(admin_client, setup_a):
    data = {"message": "just some words", "client_ip": "127.0.0.1", "sender": ""}
    response = admin_client.post(
        reverse("policies:policy-test"), {**data, "recipients": "bob@partner.example"}
    )
    html = response.content.decode()
    assert 'id="policy-test-result"' in html and 'id="parse-notes"' in html


def test_the_tester_shows_no_notes_for_a_clean_message(admin_client, setup_a):
    data = {"message": LOOPED, "client_ip": "127.0.0.1", "recipients": "bob@partner.example"}
    html = admin_client.post(reverse("policies:policy-test"), data).content.decode()
    assert 'id="policy-test-result"' in html and 'id="parse-notes"' not in html
