//! The controller's duties, run by the agent of the broker that holds
//! `/controller`.
//!
//! After every change it hears of (and once on election) the controller
//! reconciles the partition states with the live brokers, as Kafka's
//! ZooKeeper-mode controller does:
//!
//! | partition | what the controller writes to its state znode |
//! |---|---|
//! | new (no state yet), some replica live | leader: the first live replica; ISR: the live replicas; epoch 0 |
//! | leader live, an ISR member gone | the ISR without it (the leader stays, same epoch) |
//! | leader gone, a live ISR member | leader: the first live ISR member in assignment order (the preferred replica first); epoch + 1 |
//! | leader gone, no live ISR member | `unclean.leader.election.enable`: the first live replica, ISR just it; else no leader (-1), the last ISR kept so that member can come back; epoch + 1 |
//! | no leader, an ISR member back | that member leads; epoch + 1 |
//!
//! Every write is one ZooKeeper transaction that also checks
//! `/controller_epoch`'s version: a controller that lost the election but
//! has not heard yet cannot overwrite its successor's decisions (Kafka's
//! fencing). A state write conditional on the state's version that fails
//! means the view was stale: the watch re-reads it and the next pass
//! retries. Topics named under `/admin/delete_topics` are deleted (their
//! znodes; every broker then closes and deletes its replicas).

use std::collections::BTreeSet;

use super::{AgentError, ClusterAgent};
use crate::clock::now_ms;
use crate::cluster::view::{PartitionView, NO_LEADER};
use crate::cluster::zk::{CreateMode, ZkError, ZkOp};
use crate::cluster::znodes::{self, ControllerRegistration, PartitionState};

/// This broker's term as controller.
#[derive(Clone, Copy, Debug)]
pub(super) struct ControllerEpoch {
    pub(super) epoch: i32,
    /// `/controller_epoch`'s znode version, checked by every write.
    pub(super) zk_version: i32,
}

impl ClusterAgent {
    /// Tries to become the controller (`/controller`, ephemeral).
    pub(super) async fn try_elect(&self) -> Result<(), AgentError> {
        if self.is_controller() {
            return Ok(());
        }
        let registration = ControllerRegistration::new(self.settings.broker_id, now_ms());
        match self
            .zk
            .create(
                znodes::CONTROLLER,
                registration.to_json(),
                CreateMode::Ephemeral,
            )
            .await
        {
            Ok(_) => self.become_controller().await,
            Err(ZkError::NodeExists { .. }) => Ok(()),
            Err(error) => Err(error.into()),
        }
    }

    /// Takes the next controller epoch and runs the duties once.
    async fn become_controller(&self) -> Result<(), AgentError> {
        let epoch = loop {
            match self.zk.get_data(znodes::CONTROLLER_EPOCH).await {
                Ok((bytes, stat)) => {
                    let epoch = znodes::controller_epoch_from_bytes(&bytes)? + 1;
                    match self
                        .zk
                        .set_data(
                            znodes::CONTROLLER_EPOCH,
                            znodes::controller_epoch_to_bytes(epoch),
                            Some(stat.version),
                        )
                        .await
                    {
                        Ok(stat) => {
                            break ControllerEpoch {
                                epoch,
                                zk_version: stat.version,
                            }
                        }
                        Err(ZkError::BadVersion { .. }) => continue,
                        Err(error) => return Err(error.into()),
                    }
                }
                Err(ZkError::NoNode { .. }) => {
                    match self
                        .zk
                        .create(
                            znodes::CONTROLLER_EPOCH,
                            znodes::controller_epoch_to_bytes(1),
                            CreateMode::Persistent,
                        )
                        .await
                    {
                        Ok(_) => {
                            break ControllerEpoch {
                                epoch: 1,
                                zk_version: 0,
                            }
                        }
                        Err(ZkError::NodeExists { .. }) => continue,
                        Err(error) => return Err(error.into()),
                    }
                }
                Err(error) => return Err(error.into()),
            }
        };
        tracing::info!(
            broker = self.settings.broker_id,
            epoch = epoch.epoch,
            "became the controller"
        );
        *self.controller.borrow_mut() = Some(epoch);
        self.update(|view| view.controller = Some(self.settings.broker_id));
        self.reconcile().await
    }

    /// Stops acting as controller (the session expired, or another broker
    /// holds `/controller`).
    pub(super) fn resign(&self) {
        if self.controller.borrow_mut().take().is_some() {
            tracing::info!(broker = self.settings.broker_id, "no longer the controller");
        }
    }

    /// One pass of the duties over the current view.
    pub(super) async fn reconcile(&self) -> Result<(), AgentError> {
        let Some(epoch) = *self.controller.borrow() else {
            return Ok(());
        };
        let _deciding = self.decisions.lock().await;
        for topic in self.children_watched(znodes::ADMIN_DELETE_TOPICS).await? {
            self.delete_topic_znodes(&topic).await?;
        }
        let view = self.view();
        let live: BTreeSet<i32> = view.brokers.keys().copied().collect();
        for topic in view.topics.values() {
            for (index, partition) in topic.partitions.iter().enumerate() {
                // The topic's `unclean.leader.election.enable`, else the
                // broker's.
                let unclean = topic
                    .configs
                    .get("unclean.leader.election.enable")
                    .map_or(self.settings.unclean_leader_election, |v| {
                        v.trim().eq_ignore_ascii_case("true")
                    });
                if !self.is_controller() {
                    return Ok(());
                }
                let Some(target) = target_state(partition, &live, unclean, epoch.epoch) else {
                    if partition.is_reassigning() {
                        self.advance_reassignment(
                            &topic.name,
                            index as i32,
                            partition,
                            &live,
                            epoch,
                        )
                        .await?;
                    }
                    continue;
                };
                self.write_state(&topic.name, index as i32, partition, &target, epoch)
                    .await?;
            }
        }
        Ok(())
    }

    /// Writes `target` as the partition's state, fenced by the controller
    /// epoch and conditional on the state read; false when either was stale
    /// (the watch brings the news, the next pass decides again).
    pub(super) async fn write_state(
        &self,
        topic: &str,
        partition: i32,
        current: &PartitionView,
        target: &PartitionState,
        epoch: ControllerEpoch,
    ) -> Result<bool, AgentError> {
        let path = znodes::partition_state_path(topic, partition);
        let write = if current.has_state() {
            ZkOp::SetData {
                path: path.clone(),
                data: target.to_json(),
                expected_version: Some(current.state_version),
            }
        } else {
            let parent = path.trim_end_matches("/state").to_string();
            self.zk.ensure_path(&parent).await?;
            ZkOp::Create {
                path: path.clone(),
                data: target.to_json(),
                mode: CreateMode::Persistent,
            }
        };
        let guarded = vec![
            ZkOp::CheckVersion {
                path: znodes::CONTROLLER_EPOCH.to_string(),
                version: epoch.zk_version,
            },
            write,
        ];
        match self.zk.multi(guarded).await {
            Ok(_) => {
                if target.leader != current.leader {
                    tracing::info!(
                        topic,
                        partition,
                        leader = target.leader,
                        leader_epoch = target.leader_epoch,
                        isr = ?target.isr,
                        "partition leader"
                    );
                }
                Ok(true)
            }
            Err(ZkError::BadVersion { path: failed }) if failed == znodes::CONTROLLER_EPOCH => {
                tracing::warn!("another controller was elected");
                self.resign();
                Ok(false)
            }
            // A stale state: its watch brings the new one, the next pass
            // decides again.
            Err(ZkError::BadVersion { .. }) | Err(ZkError::NodeExists { .. }) => Ok(false),
            Err(error) => Err(error.into()),
        }
    }

    async fn delete_topic_znodes(&self, topic: &str) -> Result<(), AgentError> {
        for result in [
            self.zk.delete_recursive(&znodes::topic_path(topic)).await,
            self.zk
                .delete(&znodes::config_entity_path("topics", topic), None)
                .await,
            self.zk
                .delete(&znodes::delete_topic_path(topic), None)
                .await,
        ] {
            match result {
                Ok(()) | Err(ZkError::NoNode { .. }) => {}
                Err(error) => return Err(error.into()),
            }
        }
        tracing::info!(topic, "deleted topic");
        Ok(())
    }
}

/// The state the controller wants for `partition` given the live brokers,
/// or None when its current state stands (the table in the module doc).
pub(super) fn target_state(
    partition: &PartitionView,
    live: &BTreeSet<i32>,
    unclean: bool,
    controller_epoch: i32,
) -> Option<PartitionState> {
    let live_replicas: Vec<i32> = partition
        .replicas
        .iter()
        .copied()
        .filter(|r| live.contains(r))
        .collect();
    if !partition.has_state() {
        let leader = *live_replicas.first()?;
        return Some(PartitionState::new(
            leader,
            0,
            live_replicas,
            controller_epoch,
        ));
    }
    // A state names no broker that is not a replica (a cancelled
    // reassignment leaves its added replicas in the ISR, perhaps leading):
    // they count as gone, as long as a replica inside is in sync. Never an
    // empty ISR: with none inside the state stays as it is (as Kafka keeps
    // the last ISR member), so the data is kept where it is in sync.
    let outside = |r: &i32| !partition.replicas.contains(r);
    let some_inside = partition.isr.iter().any(|r| !outside(r));
    let names_outside = partition.isr.iter().any(outside)
        || (partition.leader != NO_LEADER && outside(&partition.leader));
    if names_outside && some_inside {
        let mut within = partition.clone();
        within.isr.retain(|r| !outside(r));
        if outside(&partition.leader) {
            within.leader = NO_LEADER;
        }
        let decided = target_state(&within, live, unclean, controller_epoch);
        return decided.or_else(|| {
            let epoch = partition.leader_epoch + i32::from(within.leader != partition.leader);
            Some(PartitionState::new(
                within.leader,
                epoch,
                within.isr,
                controller_epoch,
            ))
        });
    }
    let live_isr: Vec<i32> = partition
        .isr
        .iter()
        .copied()
        .filter(|r| live.contains(r))
        .collect();
    let state = |leader, epoch, isr| PartitionState::new(leader, epoch, isr, controller_epoch);
    let leader_live = partition.leader != NO_LEADER && live.contains(&partition.leader);
    if leader_live {
        if live_isr.len() == partition.isr.len() {
            return None;
        }
        return Some(state(partition.leader, partition.leader_epoch, live_isr));
    }
    let next_epoch = partition.leader_epoch + 1;
    let preferred = partition
        .replicas
        .iter()
        .copied()
        .find(|r| live_isr.contains(r))
        .or_else(|| live_isr.first().copied());
    if let Some(leader) = preferred {
        return Some(state(leader, next_epoch, live_isr));
    }
    if unclean {
        if let Some(&leader) = live_replicas.first() {
            let mut unclean_state = state(leader, next_epoch, vec![leader]);
            unclean_state.leader_recovery_state = znodes::LEADER_RECOVERY_RECOVERING;
            return Some(unclean_state);
        }
    }
    if partition.leader == NO_LEADER {
        return None;
    }
    // Offline: keep the last in-sync replica named, so it (and only it)
    // can lead again when it returns.
    let last = if partition.isr.contains(&partition.leader) {
        partition.leader
    } else {
        *partition.isr.first().unwrap_or(&partition.leader)
    };
    Some(state(NO_LEADER, next_epoch, vec![last]))
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A partition with a state (epoch 4, znode version 2); also used by
    /// election.rs's tests.
    pub(in crate::cluster::agent) fn partition(
        replicas: &[i32],
        leader: i32,
        isr: &[i32],
    ) -> PartitionView {
        PartitionView {
            replicas: replicas.to_vec(),
            leader,
            leader_epoch: 4,
            isr: isr.to_vec(),
            state_version: 2,
            adding: Vec::new(),
            removing: Vec::new(),
        }
    }

    pub(in crate::cluster::agent) fn live(ids: &[i32]) -> BTreeSet<i32> {
        ids.iter().copied().collect()
    }

    #[test]
    fn new_partitions_get_the_first_live_replica() {
        let new = PartitionView::new(vec![3, 1, 2]);
        let state = target_state(&new, &live(&[1, 2]), false, 7).unwrap();
        assert_eq!(
            (state.leader, state.leader_epoch, state.isr.clone()),
            (1, 0, vec![1, 2])
        );
        assert_eq!(state.controller_epoch, 7);
        assert!(
            target_state(&new, &live(&[]), false, 7).is_none(),
            "wait for a replica"
        );
    }

    #[test]
    fn a_dead_leader_is_replaced_from_the_isr_in_preferred_order() {
        let p = partition(&[1, 2, 3], 1, &[3, 1, 2]);
        let state = target_state(&p, &live(&[2, 3]), false, 1).unwrap();
        assert_eq!(state.leader, 2, "replica order, not ISR order");
        assert_eq!(state.leader_epoch, 5);
        assert_eq!(state.isr, vec![3, 2]);
    }

    #[test]
    fn a_dead_follower_leaves_the_isr_and_nothing_else_changes() {
        let p = partition(&[1, 2, 3], 1, &[1, 2, 3]);
        let state = target_state(&p, &live(&[1, 2]), false, 1).unwrap();
        assert_eq!(
            (state.leader, state.leader_epoch, state.isr),
            (1, 4, vec![1, 2])
        );
        assert!(target_state(&p, &live(&[1, 2, 3]), false, 1).is_none());
    }

    #[test]
    fn without_a_live_isr_member_the_partition_goes_offline_unless_unclean() {
        let p = partition(&[1, 2], 1, &[1]);
        let offline = target_state(&p, &live(&[2]), false, 1).unwrap();
        assert_eq!((offline.leader, offline.isr.clone()), (NO_LEADER, vec![1]));
        let mut already = p.clone();
        already.leader = NO_LEADER;
        assert!(target_state(&already, &live(&[2]), false, 1).is_none());
        let unclean = target_state(&p, &live(&[2]), true, 1).unwrap();
        assert_eq!((unclean.leader, unclean.isr), (2, vec![2]));
        assert_eq!(
            unclean.leader_recovery_state,
            znodes::LEADER_RECOVERY_RECOVERING
        );
        // The last in-sync replica comes back and leads again.
        let back = target_state(&already, &live(&[1, 2]), false, 1).unwrap();
        assert_eq!((back.leader, back.isr), (1, vec![1]));
    }

    #[test]
    fn a_state_naming_brokers_outside_the_replicas_is_cut_to_them() {
        // A cancelled reassignment: broker 3 was added, caught up and led.
        let cancelled = partition(&[1, 2], 3, &[3, 1, 2]);
        let state = target_state(&cancelled, &live(&[1, 2, 3]), false, 1).unwrap();
        assert_eq!(
            (state.leader, state.leader_epoch, state.isr),
            (1, 5, vec![1, 2])
        );
        // The only in-sync replica is outside: the state stays (never an
        // empty ISR), and so does that broker's data.
        let only_outside = partition(&[1, 2], 3, &[3]);
        assert!(target_state(&only_outside, &live(&[1, 2, 3]), false, 1).is_none());
        // Only in the ISR: the leader stays, in the same epoch.
        let follower = partition(&[1, 2], 1, &[1, 2, 3]);
        let state = target_state(&follower, &live(&[1, 2, 3]), false, 1).unwrap();
        assert_eq!(
            (state.leader, state.leader_epoch, state.isr),
            (1, 4, vec![1, 2])
        );
    }
}
