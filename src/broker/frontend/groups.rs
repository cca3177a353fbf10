//! Consumer-group work through the routing seam: each group belongs to one
//! partition of `__consumer_offsets` and lives on the shard that owns it.

use sluice_shards::ShardId;

use crate::broker::error::BrokerError;
use crate::broker::messages::{ShardRequest, ShardResponse};
use crate::broker::shard::ShardState;
use crate::cluster::{Owner, TopicPartition};
use crate::coordinator::calls::{GroupCall, GroupReply, ListedGroup};
use crate::coordinator::{partition_for, OFFSETS_TOPIC};

/// Who coordinates `group_id`: the leader of its `__consumer_offsets`
/// partition (a shard of this broker, or another broker).
pub fn coordinator_of(shard: &ShardState, group_id: &str) -> Owner {
    let partition = partition_for(group_id, shard.groups().settings.partitions);
    shard
        .routing()
        .owner(&TopicPartition::new(OFFSETS_TOPIC.into(), partition))
}

/// Sends `call` for `group_id` to the shard that coordinates the group: a
/// direct call on this shard; a parked call (see `coordinator::parked`) for
/// JoinGroup and SyncGroup on another, since they may wait for a rebalance
/// and must not hold one of the mesh's handler slots meanwhile.
pub async fn call(
    shard: &ShardState,
    group_id: &str,
    call: GroupCall,
) -> Result<GroupReply, BrokerError> {
    let owner = match coordinator_of(shard, group_id) {
        Owner::Shard(owner) => owner,
        // Kafka's NOT_COORDINATOR: the client looks the coordinator up again.
        _ => return Err(BrokerError::NotCoordinator),
    };
    if owner == shard.context().shard_id() {
        return Ok(shard.groups().handle(&shard.offsets_log(), call).await);
    }
    let mesh = |source| BrokerError::Mesh {
        shard: owner,
        source,
    };
    let unexpected = BrokerError::UnexpectedAnswer {
        shard: owner,
        request: "a group call",
    };
    if call.may_wait() {
        let parked = shard.parked_group_calls();
        let (ticket, answer) = parked.register();
        let sent = shard
            .context()
            .invoke_on(owner, ShardRequest::GroupParked { call, ticket })
            .await;
        return match sent {
            Ok(ShardResponse::Parked) => answer.await.map_err(|_| BrokerError::ParkedCallDropped),
            Ok(_) => {
                parked.forget(ticket);
                Err(unexpected)
            }
            Err(error) => {
                parked.forget(ticket);
                Err(mesh(error))
            }
        };
    }
    match shard
        .context()
        .invoke_on(owner, ShardRequest::Group(call))
        .await
    {
        Ok(ShardResponse::Group(reply)) => Ok(reply),
        Ok(_) => Err(unexpected),
        Err(error) => Err(mesh(error)),
    }
}

/// Every group of every shard (ListGroups), sorted by id.
pub async fn list_all(shard: &ShardState) -> Result<Vec<ListedGroup>, BrokerError> {
    let calls = shard
        .context()
        .shard_count()
        .ids()
        .map(|target| async move {
            let answer = shard
                .context()
                .invoke_on(target, ShardRequest::Group(GroupCall::List))
                .await;
            (target, answer)
        });
    let mut groups = Vec::new();
    for (target, answer) in futures::future::join_all(calls).await {
        match answer {
            Ok(ShardResponse::Group(GroupReply::List(listed))) => groups.extend(listed),
            Ok(_) => {
                return Err(BrokerError::UnexpectedAnswer {
                    shard: target,
                    request: "ListGroups",
                })
            }
            Err(source) => {
                return Err(BrokerError::Mesh {
                    shard: target,
                    source,
                })
            }
        }
    }
    groups.sort_by(|a, b| a.group_id.cmp(&b.group_id));
    Ok(groups)
}

/// Delivers the reply to a call that shard `caller` parked here.
pub async fn answer_parked(shard: &ShardState, caller: ShardId, ticket: u64, reply: GroupReply) {
    let answer = ShardRequest::GroupAnswer { ticket, reply };
    if let Err(error) = shard.context().invoke_on(caller, answer).await {
        tracing::warn!(%error, "a parked group call's answer could not be delivered");
    }
}
