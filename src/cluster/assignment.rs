//! Replica placement: Kafka's `AdminUtils.assignReplicasToBrokers` (what the
//! ZooKeeper-mode broker runs for CreateTopics, auto-creation and
//! CreatePartitions), and the checks Kafka's ZooKeeper mode makes on manual
//! assignments, with its error codes and messages.
//!
//! Three goals, as Kafka states them: spread replicas evenly over brokers;
//! for the partitions a broker leads, spread their other replicas over the
//! other brokers; with rack information on every broker, put a partition's
//! replicas on different racks when there are enough racks.
//!
//! Rack-unaware: the first replica of each partition goes round-robin from a
//! random start in the broker list; the others follow at an increasing shift,
//! so the followers of one leader do not always sit on the same brokers:
//!
//! ```text
//! broker-0  broker-1  broker-2  broker-3  broker-4
//! p0        p1        p2        p3        p4        (1st replica)
//! p5        p6        p7        p8        p9        (1st replica)
//! p4        p0        p1        p2        p3        (2nd replica)
//! p8        p9        p5        p6        p7        (2nd replica)
//! p3        p4        p0        p1        p2        (3rd replica)
//! p7        p8        p9        p5        p6        (3rd replica)
//! ```
//!
//! Rack-aware: the same round-robin over a rack-alternated broker list
//! (rack1: 0,1,2 / rack2: 3,4,5 / rack3: 6,7,8 becomes 0,3,6,1,4,7,2,5,8),
//! skipping for followers a broker whose rack already holds a replica while
//! some rack holds none, and a broker that already holds one while some
//! broker holds none.
//!
//! The randomness (Kafka's two `rand.nextInt(brokers)` draws) comes in
//! through [`StartIndex`], so tests fix it.

use std::collections::{BTreeMap, BTreeSet};

use kafka_protocol::ResponseError;

/// A partition id to its replicas, the preferred leader first.
pub type Assignment = BTreeMap<i32, Vec<i32>>;

/// A live broker as placement sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokerMetadata {
    pub id: i32,
    pub rack: Option<String>,
}

impl BrokerMetadata {
    pub fn new(id: i32, rack: Option<&str>) -> Self {
        BrokerMetadata {
            id,
            rack: rack.map(str::to_string),
        }
    }
}

/// Where the round-robin starts: Kafka's `fixedStartIndex` (both values the
/// same), or two random draws below the broker count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StartIndex {
    /// Index in the (arranged) broker list of partition 0's first replica.
    pub first_replica: usize,
    /// The initial shift of the followers.
    pub replica_shift: usize,
}

impl StartIndex {
    pub fn fixed(index: usize) -> Self {
        StartIndex {
            first_replica: index,
            replica_shift: index,
        }
    }

    /// Kafka's `rand.nextInt(n)` twice, start first. Zero brokers draw
    /// nothing (placement then fails on the replication factor).
    pub fn random<R: rand::Rng + ?Sized>(rng: &mut R, broker_count: usize) -> Self {
        if broker_count == 0 {
            return StartIndex::fixed(0);
        }
        let first_replica = rng.gen_range(0..broker_count);
        let replica_shift = rng.gen_range(0..broker_count);
        StartIndex {
            first_replica,
            replica_shift,
        }
    }
}

/// A refused placement, with Kafka's error code and message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AssignmentError {
    #[error("{0}")]
    InvalidPartitions(String),
    #[error("{0}")]
    InvalidReplicationFactor(String),
    #[error("{0}")]
    InvalidReplicaAssignment(String),
    #[error("{0}")]
    InvalidRequest(String),
    /// Kafka's `AdminOperationException` (some brokers without a rack, a
    /// topic without partition 0), which its ZooKeeper mode answers as
    /// `UNKNOWN_SERVER_ERROR`.
    #[error("{0}")]
    AdminOperation(String),
}

impl AssignmentError {
    /// The error code for a CreateTopics or CreatePartitions answer.
    pub fn error_code(&self) -> i16 {
        let error = match self {
            AssignmentError::InvalidPartitions(_) => ResponseError::InvalidPartitions,
            AssignmentError::InvalidReplicationFactor(_) => ResponseError::InvalidReplicationFactor,
            AssignmentError::InvalidReplicaAssignment(_) => ResponseError::InvalidReplicaAssignment,
            AssignmentError::InvalidRequest(_) => ResponseError::InvalidRequest,
            AssignmentError::AdminOperation(_) => ResponseError::UnknownServerError,
        };
        error.code()
    }
}

/// Kafka's `assignReplicasToBrokers`. `brokers` in the order Kafka passes
/// them (sorted by id); `first_partition_id` is 0 for a new topic and the
/// current partition count when a topic grows.
pub fn assign_replicas_to_brokers(
    brokers: &[BrokerMetadata],
    partitions: i32,
    replication_factor: i32,
    start: StartIndex,
    first_partition_id: i32,
) -> Result<Assignment, AssignmentError> {
    if partitions <= 0 {
        return Err(AssignmentError::InvalidPartitions(
            "Number of partitions must be larger than 0.".to_string(),
        ));
    }
    if replication_factor <= 0 {
        return Err(AssignmentError::InvalidReplicationFactor(
            "Replication factor must be larger than 0.".to_string(),
        ));
    }
    if replication_factor as usize > brokers.len() {
        return Err(AssignmentError::InvalidReplicationFactor(format!(
            "Replication factor: {replication_factor} larger than available brokers: {}.",
            brokers.len()
        )));
    }
    let first_partition_id = first_partition_id.max(0);
    if brokers.iter().all(|b| b.rack.is_none()) {
        let ids: Vec<i32> = brokers.iter().map(|b| b.id).collect();
        return Ok(rack_unaware(
            &ids,
            partitions,
            replication_factor as usize,
            start,
            first_partition_id,
        ));
    }
    let mut racks = BTreeMap::new();
    for broker in brokers {
        let rack = broker.rack.clone().ok_or_else(|| {
            AssignmentError::AdminOperation(
                "Not all brokers have rack information for replica rack aware assignment."
                    .to_string(),
            )
        })?;
        racks.insert(broker.id, rack);
    }
    Ok(rack_aware(
        &racks,
        partitions,
        replication_factor as usize,
        start,
        first_partition_id,
    ))
}

/// Kafka's `replicaIndex`: the broker index of a follower.
fn replica_index(first: usize, shift: usize, follower: usize, brokers: usize) -> usize {
    debug_assert!(brokers > 1, "followers need a second broker");
    let offset = 1 + (shift + follower) % (brokers - 1);
    (first + offset) % brokers
}

fn rack_unaware(
    ids: &[i32],
    partitions: i32,
    replication_factor: usize,
    start: StartIndex,
    first_partition_id: i32,
) -> Assignment {
    let n = ids.len();
    let mut shift = start.replica_shift;
    let mut assignment = Assignment::new();
    for partition in first_partition_id..first_partition_id + partitions {
        let p = partition as usize;
        if p > 0 && p % n == 0 {
            shift += 1;
        }
        let first = (p + start.first_replica) % n;
        let mut replicas = Vec::with_capacity(replication_factor);
        replicas.push(ids[first]);
        for follower in 0..replication_factor - 1 {
            replicas.push(ids[replica_index(first, shift, follower, n)]);
        }
        assignment.insert(partition, replicas);
    }
    assignment
}

fn rack_aware(
    racks: &BTreeMap<i32, String>,
    partitions: i32,
    replication_factor: usize,
    start: StartIndex,
    first_partition_id: i32,
) -> Assignment {
    let rack_count = racks.values().collect::<BTreeSet<_>>().len();
    let arranged = rack_alternated_broker_list(racks);
    let n = arranged.len();
    let mut shift = start.replica_shift;
    let mut assignment = Assignment::new();
    for partition in first_partition_id..first_partition_id + partitions {
        let p = partition as usize;
        if p > 0 && p % n == 0 {
            shift += 1;
        }
        let first = (p + start.first_replica) % n;
        let leader = arranged[first];
        let mut replicas = vec![leader];
        let mut racks_with_replicas = BTreeSet::from([&racks[&leader]]);
        let mut brokers_with_replicas = BTreeSet::from([leader]);
        let mut k = 0;
        for _ in 0..replication_factor - 1 {
            // Terminates: once every rack and every broker holds a replica,
            // any broker is taken, and replication_factor <= n.
            loop {
                let broker = arranged[replica_index(first, shift * rack_count, k, n)];
                let rack = &racks[&broker];
                k += 1;
                let rack_ok =
                    !racks_with_replicas.contains(rack) || racks_with_replicas.len() == rack_count;
                let broker_ok =
                    !brokers_with_replicas.contains(&broker) || brokers_with_replicas.len() == n;
                if rack_ok && broker_ok {
                    replicas.push(broker);
                    racks_with_replicas.insert(rack);
                    brokers_with_replicas.insert(broker);
                    break;
                }
            }
        }
        assignment.insert(partition, replicas);
    }
    assignment
}

/// Kafka's `getRackAlternatedBrokerList`: racks in name order, each rack's
/// brokers in id order, taken one per rack in turn.
pub fn rack_alternated_broker_list(racks: &BTreeMap<i32, String>) -> Vec<i32> {
    let mut by_rack: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for (id, rack) in racks {
        by_rack.entry(rack.as_str()).or_default().push(*id);
    }
    let mut iterators: Vec<std::vec::IntoIter<i32>> =
        by_rack.into_values().map(Vec::into_iter).collect();
    let mut arranged = Vec::with_capacity(racks.len());
    while arranged.len() < racks.len() {
        for brokers in iterators.iter_mut() {
            if let Some(id) = brokers.next() {
                arranged.push(id);
            }
        }
    }
    arranged
}

fn invalid_assignment(message: impl Into<String>) -> AssignmentError {
    AssignmentError::InvalidReplicaAssignment(message.into())
}

/// CreateTopics with manual assignments, as Kafka's ZooKeeper mode checks
/// them (`ZkAdminManager.createTopics`, `AdminZkClient.validateTopicCreate`).
/// `partitions` and `replication_factor` are the request's own fields, which
/// must be -1 alongside assignments. Like Kafka's ZooKeeper mode, brokers are
/// not checked against the live ones: a replica on an unknown broker stays
/// offline until that broker registers. An empty replica list is refused
/// (with KRaft's message; ZooKeeper mode let it through to an offline
/// partition).
pub fn validate_manual_assignment(
    partitions: i32,
    replication_factor: i32,
    assignments: &[(i32, Vec<i32>)],
) -> Result<Assignment, AssignmentError> {
    if partitions != -1 || replication_factor != -1 {
        return Err(AssignmentError::InvalidRequest(
            "Both numPartitions or replicationFactor and replicasAssignments were set. Both \
             cannot be used at the same time."
                .to_string(),
        ));
    }
    if assignments.iter().any(|(_, replicas)| replicas.is_empty()) {
        return Err(invalid_assignment(
            "The manual partition assignment includes an empty replica list.",
        ));
    }
    let sizes: BTreeSet<usize> = assignments.iter().map(|(_, r)| r.len()).collect();
    if sizes.len() != 1 {
        return Err(invalid_assignment(
            "All partitions should have the same number of replicas",
        ));
    }
    let mut assignment = Assignment::new();
    for (partition, replicas) in assignments {
        let distinct: BTreeSet<&i32> = replicas.iter().collect();
        if distinct.len() != replicas.len() {
            return Err(invalid_assignment(format!(
                "Duplicate replica assignment found: {}",
                render_assignments(assignments)
            )));
        }
        if assignment.insert(*partition, replicas.clone()).is_some() {
            return Err(invalid_assignment(
                "partitions should be a consecutive 0-based integer sequence",
            ));
        }
    }
    let expected = 0..assignment.len() as i32;
    if !assignment.keys().copied().eq(expected) {
        return Err(invalid_assignment(
            "partitions should be a consecutive 0-based integer sequence",
        ));
    }
    Ok(assignment)
}

/// Scala's rendering of the assignment map in Kafka's message, in id order.
fn render_assignments(assignments: &[(i32, Vec<i32>)]) -> String {
    let mut sorted: Vec<&(i32, Vec<i32>)> = assignments.iter().collect();
    sorted.sort_by_key(|(partition, _)| *partition);
    let entries: Vec<String> = sorted
        .iter()
        .map(|(partition, replicas)| format!("{partition} -> {}", render_list(replicas)))
        .collect();
    format!("Map({})", entries.join(", "))
}

fn render_list(ids: &[i32]) -> String {
    let ids: Vec<String> = ids.iter().map(i32::to_string).collect();
    format!("ArrayBuffer({})", ids.join(", "))
}

fn join(ids: impl IntoIterator<Item = i32>) -> String {
    ids.into_iter()
        .map(|id| id.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// CreatePartitions, as Kafka's ZooKeeper mode does it
/// (`ZkAdminManager.createPartitions`, `AdminZkClient.createNewPartitionsAssignment`):
/// the new partitions' replicas, from `manual` (one list per new partition)
/// or placed after the existing ones starting at the broker that leads
/// partition 0. `brokers` are the live brokers, sorted by id.
pub fn assign_new_partitions(
    existing: &Assignment,
    brokers: &[BrokerMetadata],
    new_count: i32,
    manual: Option<&[Vec<i32>]>,
) -> Result<Assignment, AssignmentError> {
    let old_count = existing.len() as i32;
    if old_count > new_count {
        return Err(AssignmentError::InvalidPartitions(format!(
            "Topic currently has {old_count} partitions, which is higher than the requested \
             {new_count}."
        )));
    }
    if old_count == new_count {
        return Err(AssignmentError::InvalidPartitions(format!(
            "Topic already has {old_count} partitions."
        )));
    }
    let partition0 = existing.get(&0).ok_or_else(|| {
        AssignmentError::AdminOperation(format!(
            "Unexpected existing replica assignment, partition id 0 is missing. Assignment: \
             {existing:?}"
        ))
    })?;
    let increment = new_count - old_count;
    let live: BTreeSet<i32> = brokers.iter().map(|b| b.id).collect();
    let Some(manual) = manual else {
        let start = brokers
            .iter()
            .position(|b| Some(&b.id) >= partition0.first())
            .unwrap_or(0);
        return assign_replicas_to_brokers(
            brokers,
            increment,
            partition0.len() as i32,
            StartIndex::fixed(start),
            old_count,
        );
    };
    let unknown: BTreeSet<i32> = manual
        .iter()
        .flatten()
        .copied()
        .filter(|id| !live.contains(id))
        .collect();
    if !unknown.is_empty() {
        return Err(invalid_assignment(format!(
            "Unknown broker(s) in replica assignment: {}.",
            join(unknown)
        )));
    }
    if manual.len() as i32 != increment {
        return Err(invalid_assignment(format!(
            "Increasing the number of partitions by {increment} but {} assignments provided.",
            manual.len()
        )));
    }
    let proposed: Assignment = (old_count..).zip(manual.iter().cloned()).collect();
    for (partition, replicas) in &proposed {
        if replicas.is_empty() {
            return Err(invalid_assignment(format!(
                "Cannot have replication factor of 0 for partition id {partition}."
            )));
        }
        if replicas.iter().collect::<BTreeSet<_>>().len() != replicas.len() {
            return Err(invalid_assignment(format!(
                "Duplicate brokers not allowed in replica assignment: {} for partition id \
                 {partition}.",
                join(replicas.iter().copied())
            )));
        }
    }
    let bad: Vec<(i32, usize)> = proposed
        .iter()
        .filter(|(_, replicas)| replicas.len() != partition0.len())
        .map(|(partition, replicas)| (*partition, replicas.len()))
        .collect();
    if !bad.is_empty() {
        let partitions = join(bad.iter().map(|(p, _)| *p));
        let factors = join(bad.iter().map(|(_, rf)| *rf as i32));
        return Err(invalid_assignment(format!(
            "Inconsistent replication factor between partitions, partition 0 has {} while \
             partitions [{partitions}] have replication factors [{factors}], respectively.",
            partition0.len()
        )));
    }
    Ok(proposed)
}

#[cfg(test)]
#[path = "assignment_tests.rs"]
mod tests;
