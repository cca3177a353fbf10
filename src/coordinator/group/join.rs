//! Joining a group: the two-step join, static members, and the rebalance
//! that a join (or a departure) starts and completes.

use std::time::Instant;

use bytes::Bytes;
use kafka_protocol::ResponseError;

use super::*;

impl Group {
    pub(super) fn fenced(&self, instance_id: Option<&str>, member_id: &str) -> bool {
        match instance_id.and_then(|i| self.static_members.get(i)) {
            Some(known) => known != member_id,
            None => false,
        }
    }

    pub(super) fn error_join(call: &JoinCall, error: ResponseError) -> JoinReply {
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

    pub(super) fn join_unknown_member(
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

    pub(super) fn add_member(
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
    pub(super) fn replace_static_member(
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

    pub(super) fn join_known_member(
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

    pub(super) fn joined_members(&self) -> Vec<JoinedMember> {
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

    pub(super) fn members_by_join_order(&self) -> Vec<&Member> {
        let mut members: Vec<&Member> = self.members.values().collect();
        members.sort_by_key(|m| m.joined_seq);
        members
    }

    /// Starts a rebalance if one is not already under way.
    pub(super) fn prepare_rebalance(
        &mut self,
        settings: &GroupSettings,
        now: Instant,
        now_ms: i64,
    ) {
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
    pub(super) fn force_rebalance(&mut self, now: Instant, now_ms: i64) {
        if self.state != GroupState::PreparingRebalance {
            self.cancel_syncs();
            self.transition(GroupState::PreparingRebalance, now_ms);
            self.initial_delay = None;
            self.join_deadline = Some(now + ms(self.max_rebalance_timeout()));
        }
    }

    /// Members waiting in SyncGroup learn that a new rebalance started.
    pub(super) fn cancel_syncs(&mut self) {
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

    pub(super) fn try_complete_join(&mut self, now: Instant, now_ms: i64) {
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
    pub(super) fn complete_join(&mut self, now: Instant, now_ms: i64) {
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

    pub(super) fn remove_member(&mut self, member_id: &str) -> Option<Member> {
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
    pub(super) fn after_departure(&mut self, settings: &GroupSettings, now: Instant, now_ms: i64) {
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
}
