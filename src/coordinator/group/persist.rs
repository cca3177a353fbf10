//! The group's record in `__consumer_offsets` (`GroupMetadataValue`), and
//! the group restored from it when a shard loads its partitions.

use std::time::Instant;

use bytes::Bytes;

use super::*;

impl Group {
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
}
