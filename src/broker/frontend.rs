//! The partition frontend: per-partition work of one request sent to the
//! shards that own the partitions, one mesh request per owner (a direct
//! call for this shard's own), the answers put back in request order.

use std::collections::BTreeMap;

use sluice_shards::ShardId;

use super::messages::{ShardRequest, ShardResponse};
use super::shard::ShardState;

/// Work for one partition: its slot in the request's answer and its input.
pub type Slotted<T> = (usize, T);

/// Runs `parts` (grouped by owning shard) and returns `(slot, answer)` for
/// each. `request` builds the mesh request from one owner's inputs;
/// `answers` takes the owner's answers out of its response (one per input,
/// in order); `failed` answers every input of an owner that could not be
/// reached or answered something else.
pub async fn scatter<T, O>(
    shard: &ShardState,
    parts: BTreeMap<ShardId, Vec<Slotted<T>>>,
    request: impl Fn(Vec<T>) -> ShardRequest,
    answers: impl Fn(ShardResponse) -> Option<Vec<O>>,
    failed: impl Fn(&str) -> O,
) -> Vec<Slotted<O>> {
    let calls = parts.into_iter().map(|(owner, inputs)| {
        let (slots, inputs): (Vec<usize>, Vec<T>) = inputs.into_iter().unzip();
        let message = request(inputs);
        async move { (slots, shard.context().invoke_on(owner, message).await) }
    });
    let mut answered = Vec::new();
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
