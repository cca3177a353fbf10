//! The follower side of replication: on every shard, one fetcher per
//! leader broker copies the batches of the partitions this shard follows
//! from that leader, with Kafka's Fetch (`replica_id` = this broker).
//!
//! ```text
//! cluster view ──> ReplicaFetchers::update (per shard)
//!                    │ follower partitions of this shard, grouped by leader
//!                    ▼
//!                  fetch loop per leader ── OffsetsForLeaderEpoch ──> truncate a diverged log
//!                    │                  ── Fetch(offset = this replica's LEO) ──> leader
//!                    ▼
//!                  Partition::append_replicated (offsets and bytes kept,
//!                  on the device before the next fetch reports them)
//! ```
//!
//! A fetch names each partition's LEO: that is how the leader learns what
//! this follower has (its ISR and high watermark). Before the first fetch
//! in a leader epoch the follower asks the leader where its own latest
//! epoch ends and truncates there (KIP-101/279), so it never keeps records
//! the new leader lacks. Errors back off for `replica.fetch.backoff.ms`; a
//! leader change arrives as a new cluster view, which moves the partition
//! to another fetcher.
//!
//! Lifecycle: the fetchers live in their shard's state; a fetcher task
//! stops (between fetches) when its last partition leaves it or at
//! shutdown.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::rc::Rc;
use std::time::Duration;

use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::offset_for_leader_epoch_request::{
    OffsetForLeaderPartition, OffsetForLeaderTopic,
};
use kafka_protocol::messages::{BrokerId, FetchRequest, OffsetForLeaderEpochRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use super::shard::ShardState;
use crate::clock::now_ms;
use crate::cluster::client::{BrokerClient, ClientConfig};
use crate::cluster::{RoutingTable, TopicPartition};
use crate::partition::Partition;

/// The Fetch version followers send (flexible, topics by name).
const FETCH_VERSION: i16 = 12;
/// OffsetsForLeaderEpoch v3+ carries the replica id.
const EPOCH_VERSION: i16 = 4;
/// Kafka's `replica.fetch.backoff.ms` default.
const FETCH_BACKOFF: Duration = Duration::from_millis(1000);
/// Kafka's `replica.fetch.response.max.bytes` default.
const RESPONSE_BYTES_MAX: i32 = 10 << 20;
/// How long a fetcher with nothing to fetch waits before looking again.
const IDLE_WAIT: Duration = Duration::from_millis(100);

/// One leader's fetcher: its address and what it fetches.
struct Fetcher {
    address: String,
    partitions: Rc<RefCell<BTreeSet<TopicPartition>>>,
    stop: Rc<Cell<bool>>,
}

/// The fetchers of one shard, by leader broker.
#[derive(Default)]
pub struct ReplicaFetchers {
    by_leader: RefCell<HashMap<i32, Fetcher>>,
}

impl ReplicaFetchers {
    /// Brings the fetchers in line with `routing`: every partition this
    /// shard follows is fetched from its leader, nothing else.
    pub fn update(&self, state: &Rc<ShardState>, routing: &RoutingTable) {
        let Some(view) = routing.cluster() else {
            return;
        };
        let me = state.broker_id();
        let here = state.context().shard_id();
        let mut wanted: BTreeMap<i32, BTreeSet<TopicPartition>> = BTreeMap::new();
        for partition in state.partitions().owned() {
            let tp = TopicPartition::new(partition.topic.clone(), partition.index);
            if routing.shard_for(&tp) != here {
                continue;
            }
            match view.leader_of(&tp) {
                Some(leader) if leader != me => {
                    wanted.entry(leader).or_default().insert(tp);
                }
                _ => {}
            }
        }
        let mut fetchers = self.by_leader.borrow_mut();
        fetchers.retain(|leader, fetcher| {
            let address = view.brokers.get(leader).map(|b| endpoint(&b.host, b.port));
            match (wanted.remove(leader), address) {
                (Some(set), Some(address)) if address == fetcher.address => {
                    *fetcher.partitions.borrow_mut() = set;
                    true
                }
                (set, address) => {
                    fetcher.stop.set(true);
                    // The leader moved address: start anew below.
                    if let (Some(set), Some(_)) = (set, address) {
                        wanted.insert(*leader, set);
                    }
                    false
                }
            }
        });
        for (leader, set) in wanted {
            let Some(broker) = view.brokers.get(&leader) else {
                continue;
            };
            let fetcher = Fetcher {
                address: endpoint(&broker.host, broker.port),
                partitions: Rc::new(RefCell::new(set)),
                stop: Rc::new(Cell::new(false)),
            };
            let task = FetchLoop {
                state: state.clone(),
                leader,
                client: BrokerClient::new(fetcher.address.clone(), client_config(state, me)),
                partitions: fetcher.partitions.clone(),
                stop: fetcher.stop.clone(),
                truncated: HashMap::new(),
            };
            glommio::spawn_local(task.run()).detach();
            fetchers.insert(leader, fetcher);
        }
    }

    /// Stops every fetcher (shutdown).
    pub fn stop_all(&self) {
        for (_, fetcher) in self.by_leader.borrow_mut().drain() {
            fetcher.stop.set(true);
        }
    }
}

fn endpoint(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

fn client_config(state: &ShardState, me: i32) -> ClientConfig {
    let cluster = &state.config().cluster;
    let wait = Duration::from_millis(cluster.replica_fetch_wait_max_ms);
    ClientConfig {
        client_id: format!("sluice-replica-fetcher-{me}"),
        connect_timeout: Duration::from_millis(cluster.controller_socket_timeout_ms),
        request_timeout: wait + Duration::from_millis(cluster.controller_socket_timeout_ms),
        ..ClientConfig::default()
    }
}

struct FetchLoop {
    state: Rc<ShardState>,
    leader: i32,
    client: BrokerClient,
    partitions: Rc<RefCell<BTreeSet<TopicPartition>>>,
    stop: Rc<Cell<bool>>,
    /// The leader epoch each partition was last truncated for.
    truncated: HashMap<TopicPartition, i32>,
}

impl FetchLoop {
    async fn run(mut self) {
        let shutdown = self.state.context().shutdown_signal();
        while !self.stop.get() && !shutdown.is_requested() {
            let parts: Vec<(TopicPartition, Rc<Partition>)> = self
                .partitions
                .borrow()
                .iter()
                .filter_map(|tp| {
                    self.state
                        .partitions()
                        .get(&tp.topic, tp.partition)
                        .map(|p| (tp.clone(), p))
                })
                .collect();
            if parts.is_empty() {
                glommio::timer::sleep(IDLE_WAIT).await;
                continue;
            }
            let ok = match self.truncate_diverged(&parts).await {
                Ok(()) => self.fetch_once(&parts).await,
                Err(error) => Err(error),
            };
            if let Err(error) = ok {
                tracing::debug!(leader = self.leader, %error, "replica fetch failed; backing off");
                glommio::timer::sleep(FETCH_BACKOFF).await;
            }
        }
        self.client.close();
    }

    /// For partitions whose leader epoch changed since their last
    /// truncation: asks the leader where this replica's latest epoch ends
    /// and cuts the log there.
    async fn truncate_diverged(
        &mut self,
        parts: &[(TopicPartition, Rc<Partition>)],
    ) -> Result<(), String> {
        let due: Vec<&(TopicPartition, Rc<Partition>)> = parts
            .iter()
            .filter(|(tp, p)| self.truncated.get(tp) != Some(&p.latest_epoch()))
            .collect();
        if due.is_empty() {
            return Ok(());
        }
        let mut topics: BTreeMap<String, Vec<OffsetForLeaderPartition>> = BTreeMap::new();
        for (tp, partition) in &due {
            topics.entry(tp.topic.to_string()).or_default().push(
                OffsetForLeaderPartition::default()
                    .with_partition(tp.partition)
                    .with_current_leader_epoch(partition.latest_epoch())
                    .with_leader_epoch(partition.own_latest_epoch()),
            );
        }
        let request = OffsetForLeaderEpochRequest::default()
            .with_replica_id(BrokerId(self.state.broker_id()))
            .with_topics(
                topics
                    .into_iter()
                    .map(|(topic, partitions)| {
                        OffsetForLeaderTopic::default()
                            .with_topic(TopicName(StrBytes::from_string(topic)))
                            .with_partitions(partitions)
                    })
                    .collect(),
            );
        let response = self
            .client
            .send(&request, EPOCH_VERSION)
            .await
            .map_err(|e| e.to_string())?;
        for topic in response.topics {
            for answer in topic.partitions {
                let Some((tp, partition)) = due.iter().find(|(tp, _)| {
                    &*tp.topic == topic.topic.as_str() && tp.partition == answer.partition
                }) else {
                    continue;
                };
                if answer.error_code != 0 {
                    continue;
                }
                // No epoch in common (this replica's log predates every
                // epoch the leader knows, or is empty): nothing to cut.
                if answer.end_offset >= 0 {
                    partition
                        .truncate_to(answer.end_offset as u64)
                        .await
                        .map_err(|e| e.to_string())?;
                }
                self.truncated.insert(tp.clone(), partition.latest_epoch());
            }
        }
        Ok(())
    }

    async fn fetch_once(
        &mut self,
        parts: &[(TopicPartition, Rc<Partition>)],
    ) -> Result<(), String> {
        let cluster = &self.state.config().cluster;
        let partition_bytes_max = cluster.replica_fetch_bytes_max.min(i32::MAX as usize) as i32;
        let mut topics: BTreeMap<String, Vec<FetchPartition>> = BTreeMap::new();
        for (tp, partition) in parts {
            if self.truncated.get(tp) != Some(&partition.latest_epoch()) {
                continue;
            }
            topics.entry(tp.topic.to_string()).or_default().push(
                FetchPartition::default()
                    .with_partition(tp.partition)
                    .with_current_leader_epoch(partition.latest_epoch())
                    .with_fetch_offset(partition.log.log_end_offset() as i64)
                    .with_last_fetched_epoch(partition.own_latest_epoch())
                    .with_log_start_offset(partition.log.log_start_offset() as i64)
                    .with_partition_max_bytes(partition_bytes_max),
            );
        }
        if topics.is_empty() {
            glommio::timer::sleep(IDLE_WAIT).await;
            return Ok(());
        }
        let request = FetchRequest::default()
            .with_replica_id(BrokerId(self.state.broker_id()))
            .with_max_wait_ms(cluster.replica_fetch_wait_max_ms as i32)
            .with_min_bytes(1)
            .with_max_bytes(RESPONSE_BYTES_MAX)
            .with_session_epoch(-1)
            .with_topics(
                topics
                    .into_iter()
                    .map(|(topic, partitions)| {
                        FetchTopic::default()
                            .with_topic(TopicName(StrBytes::from_string(topic)))
                            .with_partitions(partitions)
                    })
                    .collect(),
            );
        let response = self
            .client
            .send(&request, FETCH_VERSION)
            .await
            .map_err(|e| e.to_string())?;
        if response.error_code != 0 {
            return Err(format!("fetch error {}", response.error_code));
        }
        let mut backoff = false;
        for topic in response.responses {
            for data in topic.partitions {
                let Some((tp, partition)) = parts.iter().find(|(tp, _)| {
                    &*tp.topic == topic.topic.as_str() && tp.partition == data.partition_index
                }) else {
                    continue;
                };
                match ResponseError::try_from_code(data.error_code) {
                    None => {
                        let records = data.records.unwrap_or_default();
                        partition
                            .append_replicated(
                                &records,
                                data.high_watermark.max(0) as u64,
                                data.log_start_offset.max(0) as u64,
                                now_ms(),
                            )
                            .await
                            .map_err(|e| format!("{tp}: {e}"))?;
                    }
                    Some(ResponseError::OffsetOutOfRange)
                        if (partition.log.log_end_offset() as i64) < data.log_start_offset =>
                    {
                        // What this replica misses is gone on the leader
                        // (retention, DeleteRecords): start where the
                        // leader's log does, as Kafka's followers do.
                        partition
                            .restart_at(data.log_start_offset as u64)
                            .await
                            .map_err(|e| format!("{tp}: {e}"))?;
                    }
                    Some(ResponseError::OffsetOutOfRange) => {
                        // Past the leader's end (an unclean election cut
                        // its log): ask where the epochs part again and
                        // truncate there before the next fetch.
                        self.truncated.remove(tp);
                        backoff = true;
                    }
                    Some(error) => {
                        // A leader change or a fence: the next cluster view
                        // (or a truncation for the new epoch) sorts it out.
                        tracing::debug!(partition = %tp, ?error, leader = self.leader, "replica fetch refused");
                        if matches!(
                            error,
                            ResponseError::FencedLeaderEpoch | ResponseError::UnknownLeaderEpoch
                        ) {
                            self.truncated.remove(tp);
                        }
                        backoff = true;
                    }
                }
            }
        }
        if backoff {
            glommio::timer::sleep(IDLE_WAIT).await;
        }
        Ok(())
    }
}
