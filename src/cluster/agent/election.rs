//! Leader elections asked for rather than forced by a broker's death: the
//! ElectLeaders API (`kafka-leader-election.sh`, `AdminClient.elect_leaders`)
//! and the controller's preferred-leader rebalance
//! (`auto.leader.rebalance.enable`), run by the controller's agent.
//!
//! | election | partition | outcome |
//! |---|---|---|
//! | preferred | led by its first assigned replica | `ELECTION_NOT_NEEDED` |
//! | preferred | the first replica live and in the ISR | it leads; epoch + 1, ISR unchanged |
//! | preferred | the first replica dead or out of the ISR | `PREFERRED_LEADER_NOT_AVAILABLE` |
//! | unclean | a live leader | `ELECTION_NOT_NEEDED` |
//! | unclean | no leader, a live ISR member | it leads (the preferred order) |
//! | unclean | no leader, no live ISR member, a live replica | the first live replica leads, ISR just it (records it lacks are lost) |
//! | unclean | no live replica | `ELIGIBLE_LEADERS_NOT_AVAILABLE` |
//!
//! The rebalance is Kafka's: every `leader.imbalance.check.interval.seconds`,
//! for each broker, the share of the partitions it is preferred for that
//! another broker leads; above `leader.imbalance.per.broker.percentage`,
//! those partitions get a preferred election (those whose preferred
//! replica can take over).
//!
//! The answer comes once the state znode is written; each broker takes its
//! new role when its watch brings the state (Kafka's controller answers
//! after sending LeaderAndIsr, not after the brokers applied it either).

use std::collections::{BTreeMap, BTreeSet};

use kafka_protocol::ResponseError;

use super::controller::ControllerEpoch;
use super::ClusterAgent;
use crate::cluster::view::{ClusterView, PartitionView, NO_LEADER};
use crate::cluster::znodes::{self, PartitionState};
use crate::cluster::TopicPartition;

/// How often one partition's election re-reads a state that changed under
/// it before it gives up.
const STALE_STATE_RETRIES: usize = 5;

/// This broker lost the controllership during an election.
struct NotController;

/// ElectLeaders' `election_type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Election {
    /// 0: the first assigned replica, if it is live and in sync.
    Preferred,
    /// 1: any live replica when no in-sync one is left.
    Unclean,
}

impl Election {
    pub fn from_wire(election_type: i8) -> Option<Election> {
        match election_type {
            0 => Some(Election::Preferred),
            1 => Some(Election::Unclean),
            _ => None,
        }
    }
}

/// One partition's result: None when its new leader was written.
#[derive(Clone, Debug)]
pub struct ElectionOutcome {
    pub partition: TopicPartition,
    pub error: Option<(ResponseError, String)>,
}

/// The state `election` writes for `partition`, or why there is none.
pub(super) fn election_target(
    partition: &PartitionView,
    live: &BTreeSet<i32>,
    election: Election,
    controller_epoch: i32,
) -> Result<PartitionState, (ResponseError, String)> {
    let next_epoch = partition.leader_epoch + 1;
    match election {
        Election::Preferred => {
            let Some(&preferred) = partition.replicas.first() else {
                return Err((
                    ResponseError::PreferredLeaderNotAvailable,
                    "The partition has no replicas.".into(),
                ));
            };
            if partition.leader == preferred {
                return Err((
                    ResponseError::ElectionNotNeeded,
                    "Leader election not needed for topic partition.".into(),
                ));
            }
            if !live.contains(&preferred) || !partition.isr.contains(&preferred) {
                return Err((
                    ResponseError::PreferredLeaderNotAvailable,
                    format!(
                        "Failed to elect leader for partition: the preferred replica {preferred} is {}.",
                        if live.contains(&preferred) { "not in sync" } else { "not alive" }
                    ),
                ));
            }
            let isr = partition
                .isr
                .iter()
                .copied()
                .filter(|r| live.contains(r))
                .collect();
            Ok(PartitionState::new(
                preferred,
                next_epoch,
                isr,
                controller_epoch,
            ))
        }
        Election::Unclean => {
            if partition.leader != NO_LEADER && live.contains(&partition.leader) {
                return Err((
                    ResponseError::ElectionNotNeeded,
                    "Leader election not needed for topic partition.".into(),
                ));
            }
            let live_isr: Vec<i32> = partition
                .replicas
                .iter()
                .copied()
                .filter(|r| live.contains(r) && partition.isr.contains(r))
                .collect();
            if let Some(&leader) = live_isr.first() {
                return Ok(PartitionState::new(
                    leader,
                    next_epoch,
                    live_isr,
                    controller_epoch,
                ));
            }
            match partition
                .replicas
                .iter()
                .copied()
                .find(|r| live.contains(r))
            {
                Some(leader) => {
                    let mut state =
                        PartitionState::new(leader, next_epoch, vec![leader], controller_epoch);
                    state.leader_recovery_state = znodes::LEADER_RECOVERY_RECOVERING;
                    Ok(state)
                }
                None => Err((
                    ResponseError::EligibleLeadersNotAvailable,
                    "No replica of the partition is alive.".into(),
                )),
            }
        }
    }
}

/// The partitions whose preferred broker is over the imbalance threshold
/// (`percentage` of its preferred partitions led elsewhere) and whose
/// preferred replica could lead now.
pub(super) fn imbalanced_partitions(
    view: &ClusterView,
    live: &BTreeSet<i32>,
    percentage: u32,
) -> Vec<TopicPartition> {
    // Per preferred broker: its partitions, and those led by another.
    let mut by_broker: BTreeMap<i32, (usize, Vec<Option<TopicPartition>>)> = BTreeMap::new();
    for topic in view.topics.values() {
        for (index, partition) in topic.partitions.iter().enumerate() {
            let Some(&preferred) = partition.replicas.first() else {
                continue;
            };
            if !partition.has_state() {
                continue;
            }
            let entry = by_broker.entry(preferred).or_default();
            entry.0 += 1;
            // Counted in the ratio either way; elected only where the
            // preferred replica is in sync (Kafka's rule).
            if partition.leader != preferred {
                entry.1.push(
                    partition
                        .isr
                        .contains(&preferred)
                        .then(|| TopicPartition::new(topic.name.clone(), index as i32)),
                );
            }
        }
    }
    let mut chosen = Vec::new();
    for (broker, (total, elsewhere)) in by_broker {
        if !live.contains(&broker) || elsewhere.is_empty() {
            continue;
        }
        // Kafka compares the ratio with the percentage / 100, strictly.
        if elsewhere.len() as f64 / total as f64 > f64::from(percentage) / 100.0 {
            chosen.extend(elsewhere.into_iter().flatten());
        }
    }
    chosen
}

impl ClusterAgent {
    /// Runs `election` for `partitions` (None: every partition, and only
    /// those an election changed or could not change are reported, as
    /// Kafka reports them). Some(NOT_CONTROLLER) when this broker is not
    /// the controller.
    pub async fn elect_leaders(
        &self,
        election: Election,
        partitions: Option<Vec<TopicPartition>>,
    ) -> Result<Vec<ElectionOutcome>, ResponseError> {
        let Some(epoch) = *self.controller.borrow() else {
            return Err(ResponseError::NotController);
        };
        let view = self.view();
        let live: BTreeSet<i32> = view.brokers.keys().copied().collect();
        let every = partitions.is_none();
        let wanted: Vec<TopicPartition> = partitions.unwrap_or_else(|| {
            view.topics
                .values()
                .flat_map(|t| {
                    (0..t.partitions.len()).map(|p| TopicPartition::new(t.name.clone(), p as i32))
                })
                .collect()
        });
        let mut outcomes = Vec::with_capacity(wanted.len());
        for tp in wanted {
            let error = match self.elect_one(&tp, &live, election, epoch).await {
                Ok(error) => error,
                Err(NotController) => return Err(ResponseError::NotController),
            };
            if every && matches!(&error, Some((ResponseError::ElectionNotNeeded, _))) {
                continue;
            }
            outcomes.push(ElectionOutcome {
                partition: tp,
                error,
            });
        }
        Ok(outcomes)
    }

    /// One partition's election; a state that changed under it (a leader
    /// writing its ISR meanwhile) is read again and the election retried.
    async fn elect_one(
        &self,
        tp: &TopicPartition,
        live: &BTreeSet<i32>,
        election: Election,
        epoch: ControllerEpoch,
    ) -> Result<Option<(ResponseError, String)>, NotController> {
        for _ in 0..STALE_STATE_RETRIES {
            let view = self.view();
            let found = view
                .topics
                .get(&*tp.topic)
                .and_then(|t| t.partitions.get(usize::try_from(tp.partition).ok()?));
            let Some(current) = found else {
                return Ok(Some((
                    ResponseError::UnknownTopicOrPartition,
                    "This server does not host this topic-partition.".into(),
                )));
            };
            let target = match election_target(current, live, election, epoch.epoch) {
                Ok(target) => target,
                Err(refusal) => return Ok(Some(refusal)),
            };
            match self
                .write_state(&tp.topic, tp.partition, current, &target, epoch)
                .await
            {
                Ok(true) => return Ok(None),
                Ok(false) if !self.is_controller() => return Err(NotController),
                Ok(false) => {
                    if let Err(error) = self.refresh_state(&tp.topic, tp.partition as usize).await {
                        return Ok(Some((ResponseError::UnknownServerError, error.to_string())));
                    }
                }
                Err(error) => {
                    return Ok(Some((ResponseError::UnknownServerError, error.to_string())))
                }
            }
        }
        Ok(Some((
            ResponseError::EligibleLeadersNotAvailable,
            "The partition's state kept changing during the election; retry.".into(),
        )))
    }

    /// The preferred-leader rebalance (`auto.leader.rebalance.enable`).
    pub(super) async fn rebalance_leaders(&self, percentage: u32) {
        if !self.is_controller() {
            return;
        }
        let view = self.view();
        let live: BTreeSet<i32> = view.brokers.keys().copied().collect();
        let chosen = imbalanced_partitions(&view, &live, percentage);
        if chosen.is_empty() {
            return;
        }
        match self.elect_leaders(Election::Preferred, Some(chosen)).await {
            Ok(outcomes) => {
                let moved = outcomes.iter().filter(|o| o.error.is_none()).count();
                if moved > 0 {
                    tracing::info!(
                        partitions = moved,
                        "moved leaderships back to their preferred replicas"
                    );
                }
            }
            Err(error) => tracing::debug!(?error, "preferred leader rebalance skipped"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::controller::tests::{live, partition};
    use super::*;

    #[test]
    fn preferred_election_moves_leadership_to_the_first_replica_in_sync() {
        let p = partition(&[1, 2, 3], 2, &[2, 3, 1]);
        let state = election_target(&p, &live(&[1, 2, 3]), Election::Preferred, 7).unwrap();
        assert_eq!(
            (state.leader, state.leader_epoch, state.controller_epoch),
            (1, 5, 7)
        );
        assert_eq!(state.isr, vec![2, 3, 1]);
    }

    #[test]
    fn preferred_election_refusals() {
        let led = partition(&[1, 2, 3], 1, &[1, 2, 3]);
        let refused = election_target(&led, &live(&[1, 2, 3]), Election::Preferred, 7);
        assert_eq!(refused.unwrap_err().0, ResponseError::ElectionNotNeeded);
        let out_of_sync = partition(&[1, 2, 3], 2, &[2, 3]);
        let refused = election_target(&out_of_sync, &live(&[1, 2, 3]), Election::Preferred, 7);
        assert_eq!(
            refused.unwrap_err().0,
            ResponseError::PreferredLeaderNotAvailable
        );
        let dead = partition(&[1, 2, 3], 2, &[2, 3, 1]);
        let refused = election_target(&dead, &live(&[2, 3]), Election::Preferred, 7);
        assert_eq!(
            refused.unwrap_err().0,
            ResponseError::PreferredLeaderNotAvailable
        );
    }

    #[test]
    fn unclean_election_takes_a_live_replica_only_without_a_leader() {
        let led = partition(&[1, 2, 3], 2, &[2]);
        let refused = election_target(&led, &live(&[1, 2, 3]), Election::Unclean, 7);
        assert_eq!(refused.unwrap_err().0, ResponseError::ElectionNotNeeded);
        let offline = partition(&[1, 2, 3], NO_LEADER, &[2]);
        let state = election_target(&offline, &live(&[3]), Election::Unclean, 7).unwrap();
        assert_eq!((state.leader, state.isr.clone()), (3, vec![3]));
        assert_eq!(
            state.leader_recovery_state,
            znodes::LEADER_RECOVERY_RECOVERING
        );
        let in_sync_back = election_target(&offline, &live(&[2, 3]), Election::Unclean, 7).unwrap();
        assert_eq!(in_sync_back.leader, 2);
        let none = election_target(&offline, &live(&[]), Election::Unclean, 7);
        assert_eq!(
            none.unwrap_err().0,
            ResponseError::EligibleLeadersNotAvailable
        );
    }

    fn view(partitions: Vec<PartitionView>) -> ClusterView {
        let mut view = ClusterView::default();
        view.topics.insert(
            "t".into(),
            crate::cluster::view::TopicView {
                name: "t".into(),
                id: uuid::Uuid::nil(),
                partitions,
                configs: Default::default(),
            },
        );
        view
    }

    #[test]
    fn rebalance_picks_a_brokers_partitions_once_its_imbalance_passes_the_threshold() {
        // Broker 1 is preferred for four partitions and leads three: 25%.
        let partitions = vec![
            partition(&[1, 2], 2, &[1, 2]),
            partition(&[1, 2], 1, &[1, 2]),
            partition(&[1, 2], 1, &[1, 2]),
            partition(&[1, 2], 1, &[1, 2]),
            partition(&[2, 1], 2, &[1, 2]),
        ];
        let view = view(partitions);
        let chosen = imbalanced_partitions(&view, &live(&[1, 2]), 10);
        assert_eq!(chosen, vec![TopicPartition::new("t".into(), 0)]);
        // Out of sync, the preferred replica cannot take it back.
        let mut lagging = view.clone();
        lagging.topics.get_mut("t").unwrap().partitions[0].isr = vec![2];
        assert!(imbalanced_partitions(&lagging, &live(&[1, 2]), 10).is_empty());
        assert!(imbalanced_partitions(&view, &live(&[1, 2]), 25).is_empty());
        // A dead preferred broker cannot take its leaderships back.
        assert!(imbalanced_partitions(&view, &live(&[2]), 0).is_empty());
    }

    #[test]
    fn election_types_from_the_wire() {
        assert_eq!(Election::from_wire(0), Some(Election::Preferred));
        assert_eq!(Election::from_wire(1), Some(Election::Unclean));
        assert_eq!(Election::from_wire(2), None);
    }
}
