//! Partition reassignment (KIP-455: AlterPartitionReassignments,
//! ListPartitionReassignments; `kafka-reassign-partitions.sh`), as Kafka's
//! ZooKeeper-mode controller runs it:
//!
//! 1. The request names each partition's target replicas (TRS). With the
//!    original replicas (ORS), the controller writes to
//!    `/brokers/topics/<t>`: `partitions` = TRS then ORS not in TRS (every
//!    replica, RS), `adding_replicas` = TRS − ORS, `removing_replicas` =
//!    ORS − TRS. Every broker reads it: the added ones open an empty
//!    replica and follow the leader; the leader tracks them and lets each
//!    into the ISR once it has caught up (`replication/isr.rs`).
//! 2. Once every target replica is in the ISR, the controller (each
//!    reconcile pass, [`completion_step`]) writes, in one ZooKeeper
//!    transaction fenced by the controller epoch, the partition's state
//!    (the removed replicas out of the ISR, a new leader from the target if
//!    the leader is being removed, epoch + 1 as Kafka's controller bumps
//!    it) and the assignment as just TRS, without the `adding` and
//!    `removing` entries. One write, so the leader never lets a removed
//!    replica back into the ISR in between.
//! 3. The removed brokers, no longer named by the assignment, the leader or
//!    the ISR, delete their replicas (`partition/manager.rs`, Kafka's
//!    StopReplica with delete).
//!
//! A new target for a partition under way replaces the old one (ORS stays
//! what it was); a null target cancels, writing ORS back (the controller's
//! rule that a state names no broker outside the replicas, while one inside
//! is in sync, then takes the added ones out of the ISR and the
//! leadership; only then do their brokers delete them). Requests and the
//! reconcile pass take turns (the agent's `decisions` lock); every write is
//! conditional and fenced by the controller epoch, so a stale view costs a
//! retry on the next pass and a deposed controller writes nothing.
//!
//! Not done: the replication throttle (`--throttle`,
//! `leader/follower.replication.throttled.rate`): new replicas copy at
//! full speed.

use std::collections::BTreeSet;

use kafka_protocol::ResponseError;

use super::controller::ControllerEpoch;
use super::{AgentError, ClusterAgent, Refusal};
use crate::cluster::view::{PartitionView, NO_LEADER};
use crate::cluster::zk::{ZkError, ZkOp};
use crate::cluster::znodes::{self, PartitionState, TopicAssignment};
use crate::cluster::TopicPartition;

/// How often a reassignment request re-reads a topic whose assignment
/// changed under it before giving up.
const WRITE_ATTEMPTS: usize = 5;

/// One partition's part of an AlterPartitionReassignments request.
#[derive(Clone, Debug)]
pub struct ReassignmentRequest {
    pub partition: TopicPartition,
    /// The target replicas; None cancels the reassignment under way.
    pub target: Option<Vec<i32>>,
}

/// A reassignment under way, as ListPartitionReassignments reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OngoingReassignment {
    pub partition: TopicPartition,
    pub replicas: Vec<i32>,
    pub adding: Vec<i32>,
    pub removing: Vec<i32>,
}

/// A partition's assignment as step 1 writes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Planned {
    pub(super) replicas: Vec<i32>,
    pub(super) adding: Vec<i32>,
    pub(super) removing: Vec<i32>,
}

/// What a partition's assignment becomes for a target (or a cancellation);
/// None when it is already there, Err when the target is refused.
pub(super) fn plan(
    current: &PartitionView,
    target: Option<&[i32]>,
    live: &BTreeSet<i32>,
    allow_replication_factor_change: bool,
) -> Result<Option<Planned>, Refusal> {
    let original = current.original_replicas();
    let Some(target) = target else {
        if !current.is_reassigning() {
            return Err((
                ResponseError::NoReassignmentInProgress,
                "No reassignment is in progress for this partition.".into(),
            ));
        }
        return Ok(Some(Planned {
            replicas: original,
            adding: Vec::new(),
            removing: Vec::new(),
        }));
    };
    // Kafka's `KafkaController.validateReplicas`, in its order.
    let invalid = |message: String| Err((ResponseError::InvalidReplicaAssignment, message));
    if target.is_empty() {
        return invalid("Empty replica list specified in partition reassignment.".into());
    }
    let distinct: BTreeSet<i32> = target.iter().copied().collect();
    if distinct.len() != target.len() {
        return invalid(format!(
            "Duplicate replica ids in partition reassignment replica list: {target:?}"
        ));
    }
    if target.iter().any(|r| *r < 0) {
        return invalid(format!("Invalid broker id in replica list: {target:?}"));
    }
    // Only the replicas to add must be alive (they have to copy the log).
    let dead_added: Vec<i32> = target
        .iter()
        .copied()
        .filter(|r| !original.contains(r) && !live.contains(r))
        .collect();
    if !dead_added.is_empty() {
        return invalid(format!(
            "Replica assignment has brokers that are not alive. Replica list: {dead_added:?}, live broker list: {:?}",
            live.iter().collect::<Vec<_>>()
        ));
    }
    if !allow_replication_factor_change && target.len() != original.len() {
        return Err((
            ResponseError::InvalidReplicationFactor,
            format!(
                "The replication factor is changed from {} to {} but allowReplicationFactorChange is false.",
                original.len(),
                target.len()
            ),
        ));
    }
    if target == original.as_slice() && !current.is_reassigning() {
        return Ok(None);
    }
    let mut replicas = target.to_vec();
    replicas.extend(original.iter().filter(|r| !target.contains(r)));
    let adding = target
        .iter()
        .copied()
        .filter(|r| !original.contains(r))
        .collect();
    let removing = original
        .iter()
        .copied()
        .filter(|r| !target.contains(r))
        .collect();
    Ok(Some(Planned {
        replicas,
        adding,
        removing,
    }))
}

/// The next step of a reassignment under way.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Step {
    /// A target replica is not in the ISR yet (or no target replica can
    /// lead): wait for the leader to let it in.
    Wait,
    /// Write the assignment as `target` alone and, if it changes, `state`
    /// (the removed replicas out of the ISR, a leader from the target, a
    /// new epoch), in one transaction.
    Complete {
        target: Vec<i32>,
        state: Option<PartitionState>,
    },
}

/// Step 2 and 3 of the module doc for one partition with a state.
pub(super) fn completion_step(
    partition: &PartitionView,
    live: &BTreeSet<i32>,
    controller_epoch: i32,
) -> Step {
    let target = partition.target_replicas();
    if !target.iter().all(|r| partition.isr.contains(r)) {
        return Step::Wait;
    }
    let isr: Vec<i32> = partition
        .isr
        .iter()
        .copied()
        .filter(|r| target.contains(r))
        .collect();
    let leader_stays = partition.leader != NO_LEADER
        && target.contains(&partition.leader)
        && live.contains(&partition.leader);
    if leader_stays {
        let state = (isr != partition.isr).then(|| {
            PartitionState::new(
                partition.leader,
                partition.leader_epoch + 1,
                isr,
                controller_epoch,
            )
        });
        return Step::Complete { target, state };
    }
    match target
        .iter()
        .copied()
        .find(|r| live.contains(r) && isr.contains(r))
    {
        Some(leader) => Step::Complete {
            state: Some(PartitionState::new(
                leader,
                partition.leader_epoch + 1,
                isr,
                controller_epoch,
            )),
            target,
        },
        None => Step::Wait,
    }
}

impl ClusterAgent {
    /// AlterPartitionReassignments on the controller: each partition's
    /// outcome (None: accepted), or NOT_CONTROLLER for the whole request.
    pub async fn alter_reassignments(
        &self,
        requests: Vec<ReassignmentRequest>,
        allow_replication_factor_change: bool,
    ) -> Result<Vec<(TopicPartition, Option<Refusal>)>, ResponseError> {
        let _deciding = self.decisions.lock().await;
        let Some(epoch) = *self.controller.borrow() else {
            return Err(ResponseError::NotController);
        };
        let mut outcomes: Vec<(TopicPartition, Option<Refusal>)> = Vec::new();
        let mut topics: Vec<std::sync::Arc<str>> = Vec::new();
        for request in &requests {
            if !topics.contains(&request.partition.topic) {
                topics.push(request.partition.topic.clone());
            }
        }
        for topic in topics {
            let of_topic: Vec<&ReassignmentRequest> = requests
                .iter()
                .filter(|r| r.partition.topic == topic)
                .collect();
            let results = self
                .reassign_topic(&topic, &of_topic, allow_replication_factor_change, epoch)
                .await;
            outcomes.extend(results);
        }
        Ok(outcomes)
    }

    /// Step 1 for the partitions of one topic: one conditional write of its
    /// assignment, retried on a concurrent change.
    async fn reassign_topic(
        &self,
        topic: &str,
        requests: &[&ReassignmentRequest],
        allow_replication_factor_change: bool,
        epoch: ControllerEpoch,
    ) -> Vec<(TopicPartition, Option<Refusal>)> {
        let fail_all = |refusal: Refusal| {
            requests
                .iter()
                .map(|r| (r.partition.clone(), Some(refusal.clone())))
                .collect::<Vec<_>>()
        };
        let path = znodes::topic_path(topic);
        for _ in 0..WRITE_ATTEMPTS {
            let (bytes, stat) = match self.zk.get_data(&path).await {
                Ok(found) => found,
                Err(ZkError::NoNode { .. }) => {
                    return fail_all((
                        ResponseError::UnknownTopicOrPartition,
                        "The topic does not exist.".into(),
                    ))
                }
                Err(error) => {
                    return fail_all((ResponseError::UnknownServerError, error.to_string()))
                }
            };
            let mut assignment = match TopicAssignment::from_json(&bytes) {
                Ok(assignment) => assignment,
                Err(error) => {
                    return fail_all((ResponseError::UnknownServerError, error.to_string()))
                }
            };
            let view = self.view();
            let live: BTreeSet<i32> = view.brokers.keys().copied().collect();
            let mut outcomes = Vec::new();
            let mut changed = false;
            for request in requests {
                let index = request.partition.partition;
                let Some(replicas) = assignment.partitions.get(&index) else {
                    outcomes.push((
                        request.partition.clone(),
                        Some((
                            ResponseError::UnknownTopicOrPartition,
                            "The partition does not exist.".into(),
                        )),
                    ));
                    continue;
                };
                let mut current = PartitionView::new(replicas.clone());
                current.adding = assignment
                    .adding_replicas
                    .get(&index)
                    .cloned()
                    .unwrap_or_default();
                current.removing = assignment
                    .removing_replicas
                    .get(&index)
                    .cloned()
                    .unwrap_or_default();
                match plan(
                    &current,
                    request.target.as_deref(),
                    &live,
                    allow_replication_factor_change,
                ) {
                    Ok(Some(planned)) => {
                        set_partition(&mut assignment, index, planned);
                        changed = true;
                        outcomes.push((request.partition.clone(), None));
                    }
                    Ok(None) => outcomes.push((request.partition.clone(), None)),
                    Err(refusal) => outcomes.push((request.partition.clone(), Some(refusal))),
                }
            }
            if !changed {
                return outcomes;
            }
            let write = vec![
                fence(epoch),
                ZkOp::SetData {
                    path: path.clone(),
                    data: assignment.to_json(),
                    expected_version: Some(stat.version),
                },
            ];
            match self.zk.multi(write).await {
                Ok(_) => {
                    tracing::info!(topic, partitions = ?assignment.partitions, adding = ?assignment.adding_replicas, removing = ?assignment.removing_replicas, "reassigning partitions");
                    // Into the view now, not when the watch fires: a
                    // ListPartitionReassignments right after sees it, as
                    // Kafka's controller answers from its own context.
                    if let Err(error) = self.refresh_topic(topic).await {
                        tracing::warn!(topic, %error, "re-reading a reassigned topic");
                    }
                    return outcomes;
                }
                Err(ZkError::BadVersion { path: failed }) if failed == znodes::CONTROLLER_EPOCH => {
                    self.resign();
                    return fail_all((
                        ResponseError::NotController,
                        "another controller was elected".into(),
                    ));
                }
                Err(ZkError::BadVersion { .. }) => continue,
                Err(error) => {
                    return fail_all((ResponseError::UnknownServerError, error.to_string()))
                }
            }
        }
        fail_all((
            ResponseError::UnknownServerError,
            format!("topic {topic} kept changing; retry"),
        ))
    }

    /// ListPartitionReassignments on the controller: those under way among
    /// `partitions` (every partition when None).
    pub fn list_reassignments(
        &self,
        partitions: Option<Vec<TopicPartition>>,
    ) -> Result<Vec<OngoingReassignment>, ResponseError> {
        if !self.is_controller() {
            return Err(ResponseError::NotController);
        }
        let view = self.view();
        let mut ongoing = Vec::new();
        for topic in view.topics.values() {
            for (index, partition) in topic.partitions.iter().enumerate() {
                let tp = TopicPartition::new(topic.name.clone(), index as i32);
                let wanted = partitions.as_ref().is_none_or(|named| named.contains(&tp));
                if wanted && partition.is_reassigning() {
                    ongoing.push(OngoingReassignment {
                        partition: tp,
                        replicas: partition.replicas.clone(),
                        adding: partition.adding.clone(),
                        removing: partition.removing.clone(),
                    });
                }
            }
        }
        Ok(ongoing)
    }

    /// Steps 2 and 3 for one partition under way (from the reconcile pass).
    pub(super) async fn advance_reassignment(
        &self,
        topic: &str,
        index: i32,
        partition: &PartitionView,
        live: &BTreeSet<i32>,
        epoch: ControllerEpoch,
    ) -> Result<(), AgentError> {
        if !partition.has_state() {
            return Ok(());
        }
        match completion_step(partition, live, epoch.epoch) {
            Step::Wait => Ok(()),
            Step::Complete { target, state } => {
                self.finish_reassignment(topic, index, partition, target, state, epoch)
                    .await
            }
        }
    }

    /// Writes the assignment as `target` alone and `state`, in one
    /// transaction fenced by the controller epoch and conditional on both
    /// znodes being as the view saw them (else the next pass decides again).
    async fn finish_reassignment(
        &self,
        topic: &str,
        index: i32,
        seen: &PartitionView,
        target: Vec<i32>,
        state: Option<PartitionState>,
        epoch: ControllerEpoch,
    ) -> Result<(), AgentError> {
        let path = znodes::topic_path(topic);
        let (bytes, stat) = match self.zk.get_data(&path).await {
            Ok(found) => found,
            Err(ZkError::NoNode { .. }) => return Ok(()),
            Err(error) => return Err(error.into()),
        };
        let mut assignment = TopicAssignment::from_json(&bytes)?;
        let unchanged = assignment.partitions.get(&index) == Some(&seen.replicas)
            && assignment
                .adding_replicas
                .get(&index)
                .cloned()
                .unwrap_or_default()
                == seen.adding
            && assignment
                .removing_replicas
                .get(&index)
                .cloned()
                .unwrap_or_default()
                == seen.removing;
        if !unchanged {
            return Ok(());
        }
        let done = Planned {
            replicas: target.clone(),
            adding: Vec::new(),
            removing: Vec::new(),
        };
        set_partition(&mut assignment, index, done);
        let mut write = vec![fence(epoch)];
        if let Some(state) = &state {
            write.push(ZkOp::SetData {
                path: znodes::partition_state_path(topic, index),
                data: state.to_json(),
                expected_version: Some(seen.state_version),
            });
        }
        write.push(ZkOp::SetData {
            path,
            data: assignment.to_json(),
            expected_version: Some(stat.version),
        });
        match self.zk.multi(write).await {
            Ok(_) => {
                tracing::info!(topic, partition = index, replicas = ?target, state = ?state, "reassignment complete");
                Ok(())
            }
            Err(ZkError::BadVersion { path: failed }) if failed == znodes::CONTROLLER_EPOCH => {
                tracing::warn!("another controller was elected");
                self.resign();
                Ok(())
            }
            Err(ZkError::BadVersion { .. }) => Ok(()),
            Err(error) => Err(error.into()),
        }
    }
}

/// The check every controller write carries: `/controller_epoch` is still
/// at this controller's version (Kafka's fencing of a deposed controller).
fn fence(epoch: ControllerEpoch) -> ZkOp {
    ZkOp::CheckVersion {
        path: znodes::CONTROLLER_EPOCH.to_string(),
        version: epoch.zk_version,
    }
}

/// Sets one partition's replicas and its reassignment entries (an empty
/// list removes the entry, as Kafka writes them).
fn set_partition(assignment: &mut TopicAssignment, index: i32, planned: Planned) {
    assignment.partitions.insert(index, planned.replicas);
    for (entries, list) in [
        (&mut assignment.adding_replicas, planned.adding),
        (&mut assignment.removing_replicas, planned.removing),
    ] {
        if list.is_empty() {
            entries.remove(&index);
        } else {
            entries.insert(index, list);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::agent::controller::tests::{live, partition};

    fn reassigning(
        replicas: &[i32],
        adding: &[i32],
        removing: &[i32],
        leader: i32,
        isr: &[i32],
    ) -> PartitionView {
        let mut view = partition(replicas, leader, isr);
        view.adding = adding.to_vec();
        view.removing = removing.to_vec();
        view
    }

    fn planned_of(replicas: &[i32], adding: &[i32], removing: &[i32]) -> Planned {
        Planned {
            replicas: replicas.to_vec(),
            adding: adding.to_vec(),
            removing: removing.to_vec(),
        }
    }

    #[test]
    fn a_plan_puts_the_target_first_and_names_what_is_added_and_removed() {
        let current = partition(&[0, 1], 0, &[0, 1]);
        let planned = plan(&current, Some(&[1, 2]), &live(&[0, 1, 2]), true).unwrap();
        assert_eq!(planned, Some(planned_of(&[1, 2, 0], &[2], &[0])));
        // The same replicas: nothing to do.
        assert_eq!(
            plan(&current, Some(&[0, 1]), &live(&[0, 1, 2]), true).unwrap(),
            None
        );
        // A new target while one is under way keeps the original replicas.
        let moving = reassigning(&[1, 2, 0], &[2], &[0], 0, &[0, 1]);
        let planned = plan(&moving, Some(&[0, 3]), &live(&[0, 1, 2, 3]), true).unwrap();
        assert_eq!(planned, Some(planned_of(&[0, 3, 1], &[3], &[1])));
        // Cancelling writes the original replicas back (in the order they
        // have among all replicas, as Kafka's `originReplicas`).
        assert_eq!(
            plan(&moving, None, &live(&[0, 1, 2]), true).unwrap(),
            Some(planned_of(&[1, 0], &[], &[]))
        );
    }

    #[test]
    fn plans_kafka_refuses() {
        let current = partition(&[0, 1], 0, &[0, 1]);
        let all = live(&[0, 1, 2]);
        let code =
            |target: Option<&[i32]>, allow| plan(&current, target, &all, allow).unwrap_err().0;
        assert_eq!(
            code(Some(&[]), true),
            ResponseError::InvalidReplicaAssignment
        );
        assert_eq!(
            code(Some(&[1, 1]), true),
            ResponseError::InvalidReplicaAssignment
        );
        assert_eq!(
            code(Some(&[1, 7]), true),
            ResponseError::InvalidReplicaAssignment
        );
        assert_eq!(
            code(Some(&[-1]), true),
            ResponseError::InvalidReplicaAssignment
        );
        assert_eq!(
            code(Some(&[0, 1, 2]), false),
            ResponseError::InvalidReplicationFactor
        );
        assert_eq!(code(None, true), ResponseError::NoReassignmentInProgress);
    }

    #[test]
    fn completion_waits_for_the_target_in_the_isr_then_writes_state_and_assignment() {
        let all = live(&[0, 1, 2]);
        // Broker 2 is still copying.
        let copying = reassigning(&[1, 2, 0], &[2], &[0], 1, &[1, 0]);
        assert_eq!(completion_step(&copying, &all, 7), Step::Wait);
        // In sync: broker 0 leaves the ISR with the assignment, leader 1
        // stays (a new epoch, as Kafka's controller bumps it).
        let caught_up = reassigning(&[1, 2, 0], &[2], &[0], 1, &[1, 0, 2]);
        assert_eq!(
            completion_step(&caught_up, &all, 7),
            Step::Complete {
                target: vec![1, 2],
                state: Some(PartitionState::new(1, 5, vec![1, 2], 7)),
            }
        );
        // Nothing to cut (the removed replica already left the ISR): the
        // assignment alone.
        let final_state = reassigning(&[1, 2, 0], &[2], &[0], 1, &[1, 2]);
        assert_eq!(
            completion_step(&final_state, &all, 7),
            Step::Complete {
                target: vec![1, 2],
                state: None,
            }
        );
        // A leader being removed hands over to the first target replica in
        // sync, in a new epoch.
        let leader_moves = reassigning(&[1, 2, 0], &[1, 2], &[0], 0, &[0, 1, 2]);
        assert_eq!(
            completion_step(&leader_moves, &all, 7),
            Step::Complete {
                target: vec![1, 2],
                state: Some(PartitionState::new(1, 5, vec![1, 2], 7)),
            }
        );
    }
}
