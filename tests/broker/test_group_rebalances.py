"""Rebalances only where Kafka's coordinator has them: the shapes of
librdkafka's own tests 0102 (static_group_rebalance) and 0113
(cooperative_rebalance, l_unsubscribe), with confluent-kafka members in
their own processes against a broker with Kafka's default
group.initial.rebalance.delay.ms (3000 ms).

Those librdkafka tests count rebalance callbacks and rely on that delay:
with it, members that subscribe together join the group's first
generation together. With a delay of 0 the first member forms a
generation alone and the second one's join is a second rebalance, on
Kafka as on Sluice (the tests then fail on either), so the broker here
keeps the default.
"""

import time

import pytest

from clients import create_topic
from members import wait_until

# The first generation waits 3 s, 3 s more when a member joins meanwhile.
REBALANCE_WAIT_S = 60
# Longer than a session timeout and several metadata refreshes: a
# rebalance, had anything caused one, reaches the members by then.
QUIET_S = 10


@pytest.fixture
def default_group_broker(broker_factory):
    return broker_factory(overrides=["group.initial.rebalance.delay.ms=3000"])


def assigned(member):
    return [c for c in member.changes() if c["event"] == "assigned"]


def revoked(member):
    return [c for c in member.changes() if c["event"] == "revoked"]


@pytest.mark.timeout(120)
def test_two_static_members_rebalance_once_and_then_never(default_group_broker, topic_name, members):
    """0102's first step: two static members subscribe (by pattern, as
    0102 does) and keep polling; each gets one assignment, and nothing
    rebalances afterwards while both stay within their session and poll
    interval."""
    bootstrap = default_group_broker.bootstrap
    topic = topic_name("static")
    create_topic(bootstrap, topic, partitions=3)
    group = topic_name("g")
    settings = [
        "session.timeout.ms=6000",
        "max.poll.interval.ms=9000",
        "topic.metadata.refresh.interval.ms=2000",
        "metadata.max.age.ms=5000",
    ]
    pattern = f"^{topic}.*"
    one = members(bootstrap, pattern, group, settings + ["group.instance.id=consumer1"])
    two = members(bootstrap, pattern, group, settings + ["group.instance.id=consumer2"])
    wait_until(
        lambda: one.partitions() is not None and two.partitions() is not None,
        REBALANCE_WAIT_S,
        "both members' first assignment",
    )
    time.sleep(QUIET_S)
    assert [len(assigned(m)) for m in (one, two)] == [1, 1], (one.changes(), two.changes())
    assert revoked(one) == [] and revoked(two) == []
    assert sorted(one.partitions() + two.partitions()) == [0, 1, 2]


@pytest.mark.timeout(120)
def test_cooperative_members_that_join_together_get_one_assignment_each(
    default_group_broker, topic_name, members
):
    """0113 l_unsubscribe: two cooperative-sticky members subscribe one
    after the other; each gets its half in one assignment callback (no
    second generation). When one leaves, the other gets one more callback
    with the partitions it adds, and none revoking anything."""
    bootstrap = default_group_broker.bootstrap
    topic = topic_name("coop")
    create_topic(bootstrap, topic, partitions=4)
    group = topic_name("g")
    settings = ["partition.assignment.strategy=cooperative-sticky", "session.timeout.ms=6000"]
    first = members(bootstrap, topic, group, settings)
    second = members(bootstrap, topic, group, settings)
    wait_until(
        lambda: len(first.partitions() or []) == 2 and len(second.partitions() or []) == 2,
        REBALANCE_WAIT_S,
        "two partitions each",
    )
    time.sleep(QUIET_S)
    assert [len(assigned(m)) for m in (first, second)] == [1, 1], (first.changes(), second.changes())
    assert revoked(first) == [] and revoked(second) == []
    kept = second.partitions()

    first.close()
    wait_until(lambda: len(second.partitions() or []) == 4, REBALANCE_WAIT_S, "the survivor owns all")
    time.sleep(2)
    assert len(assigned(second)) == 2, second.changes()
    assert revoked(second) == [], "the survivor kept its partitions"
    assert set(kept) <= set(assigned(second)[1]["all"])
    assert len(assigned(second)[1]["partitions"]) == 2
