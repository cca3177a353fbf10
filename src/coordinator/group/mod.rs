//! One consumer group and Kafka's classic rebalance protocol.
//!
//! States, as Kafka names them:
//!
//! ```text
//! Empty ──join──> PreparingRebalance ──all joined / timeout──> CompletingRebalance
//!   ^                 ^        │                                   │ leader's SyncGroup
//!   │                 │        └── nobody left ──> Empty           v
//!   │                 └──── join, leave, expiry ────────────── Stable
//!   └ DeleteGroups ──> Dead
//! ```
//!
//! Everything here is synchronous: a call changes the group and either
//! answers at once or parks a oneshot sender in the member that a later
//! transition completes. The coordinator (`../mod.rs`) owns the groups,
//! drives time ([`Group::tick`]) and writes what changed to
//! `__consumer_offsets`.
//!
//! Files: this one holds the group, its members and time (`tick`);
//! `join.rs` joining and rebalancing, `sync.rs` SyncGroup, heartbeats and
//! membership checks, `leave.rs` LeaveGroup, `persist.rs` the group's
//! record in `__consumer_offsets` and its restore at load.

// A join answered at once comes back as `Err(JoinReply)`: moved once per
// request, so its size does not matter.
#![allow(clippy::result_large_err)]

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::channel::oneshot;
use kafka_protocol::ResponseError;

mod join;
mod leave;
mod persist;
mod sync;

pub use sync::SyncStep;

use super::calls::{
    DescribedGroup, DescribedMember, JoinCall, JoinReply, JoinedMember, LeaveReply, LeavingMember,
    MemberRef, SyncCall, SyncReply,
};
use super::records::{GroupValue, MemberValue};
use super::GroupSettings;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupState {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
    Dead,
}

impl GroupState {
    /// Kafka's names, as DescribeGroups and ListGroups report them.
    pub fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }
}

pub struct Member {
    pub id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    pub protocol_type: String,
    /// In the member's order of preference.
    pub protocols: Vec<(String, Bytes)>,
    pub assignment: Bytes,
    pub join_waiter: Option<oneshot::Sender<JoinReply>>,
    pub sync_waiter: Option<oneshot::Sender<SyncReply>>,
    pub heartbeat_deadline: Instant,
    /// Order of joining, for choosing a leader like Kafka (first joined).
    joined_seq: u64,
}

impl Member {
    fn metadata_for(&self, protocol: &str) -> Bytes {
        self.protocols
            .iter()
            .find(|(name, _)| name == protocol)
            .map(|(_, metadata)| metadata.clone())
            .unwrap_or_default()
    }

    fn refresh_heartbeat(&mut self, now: Instant) {
        self.heartbeat_deadline = now + ms(self.session_timeout_ms);
    }

    /// Answers a JoinGroup or SyncGroup this member is waiting in with
    /// `error` (it was fenced, left, or the broker is stopping).
    fn fail_waiters(&mut self, error: ResponseError) {
        if let Some(waiter) = self.join_waiter.take() {
            let _ = waiter.send(JoinReply {
                error: code(error),
                generation: -1,
                member_id: self.id.clone(),
                ..JoinReply::default()
            });
        }
        if let Some(waiter) = self.sync_waiter.take() {
            let _ = waiter.send(SyncReply {
                error: code(error),
                ..SyncReply::default()
            });
        }
    }
}

/// The first rebalance of an empty group waits `group.initial.rebalance.delay.ms`
/// for more members, extended while members keep arriving, up to the
/// rebalance timeout (Kafka's `InitialDelayedJoin`).
struct InitialDelay {
    started: Instant,
    limit: Duration,
    new_member_added: bool,
}

/// A committed offset as the coordinator keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommittedOffset {
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: String,
    pub commit_timestamp: i64,
}

pub struct Group {
    pub id: String,
    /// The `__consumer_offsets` partition that holds this group.
    pub partition: i32,
    pub state: GroupState,
    /// Wall-clock ms of the last state change (Kafka's currentStateTimestamp).
    pub state_since_ms: i64,
    pub generation: i32,
    pub protocol_type: Option<String>,
    pub protocol: Option<String>,
    pub leader: Option<String>,
    pub members: BTreeMap<String, Member>,
    /// group.instance.id -> member id.
    pub static_members: HashMap<String, String>,
    /// Member ids handed out with MEMBER_ID_REQUIRED, until they rejoin.
    pending_members: HashMap<String, Instant>,
    join_deadline: Option<Instant>,
    initial_delay: Option<InitialDelay>,
    sync_deadline: Option<Instant>,
    pub offsets: BTreeMap<(String, i32), CommittedOffset>,
    /// The group's metadata changed and must be written.
    pub dirty: bool,
    next_seq: u64,
}

fn ms(value: i32) -> Duration {
    Duration::from_millis(value.max(0) as u64)
}

fn code(error: ResponseError) -> i16 {
    error.code()
}

impl Group {
    pub fn new(id: String, partition: i32, now_ms: i64) -> Group {
        Group {
            id,
            partition,
            state: GroupState::Empty,
            state_since_ms: now_ms,
            generation: 0,
            protocol_type: None,
            protocol: None,
            leader: None,
            members: BTreeMap::new(),
            static_members: HashMap::new(),
            pending_members: HashMap::new(),
            join_deadline: None,
            initial_delay: None,
            sync_deadline: None,
            offsets: BTreeMap::new(),
            dirty: false,
            next_seq: 0,
        }
    }

    pub(super) fn transition(&mut self, state: GroupState, now_ms: i64) {
        self.state = state;
        self.state_since_ms = now_ms;
    }

    pub fn is_empty_of_members(&self) -> bool {
        self.members.is_empty()
    }

    pub fn has_pending_members(&self) -> bool {
        !self.pending_members.is_empty()
    }

    /// Protocols every member supports.
    pub(super) fn candidate_protocols(&self) -> Vec<String> {
        let mut members = self.members.values();
        let Some(first) = members.next() else {
            return Vec::new();
        };
        let mut candidates: Vec<String> = first.protocols.iter().map(|(n, _)| n.clone()).collect();
        for member in members {
            candidates.retain(|c| member.protocols.iter().any(|(n, _)| n == c));
        }
        candidates
    }

    /// Whether a joining member with `protocols` fits the group.
    pub(super) fn supports(&self, protocol_type: &str, protocols: &[(String, Bytes)]) -> bool {
        if self.members.is_empty() {
            return !protocol_type.is_empty() && !protocols.is_empty();
        }
        if self.protocol_type.as_deref() != Some(protocol_type) {
            return false;
        }
        let candidates = self.candidate_protocols();
        protocols.iter().any(|(name, _)| candidates.contains(name))
    }

    /// Kafka's selection: each member votes for its most preferred
    /// protocol among those all support; the most votes wins (ties go to
    /// the first candidate in the first member's order).
    pub(super) fn select_protocol(&self) -> Option<String> {
        let candidates = self.candidate_protocols();
        let mut votes: Vec<(String, usize)> = candidates.iter().map(|c| (c.clone(), 0)).collect();
        for member in self.members.values() {
            if let Some((name, _)) = member
                .protocols
                .iter()
                .find(|(n, _)| candidates.contains(n))
            {
                if let Some(vote) = votes.iter_mut().find(|(c, _)| c == name) {
                    vote.1 += 1;
                }
            }
        }
        let best = votes.iter().map(|(_, n)| *n).max()?;
        votes.into_iter().find(|(_, n)| *n == best).map(|(c, _)| c)
    }

    pub(super) fn max_rebalance_timeout(&self) -> i32 {
        self.members
            .values()
            .map(|m| m.rebalance_timeout_ms)
            .max()
            .unwrap_or(0)
    }

    pub(super) fn all_members_joined(&self) -> bool {
        self.pending_members.is_empty() && self.members.values().all(|m| m.join_waiter.is_some())
    }

    /// Time-driven transitions: the end of a join phase, a leader that
    /// never synced, members whose session expired, pending ids unused.
    pub fn tick(&mut self, settings: &GroupSettings, now: Instant, now_ms: i64) {
        if self.state == GroupState::Dead {
            return;
        }
        let mut departed = false;
        let expired: Vec<String> = self
            .members
            .values()
            .filter(|m| {
                m.join_waiter.is_none() && m.sync_waiter.is_none() && m.heartbeat_deadline <= now
            })
            .map(|m| m.id.clone())
            .collect();
        for id in expired {
            tracing::info!(group = %self.id, member = %id, "member session expired");
            self.remove_member(&id);
            departed = true;
        }
        let before = self.pending_members.len();
        self.pending_members.retain(|_, deadline| *deadline > now);
        departed |= self.pending_members.len() != before;
        if self.state == GroupState::CompletingRebalance
            && self.sync_deadline.is_some_and(|d| d <= now)
        {
            // Members that never sent SyncGroup (the leader among them,
            // or the others would have their answer) are dropped.
            let silent: Vec<String> = self
                .members
                .values()
                .filter(|m| m.sync_waiter.is_none())
                .map(|m| m.id.clone())
                .collect();
            for id in silent {
                tracing::info!(group = %self.id, member = %id, "member did not sync in time");
                self.remove_member(&id);
                departed = true;
            }
            self.sync_deadline = None;
        }
        if departed {
            self.after_departure(settings, now, now_ms);
        }
        if self.state == GroupState::PreparingRebalance
            && self.join_deadline.is_some_and(|d| d <= now)
        {
            if let Some(delay) = &mut self.initial_delay {
                let elapsed = now.duration_since(delay.started);
                if delay.new_member_added && elapsed < delay.limit {
                    delay.new_member_added = false;
                    let remaining = delay.limit - elapsed;
                    self.join_deadline =
                        Some(now + settings.initial_rebalance_delay.min(remaining));
                    return;
                }
            }
            self.complete_join(now, now_ms);
        }
    }

    pub fn describe(&self) -> DescribedGroup {
        let stable = self.state == GroupState::Stable;
        let protocol = self.protocol.clone().unwrap_or_default();
        DescribedGroup {
            error: 0,
            group_id: self.id.clone(),
            state: self.state.name().to_string(),
            protocol_type: self.protocol_type.clone().unwrap_or_default(),
            protocol: if stable {
                protocol.clone()
            } else {
                String::new()
            },
            members: self
                .members_by_join_order()
                .into_iter()
                .map(|m| DescribedMember {
                    member_id: m.id.clone(),
                    instance_id: m.instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    metadata: if stable {
                        m.metadata_for(&protocol)
                    } else {
                        Bytes::new()
                    },
                    assignment: if stable {
                        m.assignment.clone()
                    } else {
                        Bytes::new()
                    },
                })
                .collect(),
        }
    }

    /// Topics the members subscribe to, from their consumer-protocol
    /// metadata; None if the group does not use the consumer protocol.
    pub fn subscribed_topics(&self) -> Option<Vec<String>> {
        if self.protocol_type.as_deref() != Some("consumer") {
            return None;
        }
        let protocol = self.protocol.clone()?;
        let mut topics = Vec::new();
        for member in self.members.values() {
            topics.extend(super::subscription::topics(&member.metadata_for(&protocol)));
        }
        Some(topics)
    }

    /// The broker is stopping: members still waiting in JoinGroup or
    /// SyncGroup are answered NOT_COORDINATOR (clients look up the
    /// coordinator again), so their connections can drain.
    pub fn release_waiters(&mut self) {
        for member in self.members.values_mut() {
            member.fail_waiters(ResponseError::NotCoordinator);
        }
    }

    /// DeleteGroups: only a group without members may go.
    pub fn mark_dead(&mut self, now_ms: i64) {
        self.transition(GroupState::Dead, now_ms);
        self.offsets.clear();
    }
}

#[cfg(test)]
mod tests;
