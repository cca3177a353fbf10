"""AlterConfigs and IncrementalAlterConfigs through confluent-kafka's
AdminClient: every operation, validate_only, refusals naming the key, broker
resources, and a change the broker applies at once (max.message.bytes)."""

import pytest
from confluent_kafka import KafkaError, KafkaException, Producer
from confluent_kafka.admin import (
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ConfigSource,
    ResourceType,
)

from clients import OP_TIMEOUT_S, Deliveries, admin, create_topic, flush


def overrides(client, topic):
    """The topic's configs whose source is DYNAMIC_TOPIC_CONFIG."""
    resource = ConfigResource(ResourceType.TOPIC, topic)
    configs = client.describe_configs([resource])[resource].result(timeout=OP_TIMEOUT_S)
    return {
        name: entry.value
        for name, entry in configs.items()
        if entry.source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value
    }


def incremental(client, topic, *entries, validate_only=False):
    resource = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=list(entries))
    futures = client.incremental_alter_configs([resource], validate_only=validate_only)
    return futures[resource].result(timeout=OP_TIMEOUT_S)


def op(name, value, kind):
    return ConfigEntry(name, value, incremental_operation=kind)


@pytest.mark.timeout(120)
def test_incremental_operations_and_validate_only(broker, topic_name):
    client = admin(broker.bootstrap)
    topic = topic_name("alter")
    create_topic(broker.bootstrap, topic, config={"retention.ms": "5000"})

    incremental(client, topic, op("segment.ms", "60000", AlterConfigOpType.SET), validate_only=True)
    assert overrides(client, topic) == {"retention.ms": "5000"}

    incremental(
        client,
        topic,
        op("segment.ms", "60000", AlterConfigOpType.SET),
        op("retention.ms", None, AlterConfigOpType.DELETE),
        op("cleanup.policy", "compact", AlterConfigOpType.APPEND),
    )
    assert overrides(client, topic) == {"segment.ms": "60000", "cleanup.policy": "delete,compact"}
    incremental(client, topic, op("cleanup.policy", "delete", AlterConfigOpType.SUBTRACT))
    assert overrides(client, topic)["cleanup.policy"] == "compact"

    for entry, named in (
        (op("retention.msx", "1", AlterConfigOpType.SET), "retention.msx"),
        (op("retention.ms", "soon", AlterConfigOpType.SET), "retention.ms"),
        (op("retention.ms", "1", AlterConfigOpType.APPEND), "retention.ms"),
    ):
        with pytest.raises(KafkaException) as refused:
            incremental(client, topic, entry)
        error = refused.value.args[0]
        assert error.code() == KafkaError.INVALID_CONFIG, error
        assert named in error.str(), error
    # Nothing of a refused request changed.
    assert overrides(client, topic) == {"segment.ms": "60000", "cleanup.policy": "compact"}

    with pytest.raises(KafkaException) as unknown:
        incremental(client, topic_name("missing"), op("retention.ms", "1", AlterConfigOpType.SET))
    assert unknown.value.args[0].code() == KafkaError.UNKNOWN_TOPIC_OR_PART


@pytest.mark.timeout(120)
@pytest.mark.filterwarnings("ignore:alter_configs has been deprecated")
def test_legacy_alter_replaces_every_override(broker, topic_name):
    client = admin(broker.bootstrap)
    topic = topic_name("legacy")
    create_topic(broker.bootstrap, topic, config={"retention.ms": "5000", "segment.ms": "60000"})
    resource = ConfigResource(ResourceType.TOPIC, topic, set_config={"retention.bytes": "100000"})
    client.alter_configs([resource])[resource].result(timeout=OP_TIMEOUT_S)
    assert overrides(client, topic) == {"retention.bytes": "100000"}

    bad = ConfigResource(ResourceType.TOPIC, topic, set_config={"max.message.bytes": "-5"})
    with pytest.raises(KafkaException) as refused:
        client.alter_configs([bad])[bad].result(timeout=OP_TIMEOUT_S)
    assert refused.value.args[0].code() == KafkaError.INVALID_CONFIG
    assert "max.message.bytes" in refused.value.args[0].str()


@pytest.mark.timeout(120)
@pytest.mark.filterwarnings("ignore:alter_configs has been deprecated")
def test_broker_resources_are_static(broker):
    client = admin(broker.bootstrap)
    # A request naming no key changes nothing and succeeds.
    empty = ConfigResource(ResourceType.BROKER, "0", set_config={})
    client.alter_configs([empty])[empty].result(timeout=OP_TIMEOUT_S)
    change = ConfigResource(
        ResourceType.BROKER,
        "0",
        incremental_configs=[op("log.retention.ms", "5", AlterConfigOpType.SET)],
    )
    with pytest.raises(KafkaException) as refused:
        client.incremental_alter_configs([change])[change].result(timeout=OP_TIMEOUT_S)
    assert refused.value.args[0].code() == KafkaError.INVALID_REQUEST
    assert "log.retention.ms" in refused.value.args[0].str()


@pytest.mark.timeout(120)
def test_max_message_bytes_applies_to_the_next_produce(broker, topic_name):
    client = admin(broker.bootstrap)
    topic = topic_name("limit")
    create_topic(broker.bootstrap, topic)

    def produce(size):
        deliveries = Deliveries()
        producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 0})
        producer.produce(topic, value=b"x" * size, on_delivery=deliveries)
        flush(producer)
        return deliveries

    assert produce(4000).failed == []
    incremental(client, topic, op("max.message.bytes", "1024", AlterConfigOpType.SET))
    refused = produce(4000)
    assert [e.code() for e, _ in refused.failed] == [KafkaError.MSG_SIZE_TOO_LARGE], refused.failed
    assert produce(100).failed == []
