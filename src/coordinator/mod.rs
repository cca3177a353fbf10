//! The group coordinator: consumer groups and their committed offsets.
//!
//! Each group belongs to one partition of the internal topic
//! `__consumer_offsets` (`abs(javaHashCode(group)) % offsets.topic.num.partitions`,
//! Kafka's rule), so a group lives on the shard that owns that partition and
//! every request for it is routed there (by the broker's frontend, which
//! also parks JoinGroup and SyncGroup calls from other shards, see
//! [`parked`]). The coordinator itself sees only its log
//! ([`store::OffsetsLog`]), never the rest of its shard. The shard keeps its
//! groups in memory ([`GroupCoordinator`]) and writes every change to that
//! partition in Kafka's record schemas ([`records`]), with the durability of
//! an `acks=all` produce; at start it reads its partitions back ([`store`]).
//! Until a partition is read, its groups answer COORDINATOR_LOAD_IN_PROGRESS.
//!
//! Files: `group.rs` the rebalance state machine, `offsets.rs` commits,
//! fetches, deletion and expiry, `store.rs` the log, `records.rs` the
//! schemas, `calls.rs` the mesh messages, `subscription.rs` consumer
//! metadata.

pub mod calls;
pub mod group;
mod offsets;
pub mod parked;
pub mod records;
pub mod store;
mod subscription;

use std::cell::{Cell, RefCell};
use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use kafka_protocol::ResponseError;

use crate::clock::now_ms;
use crate::config::BrokerConfig;
use calls::{
    DescribedGroup, GroupCall, GroupReply, JoinCall, JoinReply, LeaveReply, ListedGroup, SyncCall,
    SyncReply,
};
use group::{Group, GroupState, SyncStep};
use store::OffsetsLog;

/// Kafka's internal topic of group metadata and committed offsets.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

/// How often group timers (sessions, join and sync deadlines) are checked.
pub const GROUP_TICK_INTERVAL: Duration = Duration::from_millis(100);

/// Kafka's limit on group id length is the string limit; a sanity bound.
const GROUP_ID_BYTES_MAX: usize = i16::MAX as usize;

/// The broker settings the coordinator uses (Kafka's `group.*` and
/// `offsets.*` keys).
#[derive(Clone, Debug)]
pub struct GroupSettings {
    pub partitions: i32,
    pub initial_rebalance_delay: Duration,
    pub min_session_timeout_ms: i32,
    pub max_session_timeout_ms: i32,
    pub max_size: usize,
    pub offsets_retention_ms: i64,
    pub offsets_retention_check_interval: Duration,
    pub offset_metadata_bytes_max: usize,
}

impl GroupSettings {
    pub fn from_config(config: &BrokerConfig) -> GroupSettings {
        let groups = &config.groups;
        GroupSettings {
            partitions: config.offsets_topic_num_partitions,
            initial_rebalance_delay: Duration::from_millis(groups.initial_rebalance_delay_ms),
            min_session_timeout_ms: groups.min_session_timeout_ms,
            max_session_timeout_ms: groups.max_session_timeout_ms,
            max_size: groups.max_size,
            offsets_retention_ms: groups.offsets_retention_ms,
            offsets_retention_check_interval: Duration::from_millis(
                groups.offsets_retention_check_interval_ms,
            ),
            offset_metadata_bytes_max: groups.offset_metadata_bytes_max,
        }
    }
}

/// The `__consumer_offsets` partition of `group_id`: Kafka's
/// `Utils.abs(groupId.hashCode) % partitions`, so tools that compute it agree.
pub fn partition_for(group_id: &str, partitions: i32) -> i32 {
    let mut hash: i32 = 0;
    for unit in group_id.encode_utf16() {
        hash = hash.wrapping_mul(31).wrapping_add(unit as i32);
    }
    (hash & 0x7fff_ffff) % partitions.max(1)
}

/// The groups of one shard.
pub struct GroupCoordinator {
    pub settings: GroupSettings,
    groups: RefCell<HashMap<String, Group>>,
    /// `__consumer_offsets` partitions of this shard not read back yet.
    loading: RefCell<BTreeSet<i32>>,
    /// Partitions read back: groups on any other partition are not here.
    loaded: RefCell<BTreeSet<i32>>,
    last_expiry_check: Cell<Option<Instant>>,
}

impl GroupCoordinator {
    pub fn new(settings: GroupSettings) -> GroupCoordinator {
        GroupCoordinator {
            settings,
            groups: RefCell::new(HashMap::new()),
            loading: RefCell::new(BTreeSet::new()),
            loaded: RefCell::new(BTreeSet::new()),
            last_expiry_check: Cell::new(None),
        }
    }

    /// Whether this shard can answer for `group_id` now.
    fn available(&self, group_id: &str) -> Result<i32, ResponseError> {
        let partition = partition_for(group_id, self.settings.partitions);
        if self.loading.borrow().contains(&partition) {
            return Err(ResponseError::CoordinatorLoadInProgress);
        }
        if !self.loaded.borrow().contains(&partition) {
            return Err(ResponseError::CoordinatorNotAvailable);
        }
        Ok(partition)
    }

    pub async fn handle(&self, log: &OffsetsLog<'_>, call: GroupCall) -> GroupReply {
        match call {
            GroupCall::Join(call) => GroupReply::Join(self.join(log, call).await),
            GroupCall::Sync(call) => GroupReply::Sync(self.sync(log, call).await),
            GroupCall::Heartbeat(member) => {
                let error = match self.available(&member.group_id) {
                    Err(error) => error.code(),
                    Ok(_) => match self.groups.borrow_mut().get_mut(&member.group_id) {
                        None => ResponseError::UnknownMemberId.code(),
                        Some(group) => group.heartbeat(&member, Instant::now()),
                    },
                };
                GroupReply::Heartbeat(error)
            }
            GroupCall::Leave { group_id, members } => {
                GroupReply::Leave(self.leave(log, &group_id, members).await)
            }
            GroupCall::Commit(call) => GroupReply::Commit(self.commit(log, call).await),
            GroupCall::FetchOffsets { group_id, topics } => {
                GroupReply::FetchOffsets(self.fetch_offsets(&group_id, topics))
            }
            GroupCall::Describe { group_id } => GroupReply::Describe(self.describe(&group_id)),
            GroupCall::List => GroupReply::List(self.list()),
            GroupCall::Delete { group_id } => GroupReply::Delete(self.delete(log, &group_id).await),
            GroupCall::DeleteOffsets {
                group_id,
                partitions,
            } => {
                let (error, partitions) = self.delete_offsets(log, &group_id, partitions).await;
                GroupReply::DeleteOffsets { error, partitions }
            }
        }
    }

    async fn join(&self, log: &OffsetsLog<'_>, call: JoinCall) -> JoinReply {
        let failed = |error: ResponseError| JoinReply {
            error: error.code(),
            generation: -1,
            member_id: call.member_id.clone(),
            ..JoinReply::default()
        };
        let partition = match self.available(&call.group_id) {
            Ok(partition) => partition,
            Err(error) => return failed(error),
        };
        if call.group_id.is_empty() || call.group_id.len() > GROUP_ID_BYTES_MAX {
            return failed(ResponseError::InvalidGroupId);
        }
        let timeouts = self.settings.min_session_timeout_ms..=self.settings.max_session_timeout_ms;
        if !timeouts.contains(&call.session_timeout_ms) {
            return failed(ResponseError::InvalidSessionTimeout);
        }
        let now = Instant::now();
        let now_ms = now_ms();
        let step = {
            let mut groups = self.groups.borrow_mut();
            if !groups.contains_key(&call.group_id) {
                if !call.member_id.is_empty() {
                    return failed(ResponseError::UnknownMemberId);
                }
                groups.insert(
                    call.group_id.clone(),
                    Group::new(call.group_id.clone(), partition, now_ms),
                );
            }
            let group = groups.get_mut(&call.group_id).expect("inserted above");
            group.join(&call, &self.settings, now, now_ms)
        };
        self.write_dirty_groups(log).await;
        match step {
            Err(reply) => reply,
            Ok(receiver) => receiver
                .await
                .unwrap_or_else(|_| failed(ResponseError::RebalanceInProgress)),
        }
    }

    async fn sync(&self, log: &OffsetsLog<'_>, call: SyncCall) -> SyncReply {
        let failed = |error: ResponseError| SyncReply {
            error: error.code(),
            ..SyncReply::default()
        };
        let partition = match self.available(&call.member.group_id) {
            Ok(partition) => partition,
            Err(error) => return failed(error),
        };
        let now = Instant::now();
        let step = match self.groups.borrow_mut().get_mut(&call.member.group_id) {
            None => return failed(ResponseError::UnknownMemberId),
            Some(group) => group.sync(&call, now),
        };
        let receiver = match step {
            SyncStep::Answer(reply) => return reply,
            SyncStep::Wait(receiver) => receiver,
            SyncStep::LeaderAssigned {
                receiver,
                generation,
            } => {
                let value = match self.groups.borrow().get(&call.member.group_id) {
                    Some(group) => group.value_with_assignment(&call.assignments),
                    None => return failed(ResponseError::UnknownMemberId),
                };
                let written = store::append(
                    log,
                    partition,
                    vec![(
                        records::group_key(&call.member.group_id),
                        Some(records::group_value(&value)),
                    )],
                )
                .await;
                let now_ms = now_ms();
                if let Some(group) = self.groups.borrow_mut().get_mut(&call.member.group_id) {
                    match written {
                        Ok(()) => {
                            group.apply_assignment(generation, &call.assignments, now_ms);
                        }
                        Err(error) => {
                            tracing::warn!(group = %call.member.group_id, %error, "writing the group's assignment failed");
                            group.assignment_failed(
                                generation,
                                &self.settings,
                                Instant::now(),
                                now_ms,
                            );
                        }
                    }
                }
                self.write_dirty_groups(log).await;
                receiver
            }
        };
        receiver
            .await
            .unwrap_or_else(|_| failed(ResponseError::RebalanceInProgress))
    }

    async fn leave(
        &self,
        log: &OffsetsLog<'_>,
        group_id: &str,
        members: Vec<calls::LeavingMember>,
    ) -> LeaveReply {
        if let Err(error) = self.available(group_id) {
            return LeaveReply {
                error: error.code(),
                members: Vec::new(),
            };
        }
        let reply = match self.groups.borrow_mut().get_mut(group_id) {
            None => LeaveReply {
                error: 0,
                members: members
                    .into_iter()
                    .map(|m| (m, ResponseError::UnknownMemberId.code()))
                    .collect(),
            },
            Some(group) => group.leave(&members, &self.settings, Instant::now(), now_ms()),
        };
        self.write_dirty_groups(log).await;
        reply
    }

    fn describe(&self, group_id: &str) -> DescribedGroup {
        if let Err(error) = self.available(group_id) {
            return DescribedGroup {
                error: error.code(),
                group_id: group_id.to_string(),
                ..DescribedGroup::default()
            };
        }
        match self.groups.borrow().get(group_id) {
            Some(group) if group.state != GroupState::Dead => group.describe(),
            _ => DescribedGroup {
                error: 0,
                group_id: group_id.to_string(),
                state: GroupState::Dead.name().into(),
                ..DescribedGroup::default()
            },
        }
    }

    fn list(&self) -> Vec<ListedGroup> {
        self.groups
            .borrow()
            .values()
            .filter(|g| g.state != GroupState::Dead)
            .map(|g| ListedGroup {
                group_id: g.id.clone(),
                protocol_type: g.protocol_type.clone().unwrap_or_default(),
                state: g.state.name().to_string(),
            })
            .collect()
    }

    /// Periodic work: group timers, and offset expiry every
    /// `offsets.retention.check.interval.ms`.
    pub async fn tick(&self, log: &OffsetsLog<'_>) {
        let now = Instant::now();
        let now_ms = now_ms();
        {
            let mut groups = self.groups.borrow_mut();
            for group in groups.values_mut() {
                group.tick(&self.settings, now, now_ms);
            }
            // A group a failed join created and nothing else uses.
            groups.retain(|_, g| {
                !(g.state == GroupState::Empty
                    && g.generation == 0
                    && g.is_empty_of_members()
                    && !g.has_pending_members()
                    && g.offsets.is_empty()
                    && !g.dirty)
            });
        }
        self.write_dirty_groups(log).await;
        let due = self.last_expiry_check.get().is_none_or(|last| {
            now.duration_since(last) >= self.settings.offsets_retention_check_interval
        });
        if due {
            self.last_expiry_check.set(Some(now));
            self.expire_offsets(log, now_ms).await;
        }
    }

    /// Answers every member waiting in JoinGroup or SyncGroup (shutdown).
    pub fn release_waiters(&self) {
        for group in self.groups.borrow_mut().values_mut() {
            group.release_waiters();
        }
    }

    /// Writes the metadata of every group that changed.
    async fn write_dirty_groups(&self, log: &OffsetsLog<'_>) {
        let mut by_partition: HashMap<i32, Vec<store::KeyValue>> = HashMap::new();
        for group in self.groups.borrow_mut().values_mut() {
            if !group.dirty {
                continue;
            }
            group.dirty = false;
            let value =
                (group.state != GroupState::Dead).then(|| records::group_value(&group.value()));
            by_partition
                .entry(group.partition)
                .or_default()
                .push((records::group_key(&group.id), value));
        }
        for (partition, records) in by_partition {
            if let Err(error) = store::append(log, partition, records).await {
                tracing::warn!(partition, %error, "writing group metadata failed");
            }
        }
    }

    /// Reads this shard's `__consumer_offsets` partitions back (the
    /// embedded node: this shard leads every one it holds).
    pub async fn load(&self, log: &OffsetsLog<'_>) {
        let owned: BTreeSet<i32> = (0..self.settings.partitions)
            .filter(|p| log.partition(*p).is_some())
            .collect();
        self.lead(log, &owned).await;
    }

    /// Makes this shard coordinate the groups of exactly the
    /// `__consumer_offsets` partitions in `led` (in a cluster, those this
    /// broker now leads): partitions newly led are read back, those no
    /// longer led are dropped (their members get NOT_COORDINATOR and find
    /// the new coordinator, which reads the same log).
    pub async fn lead(&self, log: &OffsetsLog<'_>, led: &BTreeSet<i32>) {
        let lost: Vec<i32> = self
            .loaded
            .borrow()
            .iter()
            .chain(self.loading.borrow().iter())
            .filter(|p| !led.contains(p))
            .copied()
            .collect();
        if !lost.is_empty() {
            let mut groups = self.groups.borrow_mut();
            for group in groups.values_mut() {
                if lost.contains(&group.partition) {
                    group.release_waiters();
                }
            }
            groups.retain(|_, group| !lost.contains(&group.partition));
            let mut loaded = self.loaded.borrow_mut();
            let mut loading = self.loading.borrow_mut();
            for partition in &lost {
                loaded.remove(partition);
                loading.remove(partition);
                tracing::info!(
                    partition,
                    "no longer coordinating the groups of this partition"
                );
            }
        }
        let gained: Vec<i32> = led
            .iter()
            .filter(|p| !self.loaded.borrow().contains(p) && !self.loading.borrow().contains(p))
            .copied()
            .collect();
        self.loading.borrow_mut().extend(gained.iter().copied());
        for partition in gained {
            let started = Instant::now();
            let loaded =
                store::load(log, partition, self.settings.partitions, Instant::now()).await;
            // Leadership may have moved on while this partition was read.
            if !self.loading.borrow_mut().remove(&partition) {
                continue;
            }
            match loaded {
                Ok(groups) => {
                    let count = groups.len();
                    self.groups.borrow_mut().extend(groups);
                    if count > 0 {
                        tracing::info!(partition, groups = count, elapsed = ?started.elapsed(), "loaded groups");
                    }
                    self.loaded.borrow_mut().insert(partition);
                }
                Err(error) => {
                    tracing::error!(partition, %error, "loading groups failed; they are unavailable");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_matches_kafkas_hash() {
        // Java: "my-group".hashCode() == -1906497762; Utils.abs masks the
        // sign bit: 240985886, and 240985886 % 50 == 36.
        assert_eq!(partition_for("my-group", 50), 36);
        assert_eq!(partition_for("", 50), 0);
    }
}
