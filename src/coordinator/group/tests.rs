//! The rebalance state machine, driven call by call with a fake clock.

use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::ResponseError;

use super::*;
use crate::coordinator::calls::{JoinCall, LeavingMember, MemberRef, SyncCall};

fn settings() -> GroupSettings {
    GroupSettings {
        partitions: 50,
        initial_rebalance_delay: Duration::ZERO,
        min_session_timeout_ms: 10,
        max_session_timeout_ms: 1_000_000,
        max_size: 100,
        offsets_retention_ms: 1000,
        offsets_retention_check_interval: Duration::from_secs(1),
        offset_metadata_bytes_max: 4096,
    }
}

fn join_call(member_id: &str, instance: Option<&str>, protocols: &[&str]) -> JoinCall {
    JoinCall {
        group_id: "g".into(),
        member_id: member_id.into(),
        instance_id: instance.map(String::from),
        protocol_type: "consumer".into(),
        protocols: protocols
            .iter()
            .map(|p| (p.to_string(), Bytes::from(format!("meta-{p}"))))
            .collect(),
        session_timeout_ms: 10_000,
        rebalance_timeout_ms: 30_000,
        client_id: "client".into(),
        client_host: "/127.0.0.1".into(),
        require_known_member_id: true,
        supports_skip_assignment: true,
    }
}

fn member(id: &str, generation: i32) -> MemberRef {
    MemberRef {
        group_id: "g".into(),
        generation,
        member_id: id.into(),
        instance_id: None,
    }
}

/// Joins a new dynamic member through MEMBER_ID_REQUIRED; returns its id
/// and the pending join.
fn join_new(
    group: &mut Group,
    now: Instant,
    protocols: &[&str],
) -> (String, oneshot::Receiver<JoinReply>) {
    let first = group
        .join(&join_call("", None, protocols), &settings(), now, 0)
        .expect_err("a new member is asked to rejoin with an id");
    assert_eq!(first.error, ResponseError::MemberIdRequired.code());
    let id = first.member_id.clone();
    let receiver = group
        .join(&join_call(&id, None, protocols), &settings(), now, 0)
        .expect("the member joins");
    (id, receiver)
}

fn answered<T>(receiver: &mut oneshot::Receiver<T>) -> Option<T> {
    receiver.try_recv().expect("not cancelled")
}

#[test]
fn two_members_rebalance_and_sync() {
    let now = Instant::now();
    let mut group = Group::new("g".into(), 0, 0);
    let (a, mut a_join) = join_new(&mut group, now, &["range", "roundrobin"]);
    let a_reply = answered(&mut a_join).expect("a lone member's join completes at once");
    assert_eq!(a_reply.generation, 1);
    assert_eq!(a_reply.leader, a);
    assert_eq!(a_reply.protocol_name.as_deref(), Some("range"));

    // A second member arrives: a new rebalance that waits for `a`.
    let (b, mut b_join) = join_new(&mut group, now, &["roundrobin", "range"]);
    assert!(answered(&mut b_join).is_none());
    assert_eq!(group.state, GroupState::PreparingRebalance);
    assert_eq!(
        group.heartbeat(&member(&a, 1), now),
        ResponseError::RebalanceInProgress.code()
    );
    let mut a_join = group
        .join(
            &join_call(&a, None, &["range", "roundrobin"]),
            &settings(),
            now,
            0,
        )
        .unwrap();
    let a_reply = answered(&mut a_join).unwrap();
    let b_reply = answered(&mut b_join).unwrap();
    assert_eq!((a_reply.generation, b_reply.generation), (2, 2));
    assert_eq!(a_reply.leader, a, "the leader stays the leader");
    assert_eq!(a_reply.members.len(), 2);
    assert!(b_reply.members.is_empty(), "only the leader sees members");

    let SyncStep::Wait(mut b_sync) = group.sync(&sync_call(&b, 2, vec![]), now) else {
        panic!("a follower waits for the leader");
    };
    let assignments = vec![(a.clone(), Bytes::from("A")), (b.clone(), Bytes::from("B"))];
    let SyncStep::LeaderAssigned {
        mut receiver,
        generation,
    } = group.sync(&sync_call(&a, 2, assignments.clone()), now)
    else {
        panic!("the leader's sync carries the assignment");
    };
    assert!(group.apply_assignment(generation, &assignments, 0));
    assert_eq!(group.state, GroupState::Stable);
    assert_eq!(
        answered(&mut receiver).unwrap().assignment,
        Bytes::from("A")
    );
    assert_eq!(answered(&mut b_sync).unwrap().assignment, Bytes::from("B"));
    assert_eq!(group.heartbeat(&member(&b, 2), now), 0);
}

fn sync_call(id: &str, generation: i32, assignments: Vec<(String, Bytes)>) -> SyncCall {
    SyncCall {
        member: member(id, generation),
        protocol_type: None,
        protocol_name: None,
        assignments,
    }
}

#[test]
fn misuse_gets_kafkas_errors() {
    let now = Instant::now();
    let mut group = Group::new("g".into(), 0, 0);
    let (a, mut a_join) = join_new(&mut group, now, &["range"]);
    answered(&mut a_join).unwrap();
    assert_eq!(
        group.heartbeat(&member("ghost", 1), now),
        ResponseError::UnknownMemberId.code()
    );
    assert_eq!(
        group.heartbeat(&member(&a, 7), now),
        ResponseError::IllegalGeneration.code()
    );
    let mismatch = group
        .join(
            &join_call("", None, &["cooperative-sticky"]),
            &settings(),
            now,
            0,
        )
        .expect_err("no protocol in common");
    assert_eq!(
        mismatch.error,
        ResponseError::InconsistentGroupProtocol.code()
    );
    let mut wrong_type = join_call("", None, &["range"]);
    wrong_type.protocol_type = "connect".into();
    let refused = group.join(&wrong_type, &settings(), now, 0).unwrap_err();
    assert_eq!(
        refused.error,
        ResponseError::InconsistentGroupProtocol.code()
    );
    // The real member is unaffected.
    assert_eq!(group.heartbeat(&member(&a, 1), now), 0);
}

#[test]
fn expired_session_triggers_a_rebalance() {
    let now = Instant::now();
    let mut group = Group::new("g".into(), 0, 0);
    let (a, mut a_join) = join_new(&mut group, now, &["range"]);
    answered(&mut a_join).unwrap();
    let (b, mut b_join) = join_new(&mut group, now, &["range"]);
    let mut a_join = group
        .join(&join_call(&a, None, &["range"]), &settings(), now, 0)
        .unwrap();
    answered(&mut a_join).unwrap();
    answered(&mut b_join).unwrap();
    let assignments = vec![(a.clone(), Bytes::from("A")), (b.clone(), Bytes::from("B"))];
    let SyncStep::LeaderAssigned { generation, .. } =
        group.sync(&sync_call(&a, 2, assignments.clone()), now)
    else {
        panic!()
    };
    group.apply_assignment(generation, &assignments, 0);
    // `a` keeps heartbeating, `b` goes silent.
    let later = now + Duration::from_millis(9_000);
    assert_eq!(group.heartbeat(&member(&a, 2), later), 0);
    group.tick(&settings(), now + Duration::from_millis(10_001), 0);
    assert!(!group.members.contains_key(&b));
    assert_eq!(group.state, GroupState::PreparingRebalance);
}

#[test]
fn static_member_rejoins_without_rebalance_and_fences_the_old_id() {
    let now = Instant::now();
    let mut group = Group::new("g".into(), 0, 0);
    let mut leader_join = group
        .join(
            &join_call("", Some("leader"), &["range"]),
            &settings(),
            now,
            0,
        )
        .expect("static members skip MEMBER_ID_REQUIRED");
    let leader = answered(&mut leader_join).unwrap().member_id;
    let mut follower_join_rx = group
        .join(
            &join_call("", Some("follower"), &["range"]),
            &settings(),
            now,
            0,
        )
        .unwrap();
    let mut rejoin = group
        .join(
            &join_call(&leader, Some("leader"), &["range"]),
            &settings(),
            now,
            0,
        )
        .unwrap();
    let follower = answered(&mut follower_join_rx).unwrap().member_id;
    answered(&mut rejoin).unwrap();
    let assignments = vec![
        (leader.clone(), Bytes::from("L")),
        (follower.clone(), Bytes::from("F")),
    ];
    let SyncStep::LeaderAssigned { generation, .. } =
        group.sync(&sync_call(&leader, 2, assignments.clone()), now)
    else {
        panic!()
    };
    group.apply_assignment(generation, &assignments, 0);

    // The follower restarts: new member id, same instance id.
    let mut back = group
        .join(
            &join_call("", Some("follower"), &["range"]),
            &settings(),
            now,
            0,
        )
        .unwrap();
    let reply = answered(&mut back).expect("answered at once, no rebalance");
    assert_eq!(reply.generation, generation);
    assert_ne!(reply.member_id, follower);
    assert_eq!(group.state, GroupState::Stable);
    let mut sync = sync_call(&reply.member_id, generation, vec![]);
    sync.member.instance_id = Some("follower".into());
    let SyncStep::Answer(assigned) = group.sync(&sync, now) else {
        panic!()
    };
    assert_eq!(
        assigned.assignment,
        Bytes::from("F"),
        "the old assignment carries over"
    );
    let mut old = member(&follower, generation);
    old.instance_id = Some("follower".into());
    assert_eq!(
        group.heartbeat(&old, now),
        ResponseError::FencedInstanceId.code()
    );
}

#[test]
fn leaving_members_empty_the_group() {
    let now = Instant::now();
    let mut group = Group::new("g".into(), 0, 0);
    let (a, mut a_join) = join_new(&mut group, now, &["range"]);
    answered(&mut a_join).unwrap();
    let reply = group.leave(
        &[
            LeavingMember {
                member_id: a.clone(),
                instance_id: None,
            },
            LeavingMember {
                member_id: "ghost".into(),
                instance_id: None,
            },
        ],
        &settings(),
        now,
        5,
    );
    assert_eq!(reply.members[0].1, 0);
    assert_eq!(reply.members[1].1, ResponseError::UnknownMemberId.code());
    assert_eq!(group.state, GroupState::Empty);
    assert_eq!(group.state_since_ms, 5);
}

#[test]
fn initial_delay_waits_for_more_members() {
    let mut delayed = settings();
    delayed.initial_rebalance_delay = Duration::from_millis(100);
    let now = Instant::now();
    let mut group = Group::new("g".into(), 0, 0);
    let mut call = join_call("", None, &["range"]);
    call.require_known_member_id = false;
    let mut a = group.join(&call, &delayed, now, 0).unwrap();
    assert!(
        answered(&mut a).is_none(),
        "the first join waits for the delay"
    );
    let mut b = group
        .join(&call, &delayed, now + Duration::from_millis(50), 0)
        .unwrap();
    group.tick(&delayed, now + Duration::from_millis(100), 0);
    assert!(
        answered(&mut a).is_none(),
        "a new member extended the delay"
    );
    group.tick(&delayed, now + Duration::from_millis(200), 0);
    assert_eq!(answered(&mut a).unwrap().generation, 1);
    assert_eq!(answered(&mut b).unwrap().generation, 1);
}

/// Kafka's GroupCoordinator.doCurrentMemberJoinGroup, case by case: which
/// JoinGroup from a known member starts a new generation and which is
/// answered with the current one.
#[test]
fn known_members_rejoin_rebalances_only_where_kafka_does() {
    let now = Instant::now();
    let mut group = Group::new("g".into(), 0, 0);
    let protocols = ["range"];
    let (a, mut a_join) = join_new(&mut group, now, &protocols);
    answered(&mut a_join).unwrap();
    let (b, mut b_join) = join_new(&mut group, now, &protocols);
    let mut a_join = group
        .join(&join_call(&a, None, &protocols), &settings(), now, 0)
        .unwrap();
    assert_eq!(answered(&mut a_join).unwrap().generation, 2);
    answered(&mut b_join).unwrap();
    let SyncStep::Wait(_) = group.sync(&sync_call(&b, 2, vec![]), now) else {
        panic!("b waits for the leader");
    };
    let assignments = vec![(a.clone(), Bytes::from("A")), (b.clone(), Bytes::from("B"))];
    let SyncStep::LeaderAssigned { generation, .. } =
        group.sync(&sync_call(&a, 2, assignments.clone()), now)
    else {
        panic!("the leader assigns");
    };
    assert!(group.apply_assignment(generation, &assignments, 0));
    assert_eq!(group.state, GroupState::Stable);

    // Stable, a follower with unchanged metadata: the current generation.
    let mut again = group
        .join(&join_call(&b, None, &protocols), &settings(), now, 0)
        .unwrap();
    let reply = answered(&mut again).expect("answered at once");
    assert_eq!((reply.generation, reply.error), (2, 0));
    assert!(reply.members.is_empty());
    assert_eq!(group.state, GroupState::Stable);

    // Stable, the leader: a new generation (Kafka lets the leader force one
    // for changes its members' metadata does not show, e.g. new partitions).
    let mut a_join = group
        .join(&join_call(&a, None, &protocols), &settings(), now, 0)
        .unwrap();
    assert_eq!(group.state, GroupState::PreparingRebalance);
    assert!(answered(&mut a_join).is_none(), "waits for b");
    let mut b_join = group
        .join(&join_call(&b, None, &protocols), &settings(), now, 0)
        .unwrap();
    assert_eq!(answered(&mut b_join).unwrap().generation, 3);
    assert_eq!(answered(&mut a_join).unwrap().generation, 3);
    assert_eq!(group.state, GroupState::CompletingRebalance);

    // CompletingRebalance: a heartbeat is fine, and a member that lost its
    // join answer and asks again with the same metadata (leader or not)
    // gets the same generation.
    assert_eq!(group.heartbeat(&member(&b, 3), now), 0);
    for id in [&a, &b] {
        let mut again = group
            .join(&join_call(id, None, &protocols), &settings(), now, 0)
            .unwrap();
        assert_eq!(answered(&mut again).unwrap().generation, 3);
    }
    assert_eq!(group.state, GroupState::CompletingRebalance);

    // Changed metadata (a cooperative member's owned partitions after a
    // revocation, say) is a new generation in any state.
    let mut changed = group
        .join(
            &join_call(&b, None, &["range", "roundrobin"]),
            &settings(),
            now,
            0,
        )
        .unwrap();
    assert_eq!(group.state, GroupState::PreparingRebalance);
    assert!(answered(&mut changed).is_none());
}
