//! The frontend: the routing seam. It is the only code that asks the
//! routing table who owns a partition or a group and the only code that
//! sends work to another shard (`invoke_on`); handlers and the coordinator
//! call it and never the mesh.
//!
//! ```text
//! handler ──(slot, TopicPartition, input)──> frontend ── RoutingTable::owner
//!                                              │ Owner::Shard(this) ──> backend fn, direct
//!                                              │ Owner::Shard(other) ─> ShardRequest over the mesh
//!                                              ▼                          ──> Backend on the owner
//!                 (slot, outcome) in request order <──────────────────────┘
//! ```
//!
//! The API, by file:
//! - [`partitions`]: `produce`, `read` (zero-copy on this shard, copied
//!   from another), `wait_for_data` (the long poll), `list_offsets`,
//!   `delete_records`;
//! - [`groups`]: `call` (to the group's coordinator shard; JoinGroup and
//!   SyncGroup parked), `list_all`, `answer_parked`;
//! - [`control`]: `call` (a request for the control shard),
//!   `broadcast_topics` (a new topic table to every shard).
//!
//! Work for several partitions of one owner goes in one mesh message; the
//! owners run concurrently; answers come back in the caller's order by slot.

pub mod control;
pub mod groups;
pub mod partitions;

use std::collections::BTreeMap;

use sluice_shards::ShardId;

use super::messages::{ShardRequest, ShardResponse};
use super::shard::ShardState;
use crate::cluster::{Owner, TopicPartition};

/// Work for one partition: its slot in the request's answer and its input.
pub type Slotted<T> = (usize, T);

/// Parts grouped by the shard of this broker that leads each partition,
/// and the slots of those this broker does not lead.
struct Routed<T> {
    by_shard: BTreeMap<ShardId, Vec<Slotted<(TopicPartition, T)>>>,
    elsewhere: Vec<(usize, Owner)>,
}

/// Groups `parts` by owner.
fn by_owner<T>(shard: &ShardState, parts: Vec<Slotted<(TopicPartition, T)>>) -> Routed<T> {
    let routing = shard.routing();
    let mut routed = Routed {
        by_shard: BTreeMap::new(),
        elsewhere: Vec::new(),
    };
    for (slot, (partition, input)) in parts {
        match routing.owner(&partition) {
            Owner::Shard(owner) => routed
                .by_shard
                .entry(owner)
                .or_default()
                .push((slot, (partition, input))),
            elsewhere => routed.elsewhere.push((slot, elsewhere)),
        }
    }
    routed
}

/// Runs `parts` on their owners, one mesh request per owner (a direct call
/// for this shard's own), and returns `(slot, answer)` for each. `request`
/// builds the mesh request from one owner's inputs; `answers` takes the
/// owner's answers out of its response (one per input, in order); `failed`
/// answers every input of an owner that could not be reached or answered
/// something else; `not_led_here` answers a partition this broker does not
/// lead (Kafka's `NOT_LEADER_OR_FOLLOWER`: the client refreshes its
/// metadata and goes to the leader).
async fn scatter<T, O>(
    shard: &ShardState,
    parts: Vec<Slotted<(TopicPartition, T)>>,
    request: impl Fn(Vec<(TopicPartition, T)>) -> ShardRequest,
    answers: impl Fn(ShardResponse) -> Option<Vec<O>>,
    failed: impl Fn(&str) -> O,
    not_led_here: impl Fn(Owner) -> O,
) -> Vec<Slotted<O>> {
    let routed = by_owner(shard, parts);
    let mut answered: Vec<Slotted<O>> = routed
        .elsewhere
        .into_iter()
        .map(|(slot, owner)| (slot, not_led_here(owner)))
        .collect();
    let calls = routed.by_shard.into_iter().map(|(owner, inputs)| {
        let (slots, inputs): (Vec<usize>, Vec<_>) = inputs.into_iter().unzip();
        let message = request(inputs);
        async move { (slots, shard.context().invoke_on(owner, message).await) }
    });
    for (slots, answer) in futures::future::join_all(calls).await {
        let outcomes = match answer.map(&answers) {
            Ok(Some(outcomes)) if outcomes.len() == slots.len() => outcomes,
            Ok(_) => {
                tracing::error!("unexpected answer from an owning shard");
                slots
                    .iter()
                    .map(|_| failed("unexpected answer from the owning shard"))
                    .collect()
            }
            Err(error) => {
                tracing::error!(%error, "owning shard unreachable");
                slots.iter().map(|_| failed(&error.to_string())).collect()
            }
        };
        answered.extend(slots.into_iter().zip(outcomes));
    }
    answered
}
