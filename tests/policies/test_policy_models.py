"""Policy rows ↔ engine specs, protected routes and profiles, and the version row."""

import pytest
from django.db.models import ProtectedError
from django.urls import reverse

from policies.engine import PolicySpec, describe_policy, reference_policies
from policies.models import (
    ContentPolicy,
    PolicyAction,
    PolicyCondition,
    PolicyVersion,
)
from policies.services import policy_from_spec
from relay.models import DeliveryRoute
from securemailbox.models import DeliveryProfile

pytestmark = pytest.mark.django_db


@pytest.fixture
def refs():
    profile = DeliveryProfile.objects.create(
        name="My delivery profile", notification_sender="secureMailer@yourdomain.com"
    )
    default, _ = DeliveryRoute.objects.get_or_create(name="Default")
    loopback = DeliveryRoute.objects.create(name="Loopback route", hosts=["127.0.0.1"])
    return profile, default, loopback


def _without_id(data):
    return {**data, "id": None}


def test_policy_1_built_from_rows_gives_the_reference_spec(refs):
    profile, _, _ = refs
    policy = ContentPolicy.objects.create(name="Policy 1", position=1)
    PolicyCondition.objects.create(
        policy=policy, section="if", kind="sender_ip", params={"values": ["127.0.0.1"]}
    )
    PolicyCondition.objects.create(
        policy=policy,
        section="except",
        position=0,
        kind="header",
        params={"values": [{"name": "X-SecureMailNotification", "value": None}]},
    )
    PolicyCondition.objects.create(
        policy=policy, section="except", position=1, join="or", kind="is_dsn"
    )
    PolicyAction.objects.create(policy=policy, kind="redirect_secure_mailbox", profile=profile)

    spec = PolicySpec.from_dict(policy.to_spec())

    expected = reference_policies("A")[0]
    assert spec.if_conditions == expected.if_conditions
    assert spec.except_conditions == expected.except_conditions
    assert spec.actions == expected.actions
    assert describe_policy(spec) == describe_policy(expected)


@pytest.mark.parametrize("index", [0, 1, 2, 3])
def test_every_reference_policy_round_trips_through_the_models(refs, index):
    original = reference_policies("B")[index]
    stored = policy_from_spec(original)
    stored = ContentPolicy.objects.get(pk=stored.pk)  # fresh rows, no cached objects

    back = PolicySpec.from_dict(stored.to_spec())

    assert _without_id(back.to_dict()) == _without_id(original.to_dict())
    assert back.id == stored.pk


def test_to_spec_follows_a_route_rename(refs):
    policy = policy_from_spec(reference_policies("B")[3])
    route = DeliveryRoute.objects.get(name="Loopback route")
    route.name = "Back to us"
    route.save()
    assert policy.to_spec()["then"] == [{"kind": "route", "params": {"route": "Back to us"}}]


def test_a_route_in_use_cannot_be_deleted_and_the_crud_says_why(refs, admin_client):
    policy_from_spec(reference_policies("B")[3])
    route = DeliveryRoute.objects.get(name="Loopback route")

    response = admin_client.post(reverse("relay:route-delete", args=[route.pk]), follow=True)

    assert DeliveryRoute.objects.filter(pk=route.pk).exists()
    text = response.content.decode()
    assert "still in use by" in text
    assert "delivery policy Send all outbound mail by the loopback route" in text


def test_a_profile_in_use_cannot_be_deleted(refs):
    profile, _, _ = refs
    policy_from_spec(reference_policies("A")[0])
    with pytest.raises(ProtectedError):
        profile.delete()


def test_deleting_a_policy_deletes_its_rows_and_frees_the_route(refs):
    policy = policy_from_spec(reference_policies("B")[3])
    policy.delete()
    assert not PolicyCondition.objects.exists()
    assert not PolicyAction.objects.exists()
    DeliveryRoute.objects.get(name="Loopback route").delete()


def _token():
    return PolicyVersion.current()


@pytest.mark.parametrize(
    "change",
    [
        lambda p: ContentPolicy.objects.filter(pk=p.pk).first().save(),
        lambda p: p.conditions.first().save(),
        lambda p: p.conditions.last().delete(),
        lambda p: p.actions.first().save(),
        lambda p: DeliveryRoute.objects.get(name="Default").save(),
        lambda p: DeliveryProfile.objects.get(name="My delivery profile").save(),
        lambda p: p.delete(),
    ],
    ids=["policy", "condition", "condition-delete", "action", "route", "profile", "delete"],
)
def test_every_change_bumps_the_version(refs, change):
    policy = policy_from_spec(reference_policies("A")[0])
    before = _token()
    number = PolicyVersion.objects.get().number
    change(policy)
    assert _token() != before
    assert PolicyVersion.objects.get().number > number
