//! Start-up of a clustered broker's shard 0: the cluster agent connects to
//! ZooKeeper and reads the cluster before any shard listens, every shard
//! applies that first view, and once the broker listens the agent registers
//! it, runs for controller and follows ZooKeeper until shutdown.

use std::rc::Rc;
use std::sync::Arc;

use super::identity::{store_cluster_id, stored_cluster_id};
use crate::broker::frontend;
use crate::broker::shard::ShardState;
use crate::cluster::agent::{AgentSettings, ClusterAgent, Publish};
use crate::cluster::ClusterView;

/// Publishes the agent's views to every shard of this broker.
struct ShardPublisher(Rc<ShardState>);

impl Publish for ShardPublisher {
    async fn publish(&self, view: Arc<ClusterView>) {
        if let Err(error) = frontend::control::broadcast_cluster(&self.0, view).await {
            tracing::error!(%error, "a shard could not apply the cluster view");
        }
    }
}

/// Connects to ZooKeeper and has every shard apply the cluster as it is.
pub(super) async fn start_agent(state: &Rc<ShardState>) -> Result<Rc<ClusterAgent>, String> {
    let config = state.config();
    let zookeeper = config
        .cluster
        .zookeeper
        .as_ref()
        .ok_or("not a cluster member")?;
    let settings = AgentSettings {
        broker_id: config.broker_id,
        rack: config.cluster.broker_rack.clone(),
        advertised: config.advertised_listeners.clone(),
        unclean_leader_election: config.cluster.unclean_leader_election_enable,
        leader_rebalance_interval: config.cluster.auto_leader_rebalance_enable.then(|| {
            std::time::Duration::from_secs(config.cluster.leader_imbalance_check_interval_s)
        }),
        leader_imbalance_percentage: config.cluster.leader_imbalance_per_broker_percentage,
    };
    let agent = ClusterAgent::start(zookeeper, settings, stored_cluster_id(config))
        .await
        .map_err(|error| error.to_string())?;
    let view = agent.view();
    if stored_cluster_id(config).is_none() {
        store_cluster_id(config, &view.cluster_id).map_err(|e| e.to_string())?;
    }
    frontend::control::broadcast_cluster(state, view.clone())
        .await
        .map_err(|error| error.to_string())?;
    agent.mark_published(view.version);
    tracing::info!(
        cluster = %view.cluster_id,
        brokers = view.brokers.len(),
        topics = view.topics.len(),
        "read the cluster from ZooKeeper"
    );
    Ok(Rc::new(agent))
}

/// Registers the broker and follows ZooKeeper until shutdown.
pub(super) async fn run_agent(agent: Rc<ClusterAgent>, state: Rc<ShardState>) {
    let shutdown = state.context().shutdown_signal();
    agent.run(&ShardPublisher(state.clone()), shutdown).await;
}
