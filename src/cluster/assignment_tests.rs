//! Kafka's own expectations for replica placement, ported from
//! `AdminRackAwareTest`, `RackAwareTest.checkReplicaDistribution` and the
//! ZooKeeper-mode CreatePartitions messages of `PlaintextAdminIntegrationTest`.

use std::collections::BTreeMap;

use rand::rngs::SmallRng;
use rand::SeedableRng;

use super::*;

fn brokers(racks: &[(i32, &str)]) -> Vec<BrokerMetadata> {
    let mut brokers: Vec<BrokerMetadata> = racks
        .iter()
        .map(|(id, rack)| BrokerMetadata::new(*id, Some(rack)))
        .collect();
    brokers.sort_by_key(|b| b.id);
    brokers
}

fn rack_map(racks: &[(i32, &str)]) -> BTreeMap<i32, String> {
    racks.iter().map(|(id, r)| (*id, r.to_string())).collect()
}

#[derive(Clone, Copy)]
struct Checks {
    rack_aware: bool,
    leaders_even: bool,
    replicas_even: bool,
}

const ALL: Checks = Checks {
    rack_aware: true,
    leaders_even: true,
    replicas_even: true,
};

/// Kafka's `checkReplicaDistribution`.
fn check_distribution(
    assignment: &Assignment,
    racks: &[(i32, &str)],
    partitions: usize,
    replication_factor: usize,
    checks: Checks,
) {
    let racks = rack_map(racks);
    let broker_count = racks.len();
    assert_eq!(assignment.len(), partitions);
    let mut leaders: BTreeMap<i32, usize> = racks.keys().map(|id| (*id, 0)).collect();
    let mut replicas: BTreeMap<i32, usize> = leaders.clone();
    for (partition, list) in assignment {
        assert_eq!(list.len(), replication_factor, "partition {partition}");
        let distinct: BTreeSet<_> = list.iter().collect();
        assert_eq!(
            distinct.len(),
            list.len(),
            "a broker twice in {partition}: {list:?}"
        );
        *leaders.get_mut(&list[0]).unwrap() += 1;
        for broker in list {
            *replicas.get_mut(broker).unwrap() += 1;
        }
        if checks.rack_aware {
            let partition_racks: BTreeSet<_> = list.iter().map(|b| &racks[b]).collect();
            assert_eq!(
                partition_racks.len(),
                replication_factor,
                "two replicas of {partition} on one rack: {list:?}"
            );
        }
    }
    if checks.leaders_even {
        let expected = partitions / broker_count;
        assert!(
            leaders.values().all(|n| *n == expected),
            "leaders {leaders:?}"
        );
    }
    if checks.replicas_even {
        let expected = partitions * replication_factor / broker_count;
        assert!(
            replicas.values().all(|n| *n == expected),
            "replicas {replicas:?}"
        );
    }
}

fn seeds() -> impl Iterator<Item = SmallRng> {
    (0..64).map(SmallRng::seed_from_u64)
}

const SIX: &[(i32, &str)] = &[
    (0, "rack1"),
    (1, "rack2"),
    (2, "rack2"),
    (3, "rack3"),
    (4, "rack3"),
    (5, "rack1"),
];

#[test]
fn rack_alternated_list_and_exact_assignment() {
    let racks = [
        (0, "rack1"),
        (1, "rack3"),
        (2, "rack3"),
        (3, "rack2"),
        (4, "rack2"),
        (5, "rack1"),
    ];
    assert_eq!(
        rack_alternated_broker_list(&rack_map(&racks)),
        vec![0, 3, 1, 5, 4, 2]
    );
    assert_eq!(
        rack_alternated_broker_list(&rack_map(&racks[..5])),
        vec![0, 3, 1, 4, 2]
    );
    let assignment =
        assign_replicas_to_brokers(&brokers(&racks), 7, 3, StartIndex::fixed(0), 0).unwrap();
    let expected = Assignment::from([
        (0, vec![0, 3, 1]),
        (1, vec![3, 1, 5]),
        (2, vec![1, 5, 4]),
        (3, vec![5, 4, 2]),
        (4, vec![4, 2, 0]),
        (5, vec![2, 0, 3]),
        (6, vec![0, 4, 2]),
    ]);
    assert_eq!(assignment, expected);
}

#[test]
fn rack_aware_even() {
    let a = assign_replicas_to_brokers(&brokers(SIX), 6, 3, StartIndex::fixed(2), 0).unwrap();
    check_distribution(&a, SIX, 6, 3, ALL);
    for mut rng in seeds() {
        let a = assign_replicas_to_brokers(&brokers(SIX), 6, 3, StartIndex::random(&mut rng, 6), 0)
            .unwrap();
        check_distribution(&a, SIX, 6, 3, ALL);
    }
}

#[test]
fn rack_aware_uneven_replicas_and_racks() {
    let a = assign_replicas_to_brokers(&brokers(SIX), 13, 3, StartIndex::fixed(0), 0).unwrap();
    let rack_only = Checks {
        rack_aware: true,
        leaders_even: false,
        replicas_even: false,
    };
    check_distribution(&a, SIX, 13, 3, rack_only);
    let uneven = [
        (0, "rack1"),
        (1, "rack1"),
        (2, "rack2"),
        (3, "rack3"),
        (4, "rack3"),
        (5, "rack1"),
    ];
    for mut rng in seeds() {
        let start = StartIndex::random(&mut rng, 6);
        let a = assign_replicas_to_brokers(&brokers(&uneven), 12, 3, start, 0).unwrap();
        let checks = Checks {
            replicas_even: false,
            ..ALL
        };
        check_distribution(&a, &uneven, 12, 3, checks);
    }
}

#[test]
fn rack_aware_two_replicas_expansion_and_sizes() {
    for mut rng in seeds() {
        let start = StartIndex::random(&mut rng, 6);
        let a = assign_replicas_to_brokers(&brokers(SIX), 12, 2, start, 0).unwrap();
        check_distribution(&a, SIX, 12, 2, ALL);
        let a = assign_replicas_to_brokers(&brokers(SIX), 6, 2, start, 0).unwrap();
        check_distribution(&a, SIX, 6, 2, ALL);
        let three = [(0, "rack1"), (1, "rack2"), (4, "rack3")];
        let a =
            assign_replicas_to_brokers(&brokers(&three), 3, 2, StartIndex::random(&mut rng, 3), 0)
                .unwrap();
        check_distribution(&a, &three, 3, 2, ALL);
    }
    // Growing a topic: partitions 12..24 on brokers 6..11.
    let moved: Vec<(i32, &str)> = SIX.iter().map(|(id, r)| (id + 6, *r)).collect();
    let a = assign_replicas_to_brokers(&brokers(&moved), 12, 2, StartIndex::fixed(0), 12).unwrap();
    assert_eq!(
        a.keys().copied().collect::<Vec<_>>(),
        (12..24).collect::<Vec<_>>()
    );
    check_distribution(&a, &moved, 12, 2, ALL);
}

#[test]
fn rack_aware_large_and_odd_shapes() {
    let twelve = [
        (0, "rack1"),
        (1, "rack2"),
        (2, "rack2"),
        (3, "rack3"),
        (4, "rack3"),
        (5, "rack1"),
        (6, "rack1"),
        (7, "rack2"),
        (8, "rack2"),
        (9, "rack3"),
        (10, "rack1"),
        (11, "rack3"),
    ];
    let mut rng = SmallRng::seed_from_u64(7);
    let a = assign_replicas_to_brokers(
        &brokers(&twelve),
        96,
        3,
        StartIndex::random(&mut rng, 12),
        0,
    )
    .unwrap();
    check_distribution(&a, &twelve, 96, 3, ALL);

    let racks = [
        (0, "rack1"),
        (1, "rack2"),
        (2, "rack2"),
        (3, "rack3"),
        (4, "rack3"),
        (5, "rack2"),
    ];
    let rack_map = rack_map(&racks);
    let racks_of = |a: &Assignment, p: i32| -> usize {
        a[&p]
            .iter()
            .map(|b| &rack_map[b])
            .collect::<BTreeSet<_>>()
            .len()
    };
    for mut rng in seeds() {
        // More replicas than racks: every rack holds one.
        let a =
            assign_replicas_to_brokers(&brokers(&racks), 6, 5, StartIndex::random(&mut rng, 6), 0)
                .unwrap();
        assert!(a.values().all(|r| r.len() == 5));
        assert!((0..6).all(|p| racks_of(&a, p) == 3));
        // Fewer replicas than racks: no rack holds two.
        let a =
            assign_replicas_to_brokers(&brokers(&racks), 6, 2, StartIndex::random(&mut rng, 6), 0)
                .unwrap();
        assert!((0..6).all(|p| racks_of(&a, p) == 2));
    }
    // One rack: rack-aware placement degenerates to even leaders.
    let single: Vec<(i32, &str)> = (0..6).map(|id| (id, "rack1")).collect();
    let a = assign_replicas_to_brokers(&brokers(&single), 6, 3, StartIndex::fixed(1), 0).unwrap();
    let checks = Checks {
        rack_aware: false,
        ..ALL
    };
    check_distribution(&a, &single, 6, 3, checks);
    // A broker that already holds a replica is skipped.
    let skip = [(0, "a"), (1, "b"), (2, "c"), (3, "a"), (4, "a")];
    let a = assign_replicas_to_brokers(&brokers(&skip), 6, 4, StartIndex::fixed(2), 0).unwrap();
    let none = Checks {
        rack_aware: false,
        leaders_even: false,
        replicas_even: false,
    };
    check_distribution(&a, &skip, 6, 4, none);
}

#[test]
fn rack_unaware_exact_assignment_and_errors() {
    let five: Vec<BrokerMetadata> = (0..5).map(|id| BrokerMetadata::new(id, None)).collect();
    let e = assign_replicas_to_brokers(&five, 10, 0, StartIndex::fixed(0), 0).unwrap_err();
    assert_eq!(e.error_code(), 38);
    assert_eq!(e.to_string(), "Replication factor must be larger than 0.");
    let e = assign_replicas_to_brokers(&five, 10, 6, StartIndex::fixed(0), 0).unwrap_err();
    assert_eq!(e.error_code(), 38);
    assert_eq!(
        e.to_string(),
        "Replication factor: 6 larger than available brokers: 5."
    );
    let e = assign_replicas_to_brokers(&five, 0, 1, StartIndex::fixed(0), 0).unwrap_err();
    assert_eq!(e.error_code(), 37);
    assert_eq!(e.to_string(), "Number of partitions must be larger than 0.");
    let e = assign_replicas_to_brokers(&[], 1, 1, StartIndex::fixed(0), 0).unwrap_err();
    assert_eq!(e.error_code(), 38);

    let expected = Assignment::from([
        (0, vec![0, 1, 2]),
        (1, vec![1, 2, 3]),
        (2, vec![2, 3, 4]),
        (3, vec![3, 4, 0]),
        (4, vec![4, 0, 1]),
        (5, vec![0, 2, 3]),
        (6, vec![1, 3, 4]),
        (7, vec![2, 4, 0]),
        (8, vec![3, 0, 1]),
        (9, vec![4, 1, 2]),
    ]);
    assert_eq!(
        assign_replicas_to_brokers(&five, 10, 3, StartIndex::fixed(0), 0).unwrap(),
        expected
    );
    // Random starts still spread leaders and replicas evenly.
    let racks: Vec<(i32, &str)> = (0..5).map(|id| (id, "-")).collect();
    let unchecked = Checks {
        rack_aware: false,
        ..ALL
    };
    for mut rng in seeds() {
        let a =
            assign_replicas_to_brokers(&five, 10, 3, StartIndex::random(&mut rng, 5), 0).unwrap();
        check_distribution(&a, &racks, 10, 3, unchecked);
    }
    // One broker, RF 1: every partition on it.
    let one = [BrokerMetadata::new(7, None)];
    let a = assign_replicas_to_brokers(&one, 3, 1, StartIndex::fixed(0), 0).unwrap();
    assert!(a.values().all(|r| r == &vec![7]));
}

#[test]
fn partial_rack_information_is_refused() {
    let mixed = vec![
        BrokerMetadata::new(0, Some("r1")),
        BrokerMetadata::new(1, None),
    ];
    let e = assign_replicas_to_brokers(&mixed, 1, 1, StartIndex::fixed(0), 0).unwrap_err();
    assert_eq!(e.error_code(), -1);
    assert_eq!(
        e.to_string(),
        "Not all brokers have rack information for replica rack aware assignment."
    );
}

#[test]
fn manual_assignments_for_create() {
    let ok = validate_manual_assignment(-1, -1, &[(1, vec![2, 1]), (0, vec![1, 2])]).unwrap();
    assert_eq!(ok, Assignment::from([(0, vec![1, 2]), (1, vec![2, 1])]));
    let refused = |partitions, rf, list: &[(i32, Vec<i32>)]| {
        let e = validate_manual_assignment(partitions, rf, list).unwrap_err();
        (e.error_code(), e.to_string())
    };
    let both = refused(3, -1, &[(0, vec![1])]);
    assert_eq!(both.0, 42);
    assert!(both
        .1
        .starts_with("Both numPartitions or replicationFactor"));
    assert_eq!(refused(-1, 2, &[(0, vec![1])]).0, 42);
    assert_eq!(
        refused(-1, -1, &[(0, vec![1]), (1, vec![1, 2])]),
        (
            39,
            "All partitions should have the same number of replicas".to_string()
        )
    );
    assert_eq!(
        refused(-1, -1, &[(0, vec![1, 1])]),
        (
            39,
            "Duplicate replica assignment found: Map(0 -> ArrayBuffer(1, 1))".to_string()
        )
    );
    for gaps in [
        vec![(1, vec![0]), (2, vec![1])],
        vec![(0, vec![0]), (0, vec![1])],
    ] {
        assert_eq!(
            refused(-1, -1, &gaps),
            (
                39,
                "partitions should be a consecutive 0-based integer sequence".to_string()
            )
        );
    }
    assert_eq!(refused(-1, -1, &[(0, vec![])]).0, 39);
}

#[test]
fn new_partitions_as_kafkas_zookeeper_mode() {
    let live: Vec<BrokerMetadata> = (0..3).map(|id| BrokerMetadata::new(id, None)).collect();
    let existing = Assignment::from([(0, vec![1]), (1, vec![2]), (2, vec![0])]);
    let refused = |count, manual: Option<&[Vec<i32>]>| {
        let e = assign_new_partitions(&existing, &live, count, manual).unwrap_err();
        (e.error_code(), e.to_string())
    };
    assert_eq!(
        refused(2, None),
        (
            37,
            "Topic currently has 3 partitions, which is higher than the requested 2.".into()
        )
    );
    assert_eq!(
        refused(3, None),
        (37, "Topic already has 3 partitions.".into())
    );
    assert_eq!(
        refused(6, Some(&[vec![1]])),
        (
            39,
            "Increasing the number of partitions by 3 but 1 assignments provided.".into()
        )
    );
    assert_eq!(
        refused(4, Some(&[vec![1], vec![2]])),
        (
            39,
            "Increasing the number of partitions by 1 but 2 assignments provided.".into()
        )
    );
    assert_eq!(
        refused(4, Some(&[])),
        (
            39,
            "Increasing the number of partitions by 1 but 0 assignments provided.".into()
        )
    );
    assert_eq!(
        refused(4, Some(&[vec![1, 1]])),
        (
            39,
            "Duplicate brokers not allowed in replica assignment: 1, 1 for partition id 3.".into()
        )
    );
    assert_eq!(
        refused(5, Some(&[vec![1], vec![1, 0]])),
        (
            39,
            "Inconsistent replication factor between partitions, partition 0 has 1 while \
             partitions [4] have replication factors [2], respectively."
                .into()
        )
    );
    assert_eq!(
        refused(4, Some(&[vec![12]])),
        (39, "Unknown broker(s) in replica assignment: 12.".into())
    );
    assert_eq!(
        refused(4, Some(&[vec![]])),
        (
            39,
            "Cannot have replication factor of 0 for partition id 3.".into()
        )
    );
    assert_eq!(
        assign_new_partitions(&existing, &live, 5, Some(&[vec![2], vec![0]])).unwrap(),
        Assignment::from([(3, vec![2]), (4, vec![0])])
    );
    // Automatic: the round-robin continues from partition 0's leader, with
    // partition 0's replication factor.
    let existing = Assignment::from([(0, vec![1, 2]), (1, vec![2, 0])]);
    let grown = assign_new_partitions(&existing, &live, 5, None).unwrap();
    let expected = assign_replicas_to_brokers(&live, 3, 2, StartIndex::fixed(1), 2).unwrap();
    assert_eq!(grown, expected);
    assert_eq!(
        grown,
        Assignment::from([(2, vec![0, 2]), (3, vec![1, 2]), (4, vec![2, 0])])
    );
    assert_eq!(grown.keys().copied().collect::<Vec<_>>(), vec![2, 3, 4]);
    assert!(grown.values().all(|r| r.len() == 2));
    let e = assign_new_partitions(&Assignment::from([(1, vec![1])]), &live, 3, None).unwrap_err();
    assert_eq!(e.error_code(), -1);
}
