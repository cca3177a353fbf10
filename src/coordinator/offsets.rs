//! Committed offsets: OffsetCommit, OffsetFetch, OffsetDelete,
//! DeleteGroups, and the expiry of offsets of groups nobody uses
//! (`offsets.retention.minutes`, Kafka's KIP-211 rules).

use std::collections::HashMap;

use kafka_protocol::ResponseError;

use super::calls::{CommitCall, FetchedOffset, FetchedOffsets};
use super::group::{CommittedOffset, Group, GroupState};
use super::records::{self, OffsetValue};
use super::store::OffsetsLog;
use super::store::{self, KeyValue};
use super::GroupCoordinator;
use crate::clock::now_ms;

impl GroupCoordinator {
    /// Returns one error code per part, in order.
    pub(super) async fn commit(&self, log: &OffsetsLog<'_>, call: CommitCall) -> Vec<i16> {
        let all = |error: ResponseError| vec![error.code(); call.offsets.len()];
        let group_id = call.member.group_id.clone();
        let partition = match self.available(&group_id) {
            Ok(partition) => partition,
            Err(error) => return all(error),
        };
        if group_id.is_empty() {
            return all(ResponseError::InvalidGroupId);
        }
        let now = now_ms();
        // A group that does not exist yet is created once its offsets are
        // written, not before: an empty group without offsets is what the
        // periodic tick removes, and the write is an await.
        match self.groups.borrow().get(&group_id) {
            Some(group) => {
                if let Err(error) = group.check_commit(&call.member) {
                    return all(error);
                }
            }
            // Only a commit without membership can create a group.
            None if call.member.generation >= 0 || !call.member.member_id.is_empty() => {
                return all(ResponseError::UnknownMemberId);
            }
            None => {}
        }
        let mut codes = Vec::with_capacity(call.offsets.len());
        let mut records: Vec<KeyValue> = Vec::new();
        let mut accepted = Vec::new();
        for part in &call.offsets {
            let metadata = part.metadata.clone().unwrap_or_default();
            if metadata.len() > self.settings.offset_metadata_bytes_max {
                codes.push(ResponseError::OffsetMetadataTooLarge.code());
                continue;
            }
            let value = OffsetValue {
                offset: part.offset,
                leader_epoch: part.leader_epoch,
                metadata,
                commit_timestamp: now,
            };
            records.push((
                records::offset_key(&group_id, &part.topic, part.partition),
                Some(records::offset_value(&value)),
            ));
            accepted.push((codes.len(), part.topic.clone(), part.partition, value));
            codes.push(0);
        }
        if let Err(error) = store::append(log, partition, records).await {
            tracing::warn!(group = %group_id, %error, "writing offsets failed");
            for (slot, ..) in &accepted {
                codes[*slot] = ResponseError::CoordinatorNotAvailable.code();
            }
            return codes;
        }
        // The offsets are in the log: in memory too, in the group as it is
        // now (created here if it is new), as a reload would find them.
        {
            let mut groups = self.groups.borrow_mut();
            let group = groups
                .entry(group_id.clone())
                .or_insert_with(|| Group::new(group_id.clone(), partition, now));
            for (_, topic, p, value) in accepted {
                group.offsets.insert(
                    (topic, p),
                    CommittedOffset {
                        offset: value.offset,
                        leader_epoch: value.leader_epoch,
                        metadata: value.metadata,
                        commit_timestamp: value.commit_timestamp,
                    },
                );
            }
        }
        codes
    }

    pub(super) fn fetch_offsets(
        &self,
        group_id: &str,
        topics: Option<Vec<(String, Vec<i32>)>>,
    ) -> FetchedOffsets {
        if let Err(error) = self.available(group_id) {
            return FetchedOffsets {
                error: error.code(),
                topics: Vec::new(),
            };
        }
        let groups = self.groups.borrow();
        let group = groups.get(group_id).filter(|g| g.state != GroupState::Dead);
        let fetched = |found: Option<&CommittedOffset>, partition: i32| match found {
            Some(c) => FetchedOffset {
                partition,
                offset: c.offset,
                leader_epoch: c.leader_epoch,
                metadata: Some(c.metadata.clone()),
                error: 0,
            },
            None => FetchedOffset {
                partition,
                offset: -1,
                leader_epoch: -1,
                metadata: Some(String::new()),
                error: 0,
            },
        };
        let topics = match topics {
            Some(topics) => topics
                .into_iter()
                .map(|(topic, partitions)| {
                    let parts = partitions
                        .into_iter()
                        .map(|p| {
                            let found = group.and_then(|g| g.offsets.get(&(topic.clone(), p)));
                            fetched(found, p)
                        })
                        .collect();
                    (topic, parts)
                })
                .collect(),
            None => {
                let mut by_topic: Vec<(String, Vec<FetchedOffset>)> = Vec::new();
                if let Some(group) = group {
                    for ((topic, p), committed) in &group.offsets {
                        match by_topic.last_mut() {
                            Some((t, parts)) if t == topic => {
                                parts.push(fetched(Some(committed), *p))
                            }
                            _ => by_topic.push((topic.clone(), vec![fetched(Some(committed), *p)])),
                        }
                    }
                }
                by_topic
            }
        };
        FetchedOffsets { error: 0, topics }
    }

    pub(super) async fn delete(&self, log: &OffsetsLog<'_>, group_id: &str) -> i16 {
        let partition = match self.available(group_id) {
            Ok(partition) => partition,
            Err(error) => return error.code(),
        };
        let records: Vec<KeyValue> = {
            let mut groups = self.groups.borrow_mut();
            let Some(group) = groups
                .get_mut(group_id)
                .filter(|g| g.state != GroupState::Dead)
            else {
                return ResponseError::GroupIdNotFound.code();
            };
            if !group.is_empty_of_members() || group.has_pending_members() {
                return ResponseError::NonEmptyGroup.code();
            }
            let mut records: Vec<KeyValue> = group
                .offsets
                .keys()
                .map(|(topic, p)| (records::offset_key(group_id, topic, *p), None))
                .collect();
            records.push((records::group_key(group_id), None));
            group.mark_dead(now_ms());
            groups.remove(group_id);
            records
        };
        match store::append(log, partition, records).await {
            Ok(()) => 0,
            Err(error) => {
                tracing::warn!(group = %group_id, %error, "writing the group's deletion failed");
                ResponseError::CoordinatorNotAvailable.code()
            }
        }
    }

    /// OffsetDelete: a top-level error and one per partition.
    pub(super) async fn delete_offsets(
        &self,
        log: &OffsetsLog<'_>,
        group_id: &str,
        partitions: Vec<(String, i32)>,
    ) -> (i16, Vec<i16>) {
        let partition = match self.available(group_id) {
            Ok(partition) => partition,
            Err(error) => return (error.code(), Vec::new()),
        };
        let (codes, records) = {
            let mut groups = self.groups.borrow_mut();
            let Some(group) = groups
                .get_mut(group_id)
                .filter(|g| g.state != GroupState::Dead)
            else {
                return (ResponseError::GroupIdNotFound.code(), Vec::new());
            };
            let subscribed = if group.is_empty_of_members() {
                Vec::new()
            } else {
                match group.subscribed_topics() {
                    Some(topics) => topics,
                    // A non-consumer group with members: Kafka refuses.
                    None => return (ResponseError::NonEmptyGroup.code(), Vec::new()),
                }
            };
            let mut codes = Vec::with_capacity(partitions.len());
            let mut records: Vec<KeyValue> = Vec::new();
            for (topic, p) in partitions {
                if subscribed.contains(&topic) {
                    codes.push(ResponseError::GroupSubscribedToTopic.code());
                    continue;
                }
                if group.offsets.remove(&(topic.clone(), p)).is_some() {
                    records.push((records::offset_key(group_id, &topic, p), None));
                }
                codes.push(0);
            }
            (codes, records)
        };
        match store::append(log, partition, records).await {
            Ok(()) => (0, codes),
            Err(error) => {
                tracing::warn!(group = %group_id, %error, "writing offset deletions failed");
                (ResponseError::CoordinatorNotAvailable.code(), Vec::new())
            }
        }
    }

    /// Removes offsets past `offsets.retention.minutes`: every offset of a
    /// consumer group that has been empty that long, offsets of topics a
    /// live consumer group no longer reads, and, for groups that only store
    /// offsets, each offset by its commit time. Empty groups left without
    /// offsets are removed.
    pub(super) async fn expire_offsets(&self, log: &OffsetsLog<'_>, now_ms: i64) {
        let retention = self.settings.offsets_retention_ms;
        let mut by_partition: HashMap<i32, Vec<KeyValue>> = HashMap::new();
        {
            let mut groups = self.groups.borrow_mut();
            for group in groups.values_mut() {
                let expired: Vec<(String, i32)> = group
                    .offsets
                    .iter()
                    .filter(|((topic, _), c)| {
                        let base =
                            if group.state == GroupState::Empty && group.protocol_type.is_some() {
                                group.state_since_ms
                            } else if group.state == GroupState::Empty {
                                c.commit_timestamp
                            } else {
                                match group.subscribed_topics() {
                                    Some(topics) if !topics.contains(topic) => c.commit_timestamp,
                                    _ => return false,
                                }
                            };
                        now_ms.saturating_sub(base) >= retention
                    })
                    .map(|(k, _)| k.clone())
                    .collect();
                let records = by_partition.entry(group.partition).or_default();
                for (topic, p) in expired {
                    group.offsets.remove(&(topic.clone(), p));
                    records.push((records::offset_key(&group.id, &topic, p), None));
                }
                if group.state == GroupState::Empty
                    && group.offsets.is_empty()
                    && group.is_empty_of_members()
                    && !group.has_pending_members()
                    && group.generation > 0
                {
                    tracing::info!(group = %group.id, "removing an empty group whose offsets expired");
                    records.push((records::group_key(&group.id), None));
                    group.mark_dead(now_ms);
                }
            }
            groups.retain(|_, g| g.state != GroupState::Dead);
        }
        for (partition, records) in by_partition {
            if let Err(error) = store::append(log, partition, records).await {
                tracing::warn!(partition, %error, "writing expired offsets failed");
            }
        }
    }
}
