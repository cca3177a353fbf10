//! SyncGroup, heartbeats, and the membership checks OffsetCommit shares.

use std::time::Instant;

use bytes::Bytes;
use kafka_protocol::ResponseError;

use super::*;

impl Group {
    /// Checks a member named by Heartbeat, SyncGroup or OffsetCommit.
    pub(super) fn check_member(&self, member: &MemberRef) -> Result<(), ResponseError> {
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
