//! [`ShardState`]: everything one shard owns.
//!
//! Lifecycle: built by the shard's main task at start, shared (`Rc`) by its
//! connection tasks and its mesh handler ([`super::backend::Backend`]);
//! dropped after shutdown closed the partitions. Everything in it is touched
//! only on this shard, so there are no locks: the routing table is replaced
//! whole when the control shard sends a newer one.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::sync::Arc;

use sluice_shards::ShardContext;

use super::error::BrokerError;
use super::fetcher::ReplicaFetchers;
use super::messages::{ShardRequest, ShardResponse};
use crate::cluster::{ClusterView, Owner, RoutingTable, TopicTable};
use crate::config::BrokerConfig;
use crate::coordinator::parked::ParkedAnswers;
use crate::coordinator::store::OffsetsLog;
use crate::coordinator::{GroupCoordinator, GroupSettings, OFFSETS_TOPIC};
use crate::partition::manager::PartitionManager;
use crate::replication::isr::Term;

pub type Context = ShardContext<ShardRequest, ShardResponse>;

/// Where clients should connect: the advertised listener.
#[derive(Clone, Debug)]
pub struct Advertised {
    pub host: String,
    pub port: u16,
}

pub struct ShardState {
    ctx: Context,
    config: Arc<BrokerConfig>,
    /// Shared, not cloned, per request: a table is replaced whole.
    routing: RefCell<Arc<RoutingTable>>,
    /// Serializes topic table applications on this shard.
    applying: futures::lock::Mutex<()>,
    partitions: PartitionManager,
    /// The consumer groups whose `__consumer_offsets` partition is here.
    groups: GroupCoordinator,
    /// Group calls this shard parked on other shards, awaiting answers.
    parked_group_calls: ParkedAnswers,
    advertised: Advertised,
    cluster_id: String,
    /// The follower side of replication: one fetcher per leader broker.
    fetchers: ReplicaFetchers,
    /// This state's own `Rc`, for tasks it spawns (set once at start).
    me: std::cell::OnceCell<std::rc::Weak<ShardState>>,
}

impl ShardState {
    pub fn new(
        ctx: Context,
        config: Arc<BrokerConfig>,
        table: TopicTable,
        advertised: Advertised,
        cluster_id: String,
    ) -> Result<ShardState, BrokerError> {
        let partitions = PartitionManager::new(
            ctx.shard_id(),
            config.log_dir.clone(),
            config.topic_defaults(),
        );
        let groups = GroupCoordinator::new(GroupSettings::from_config(&config));
        let routing = RoutingTable::new(Arc::new(table), ctx.shard_count());
        Ok(ShardState {
            ctx,
            config,
            routing: RefCell::new(Arc::new(routing)),
            applying: futures::lock::Mutex::new(()),
            partitions,
            groups,
            parked_group_calls: ParkedAnswers::default(),
            advertised,
            cluster_id,
            me: std::cell::OnceCell::new(),
            fetchers: ReplicaFetchers::default(),
        })
    }

    /// Remembers `state` as this shard's own, for [`ShardState::self_rc`].
    pub fn remember_self(state: &std::rc::Rc<ShardState>) {
        let _ = state.me.set(std::rc::Rc::downgrade(state));
    }

    /// This shard's state as an `Rc` (None before start-up set it).
    pub fn self_rc(&self) -> Option<std::rc::Rc<ShardState>> {
        self.me.get().and_then(std::rc::Weak::upgrade)
    }

    pub fn context(&self) -> &Context {
        &self.ctx
    }

    pub fn config(&self) -> &BrokerConfig {
        &self.config
    }

    /// This shard's copy of the topic table.
    pub fn topics(&self) -> Arc<TopicTable> {
        self.routing.borrow().topics().clone()
    }

    /// This shard's copy of the routing table.
    pub fn routing(&self) -> Arc<RoutingTable> {
        self.routing.borrow().clone()
    }

    /// The partitions this shard owns.
    pub fn partitions(&self) -> &PartitionManager {
        &self.partitions
    }

    /// The groups this shard coordinates.
    pub fn groups(&self) -> &GroupCoordinator {
        &self.groups
    }

    /// The coordinator's handle on this shard's `__consumer_offsets`
    /// partitions.
    pub fn offsets_log(&self) -> OffsetsLog<'_> {
        OffsetsLog::new(&self.partitions)
    }

    pub fn advertised(&self) -> &Advertised {
        &self.advertised
    }

    /// The cluster id: ZooKeeper's in a cluster, `meta.properties`'s on
    /// the embedded node.
    pub fn cluster_id(&self) -> String {
        match self.routing.borrow().cluster() {
            Some(view) => view.cluster_id.clone(),
            None => self.cluster_id.clone(),
        }
    }

    pub(in crate::broker) fn parked_group_calls(&self) -> &ParkedAnswers {
        &self.parked_group_calls
    }

    /// Opens the partitions this shard owns in the table it started with.
    pub async fn open_partitions(&self) -> Result<(), BrokerError> {
        let routing = self.routing();
        self.partitions
            .apply(&routing)
            .await
            .map_err(BrokerError::Partitions)
    }

    /// This broker's id.
    pub fn broker_id(&self) -> i32 {
        self.config.broker_id
    }

    /// Whether this broker is a member of a ZooKeeper cluster.
    pub fn is_clustered(&self) -> bool {
        self.config.cluster.is_clustered()
    }

    /// Applies a cluster view if it is newer than the one held: routes by
    /// it, opens the replicas this broker holds (and closes those of deleted
    /// topics), and coordinates exactly the groups of the
    /// `__consumer_offsets` partitions this shard now leads.
    pub async fn apply_cluster(&self, view: Arc<ClusterView>) -> Result<(), BrokerError> {
        let _applying = self.applying.lock().await;
        if view.version <= self.routing.borrow().version() {
            return Ok(());
        }
        let routing = Arc::new(RoutingTable::clustered(
            view,
            self.config.broker_id,
            self.ctx.shard_count(),
        ));
        let result = self
            .partitions
            .apply(&routing)
            .await
            .map_err(BrokerError::Partitions);
        *self.routing.borrow_mut() = routing.clone();
        self.assign_roles(&routing);
        if let Some(me) = self.self_rc() {
            self.fetchers.update(&me, &routing);
        }
        let led = self.led_offsets_partitions(&routing);
        self.groups.lead(&self.offsets_log(), &led).await;
        result
    }

    /// Makes each replica this shard holds the leader or a follower, as the
    /// view says.
    fn assign_roles(&self, routing: &RoutingTable) {
        let Some(view) = routing.cluster() else {
            return;
        };
        let me = self.config.broker_id;
        let now = crate::clock::now_ms();
        for partition in self.partitions.owned() {
            let tp = crate::cluster::TopicPartition::new(partition.topic.clone(), partition.index);
            let Some(state) = view.partition(&tp) else {
                continue;
            };
            match view.leader_of(&tp) {
                Some(leader) if leader == me => {
                    let term = Term {
                        epoch: state.leader_epoch,
                        replicas: state.replicas.clone(),
                        isr: state.isr.clone(),
                        state_version: state.state_version,
                    };
                    if let Err(error) = partition.lead(me, &term, now) {
                        tracing::warn!(partition = %tp, %error, "taking the lead");
                    }
                }
                Some(leader) => partition.follow(leader, state.leader_epoch),
                None => partition.follow(crate::cluster::view::NO_LEADER, state.leader_epoch),
            }
        }
    }

    /// Stops the replica fetchers (shutdown).
    pub fn stop_fetchers(&self) {
        self.fetchers.stop_all();
    }

    /// The `__consumer_offsets` partitions whose leader is this shard.
    fn led_offsets_partitions(&self, routing: &RoutingTable) -> BTreeSet<i32> {
        let here = Owner::Shard(self.ctx.shard_id());
        (0..self.groups.settings.partitions)
            .filter(|&p| {
                routing
                    .partition(OFFSETS_TOPIC, p)
                    .is_some_and(|tp| routing.owner(&tp) == here)
            })
            .collect()
    }

    /// Applies `table` if it is newer than the one held.
    pub async fn apply_topics(&self, table: TopicTable) -> Result<(), BrokerError> {
        let _applying = self.applying.lock().await;
        let held = self.routing.borrow().version();
        if table.version <= held && held != 0 {
            return Ok(());
        }
        let routing = Arc::new(RoutingTable::new(Arc::new(table), self.ctx.shard_count()));
        let result = self
            .partitions
            .apply(&routing)
            .await
            .map_err(BrokerError::Partitions);
        *self.routing.borrow_mut() = routing;
        result
    }
}
