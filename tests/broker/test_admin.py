"""confluent-kafka's AdminClient on the topic APIs beyond creation:
describe and delete topics, create partitions, describe configs (topic and
broker) and delete records."""

import pytest
from confluent_kafka import KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import ConfigResource, NewPartitions, NewTopic, ResourceType

from clients import OP_TIMEOUT_S, Deliveries, admin, create_topic, flush, watermarks

KW = dict(request_timeout=OP_TIMEOUT_S)


def error_code(future):
    try:
        future.result(timeout=OP_TIMEOUT_S)
        return None
    except KafkaException as e:
        return e.args[0].code()


@pytest.mark.timeout(90)
def test_delete_topics_and_create_partitions(broker, topic_name):
    client = admin(broker.bootstrap)
    grow, doomed, absent = topic_name("grow"), topic_name("doomed"), topic_name("never-created")
    create_topic(broker.bootstrap, grow, partitions=2)
    create_topic(broker.bootstrap, doomed, partitions=1)

    futures = client.create_partitions([NewPartitions(grow, 5)], operation_timeout=OP_TIMEOUT_S, **KW)
    assert error_code(futures[grow]) is None
    assert len(client.list_topics(timeout=OP_TIMEOUT_S).topics[grow].partitions) == 5
    # Shrinking is refused, and changes nothing.
    futures = client.create_partitions([NewPartitions(grow, 3)], operation_timeout=OP_TIMEOUT_S, **KW)
    assert error_code(futures[grow]) == KafkaError.INVALID_PARTITIONS
    # The new partitions take writes.
    producer = Producer({"bootstrap.servers": broker.bootstrap})
    deliveries = Deliveries()
    for partition in range(5):
        producer.produce(grow, value=b"v%d" % partition, partition=partition, on_delivery=deliveries)
    flush(producer)
    assert sorted(p for p, _, _, _ in deliveries.acked) == [0, 1, 2, 3, 4]
    assert not deliveries.failed

    futures = client.delete_topics([doomed, absent], operation_timeout=OP_TIMEOUT_S, **KW)
    assert error_code(futures[doomed]) is None
    assert error_code(futures[absent]) == KafkaError.UNKNOWN_TOPIC_OR_PART
    assert doomed not in client.list_topics(timeout=OP_TIMEOUT_S).topics
    # The name can be used again, and the new topic starts empty.
    create_topic(broker.bootstrap, doomed, partitions=1)
    assert watermarks(broker.bootstrap, doomed, 0) == (0, 0)


@pytest.mark.timeout(90)
def test_describe_configs_topic_and_broker(broker, topic_name):
    client = admin(broker.bootstrap)
    name = topic_name("configured")
    create_topic(broker.bootstrap, name, partitions=1, config={"retention.ms": "123456"})

    topic = ConfigResource(ResourceType.TOPIC, name)
    entries = client.describe_configs([topic], **KW)[topic].result(timeout=OP_TIMEOUT_S)
    assert entries["retention.ms"].value == "123456"
    assert entries["retention.ms"].source == 1  # DYNAMIC_TOPIC_CONFIG
    assert entries["segment.bytes"].value == "1073741824"
    assert entries["segment.bytes"].source == 5  # DEFAULT_CONFIG
    assert entries["cleanup.policy"].value == "delete"

    broker_resource = ConfigResource(ResourceType.BROKER, "0")
    entries = client.describe_configs([broker_resource], **KW)[broker_resource].result(timeout=OP_TIMEOUT_S)
    assert entries["num.partitions"].value == "1"
    assert entries["auto.create.topics.enable"].value == "true"

    unknown = ConfigResource(ResourceType.TOPIC, topic_name("absent"))
    assert error_code(client.describe_configs([unknown], **KW)[unknown]) == KafkaError.UNKNOWN_TOPIC_OR_PART


@pytest.mark.timeout(90)
def test_delete_records_moves_the_low_watermark(broker, topic_name):
    client = admin(broker.bootstrap)
    name = topic_name("trimmed")
    create_topic(broker.bootstrap, name, partitions=1)
    producer = Producer({"bootstrap.servers": broker.bootstrap})
    for i in range(50):
        producer.produce(name, value=b"%d" % i, partition=0)
    flush(producer)
    assert watermarks(broker.bootstrap, name, 0) == (0, 50)

    futures = client.delete_records([TopicPartition(name, 0, 20)], operation_timeout=OP_TIMEOUT_S, **KW)
    result = list(futures.values())[0].result(timeout=OP_TIMEOUT_S)
    assert result.low_watermark == 20
    assert watermarks(broker.bootstrap, name, 0) == (20, 50)
    # Past the high watermark is refused.
    futures = client.delete_records([TopicPartition(name, 0, 500)], operation_timeout=OP_TIMEOUT_S, **KW)
    assert error_code(list(futures.values())[0]) == KafkaError.OFFSET_OUT_OF_RANGE
