//! The znode JSON of Kafka 3.x, byte for byte as Kafka's brokers and
//! controller write it (captured from `zookeeper-shell get`, and the shapes
//! in `ZkData.scala`'s docs), parsed by our types; and ours written with
//! exactly Kafka's keys.

use std::collections::{BTreeMap, BTreeSet};

use super::*;

/// The keys of a JSON object, to compare ours with Kafka's.
fn keys(json: &[u8]) -> BTreeSet<String> {
    let value: serde_json::Value = serde_json::from_slice(json).unwrap();
    value.as_object().unwrap().keys().cloned().collect()
}

fn set(keys: &[&str]) -> BTreeSet<String> {
    keys.iter().map(|k| k.to_string()).collect()
}

#[test]
fn paths_are_kafkas() {
    assert_eq!(broker_path(3), "/brokers/ids/3");
    assert_eq!(topic_path("t"), "/brokers/topics/t");
    assert_eq!(topic_partitions_path("t"), "/brokers/topics/t/partitions");
    assert_eq!(
        partition_state_path("t", 7),
        "/brokers/topics/t/partitions/7/state"
    );
    assert_eq!(config_entity_path("topics", "t"), "/config/topics/t");
    assert_eq!(delete_topic_path("t"), "/admin/delete_topics/t");
    let paths = persistent_paths();
    for expected in [
        "/consumers",
        "/brokers/ids",
        "/brokers/topics",
        "/config/changes",
        "/admin/delete_topics",
        "/brokers/seqid",
        "/isr_change_notification",
        "/latest_producer_id_block",
        "/log_dir_event_notification",
        "/config/topics",
        "/config/clients",
        "/config/users",
        "/config/brokers",
        "/config/ips",
    ] {
        assert!(paths.iter().any(|p| p == expected), "{expected}");
    }
}

#[test]
fn broker_registration_as_kafka_3_writes_it() {
    let kafka = br#"{"features":{},"listener_security_protocol_map":{"PLAINTEXT":"PLAINTEXT"},"endpoints":["PLAINTEXT://localhost:9091"],"jmx_port":-1,"port":9091,"host":"localhost","version":5,"timestamp":"1707276552023"}"#;
    let broker = BrokerRegistration::from_json(kafka).unwrap();
    assert_eq!(broker.version, 5);
    assert_eq!(broker.host.as_deref(), Some("localhost"));
    assert_eq!(broker.port, 9091);
    assert_eq!(broker.jmx_port, -1);
    assert_eq!(broker.timestamp, "1707276552023");
    assert_eq!(broker.rack, None);
    assert!(broker.features.is_empty());
    assert_eq!(
        broker.parsed_endpoints().unwrap(),
        vec![BrokerEndpoint {
            listener_name: "PLAINTEXT".into(),
            host: "localhost".into(),
            port: 9091
        }]
    );
    // ZkData's documented version 5, with a rack and a feature range (the
    // unknown first_active_version is ignored, as Kafka's reader does).
    let documented = br#"{
      "version":5, "host":"localhost", "port":9092, "jmx_port":9999,
      "timestamp":"2233345666",
      "endpoints":["CLIENT://host1:9092", "REPLICATION://host1:9093"],
      "listener_security_protocol_map":{"CLIENT":"PLAINTEXT","REPLICATION":"PLAINTEXT"},
      "rack":"dc1",
      "features": {"feature": {"min_version":1, "first_active_version":2, "max_version":3}}
    }"#;
    let broker = BrokerRegistration::from_json(documented).unwrap();
    assert_eq!(broker.rack.as_deref(), Some("dc1"));
    assert_eq!(
        broker.features["feature"],
        FeatureRange {
            min_version: 1,
            max_version: 3
        }
    );
    let endpoints = broker.parsed_endpoints().unwrap();
    assert_eq!(endpoints[1].listener_name, "REPLICATION");
    assert_eq!(endpoints[1].port, 9093);
    // Version 1: host and port only.
    let v1 =
        br#"{"version":1,"host":"localhost","port":9092,"jmx_port":9999,"timestamp":"2233345666"}"#;
    let broker = BrokerRegistration::from_json(v1).unwrap();
    assert_eq!(broker.parsed_endpoints().unwrap()[0].port, 9092);
    // Kafka's broker without a PLAINTEXT endpoint writes a null host.
    let no_plaintext = br#"{"version":5,"host":null,"port":-1,"endpoints":["SSL://h:9093"],"jmx_port":-1,"timestamp":"1","listener_security_protocol_map":{"SSL":"SSL"},"features":{}}"#;
    assert_eq!(
        BrokerRegistration::from_json(no_plaintext).unwrap().host,
        None
    );
}

#[test]
fn our_broker_registration_has_kafkas_keys() {
    let listeners = vec![
        Listener {
            name: "PLAINTEXT".into(),
            host: "127.0.0.1".into(),
            port: 9092,
        },
        Listener {
            name: "INTERNAL".into(),
            host: "::1".into(),
            port: 9093,
        },
    ];
    let ours = BrokerRegistration::new(&listeners, None, 1_700_000_000_000);
    let json = ours.to_json();
    assert_eq!(
        keys(&json),
        set(&[
            "version",
            "host",
            "port",
            "endpoints",
            "jmx_port",
            "timestamp",
            "listener_security_protocol_map",
            "features"
        ])
    );
    let value: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(value["version"], 5);
    assert_eq!(value["timestamp"], "1700000000000");
    assert_eq!(value["features"], serde_json::json!({}));
    assert_eq!(
        value["endpoints"],
        serde_json::json!(["PLAINTEXT://127.0.0.1:9092", "INTERNAL://[::1]:9093"])
    );
    assert_eq!(
        value["listener_security_protocol_map"],
        serde_json::json!({"PLAINTEXT": "PLAINTEXT", "INTERNAL": "PLAINTEXT"})
    );
    let back = BrokerRegistration::from_json(&json).unwrap();
    assert_eq!(back, ours);
    assert_eq!(back.parsed_endpoints().unwrap()[1].host, "::1");
    // With a rack, the key appears.
    let racked = BrokerRegistration::new(&listeners, Some("r1".into()), 1);
    assert!(keys(&racked.to_json()).contains("rack"));
}

#[test]
fn topic_assignment_as_kafka_3_writes_it() {
    let kafka = br#"{"removing_replicas":{},"partitions":{"0":[0]},"topic_id":"ZOLr9CLNQjSW70hyIHx6BQ","adding_replicas":{},"version":3}"#;
    let topic = TopicAssignment::from_json(kafka).unwrap();
    assert_eq!(topic.version, 3);
    assert_eq!(topic.partitions, BTreeMap::from([(0, vec![0])]));
    let id = topic.topic_uuid().unwrap().unwrap();
    assert_eq!(kafka_uuid_text(&id), "ZOLr9CLNQjSW70hyIHx6BQ");
    // A reassignment in progress, and a pre-2.8 topic without an id.
    let moving = br#"{"version":2,"partitions":{"0":[1,2,3],"1":[2,3,4]},"adding_replicas":{"0":[3]},"removing_replicas":{"0":[4]}}"#;
    let topic = TopicAssignment::from_json(moving).unwrap();
    assert_eq!(topic.partitions[&1], vec![2, 3, 4]);
    assert_eq!(topic.adding_replicas[&0], vec![3]);
    assert_eq!(topic.removing_replicas[&0], vec![4]);
    assert_eq!(topic.topic_uuid().unwrap(), None);
    let old = br#"{"version":1,"partitions":{"0":[1]}}"#;
    assert!(TopicAssignment::from_json(old)
        .unwrap()
        .adding_replicas
        .is_empty());
    // Not a Kafka UUID.
    let bad = br#"{"version":3,"partitions":{},"topic_id":"nope"}"#;
    assert!(TopicAssignment::from_json(bad)
        .unwrap()
        .topic_uuid()
        .is_err());
    // Partition keys must be integers.
    assert!(TopicAssignment::from_json(br#"{"version":3,"partitions":{"x":[1]}}"#).is_err());
}

#[test]
fn our_topic_assignment_has_kafkas_keys() {
    let id = uuid::Uuid::new_v4();
    let ours = TopicAssignment::new(&id, BTreeMap::from([(0, vec![1, 2]), (10, vec![2, 1])]));
    let json = ours.to_json();
    assert_eq!(
        keys(&json),
        set(&[
            "version",
            "partitions",
            "topic_id",
            "adding_replicas",
            "removing_replicas"
        ])
    );
    let value: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(value["version"], 3);
    assert_eq!(
        value["partitions"],
        serde_json::json!({"0": [1, 2], "10": [2, 1]})
    );
    assert_eq!(value["adding_replicas"], serde_json::json!({}));
    assert_eq!(TopicAssignment::from_json(&json).unwrap(), ours);
    assert_eq!(ours.topic_uuid().unwrap(), Some(id));
}

#[test]
fn partition_state_as_kafka_writes_it() {
    let kafka = br#"{"controller_epoch":1,"leader":1,"version":1,"leader_epoch":0,"isr":[1,2,0]}"#;
    let state = PartitionState::from_json(kafka).unwrap();
    assert_eq!(state, PartitionState::new(1, 0, vec![1, 2, 0], 1));
    assert_eq!(state.leader_recovery_state, LEADER_RECOVERY_RECOVERED);
    // An offline partition (leader -1) after an unclean election.
    let recovering = br#"{"controller_epoch":4,"leader":-1,"version":1,"leader_epoch":7,"isr":[2],"leader_recovery_state":1}"#;
    let state = PartitionState::from_json(recovering).unwrap();
    assert_eq!(
        (state.leader, state.leader_recovery_state),
        (-1, LEADER_RECOVERY_RECOVERING)
    );
    assert!(keys(&state.to_json()).contains("leader_recovery_state"));
    // Ours when recovered: Kafka leaves the key out.
    let ours = PartitionState::new(2, 5, vec![2, 3], 9);
    let json = ours.to_json();
    assert_eq!(
        keys(&json),
        set(&[
            "version",
            "leader",
            "leader_epoch",
            "isr",
            "controller_epoch"
        ])
    );
    assert_eq!(PartitionState::from_json(&json).unwrap(), ours);
    // A missing required key is an error naming the znode.
    let e = PartitionState::from_json(br#"{"version":1,"leader":1}"#).unwrap_err();
    assert!(e.to_string().contains("/state"), "{e}");
}

#[test]
fn controller_and_epoch() {
    let kafka =
        br#"{"version":2,"brokerid":0,"timestamp":"1685460739018","kraftControllerEpoch":-1}"#;
    let controller = ControllerRegistration::from_json(kafka).unwrap();
    assert_eq!(controller, {
        let mut c = ControllerRegistration::new(0, 1_685_460_739_018);
        c.kraft_controller_epoch = -1;
        c
    });
    // Kafka before 3.4 wrote version 1 without the KRaft epoch.
    let v1 = br#"{"version":1,"brokerid":3,"timestamp":"1"}"#;
    let controller = ControllerRegistration::from_json(v1).unwrap();
    assert_eq!(
        (controller.brokerid, controller.kraft_controller_epoch),
        (3, -1)
    );
    let ours = ControllerRegistration::new(2, 5).to_json();
    assert_eq!(
        keys(&ours),
        set(&["version", "brokerid", "timestamp", "kraftControllerEpoch"])
    );
    assert_eq!(controller_epoch_to_bytes(17), b"17");
    assert_eq!(controller_epoch_from_bytes(b"17").unwrap(), 17);
    assert!(controller_epoch_from_bytes(b"x").is_err());
    assert!(controller_epoch_from_bytes(&[0xff]).is_err());
}

#[test]
fn cluster_id_version_is_a_string() {
    let kafka = br#"{"version":"1","id":"Sfr7YvlkRHSHrmSrwq9mug"}"#;
    let id = ClusterId::from_json(kafka).unwrap();
    assert_eq!(id, ClusterId::new("Sfr7YvlkRHSHrmSrwq9mug"));
    let value: serde_json::Value = serde_json::from_slice(&id.to_json()).unwrap();
    assert_eq!(
        value,
        serde_json::json!({"version": "1", "id": "Sfr7YvlkRHSHrmSrwq9mug"})
    );
    // Kafka's reader wants the string; a number is not its schema.
    assert!(ClusterId::from_json(br#"{"version":1,"id":"x"}"#).is_err());
}

#[test]
fn configs_and_notifications() {
    let kafka = br#"{"version":1,"config":{"retention.ms":"100000"}}"#;
    let config = EntityConfig::from_json(kafka).unwrap();
    assert_eq!(config.config["retention.ms"], "100000");
    assert_eq!(EntityConfig::from_json(&config.to_json()).unwrap(), config);
    let empty = EntityConfig::new(BTreeMap::new()).to_json();
    assert_eq!(empty, br#"{"version":1,"config":{}}"#);

    let change = br#"{"version":2,"entity_path":"topics/my-topic"}"#;
    assert_eq!(
        ConfigChangeNotification::from_json(change).unwrap(),
        ConfigChangeNotification::new("topics", "my-topic")
    );
    assert_eq!(
        ConfigChangeNotification::new("topics", "my-topic").to_json(),
        change
    );

    let isr =
        br#"{"version":1,"partitions":[{"topic":"t","partition":0},{"topic":"u","partition":3}]}"#;
    let notification = IsrChangeNotification::from_json(isr).unwrap();
    assert_eq!(
        notification.partitions[1],
        TopicPartitionRef {
            topic: "u".into(),
            partition: 3
        }
    );
    assert_eq!(notification.to_json(), isr);

    let reassign =
        br#"{"version":1,"partitions":[{"topic":"foo","partition":1,"replicas":[1,2,3]}]}"#;
    let plan = PartitionReassignment::from_json(reassign).unwrap();
    assert_eq!(plan.partitions[0].replicas, vec![1, 2, 3]);
    assert_eq!(plan.to_json(), reassign);
}

#[test]
fn kafka_uuids() {
    // Kafka's Uuid.toString of the UUID with these bytes.
    let id = uuid::Uuid::from_bytes([0xff; 16]);
    assert_eq!(kafka_uuid_text(&id), "_____________________w");
    assert_eq!(
        kafka_uuid_text(&uuid::Uuid::nil()),
        "AAAAAAAAAAAAAAAAAAAAAA"
    );
    for _ in 0..200 {
        let id = uuid::Uuid::new_v4();
        let text = kafka_uuid_text(&id);
        assert_eq!(text.len(), 22);
        assert_eq!(kafka_uuid_from_text(&text), Some(id));
    }
    for bad in [
        "",
        "AAAA",
        "AAAAAAAAAAAAAAAAAAAAA=",
        "AAAAAAAAAAAAAAAAAAAAAB",
        "AAAAAAAAAAAAAAAAAAAAA+",
    ] {
        assert_eq!(kafka_uuid_from_text(bad), None, "{bad}");
    }
}
