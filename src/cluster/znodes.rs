//! Kafka's ZooKeeper layout: the paths and the JSON of each znode, as Kafka
//! 3.x writes them (`kafka.zk.ZkData`), so that ZooKeeper-era tools and
//! Kafka's own brokers read what Sluice writes and the other way round.
//!
//! ```text
//! <chroot>/
//!   cluster/id                              {"version":"1","id":"<base64 uuid>"}
//!   controller                  ephemeral   {"version":2,"brokerid":1,"timestamp":"<ms>","kraftControllerEpoch":-1}
//!   controller_epoch                        1                       (plain text)
//!   brokers/ids/<id>            ephemeral   BrokerRegistration (version 5)
//!   brokers/topics/<topic>                  TopicAssignment (version 3)
//!   brokers/topics/<topic>/partitions/<p>/state   PartitionState (version 1)
//!   brokers/seqid
//!   config/topics/<topic>                   {"version":1,"config":{...}}
//!   config/{clients,users,brokers,ips}/...  same shape
//!   config/changes/config_change_<seq>      {"version":2,"entity_path":"topics/<topic>"}
//!   admin/delete_topics/<topic>             (no data)
//!   admin/reassign_partitions               {"version":1,"partitions":[...]}  (legacy)
//!   isr_change_notification/isr_change_<seq>  {"version":1,"partitions":[...]}
//! ```
//!
//! Kafka's readers ignore keys they do not know and tolerate older versions;
//! so do ours (every optional key has a default). Writers here produce the
//! current version with exactly Kafka's keys.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::Listener;

pub const CLUSTER_ID: &str = "/cluster/id";
pub const CONTROLLER: &str = "/controller";
pub const CONTROLLER_EPOCH: &str = "/controller_epoch";
pub const BROKER_IDS: &str = "/brokers/ids";
pub const BROKER_TOPICS: &str = "/brokers/topics";
pub const BROKER_SEQID: &str = "/brokers/seqid";
pub const CONFIG: &str = "/config";
pub const CONFIG_CHANGES: &str = "/config/changes";
/// The prefix of sequential children of [`CONFIG_CHANGES`].
pub const CONFIG_CHANGE_PREFIX: &str = "config_change_";
pub const ADMIN_DELETE_TOPICS: &str = "/admin/delete_topics";
pub const ADMIN_REASSIGN_PARTITIONS: &str = "/admin/reassign_partitions";
pub const ISR_CHANGE_NOTIFICATION: &str = "/isr_change_notification";
/// The prefix of sequential children of [`ISR_CHANGE_NOTIFICATION`].
pub const ISR_CHANGE_PREFIX: &str = "isr_change_";
pub const LOG_DIR_EVENT_NOTIFICATION: &str = "/log_dir_event_notification";
pub const LATEST_PRODUCER_ID_BLOCK: &str = "/latest_producer_id_block";
pub const CONSUMERS: &str = "/consumers";

/// Kafka's config entity types (`ConfigType`), each a child of `/config`.
pub const CONFIG_ENTITY_TYPES: &[&str] = &["topics", "clients", "users", "brokers", "ips"];

/// The persistent paths Kafka creates at broker start
/// (`ZkData.PersistentZkPaths`), parents before children.
pub fn persistent_paths() -> Vec<String> {
    let mut paths: Vec<String> = [
        CONSUMERS,
        BROKER_IDS,
        BROKER_TOPICS,
        CONFIG_CHANGES,
        ADMIN_DELETE_TOPICS,
        BROKER_SEQID,
        ISR_CHANGE_NOTIFICATION,
        LATEST_PRODUCER_ID_BLOCK,
        LOG_DIR_EVENT_NOTIFICATION,
    ]
    .iter()
    .map(|p| p.to_string())
    .collect();
    paths.extend(CONFIG_ENTITY_TYPES.iter().map(|t| format!("{CONFIG}/{t}")));
    paths
}

pub fn broker_path(broker_id: i32) -> String {
    format!("{BROKER_IDS}/{broker_id}")
}

pub fn topic_path(topic: &str) -> String {
    format!("{BROKER_TOPICS}/{topic}")
}

pub fn topic_partitions_path(topic: &str) -> String {
    format!("{BROKER_TOPICS}/{topic}/partitions")
}

pub fn partition_state_path(topic: &str, partition: i32) -> String {
    format!("{BROKER_TOPICS}/{topic}/partitions/{partition}/state")
}

/// `/config/<type>/<name>`, such as `/config/topics/orders`.
pub fn config_entity_path(entity_type: &str, entity_name: &str) -> String {
    format!("{CONFIG}/{entity_type}/{entity_name}")
}

pub fn delete_topic_path(topic: &str) -> String {
    format!("{ADMIN_DELETE_TOPICS}/{topic}")
}

/// A znode whose data is not what Kafka's schema says.
#[derive(Debug, thiserror::Error)]
pub enum ZnodeError {
    #[error("{what}: not Kafka's JSON: {source}")]
    Json {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error("{what}: {reason}")]
    Invalid { what: &'static str, reason: String },
}

fn decode<'a, T: Deserialize<'a>>(what: &'static str, bytes: &'a [u8]) -> Result<T, ZnodeError> {
    serde_json::from_slice(bytes).map_err(|source| ZnodeError::Json { what, source })
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("znode types serialize (string keys, no floats)")
}

macro_rules! json_codec {
    ($ty:ty, $what:literal) => {
        impl $ty {
            /// The znode's bytes, as Kafka writes them.
            pub fn to_json(&self) -> Vec<u8> {
                encode(self)
            }
            /// Parses the znode's bytes as Kafka's reader does.
            pub fn from_json(bytes: &[u8]) -> Result<Self, ZnodeError> {
                decode($what, bytes)
            }
        }
    };
}

/// `/cluster/id`. Kafka writes the version as a string.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterId {
    pub version: String,
    pub id: String,
}
json_codec!(ClusterId, "/cluster/id");

impl ClusterId {
    pub fn new(id: impl Into<String>) -> Self {
        ClusterId {
            version: "1".to_string(),
            id: id.into(),
        }
    }
}

/// `/controller` (ephemeral): the broker that won the election.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControllerRegistration {
    pub version: i32,
    pub brokerid: i32,
    /// Milliseconds since the epoch, as a string.
    pub timestamp: String,
    /// -1 for a ZooKeeper controller; absent in version 1.
    #[serde(rename = "kraftControllerEpoch", default = "minus_one")]
    pub kraft_controller_epoch: i32,
}
json_codec!(ControllerRegistration, "/controller");

fn minus_one() -> i32 {
    -1
}

impl ControllerRegistration {
    pub fn new(broker_id: i32, timestamp_ms: i64) -> Self {
        ControllerRegistration {
            version: 2,
            brokerid: broker_id,
            timestamp: timestamp_ms.to_string(),
            kraft_controller_epoch: -1,
        }
    }
}

/// `/controller_epoch` is a plain decimal integer.
pub fn controller_epoch_to_bytes(epoch: i32) -> Vec<u8> {
    epoch.to_string().into_bytes()
}

pub fn controller_epoch_from_bytes(bytes: &[u8]) -> Result<i32, ZnodeError> {
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .ok_or_else(|| ZnodeError::Invalid {
            what: CONTROLLER_EPOCH,
            reason: format!("not an integer: {:?}", String::from_utf8_lossy(bytes)),
        })
}

/// A supported feature's version range in a broker registration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeatureRange {
    pub min_version: i16,
    pub max_version: i16,
}

/// `/brokers/ids/<id>` (ephemeral), version 5 (Kafka 2.7+).
///
/// `host` and `port` are the first PLAINTEXT endpoint, for old clients
/// (null and -1 when there is none); `endpoints` are the advertised
/// listeners as `NAME://host:port`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerRegistration {
    pub version: i32,
    pub host: Option<String>,
    pub port: i32,
    #[serde(default)]
    pub endpoints: Vec<String>,
    pub jmx_port: i32,
    pub timestamp: String,
    /// Written only when the broker has `broker.rack` (version 3+).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rack: Option<String>,
    /// Listener name to security protocol (version 4+).
    #[serde(default)]
    pub listener_security_protocol_map: BTreeMap<String, String>,
    /// Supported features (version 5+); Kafka 3.x brokers in ZooKeeper mode
    /// write `{}`.
    #[serde(default)]
    pub features: BTreeMap<String, FeatureRange>,
}
json_codec!(BrokerRegistration, "/brokers/ids/<id>");

/// One endpoint of a broker registration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokerEndpoint {
    pub listener_name: String,
    pub host: String,
    pub port: u16,
}

impl BrokerRegistration {
    /// A registration for advertised PLAINTEXT listeners (all Sluice serves).
    pub fn new(advertised: &[Listener], rack: Option<String>, timestamp_ms: i64) -> Self {
        let first = advertised.first();
        BrokerRegistration {
            version: 5,
            host: first.map(|l| l.host.clone()),
            port: first.map_or(-1, |l| i32::from(l.port)),
            endpoints: advertised.iter().map(|l| l.to_string()).collect(),
            jmx_port: -1,
            timestamp: timestamp_ms.to_string(),
            rack,
            listener_security_protocol_map: advertised
                .iter()
                .map(|l| (l.name.clone(), "PLAINTEXT".to_string()))
                .collect(),
            features: BTreeMap::new(),
        }
    }

    /// The endpoints parsed; version 1 registrations have only host and port.
    pub fn parsed_endpoints(&self) -> Result<Vec<BrokerEndpoint>, ZnodeError> {
        if self.endpoints.is_empty() {
            if let (Some(host), Ok(port)) = (&self.host, u16::try_from(self.port)) {
                return Ok(vec![BrokerEndpoint {
                    listener_name: "PLAINTEXT".to_string(),
                    host: host.clone(),
                    port,
                }]);
            }
        }
        self.endpoints
            .iter()
            .map(|text| {
                parse_endpoint(text).ok_or_else(|| ZnodeError::Invalid {
                    what: "/brokers/ids/<id>",
                    reason: format!("endpoint {text:?} is not NAME://host:port"),
                })
            })
            .collect()
    }
}

/// `NAME://host:port` or `NAME://[v6]:port`.
fn parse_endpoint(text: &str) -> Option<BrokerEndpoint> {
    let (name, address) = text.split_once("://")?;
    let (host, port) = match address.strip_prefix('[') {
        Some(rest) => {
            let (host, port) = rest.split_once("]:")?;
            (host, port)
        }
        None => address.rsplit_once(':')?,
    };
    if name.is_empty() {
        return None;
    }
    Some(BrokerEndpoint {
        listener_name: name.to_string(),
        host: host.to_string(),
        port: port.parse().ok()?,
    })
}

/// `/brokers/topics/<topic>`, version 3: replicas per partition (the first is
/// the preferred leader), the topic id, and reassignments in progress.
/// Partition ids are the JSON object's keys.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicAssignment {
    pub version: i32,
    #[serde(default)]
    pub partitions: BTreeMap<i32, Vec<i32>>,
    /// Kafka's topic id text (URL-safe base64 of the UUID, no padding);
    /// absent before Kafka 2.8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic_id: Option<String>,
    #[serde(default)]
    pub adding_replicas: BTreeMap<i32, Vec<i32>>,
    #[serde(default)]
    pub removing_replicas: BTreeMap<i32, Vec<i32>>,
}
json_codec!(TopicAssignment, "/brokers/topics/<topic>");

impl TopicAssignment {
    pub fn new(topic_id: &uuid::Uuid, partitions: BTreeMap<i32, Vec<i32>>) -> Self {
        TopicAssignment {
            version: 3,
            partitions,
            topic_id: Some(kafka_uuid_text(topic_id)),
            adding_replicas: BTreeMap::new(),
            removing_replicas: BTreeMap::new(),
        }
    }

    /// The topic id as a UUID; None when absent, an error when malformed.
    pub fn topic_uuid(&self) -> Result<Option<uuid::Uuid>, ZnodeError> {
        self.topic_id
            .as_deref()
            .map(|text| {
                kafka_uuid_from_text(text).ok_or_else(|| ZnodeError::Invalid {
                    what: "/brokers/topics/<topic>",
                    reason: format!("topic_id {text:?} is not a Kafka UUID"),
                })
            })
            .transpose()
    }
}

/// Kafka's `LeaderRecoveryState`: 0 recovered (not written), 1 recovering.
pub const LEADER_RECOVERY_RECOVERED: i8 = 0;
pub const LEADER_RECOVERY_RECOVERING: i8 = 1;

/// `/brokers/topics/<t>/partitions/<p>/state`, version 1.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionState {
    pub version: i32,
    pub leader: i32,
    pub leader_epoch: i32,
    pub isr: Vec<i32>,
    pub controller_epoch: i32,
    /// Written only when not recovered (an unclean election in progress).
    #[serde(default = "recovered", skip_serializing_if = "is_recovered")]
    pub leader_recovery_state: i8,
}
json_codec!(PartitionState, "/brokers/topics/<t>/partitions/<p>/state");

fn recovered() -> i8 {
    LEADER_RECOVERY_RECOVERED
}

fn is_recovered(state: &i8) -> bool {
    *state == LEADER_RECOVERY_RECOVERED
}

impl PartitionState {
    pub fn new(leader: i32, leader_epoch: i32, isr: Vec<i32>, controller_epoch: i32) -> Self {
        PartitionState {
            version: 1,
            leader,
            leader_epoch,
            isr,
            controller_epoch,
            leader_recovery_state: LEADER_RECOVERY_RECOVERED,
        }
    }
}

/// `/config/<type>/<name>`, version 1: the entity's overrides, every value a
/// string.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntityConfig {
    pub version: i32,
    #[serde(default)]
    pub config: BTreeMap<String, String>,
}
json_codec!(EntityConfig, "/config/<type>/<name>");

impl EntityConfig {
    pub fn new(config: BTreeMap<String, String>) -> Self {
        EntityConfig { version: 1, config }
    }
}

/// `/config/changes/config_change_<seq>`, version 2: which entity changed,
/// as `<type>/<name>` (`topics/orders`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigChangeNotification {
    pub version: i32,
    pub entity_path: String,
}
json_codec!(
    ConfigChangeNotification,
    "/config/changes/config_change_<seq>"
);

impl ConfigChangeNotification {
    pub fn new(entity_type: &str, entity_name: &str) -> Self {
        ConfigChangeNotification {
            version: 2,
            entity_path: format!("{entity_type}/{entity_name}"),
        }
    }
}

/// One partition named in a notification.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TopicPartitionRef {
    pub topic: String,
    pub partition: i32,
}

/// `/isr_change_notification/isr_change_<seq>`, version 1: partitions whose
/// ISR a leader changed, for the controller to propagate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IsrChangeNotification {
    pub version: i32,
    pub partitions: Vec<TopicPartitionRef>,
}
json_codec!(
    IsrChangeNotification,
    "/isr_change_notification/isr_change_<seq>"
);

impl IsrChangeNotification {
    pub fn new(partitions: Vec<TopicPartitionRef>) -> Self {
        IsrChangeNotification {
            version: 1,
            partitions,
        }
    }
}

/// One partition's target replicas in a legacy reassignment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReassignmentEntry {
    pub topic: String,
    pub partition: i32,
    pub replicas: Vec<i32>,
}

/// `/admin/reassign_partitions`, version 1 (Kafka's pre-2.4 interface, which
/// its ZooKeeper-mode controller still reads).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionReassignment {
    pub version: i32,
    pub partitions: Vec<ReassignmentEntry>,
}
json_codec!(PartitionReassignment, "/admin/reassign_partitions");

/// Kafka's `Uuid.toString()`: the 16 bytes in URL-safe base64, no padding
/// (22 characters).
pub fn kafka_uuid_text(id: &uuid::Uuid) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let bytes = id.as_bytes();
    let mut text = String::with_capacity(22);
    for chunk in bytes.chunks(3) {
        let mut group = [0u8; 3];
        group[..chunk.len()].copy_from_slice(chunk);
        let bits = u32::from(group[0]) << 16 | u32::from(group[1]) << 8 | u32::from(group[2]);
        let symbols = chunk.len() + 1;
        for i in 0..symbols {
            let index = (bits >> (18 - 6 * i)) & 0x3f;
            text.push(char::from(ALPHABET[index as usize]));
        }
    }
    text
}

/// The inverse of [`kafka_uuid_text`]; None for anything else.
pub fn kafka_uuid_from_text(text: &str) -> Option<uuid::Uuid> {
    fn value(symbol: u8) -> Option<u32> {
        Some(u32::from(match symbol {
            b'A'..=b'Z' => symbol - b'A',
            b'a'..=b'z' => symbol - b'a' + 26,
            b'0'..=b'9' => symbol - b'0' + 52,
            b'-' => 62,
            b'_' => 63,
            _ => return None,
        }))
    }
    let symbols = text.as_bytes();
    if symbols.len() != 22 {
        return None;
    }
    let mut bytes = Vec::with_capacity(16);
    for chunk in symbols.chunks(4) {
        let mut bits = 0u32;
        for (i, symbol) in chunk.iter().enumerate() {
            bits |= value(*symbol)? << (18 - 6 * i);
        }
        let produced = chunk.len() - 1;
        for i in 0..produced {
            bytes.push((bits >> (16 - 8 * i)) as u8);
        }
    }
    let bytes: [u8; 16] = bytes.try_into().ok()?;
    let id = uuid::Uuid::from_bytes(bytes);
    // Only the canonical text: the last symbol's unused low bits are zero.
    (kafka_uuid_text(&id) == text).then_some(id)
}

#[cfg(test)]
#[path = "znodes_tests.rs"]
mod tests;
