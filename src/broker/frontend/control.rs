//! Control-plane work through the routing seam: requests for the control
//! shard (0), and new topic tables from it to every shard.

use sluice_shards::ShardId;

use crate::broker::error::BrokerError;
use crate::broker::messages::{ControlRequest, ControlResponse, ShardRequest, ShardResponse};
use crate::broker::shard::ShardState;
use crate::cluster::TopicTable;

/// Sends a control request to shard 0 (a direct call when this is shard 0).
pub async fn call(
    shard: &ShardState,
    request: ControlRequest,
) -> Result<ControlResponse, BrokerError> {
    match shard
        .context()
        .invoke_on(ShardId::CONTROL, ShardRequest::Control(request))
        .await
    {
        Ok(ShardResponse::Control(response)) => Ok(response),
        Ok(_) => Err(BrokerError::UnexpectedAnswer {
            shard: ShardId::CONTROL,
            request: "a control request",
        }),
        Err(source) => Err(BrokerError::Mesh {
            shard: ShardId::CONTROL,
            source,
        }),
    }
}

/// Sends a cluster view to every shard (this one included) and waits
/// until all applied it.
pub async fn broadcast_cluster(
    shard: &ShardState,
    view: std::sync::Arc<crate::cluster::ClusterView>,
) -> Result<(), BrokerError> {
    broadcast(
        shard,
        |_| ShardRequest::ApplyCluster(view.clone()),
        "a cluster view",
    )
    .await
}

/// Sends `table` to every shard (this one included) and waits until all
/// applied it, so a client that created a topic can use it on any shard.
pub async fn broadcast_topics(shard: &ShardState, table: TopicTable) -> Result<(), BrokerError> {
    broadcast(
        shard,
        |_| ShardRequest::ApplyTopics(table.clone()),
        "a topic table",
    )
    .await
}

/// Sends `message(shard)` to every shard and waits for every `Applied`.
async fn broadcast(
    shard: &ShardState,
    message: impl Fn(ShardId) -> ShardRequest,
    what: &'static str,
) -> Result<(), BrokerError> {
    let calls = shard.context().shard_count().ids().map(|target| {
        let request = message(target);
        async move {
            let answer = shard.context().invoke_on(target, request).await;
            (target, answer)
        }
    });
    for (target, answer) in futures::future::join_all(calls).await {
        match answer {
            Ok(ShardResponse::Applied(Ok(()))) => {}
            Ok(ShardResponse::Applied(Err(detail))) => {
                return Err(BrokerError::Apply {
                    shard: target,
                    detail,
                })
            }
            Ok(_) => {
                return Err(BrokerError::UnexpectedAnswer {
                    shard: target,
                    request: what,
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
    Ok(())
}
