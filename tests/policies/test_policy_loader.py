"""The compiled ruleset is cached under the version row and rebuilt after every change."""

import pytest

from policies import loader
from policies.engine import reference_policies
from policies.models import PolicyCondition
from policies.services import (
    policy_delete,
    policy_from_spec,
    policy_move,
    policy_set_enabled,
)
from relay.models import DeliveryRoute
from securemailbox.models import DeliveryProfile

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_cache():
    loader.clear_cache()
    yield
    loader.clear_cache()


@pytest.fixture
def setup_b():
    DeliveryProfile.objects.create(
        name="My delivery profile", notification_sender="secureMailer@yourdomain.com"
    )
    DeliveryRoute.objects.get_or_create(name="Default")
    DeliveryRoute.objects.create(name="Loopback route", hosts=["127.0.0.1"])
    return [policy_from_spec(spec) for spec in reference_policies("B")]


def _names(ruleset):
    return [p.spec.name for p in ruleset.policies]


def test_the_ruleset_holds_the_enabled_policies_in_order(setup_b):
    policy_set_enabled(policy=setup_b[1], enabled=False)
    ruleset = loader.get_ruleset()
    assert [p.spec.id for p in ruleset.policies] == [setup_b[0].pk, setup_b[2].pk, setup_b[3].pk]


def test_no_policies_is_an_empty_ruleset():
    assert loader.get_ruleset().policies == ()


def test_an_unchanged_ruleset_costs_one_query(setup_b, django_assert_num_queries):
    first = loader.get_ruleset()
    with django_assert_num_queries(1):
        again = loader.get_ruleset()
    assert again is first


@pytest.mark.parametrize(
    "change",
    [
        lambda ps: policy_set_enabled(policy=ps[0], enabled=False),
        lambda ps: policy_move(policy=ps[3], direction="up"),
        lambda ps: policy_delete(policy=ps[1]),
        lambda ps: PolicyCondition.objects.filter(policy=ps[0]).first().delete(),
        lambda ps: setattr(ps[2], "name", "Renamed") or ps[2].save(),
    ],
    ids=["disable", "move", "delete", "condition", "rename"],
)
def test_a_change_rebuilds_the_ruleset(setup_b, change):
    first = loader.get_ruleset()
    change(setup_b)
    assert loader.get_ruleset() is not first
    assert loader.get_ruleset().specs == loader.build_ruleset().specs


def test_a_route_rename_reaches_the_ruleset(setup_b):
    before = loader.get_ruleset()
    assert before.policies[3].actions[0].route == "Loopback route"
    route = DeliveryRoute.objects.get(name="Loopback route")
    route.name = "Back to Mailgate"
    route.save()
    assert loader.get_ruleset().policies[3].actions[0].route == "Back to Mailgate"


def test_a_profile_rename_reaches_the_ruleset(setup_b):
    loader.get_ruleset()
    profile = DeliveryProfile.objects.get(name="My delivery profile")
    profile.name = "Partners"
    profile.save()
    assert loader.get_ruleset().policies[0].actions[0].profile == "Partners"


def test_a_stored_policy_that_does_not_compile_fails_closed(setup_b):
    PolicyCondition.objects.filter(policy=setup_b[0], kind="sender_ip").update(
        params={"values": ["not an ip"]}
    )
    setup_b[0].save()
    with pytest.raises(loader.PolicyLoadError, match="Redirect looped-back mail"):
        loader.get_ruleset()
