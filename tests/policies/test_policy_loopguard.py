"""The loop check before a change is applied (issue 6): saving a policy enabled or saving an
enabled one disabled, enabling, disabling, moving and deleting are refused when they add loop
check errors, with the findings and an explicit "anyway"; harmless changes, and saves of a
policy that stays disabled, are not affected."""

import logging

import pytest
from django.urls import reverse

from policies.loopcheck import DSN_REDIRECTED, LOOP_ROUTE_UNCAUGHT, NOTIFICATION_REDIRECTED
from policies.loopcheck import NOTIFICATION_ROUTE_LOOPS as ROUTE_LOOPS
from policies.loopcheck.collect import loop_check_run
from policies.models import ContentPolicy
from policies.services import policy_create, policy_set_enabled
from policies.setup import SetupOptions, secure_setup
from policies.views.editor import FORCE
from relay.models import DeliveryRoute
from securemailbox.models import DeliveryProfile

pytestmark = pytest.mark.django_db

REDIRECT = "Redirect looped-back mail to the Secure Mailbox"
LOOPBACK = "Loopback route"
NAME = "Partner mail by the loopback route"
TO_PARTNER = {"kind": "recipient_address", "params": {"values": ["*@partner.example"]}}
NOT_LOOPED = {"kind": "sender_ip", "params": {"values": ["127.0.0.1"]}}
BY_LOOPBACK = [{"kind": "route", "params": {"route": LOOPBACK}}]


@pytest.fixture
def setup_a():
    """DESIGN.md's Setup A, built by the wizard's service: the loop check finds nothing."""
    secure_setup(
        options=SetupOptions(mode="A", local_domain="yourdomain.com", partners=("partner.example",))
    )
    assert loop_check_run().ok


def editor_data(*, enabled=True, **extra):
    """A last policy that routes partner mail back to Mailgate and stops: what comes back
    (a notification with its mark, too) is routed there again (NOTIFICATION_ROUTE_LOOPS)."""
    route = DeliveryRoute.objects.filter(name=LOOPBACK).first()
    data = {
        "name": NAME,
        "if-TOTAL_FORMS": "1",
        "if-INITIAL_FORMS": "0",
        "if-0-kind": "recipient_address",
        "if-0-values": "*@partner.example",
        "if-0-join": "and",
        "except-TOTAL_FORMS": "0",
        "except-INITIAL_FORMS": "0",
        "then-TOTAL_FORMS": "1",
        "then-INITIAL_FORMS": "0",
        "then-0-kind": "route",
        "then-0-route": str(route.pk) if route else "",
        "save": "1",
        **extra,
    }
    if enabled:
        data["enabled"] = "on"
    return data


def names():
    return list(ContentPolicy.objects.order_by("position").values_list("name", flat=True))


def tag_partner_mail():
    """A policy that only tags and goes on: adding or removing it changes no path."""
    return policy_create(
        name="Tag partner mail",
        if_conditions=[TO_PARTNER],
        actions=[{"kind": "add_tag", "params": {"tag": "partner"}}],
        continue_processing=True,
    )


def policy_1_data(**extra):
    """The editor form of Setup A's Policy 1 as stored (the redirect), to post changed."""
    profile = DeliveryProfile.objects.get(name="My delivery profile")
    return {
        "name": REDIRECT,
        "if-TOTAL_FORMS": "1",
        "if-INITIAL_FORMS": "1",
        "if-0-kind": "sender_ip",
        "if-0-values": "127.0.0.1",
        "if-0-join": "and",
        "except-TOTAL_FORMS": "2",
        "except-INITIAL_FORMS": "2",
        "except-0-kind": "header",
        "except-0-values": "X-SecureMailNotification",
        "except-0-join": "and",
        "except-1-kind": "is_dsn",
        "except-1-join": "or",
        "then-TOTAL_FORMS": "1",
        "then-INITIAL_FORMS": "1",
        "then-0-kind": "redirect_secure_mailbox",
        "then-0-profile": str(profile.pk),
        "save": "1",
        **extra,
    }


def uncaught_html(html):
    """The finding of looped-back mail that no policy redirects, named with its objects."""
    assert f'data-code="{LOOP_ROUTE_UNCAUGHT}"' in html
    assert "round and round until the hop limit" in html
    assert "<strong>Fix:</strong>" in html
    assert (
        f'title="Delivery route"><i class="bi bi-signpost-split" aria-hidden="true"></i> {LOOPBACK}'
        in html
    )
    assert 'title="Domain"><i class="bi bi-globe" aria-hidden="true"></i> partner.example' in html


def block_html(response):
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="loop-block"' in html
    return html


# --- The editor ----------------------------------------------------------------------------


def test_saving_enabled_is_refused_with_the_findings(admin_client, setup_a):
    response = admin_client.post(reverse("policies:policy-create"), editor_data())
    html = block_html(response)
    assert f'data-code="{ROUTE_LOOPS}"' in html
    assert "Not saved: this change would let mail loop or be lost" in html
    assert "<strong>Fix:</strong>" in html
    assert f'title="Delivery policy"><i class="bi bi-funnel" aria-hidden="true"></i> {NAME}' in html
    assert (
        f'title="Delivery route"><i class="bi bi-signpost-split" aria-hidden="true"></i> {LOOPBACK}'
        in html
    )
    assert f'name="{FORCE}"' in html and "Save anyway" in html
    assert "*@partner.example</textarea>" in html  # the form as it was posted
    assert not ContentPolicy.objects.filter(name=NAME).exists()
    assert loop_check_run().ok  # nothing of the refused save is left


def test_save_anyway_stores_it_and_says_so(admin_client, setup_a):
    response = admin_client.post(
        reverse("policies:policy-create"), editor_data(**{FORCE: "1"}), follow=True
    )
    html = response.content.decode()
    assert response.redirect_chain[-1][0] == reverse("policies:policy-list")
    assert f"&#x27;{NAME}&#x27; created." in html
    assert f"Done although the loop check finds new errors: {ROUTE_LOOPS}." in html
    assert ContentPolicy.objects.get(name=NAME).enabled
    assert f'data-code="{ROUTE_LOOPS}"' in html  # and the list shows it, as for any finding


def test_editing_an_enabled_policy_into_a_loop_is_refused_and_left_as_it_was(admin_client, setup_a):
    policy = policy_create(
        name=NAME, if_conditions=[TO_PARTNER], actions=BY_LOOPBACK, enabled=False
    )
    url = reverse("policies:policy-edit", args=[policy.pk])
    data = editor_data(name="Renamed", **{"if-INITIAL_FORMS": "1", "then-INITIAL_FORMS": "1"})
    html = block_html(admin_client.post(url, data))
    assert f"Edit delivery policy: {NAME}" in html  # the stored name, not the refused one
    policy.refresh_from_db()
    assert (policy.name, policy.enabled) == (NAME, False)


def test_a_harmless_save_is_not_affected(admin_client, setup_a):
    harmless = policy_create(
        name="Tag partner mail",
        if_conditions=[TO_PARTNER],
        actions=[{"kind": "add_tag", "params": {"tag": "partner"}}],
        continue_processing=True,
    )
    data = editor_data(name="Tag partner mail, renamed", continue_processing="on")
    data.update({"then-0-kind": "add_tag", "then-0-tag": "partner"})
    data.update({"if-INITIAL_FORMS": "1", "then-INITIAL_FORMS": "1"})
    response = admin_client.post(
        reverse("policies:policy-edit", args=[harmless.pk]), data, follow=True
    )
    html = response.content.decode()
    assert "&#x27;Tag partner mail, renamed&#x27; saved." in html
    assert "Done although" not in html and "new warnings" not in html
    assert 'id="loop-block"' not in html
    assert ContentPolicy.objects.get(pk=harmless.pk).name == "Tag partner mail, renamed"


def test_a_new_warning_is_shown_but_does_not_refuse_the_save(admin_client):
    """Policy 1 alone: nothing marks notifications yet, and bounces are not excepted, so
    either would be redirected if it came back (warnings: no route brings it back)."""
    profile = DeliveryProfile.objects.create(
        name="My delivery profile", notification_sender="secureMailer@yourdomain.com"
    )
    data = editor_data(  # the same form, with Policy 1's rows
        name="Policy 1",
        **{
            "if-0-kind": "sender_ip",
            "if-0-values": "127.0.0.1",
            "then-0-kind": "redirect_secure_mailbox",
            "then-0-profile": str(profile.pk),
        },
    )
    response = admin_client.post(reverse("policies:policy-create"), data, follow=True)
    html = response.content.decode()
    assert "&#x27;Policy 1&#x27; created." in html
    warned = f"The loop check has new warnings: {NOTIFICATION_REDIRECTED}, {DSN_REDIRECTED}."
    assert warned in html
    assert ContentPolicy.objects.get(name="Policy 1").enabled


def test_saving_a_disabled_policy_is_never_refused(admin_client, setup_a):
    response = admin_client.post(reverse("policies:policy-create"), editor_data(enabled=False))
    assert response.status_code == 302
    assert not ContentPolicy.objects.get(name=NAME).enabled


def test_only_new_errors_refuse_a_save(admin_client, setup_a):
    """The configuration is already broken (no redirect policy): a save that adds nothing new
    is not refused, so the admin can go on fixing it."""
    policy_set_enabled(policy=ContentPolicy.objects.get(name=REDIRECT), enabled=False)
    assert [f.code for f in loop_check_run().findings] == [LOOP_ROUTE_UNCAUGHT]
    data = editor_data(name="Tag partner mail", continue_processing="on")
    data.update({"then-0-kind": "add_tag", "then-0-tag": "partner"})
    response = admin_client.post(reverse("policies:policy-create"), data)
    assert response.status_code == 302
    assert ContentPolicy.objects.filter(name="Tag partner mail").exists()


# --- The toggle ----------------------------------------------------------------------------


def test_enabling_with_the_toggle_is_refused_then_done_anyway(admin_client, setup_a):
    policy = policy_create(
        name=NAME, if_conditions=[TO_PARTNER], actions=BY_LOOPBACK, enabled=False
    )
    url = reverse("policies:policy-toggle", args=[policy.pk])
    html = block_html(admin_client.post(url, {"enabled": "1"}))
    assert f"Enable &#x27;{NAME}&#x27;?" in html
    assert f'data-code="{ROUTE_LOOPS}"' in html
    assert f'<form method="post" action="{url}">' in html
    assert f'name="{FORCE}" value="1"' in html and 'name="enabled" value="1"' in html
    assert "Enable anyway" in html
    assert not ContentPolicy.objects.get(pk=policy.pk).enabled

    response = admin_client.post(url, {"enabled": "1", FORCE: "1"}, follow=True)
    html = response.content.decode()
    assert f"&#x27;{NAME}&#x27; enabled." in html
    assert f"Done although the loop check finds new errors: {ROUTE_LOOPS}." in html
    assert ContentPolicy.objects.get(pk=policy.pk).enabled


def test_disabling_policy_1_with_the_toggle_is_refused_then_done_anyway(
    admin_client, admin_user, setup_a, caplog
):
    """Without the redirect, mail the loopback route hands back is routed there again."""
    policy = ContentPolicy.objects.get(name=REDIRECT)
    url = reverse("policies:policy-toggle", args=[policy.pk])
    html = block_html(admin_client.post(url, {"enabled": "0"}))
    assert f"Disable &#x27;{REDIRECT}&#x27;?" in html
    uncaught_html(html)
    assert f'<form method="post" action="{url}">' in html
    assert f'name="{FORCE}" value="1"' in html and 'name="enabled" value="0"' in html
    assert "Disable anyway" in html
    assert ContentPolicy.objects.get(pk=policy.pk).enabled
    assert loop_check_run().ok

    with caplog.at_level(logging.WARNING, logger="policies.views.editor"):
        response = admin_client.post(url, {"enabled": "0", FORCE: "1"}, follow=True)
    html = response.content.decode()
    assert f"&#x27;{REDIRECT}&#x27; disabled." in html
    assert f"Done although the loop check finds new errors: {LOOP_ROUTE_UNCAUGHT}." in html
    assert not ContentPolicy.objects.get(pk=policy.pk).enabled
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (
            logging.WARNING,
            f"'{REDIRECT}' disabled by {admin_user} despite loop check errors: "
            f"{LOOP_ROUTE_UNCAUGHT}",
        )
    ]


def test_a_harmless_disable_is_not_affected(admin_client, setup_a):
    policy = tag_partner_mail()
    url = reverse("policies:policy-toggle", args=[policy.pk])
    response = admin_client.post(url, {"enabled": "0"}, follow=True)
    html = response.content.decode()
    assert "&#x27;Tag partner mail&#x27; disabled." in html
    assert "Done although" not in html and 'id="loop-block"' not in html
    assert not ContentPolicy.objects.get(pk=policy.pk).enabled


def test_saving_policy_1_disabled_is_refused_then_saved_anyway(admin_client, setup_a):
    policy = ContentPolicy.objects.get(name=REDIRECT)
    url = reverse("policies:policy-edit", args=[policy.pk])
    html = block_html(admin_client.post(url, policy_1_data()))  # "enabled" left unticked
    assert "Not saved: this change would let mail loop or be lost" in html
    uncaught_html(html)
    assert f'name="{FORCE}"' in html and "Save anyway" in html
    assert ContentPolicy.objects.get(pk=policy.pk).enabled

    response = admin_client.post(url, policy_1_data(**{FORCE: "1"}), follow=True)
    html = response.content.decode()
    assert f"&#x27;{REDIRECT}&#x27; saved." in html
    assert f"Done although the loop check finds new errors: {LOOP_ROUTE_UNCAUGHT}." in html
    assert not ContentPolicy.objects.get(pk=policy.pk).enabled


def test_saving_policy_1_still_enabled_is_not_affected(admin_client, setup_a):
    policy = ContentPolicy.objects.get(name=REDIRECT)
    data = policy_1_data(enabled="on", description="The vendor's Policy 1")
    response = admin_client.post(reverse("policies:policy-edit", args=[policy.pk]), data)
    assert response.status_code == 302
    assert ContentPolicy.objects.get(pk=policy.pk).description == "The vendor's Policy 1"


# --- Deleting ------------------------------------------------------------------------------


def test_deleting_policy_1_is_refused_then_done_anyway(admin_client, admin_user, setup_a, caplog):
    policy = ContentPolicy.objects.get(name=REDIRECT)
    before = names()
    url = reverse("policies:policy-delete", args=[policy.pk])
    html = block_html(admin_client.post(url))
    assert f"Delete &#x27;{REDIRECT}&#x27;?" in html
    uncaught_html(html)
    assert f'<form method="post" action="{url}">' in html
    assert f'name="{FORCE}" value="1"' in html and "Delete anyway" in html
    assert f'href="{reverse("policies:policy-edit", args=[policy.pk])}"' in html
    assert names() == before  # nothing of the refused delete is left, its rows neither
    assert ContentPolicy.objects.get(pk=policy.pk).conditions.count() == 3
    assert loop_check_run().ok

    with caplog.at_level(logging.WARNING, logger="policies.views.editor"):
        response = admin_client.post(url, {FORCE: "1"}, follow=True)
    html = response.content.decode()
    assert response.redirect_chain[-1][0] == reverse("policies:policy-list")
    assert f"&#x27;{REDIRECT}&#x27; deleted." in html
    assert f"Done although the loop check finds new errors: {LOOP_ROUTE_UNCAUGHT}." in html
    assert f'data-code="{LOOP_ROUTE_UNCAUGHT}"' in html  # the list shows it
    assert names() == before[1:]
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (
            logging.WARNING,
            f"'{REDIRECT}' deleted by {admin_user} despite loop check errors: "
            f"{LOOP_ROUTE_UNCAUGHT}",
        )
    ]


def test_a_harmless_delete_is_not_affected(admin_client, setup_a):
    policy = tag_partner_mail()
    before = names()
    response = admin_client.post(reverse("policies:policy-delete", args=[policy.pk]), follow=True)
    html = response.content.decode()
    assert "&#x27;Tag partner mail&#x27; deleted." in html
    assert "Done although" not in html and 'id="loop-block"' not in html
    assert names() == [n for n in before if n != "Tag partner mail"]


def test_deleting_a_policy_of_a_broken_setup_is_not_refused(admin_client, setup_a):
    """Only new errors refuse: with the redirect disabled, deleting it adds nothing new."""
    policy = ContentPolicy.objects.get(name=REDIRECT)
    policy_set_enabled(policy=policy, enabled=False)
    response = admin_client.post(reverse("policies:policy-delete", args=[policy.pk]))
    assert response.status_code == 302
    assert not ContentPolicy.objects.filter(pk=policy.pk).exists()


# --- Moving --------------------------------------------------------------------------------


def test_a_move_that_adds_an_error_is_refused_then_done_anyway(admin_client, setup_a):
    # Last, it routes only what Mailgate sends itself; above "Mark Secure Mailbox
    # notifications" it sends notifications back unmarked, to be redirected again.
    policy = policy_create(
        name=NAME, if_conditions=[TO_PARTNER], except_conditions=[NOT_LOOPED], actions=BY_LOOPBACK
    )
    assert loop_check_run().ok
    before = names()
    url = reverse("policies:policy-move", args=[policy.pk, "up"])
    html = block_html(admin_client.post(url))
    assert f'data-code="{NOTIFICATION_REDIRECTED}"' in html
    assert "Move up anyway" in html
    assert names() == before

    admin_client.post(url, {FORCE: "1"})
    assert names() == [*before[:2], NAME, before[2]]


def test_a_harmless_move_is_not_affected(admin_client, setup_a):
    policy = ContentPolicy.objects.get(name=REDIRECT)
    before = names()
    response = admin_client.post(reverse("policies:policy-move", args=[policy.pk, "down"]))
    assert response.status_code == 302
    assert names() == [before[1], before[0], *before[2:]]


# --- What counts as new ----------------------------------------------------------------------


def test_findings_added__same_key_is_not_new_an_upgraded_warning_is():
    from policies.loopcheck import ERROR, WARNING, Finding, LoopReport
    from policies.loopcheck.guard import findings_added

    def finding(severity, code, policy):
        return Finding(severity, code, "message", "fix", policies=(policy,))

    old = finding(ERROR, ROUTE_LOOPS, "P")
    warned = finding(WARNING, NOTIFICATION_REDIRECTED, "Q")
    before = LoopReport(findings=[old, warned])
    upgraded = finding(ERROR, NOTIFICATION_REDIRECTED, "Q")
    other = finding(ERROR, ROUTE_LOOPS, "R")  # the same problem, another policy: new
    new_warning = finding(WARNING, DSN_REDIRECTED, "P")
    after = LoopReport(findings=[old, upgraded, other, new_warning, warned])
    check = findings_added(before, after)
    assert check.new_errors == (upgraded, other)
    assert check.new_warnings == (new_warning,)
    assert not check.blocked
