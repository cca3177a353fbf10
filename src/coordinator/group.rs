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
//! transition completes. The coordinator (`mod.rs`) owns the groups, drives
//! time ([`Group::tick`]) and writes what changed to `__consumer_offsets`.

// A join answered at once comes back as `Err(JoinReply)`: moved once per
// request, so its size does not matter.
#![allow(clippy::result_large_err)]

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::channel::oneshot;
use kafka_protocol::ResponseError;

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

    fn transition(&mut self, state: GroupState, now_ms: i64) {
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
    fn candidate_protocols(&self) -> Vec<String> {
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
    fn supports(&self, protocol_type: &str, protocols: &[(String, Bytes)]) -> bool {
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
    fn select_protocol(&self) -> Option<String> {
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

    fn max_rebalance_timeout(&self) -> i32 {
        self.members
            .values()
            .map(|m| m.rebalance_timeout_ms)
            .max()
            .unwrap_or(0)
    }

    fn all_members_joined(&self) -> bool {
        self.pending_members.is_empty() && self.members.values().all(|m| m.join_waiter.is_some())
    }

    fn fenced(&self, instance_id: Option<&str>, member_id: &str) -> bool {
        match instance_id.and_then(|i| self.static_members.get(i)) {
            Some(known) => known != member_id,
            None => false,
        }
    }

    fn error_join(call: &JoinCall, error: ResponseError) -> JoinReply {
        JoinReply {
            error: code(error),
            generation: -1,
            member_id: call.member_id.clone(),
            ..JoinReply::default()
        }
    }

    /// JoinGroup. Returns an answer now, or a receiver the rebalance answers.
    pub fn join(
        &mut self,
        call: &JoinCall,
        settings: &GroupSettings,
        now: Instant,
        now_ms: i64,
    ) -> Result<oneshot::Receiver<JoinReply>, JoinReply> {
        if self.state == GroupState::Dead {
            return Err(Self::error_join(
                call,
                ResponseError::CoordinatorNotAvailable,
            ));
        }
        if !self.supports(&call.protocol_type, &call.protocols) {
            return Err(Self::error_join(
                call,
                ResponseError::InconsistentGroupProtocol,
            ));
        }
        if call.member_id.is_empty() {
            self.join_unknown_member(call, settings, now, now_ms)
        } else {
            self.join_known_member(call, settings, now, now_ms)
        }
    }

    fn join_unknown_member(
        &mut self,
        call: &JoinCall,
        settings: &GroupSettings,
        now: Instant,
        now_ms: i64,
    ) -> Result<oneshot::Receiver<JoinReply>, JoinReply> {
        let prefix = call.instance_id.as_deref().unwrap_or(&call.client_id);
        let member_id = format!("{prefix}-{}", uuid::Uuid::new_v4());
        if let Some(instance_id) = &call.instance_id {
            if let Some(old_id) = self.static_members.get(instance_id).cloned() {
                return self.replace_static_member(call, &old_id, member_id, now, now_ms);
            }
        } else if call.require_known_member_id {
            // KIP-394: hand out the id first, so a client that never gets
            // the answer does not leave a ghost member behind.
            if self.members.len() + self.pending_members.len() >= settings.max_size {
                return Err(Self::error_join(call, ResponseError::GroupMaxSizeReached));
            }
            self.pending_members
                .insert(member_id.clone(), now + ms(call.session_timeout_ms));
            return Err(JoinReply {
                error: code(ResponseError::MemberIdRequired),
                generation: -1,
                member_id,
                ..JoinReply::default()
            });
        }
        if self.members.len() >= settings.max_size {
            return Err(Self::error_join(call, ResponseError::GroupMaxSizeReached));
        }
        Ok(self.add_member(call, member_id, settings, now, now_ms))
    }

    fn add_member(
        &mut self,
        call: &JoinCall,
        member_id: String,
        settings: &GroupSettings,
        now: Instant,
        now_ms: i64,
    ) -> oneshot::Receiver<JoinReply> {
        let (sender, receiver) = oneshot::channel();
        if self.members.is_empty() {
            self.protocol_type = Some(call.protocol_type.clone());
        }
        if let Some(instance_id) = &call.instance_id {
            self.static_members
                .insert(instance_id.clone(), member_id.clone());
        }
        self.pending_members.remove(&member_id);
        self.next_seq += 1;
        let mut member = Member {
            id: member_id.clone(),
            instance_id: call.instance_id.clone(),
            client_id: call.client_id.clone(),
            client_host: call.client_host.clone(),
            session_timeout_ms: call.session_timeout_ms,
            rebalance_timeout_ms: call.rebalance_timeout_ms,
            protocol_type: call.protocol_type.clone(),
            protocols: call.protocols.clone(),
            assignment: Bytes::new(),
            join_waiter: Some(sender),
            sync_waiter: None,
            heartbeat_deadline: now,
            joined_seq: self.next_seq,
        };
        member.refresh_heartbeat(now);
        self.members.insert(member_id, member);
        if let Some(delay) = &mut self.initial_delay {
            delay.new_member_added = true;
        }
        self.prepare_rebalance(settings, now, now_ms);
        self.try_complete_join(now, now_ms);
        receiver
    }

    /// A static member came back with a new member id: it takes the old
    /// member's place (and assignment) without a rebalance when the group
    /// is stable; the old id is fenced.
    fn replace_static_member(
        &mut self,
        call: &JoinCall,
        old_id: &str,
        new_id: String,
        now: Instant,
        now_ms: i64,
    ) -> Result<oneshot::Receiver<JoinReply>, JoinReply> {
        let Some(mut member) = self.members.remove(old_id) else {
            self.static_members
                .remove(call.instance_id.as_deref().unwrap_or(""));
            return Err(Self::error_join(call, ResponseError::UnknownMemberId));
        };
        member.fail_waiters(ResponseError::FencedInstanceId);
        let type_changed = member.protocol_type != call.protocol_type;
        member.id = new_id.clone();
        member.client_id = call.client_id.clone();
        member.client_host = call.client_host.clone();
        member.session_timeout_ms = call.session_timeout_ms;
        member.rebalance_timeout_ms = call.rebalance_timeout_ms;
        member.protocols = call.protocols.clone();
        member.protocol_type = call.protocol_type.clone();
        member.refresh_heartbeat(now);
        let was_leader = self.leader.as_deref() == Some(old_id);
        if was_leader {
            self.leader = Some(new_id.clone());
        }
        if let Some(instance_id) = &call.instance_id {
            self.static_members
                .insert(instance_id.clone(), new_id.clone());
        }
        self.members.insert(new_id.clone(), member);
        self.dirty = true;
        // As Kafka: the new metadata (owned partitions change on every
        // restart) only matters if it would change the selected protocol.
        let protocols_changed = type_changed || self.select_protocol() != self.protocol;
        let (sender, receiver) = oneshot::channel();
        // A returning leader gets the member list and, from v9, is told to
        // skip the assignment; an older client computes one that the
        // stable group ignores (its SyncGroup gets the current one), as
        // with Kafka.
        let quiet = self.state == GroupState::Stable && !protocols_changed;
        if quiet {
            let members = if was_leader {
                self.joined_members()
            } else {
                Vec::new()
            };
            let _ = sender.send(JoinReply {
                error: 0,
                generation: self.generation,
                protocol_type: self.protocol_type.clone(),
                protocol_name: self.protocol.clone(),
                leader: self.leader.clone().unwrap_or_default(),
                skip_assignment: was_leader && call.supports_skip_assignment,
                member_id: new_id,
                members,
            });
            return Ok(receiver);
        }
        if let Some(member) = self.members.get_mut(&new_id) {
            member.join_waiter = Some(sender);
        }
        self.force_rebalance(now, now_ms);
        self.try_complete_join(now, now_ms);
        Ok(receiver)
    }

    fn join_known_member(
        &mut self,
        call: &JoinCall,
        settings: &GroupSettings,
        now: Instant,
        now_ms: i64,
    ) -> Result<oneshot::Receiver<JoinReply>, JoinReply> {
        if self.fenced(call.instance_id.as_deref(), &call.member_id) {
            return Err(Self::error_join(call, ResponseError::FencedInstanceId));
        }
        if !self.members.contains_key(&call.member_id) {
            if self.pending_members.contains_key(&call.member_id) {
                return Ok(self.add_member(call, call.member_id.clone(), settings, now, now_ms));
            }
            return Err(Self::error_join(call, ResponseError::UnknownMemberId));
        }
        let is_leader = self.leader.as_deref() == Some(call.member_id.as_str());
        let state = self.state;
        let generation = self.generation;
        let protocol = self.protocol.clone();
        let leader = self.leader.clone().unwrap_or_default();
        let protocol_type = self.protocol_type.clone();
        let joined = if is_leader {
            self.joined_members()
        } else {
            Vec::new()
        };
        let member = self
            .members
            .get_mut(&call.member_id)
            .expect("checked above");
        let unchanged = member.protocols == call.protocols;
        member.client_id = call.client_id.clone();
        member.client_host = call.client_host.clone();
        member.session_timeout_ms = call.session_timeout_ms;
        member.rebalance_timeout_ms = call.rebalance_timeout_ms;
        member.protocols = call.protocols.clone();
        member.refresh_heartbeat(now);
        let (sender, receiver) = oneshot::channel();
        match state {
            GroupState::PreparingRebalance => {
                if let Some(old) = member.join_waiter.replace(sender) {
                    // A retried join replaces the one still waiting.
                    let _ = old.send(Self::error_join(call, ResponseError::RebalanceInProgress));
                }
                self.try_complete_join(now, now_ms);
            }
            GroupState::CompletingRebalance | GroupState::Stable
                if unchanged && (state == GroupState::CompletingRebalance || !is_leader) =>
            {
                // A member that lost the join answer asks again: same
                // generation, nothing changes.
                let _ = sender.send(JoinReply {
                    error: 0,
                    generation,
                    protocol_type,
                    protocol_name: protocol,
                    leader,
                    skip_assignment: false,
                    member_id: call.member_id.clone(),
                    members: joined,
                });
            }
            GroupState::CompletingRebalance | GroupState::Stable => {
                member.join_waiter = Some(sender);
                self.prepare_rebalance(settings, now, now_ms);
                self.try_complete_join(now, now_ms);
            }
            GroupState::Empty | GroupState::Dead => {
                return Err(Self::error_join(call, ResponseError::UnknownMemberId));
            }
        }
        Ok(receiver)
    }

    fn joined_members(&self) -> Vec<JoinedMember> {
        let protocol = self.protocol.clone().unwrap_or_default();
        self.members_by_join_order()
            .into_iter()
            .map(|m| JoinedMember {
                member_id: m.id.clone(),
                instance_id: m.instance_id.clone(),
                metadata: m.metadata_for(&protocol),
            })
            .collect()
    }

    fn members_by_join_order(&self) -> Vec<&Member> {
        let mut members: Vec<&Member> = self.members.values().collect();
        members.sort_by_key(|m| m.joined_seq);
        members
    }

    /// Starts a rebalance if one is not already under way.
    fn prepare_rebalance(&mut self, settings: &GroupSettings, now: Instant, now_ms: i64) {
        if self.state == GroupState::PreparingRebalance {
            return;
        }
        let from_empty = self.state == GroupState::Empty;
        self.cancel_syncs();
        self.transition(GroupState::PreparingRebalance, now_ms);
        let rebalance_timeout = ms(self.max_rebalance_timeout());
        if from_empty && settings.initial_rebalance_delay > Duration::ZERO {
            self.initial_delay = Some(InitialDelay {
                started: now,
                limit: rebalance_timeout,
                new_member_added: false,
            });
            self.join_deadline =
                Some(now + settings.initial_rebalance_delay.min(rebalance_timeout));
        } else {
            self.initial_delay = None;
            self.join_deadline = Some(now + rebalance_timeout);
        }
    }

    /// A rebalance that waits for everyone (no initial delay).
    fn force_rebalance(&mut self, now: Instant, now_ms: i64) {
        if self.state != GroupState::PreparingRebalance {
            self.cancel_syncs();
            self.transition(GroupState::PreparingRebalance, now_ms);
            self.initial_delay = None;
            self.join_deadline = Some(now + ms(self.max_rebalance_timeout()));
        }
    }

    /// Members waiting in SyncGroup learn that a new rebalance started.
    fn cancel_syncs(&mut self) {
        self.sync_deadline = None;
        for member in self.members.values_mut() {
            if let Some(waiter) = member.sync_waiter.take() {
                let _ = waiter.send(SyncReply {
                    error: code(ResponseError::RebalanceInProgress),
                    ..SyncReply::default()
                });
            }
        }
    }

    fn try_complete_join(&mut self, now: Instant, now_ms: i64) {
        if self.state == GroupState::PreparingRebalance
            && self.initial_delay.is_none()
            && self.all_members_joined()
        {
            self.complete_join(now, now_ms);
        }
    }

    /// Ends the join phase: members that did not rejoin leave (static ones
    /// stay, they may come back within their session), a new generation
    /// starts, and every waiting member gets its answer.
    fn complete_join(&mut self, now: Instant, now_ms: i64) {
        self.join_deadline = None;
        self.initial_delay = None;
        self.pending_members.clear();
        let gone: Vec<String> = self
            .members
            .values()
            .filter(|m| m.join_waiter.is_none() && m.instance_id.is_none())
            .map(|m| m.id.clone())
            .collect();
        for id in gone {
            self.remove_member(&id);
        }
        self.generation += 1;
        self.dirty = true;
        if self.members.is_empty() {
            self.protocol = None;
            self.leader = None;
            self.transition(GroupState::Empty, now_ms);
            return;
        }
        self.protocol = self.select_protocol();
        let leader_present = self
            .leader
            .as_ref()
            .is_some_and(|l| self.members.get(l).is_some_and(|m| m.join_waiter.is_some()));
        if !leader_present {
            self.leader = self
                .members_by_join_order()
                .into_iter()
                .find(|m| m.join_waiter.is_some())
                .or_else(|| self.members_by_join_order().into_iter().next())
                .map(|m| m.id.clone());
        }
        self.transition(GroupState::CompletingRebalance, now_ms);
        self.sync_deadline = Some(now + ms(self.max_rebalance_timeout()));
        let everyone = self.joined_members();
        let leader = self.leader.clone().unwrap_or_default();
        for member in self.members.values_mut() {
            member.assignment = Bytes::new();
            member.refresh_heartbeat(now);
            if let Some(waiter) = member.join_waiter.take() {
                let members = if member.id == leader {
                    everyone.clone()
                } else {
                    Vec::new()
                };
                let _ = waiter.send(JoinReply {
                    error: 0,
                    generation: self.generation,
                    protocol_type: self.protocol_type.clone(),
                    protocol_name: self.protocol.clone(),
                    leader: leader.clone(),
                    skip_assignment: false,
                    member_id: member.id.clone(),
                    members,
                });
            }
        }
    }

    fn remove_member(&mut self, member_id: &str) -> Option<Member> {
        let member = self.members.remove(member_id)?;
        if let Some(instance_id) = &member.instance_id {
            if self.static_members.get(instance_id).map(String::as_str) == Some(member_id) {
                self.static_members.remove(instance_id);
            }
        }
        if self.leader.as_deref() == Some(member_id) {
            self.leader = None;
        }
        self.dirty = true;
        Some(member)
    }

    /// After members left or expired: rebalance, or finish the one under way.
    fn after_departure(&mut self, settings: &GroupSettings, now: Instant, now_ms: i64) {
        match self.state {
            GroupState::Stable | GroupState::CompletingRebalance => {
                if self.members.is_empty() {
                    self.cancel_syncs();
                    self.generation += 1;
                    self.protocol = None;
                    self.leader = None;
                    self.dirty = true;
                    self.transition(GroupState::Empty, now_ms);
                } else {
                    self.prepare_rebalance(settings, now, now_ms);
                }
            }
            GroupState::PreparingRebalance => {
                if self.members.is_empty() && self.pending_members.is_empty() {
                    self.complete_join(now, now_ms);
                } else {
                    self.try_complete_join(now, now_ms);
                }
            }
            GroupState::Empty | GroupState::Dead => {}
        }
    }

    /// Checks a member named by Heartbeat, SyncGroup or OffsetCommit.
    fn check_member(&self, member: &MemberRef) -> Result<(), ResponseError> {
        if self.fenced(member.instance_id.as_deref(), &member.member_id) {
            return Err(ResponseError::FencedInstanceId);
        }
        if !self.members.contains_key(&member.member_id) {
            return Err(ResponseError::UnknownMemberId);
        }
        if member.generation != self.generation {
            return Err(ResponseError::IllegalGeneration);
        }
        Ok(())
    }

    pub fn heartbeat(&mut self, member: &MemberRef, now: Instant) -> i16 {
        match self.state {
            GroupState::Dead => return code(ResponseError::CoordinatorNotAvailable),
            GroupState::Empty => return code(ResponseError::UnknownMemberId),
            _ => {}
        }
        if let Err(error) = self.check_member(member) {
            return code(error);
        }
        if let Some(m) = self.members.get_mut(&member.member_id) {
            m.refresh_heartbeat(now);
        }
        if self.state == GroupState::PreparingRebalance {
            code(ResponseError::RebalanceInProgress)
        } else {
            0
        }
    }

    /// SyncGroup. The leader's call carries the assignment; the caller
    /// writes the group and then calls [`Group::apply_assignment`].
    pub fn sync(&mut self, call: &SyncCall, now: Instant) -> SyncStep {
        let error = |e: ResponseError| {
            SyncStep::Answer(SyncReply {
                error: code(e),
                ..SyncReply::default()
            })
        };
        match self.state {
            GroupState::Dead => return error(ResponseError::CoordinatorNotAvailable),
            GroupState::Empty => return error(ResponseError::UnknownMemberId),
            _ => {}
        }
        if let Err(e) = self.check_member(&call.member) {
            return error(e);
        }
        let type_mismatch = call
            .protocol_type
            .as_ref()
            .is_some_and(|t| Some(t) != self.protocol_type.as_ref());
        let name_mismatch = call
            .protocol_name
            .as_ref()
            .is_some_and(|n| Some(n) != self.protocol.as_ref());
        if type_mismatch || name_mismatch {
            return error(ResponseError::InconsistentGroupProtocol);
        }
        match self.state {
            GroupState::PreparingRebalance => error(ResponseError::RebalanceInProgress),
            GroupState::Stable => {
                let member = self
                    .members
                    .get_mut(&call.member.member_id)
                    .expect("checked");
                member.refresh_heartbeat(now);
                SyncStep::Answer(SyncReply {
                    error: 0,
                    protocol_type: self.protocol_type.clone(),
                    protocol_name: self.protocol.clone(),
                    assignment: member.assignment.clone(),
                })
            }
            _ => {
                let (sender, receiver) = oneshot::channel();
                let is_leader = self.leader.as_deref() == Some(call.member.member_id.as_str());
                let member = self
                    .members
                    .get_mut(&call.member.member_id)
                    .expect("checked");
                member.refresh_heartbeat(now);
                if let Some(old) = member.sync_waiter.replace(sender) {
                    let _ = old.send(SyncReply {
                        error: code(ResponseError::RebalanceInProgress),
                        ..SyncReply::default()
                    });
                }
                if is_leader {
                    SyncStep::LeaderAssigned {
                        receiver,
                        generation: self.generation,
                    }
                } else {
                    SyncStep::Wait(receiver)
                }
            }
        }
    }

    /// The group state to write before the leader's assignment takes effect.
    pub fn value_with_assignment(&self, assignments: &[(String, Bytes)]) -> GroupValue {
        let mut value = self.value();
        for member in &mut value.members {
            member.assignment = assignments
                .iter()
                .find(|(id, _)| *id == member.member_id)
                .map(|(_, a)| a.clone())
                .unwrap_or_default();
        }
        value
    }

    /// The leader's assignment was written: every member gets its part and
    /// the group is stable. False if a new rebalance started meanwhile.
    pub fn apply_assignment(
        &mut self,
        generation: i32,
        assignments: &[(String, Bytes)],
        now_ms: i64,
    ) -> bool {
        if self.generation != generation || self.state != GroupState::CompletingRebalance {
            return false;
        }
        self.sync_deadline = None;
        self.transition(GroupState::Stable, now_ms);
        for member in self.members.values_mut() {
            member.assignment = assignments
                .iter()
                .find(|(id, _)| *id == member.id)
                .map(|(_, a)| a.clone())
                .unwrap_or_default();
            if let Some(waiter) = member.sync_waiter.take() {
                let _ = waiter.send(SyncReply {
                    error: 0,
                    protocol_type: self.protocol_type.clone(),
                    protocol_name: self.protocol.clone(),
                    assignment: member.assignment.clone(),
                });
            }
        }
        true
    }

    /// Writing the assignment failed: everyone rejoins.
    pub fn assignment_failed(
        &mut self,
        generation: i32,
        settings: &GroupSettings,
        now: Instant,
        now_ms: i64,
    ) {
        if self.generation == generation && self.state == GroupState::CompletingRebalance {
            self.prepare_rebalance(settings, now, now_ms);
        }
    }

    pub fn leave(
        &mut self,
        members: &[LeavingMember],
        settings: &GroupSettings,
        now: Instant,
        now_ms: i64,
    ) -> LeaveReply {
        let mut answers = Vec::with_capacity(members.len());
        let mut departed = false;
        for leaving in members {
            let resolved = match &leaving.instance_id {
                Some(instance_id) => match self.static_members.get(instance_id) {
                    Some(id) if !leaving.member_id.is_empty() && *id != leaving.member_id => {
                        Err(ResponseError::FencedInstanceId)
                    }
                    Some(id) => Ok(id.clone()),
                    None => Err(ResponseError::UnknownMemberId),
                },
                None => Ok(leaving.member_id.clone()),
            };
            let error = match resolved {
                Err(error) => code(error),
                Ok(id) => {
                    if self.pending_members.remove(&id).is_some() {
                        departed = true;
                        0
                    } else if let Some(mut member) = self.remove_member(&id) {
                        member.fail_waiters(ResponseError::UnknownMemberId);
                        departed = true;
                        0
                    } else {
                        code(ResponseError::UnknownMemberId)
                    }
                }
            };
            answers.push((leaving.clone(), error));
        }
        if departed {
            self.after_departure(settings, now, now_ms);
        }
        LeaveReply {
            error: 0,
            members: answers,
        }
    }

    /// OffsetCommit's membership check. Ok(()) means the commit may be written.
    pub fn check_commit(&self, member: &MemberRef) -> Result<(), ResponseError> {
        match self.state {
            GroupState::Dead => return Err(ResponseError::CoordinatorNotAvailable),
            // Offsets stored by a client that manages its own partitions
            // (no membership), Kafka's "simple" consumer commit.
            GroupState::Empty if member.generation < 0 && member.member_id.is_empty() => {
                return Ok(())
            }
            GroupState::Empty => return Err(ResponseError::UnknownMemberId),
            _ => {}
        }
        self.check_member(member)?;
        if self.state == GroupState::CompletingRebalance {
            return Err(ResponseError::RebalanceInProgress);
        }
        Ok(())
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

    /// The group's metadata record (`GroupMetadataValue`).
    pub fn value(&self) -> GroupValue {
        GroupValue {
            protocol_type: self.protocol_type.clone().unwrap_or_default(),
            generation: self.generation,
            protocol: self.protocol.clone(),
            leader: self.leader.clone(),
            current_state_timestamp: self.state_since_ms,
            members: self
                .members_by_join_order()
                .into_iter()
                .map(|m| MemberValue {
                    member_id: m.id.clone(),
                    group_instance_id: m.instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    rebalance_timeout: m.rebalance_timeout_ms,
                    session_timeout: m.session_timeout_ms,
                    subscription: self
                        .protocol
                        .as_deref()
                        .map(|p| m.metadata_for(p))
                        .unwrap_or_default(),
                    assignment: m.assignment.clone(),
                })
                .collect(),
        }
    }

    /// Restores a group from its metadata record at load: members are
    /// back with their assignments and a fresh session to prove they live.
    pub fn restore(&mut self, value: GroupValue, now: Instant) {
        self.generation = value.generation;
        self.protocol_type = (!value.protocol_type.is_empty()).then_some(value.protocol_type);
        self.protocol = value.protocol;
        self.leader = value.leader;
        self.state_since_ms = value.current_state_timestamp;
        self.members.clear();
        self.static_members.clear();
        for m in value.members {
            self.next_seq += 1;
            let protocol = self.protocol.clone().unwrap_or_default();
            if let Some(instance_id) = &m.group_instance_id {
                self.static_members
                    .insert(instance_id.clone(), m.member_id.clone());
            }
            let mut member = Member {
                id: m.member_id.clone(),
                instance_id: m.group_instance_id,
                client_id: m.client_id,
                client_host: m.client_host,
                session_timeout_ms: m.session_timeout,
                rebalance_timeout_ms: m.rebalance_timeout,
                protocol_type: self.protocol_type.clone().unwrap_or_default(),
                protocols: vec![(protocol, m.subscription)],
                assignment: m.assignment,
                join_waiter: None,
                sync_waiter: None,
                heartbeat_deadline: now,
                joined_seq: self.next_seq,
            };
            member.refresh_heartbeat(now);
            self.members.insert(m.member_id, member);
        }
        self.state = if self.members.is_empty() {
            GroupState::Empty
        } else {
            GroupState::Stable
        };
        self.dirty = false;
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

/// What a SyncGroup call leads to.
pub enum SyncStep {
    Answer(SyncReply),
    Wait(oneshot::Receiver<SyncReply>),
    /// The leader's assignment: write it, then apply it.
    LeaderAssigned {
        receiver: oneshot::Receiver<SyncReply>,
        generation: i32,
    },
}

#[cfg(test)]
mod tests;
