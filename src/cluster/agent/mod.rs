//! The cluster agent: a clustered broker's link to ZooKeeper, on shard 0.
//!
//! Every broker runs one. It owns the ZooKeeper session and
//! - registers the broker (`/brokers/ids/<id>`, ephemeral) and keeps the
//!   cluster id (`/cluster/id`);
//! - reads what Kafka keeps in ZooKeeper (live brokers, the controller,
//!   every topic's assignment, config and partition states) into a
//!   [`ClusterView`], keeps one-shot watches on all of it, and publishes a
//!   new view to every shard when something changes;
//! - runs for controller (`/controller`, ephemeral); the winner's agent
//!   also runs the controller's duties (`controller.rs`): partition states
//!   for new partitions, leader election when a broker goes or comes back,
//!   topic deletion;
//! - does the ZooKeeper writes of the admin APIs (`admin.rs`): CreateTopics,
//!   DeleteTopics, CreatePartitions, AlterConfigs, producer id blocks, the
//!   way Kafka's ZooKeeper-mode brokers did (the controller reacts to them
//!   through its watches).
//!
//! Why brokers read the controller's decisions from ZooKeeper rather than
//! from LeaderAndIsr/UpdateMetadata requests: the controller writes every
//! decision to the partition state znodes anyway (Kafka's own layout, which
//! ZooKeeper-era tools read), and the wire codecs Sluice uses
//! (kafka-protocol 0.18, Kafka 4.0's schemas) no longer carry those
//! ZooKeeper-mode requests. ZooKeeper then is the one channel, with its
//! ordering and its watches, and a broker that was away re-reads it rather
//! than waiting for the controller to resend state.
//!
//! Concurrency: everything here runs on shard 0's executor; state sits in
//! `RefCell`s and no borrow is held across an await. The event loop
//! ([`ClusterAgent::run`]) and the admin calls from the control plane
//! interleave at awaits; the controller's writes are conditional on
//! znode versions, so a stale read costs a retry, never a wrong write.

mod admin;
mod controller;
mod election;
mod reader;
mod reassignment;
mod watches;

pub use admin::{NewTopicPlan, Refusal};
pub use election::{Election, ElectionOutcome};
pub use reassignment::{OngoingReassignment, ReassignmentRequest};

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use sluice_io::notify::Notify;

use super::view::ClusterView;
use super::zk::{CreateMode, ZkError, ZkEvent, ZkEvents, ZkSession};
use super::znodes::{self, BrokerRegistration, ClusterId, ZnodeError};
use crate::clock::now_ms;
use crate::config::{Listener, ZookeeperConfig};
use controller::ControllerEpoch;
use watches::Watches;

/// Events handled before a new view is published (so a burst of watches,
/// such as a new topic's partition states, gives one view).
const EVENTS_PER_PUBLISH_MAX: usize = 1024;
/// How long registration waits for a previous session's `/brokers/ids/<id>`
/// (a broker killed and restarted within its session timeout) to go.
const REGISTRATION_RETRY: Duration = Duration::from_millis(500);

/// What the agent needs to know of its own broker.
#[derive(Clone, Debug)]
pub struct AgentSettings {
    pub broker_id: i32,
    pub rack: Option<String>,
    /// The advertised listeners, registered in `/brokers/ids/<id>`.
    pub advertised: Vec<Listener>,
    pub unclean_leader_election: bool,
    /// How often the controller moves leaderships back to preferred
    /// replicas (`leader.imbalance.check.interval.seconds`); None when
    /// `auto.leader.rebalance.enable` is false.
    pub leader_rebalance_interval: Option<Duration>,
    /// `leader.imbalance.per.broker.percentage`.
    pub leader_imbalance_percentage: u32,
}

/// Why the agent cannot go on.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("ZooKeeper: {0}")]
    Zk(#[from] ZkError),
    #[error("ZooKeeper holds an unreadable znode: {0}")]
    Znode(#[from] ZnodeError),
    #[error(
        "the cluster id in ZooKeeper ({zookeeper}) is not this broker's ({local}, meta.properties): \
         it belongs to another cluster"
    )]
    ClusterIdMismatch { zookeeper: String, local: String },
}

/// Where new views go: every shard, through the broker's frontend.
pub trait Publish {
    fn publish(&self, view: Arc<ClusterView>) -> impl Future<Output = ()>;
}

pub struct ClusterAgent {
    settings: AgentSettings,
    zk: ZkSession,
    events: RefCell<Option<ZkEvents>>,
    /// The current session (a new one after an expiry).
    session_id: Cell<i64>,
    view: RefCell<Arc<ClusterView>>,
    /// Bumped with every new view and every publication, for
    /// [`ClusterAgent::wait_until`].
    changed: Notify,
    /// The newest view every shard has applied.
    published: Cell<u64>,
    watches: RefCell<Watches>,
    /// Some while this broker is the controller.
    controller: RefCell<Option<ControllerEpoch>>,
    /// The controller's decisions one at a time (a reconcile pass, a
    /// reassignment request), as Kafka's controller takes its events on one
    /// thread: an assignment and the partition state are never decided
    /// from each other's stale halves.
    decisions: futures::lock::Mutex<()>,
    /// The producer id block this broker took from ZooKeeper: next, end.
    producer_ids: Cell<(i64, i64)>,
}

impl ClusterAgent {
    /// Connects, creates Kafka's persistent paths, agrees on the cluster id
    /// (`local`: the one in meta.properties, if any) and reads the cluster
    /// once. The broker is not registered yet: [`ClusterAgent::run`] does
    /// that, once the broker listens.
    pub async fn start(
        zookeeper: &ZookeeperConfig,
        settings: AgentSettings,
        local_cluster_id: Option<String>,
    ) -> Result<ClusterAgent, AgentError> {
        let (zk, events) = ZkSession::start(zookeeper).await?;
        for path in znodes::persistent_paths() {
            zk.ensure_path(&path).await?;
        }
        let session_id = zk.first_session_id();
        let agent = ClusterAgent {
            settings,
            zk,
            events: RefCell::new(Some(events)),
            session_id: Cell::new(session_id),
            view: RefCell::new(Arc::new(ClusterView::default())),
            changed: Notify::default(),
            published: Cell::new(0),
            watches: RefCell::new(Watches::default()),
            controller: RefCell::new(None),
            decisions: futures::lock::Mutex::new(()),
            producer_ids: Cell::new((0, 0)),
        };
        let cluster_id = agent.agree_cluster_id(local_cluster_id).await?;
        agent.update(|view| view.cluster_id = cluster_id);
        agent.sync_all().await?;
        Ok(agent)
    }

    /// Records that every shard applied `view` (the first one, published
    /// by the start-up before [`ClusterAgent::run`]).
    pub fn mark_published(&self, version: u64) {
        self.published.set(version);
        self.changed.notify();
    }

    pub fn broker_id(&self) -> i32 {
        self.settings.broker_id
    }

    /// The current view.
    pub fn view(&self) -> Arc<ClusterView> {
        self.view.borrow().clone()
    }

    /// Whether this broker is the controller now.
    pub fn is_controller(&self) -> bool {
        self.controller.borrow().is_some()
    }

    /// Waits until `done` holds for a view every shard has applied, or
    /// `timeout`; says which.
    pub async fn wait_until(&self, timeout: Duration, done: impl Fn(&ClusterView) -> bool) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let seen = self.changed.version();
            let view = self.view();
            if view.version <= self.published.get() && done(&view) {
                return true;
            }
            let now = std::time::Instant::now();
            if now >= deadline {
                return false;
            }
            futures::future::select(
                Box::pin(self.changed.changed_since(seen)),
                Box::pin(glommio::timer::sleep(deadline - now)),
            )
            .await;
        }
    }

    /// Registers the broker, runs for controller, then follows ZooKeeper
    /// until shutdown, publishing every new view. Errors are logged and
    /// retried: a broker keeps serving what it knows while ZooKeeper is away.
    pub async fn run<P: Publish>(&self, publish: &P, shutdown: sluice_shards::ShutdownSignal) {
        let Some(mut events) = self.events.borrow_mut().take() else {
            tracing::error!("the cluster agent runs once");
            return;
        };
        let mut published = self.published.get();
        if let Err(error) = self.join_cluster().await {
            tracing::error!(%error, "registering in ZooKeeper failed; retrying when the session is back");
        }
        let mut next_rebalance = self
            .settings
            .leader_rebalance_interval
            .map(|interval| std::time::Instant::now() + interval);
        loop {
            published = self.publish_if_new(publish, published).await;
            if let (Some(due), Some(interval)) =
                (next_rebalance, self.settings.leader_rebalance_interval)
            {
                if std::time::Instant::now() >= due {
                    self.rebalance_leaders(self.settings.leader_imbalance_percentage)
                        .await;
                    next_rebalance = Some(std::time::Instant::now() + interval);
                    continue;
                }
            }
            // The next ZooKeeper event, or the rebalance timer.
            let wait_for_rebalance = async {
                match next_rebalance {
                    Some(due) => {
                        glommio::timer::sleep(
                            due.saturating_duration_since(std::time::Instant::now()),
                        )
                        .await
                    }
                    None => futures::future::pending::<()>().await,
                }
            };
            let event = {
                let next = futures::future::select(
                    Box::pin(futures::future::select(
                        Box::pin(events.next()),
                        Box::pin(wait_for_rebalance),
                    )),
                    Box::pin(shutdown.requested()),
                )
                .await;
                match next {
                    futures::future::Either::Left((
                        futures::future::Either::Left((Some(event), _)),
                        _,
                    )) => event,
                    // The timer: the check at the top of the loop runs it.
                    futures::future::Either::Left((futures::future::Either::Right(_), _)) => {
                        continue
                    }
                    _ => return,
                }
            };
            self.handle(event).await;
            // Drain what is already queued before publishing once.
            for _ in 0..EVENTS_PER_PUBLISH_MAX {
                match events.next().now_or_never() {
                    Some(Some(event)) => self.handle(event).await,
                    _ => break,
                }
            }
            if self.is_controller() {
                if let Err(error) = self.reconcile().await {
                    tracing::warn!(%error, "controller duties failed; retrying on the next change");
                }
            }
        }
    }

    async fn publish_if_new<P: Publish>(&self, publish: &P, published: u64) -> u64 {
        let view = self.view();
        if view.version > published {
            publish.publish(view.clone()).await;
            self.published.set(view.version);
            self.changed.notify();
        }
        view.version
    }

    async fn handle(&self, event: ZkEvent) {
        let result = match event {
            ZkEvent::Watch { path, kind } => {
                self.watches.borrow_mut().fired(&path, kind);
                self.on_change(&path).await
            }
            ZkEvent::SessionExpired => {
                tracing::warn!("ZooKeeper session expired: not the controller, re-registering once a new session is up");
                self.resign();
                self.watches.borrow_mut().clear();
                Ok(())
            }
            ZkEvent::SessionEstablished { session_id } => {
                self.session_id.set(session_id);
                self.watches.borrow_mut().clear();
                match self.join_cluster().await {
                    Ok(()) => self.sync_all().await,
                    Err(error) => Err(error),
                }
            }
            ZkEvent::EventsLost => {
                self.watches.borrow_mut().clear();
                self.sync_all().await
            }
            ZkEvent::ConnectionLost | ZkEvent::ConnectionRestored => Ok(()),
        };
        if let Err(error) = result {
            tracing::warn!(%error, "following ZooKeeper");
        }
    }

    /// Registers this broker and runs for controller.
    async fn join_cluster(&self) -> Result<(), AgentError> {
        self.register().await?;
        self.try_elect().await?;
        let controller = self.read_controller().await?;
        self.update(|view| view.controller = controller);
        Ok(())
    }

    /// `/brokers/ids/<id>`, ephemeral. A node left by this broker's previous
    /// session (a restart within the session timeout) is waited out, as
    /// Kafka's `checkedEphemeralCreate` does; one owned by this session is
    /// already this registration.
    async fn register(&self) -> Result<(), AgentError> {
        let path = znodes::broker_path(self.settings.broker_id);
        let registration = BrokerRegistration::new(
            &self.settings.advertised,
            self.settings.rack.clone(),
            now_ms(),
        )
        .to_json();
        loop {
            match self
                .zk
                .create(&path, registration.clone(), CreateMode::Ephemeral)
                .await
            {
                Ok(_) => {
                    tracing::info!(broker = self.settings.broker_id, "registered in ZooKeeper");
                    return Ok(());
                }
                Err(ZkError::NodeExists { .. }) => match self.zk.exists(&path).await? {
                    Some(stat) if stat.ephemeral_owner == self.session_id.get() => return Ok(()),
                    Some(_) => {
                        tracing::info!(
                            broker = self.settings.broker_id,
                            "waiting for the previous session's registration to expire"
                        );
                        glommio::timer::sleep(REGISTRATION_RETRY).await;
                    }
                    None => {}
                },
                Err(error) => return Err(error.into()),
            }
        }
    }

    /// The cluster id in `/cluster/id`, created from `local` (or anew) when
    /// ZooKeeper has none; an id other than `local` is refused.
    async fn agree_cluster_id(&self, local: Option<String>) -> Result<String, AgentError> {
        let proposed = local
            .clone()
            .unwrap_or_else(|| znodes::kafka_uuid_text(&uuid::Uuid::new_v4()));
        let created = self
            .zk
            .create_with_parents(
                znodes::CLUSTER_ID,
                ClusterId::new(proposed.clone()).to_json(),
                CreateMode::Persistent,
            )
            .await;
        let id = match created {
            Ok(_) => proposed,
            Err(ZkError::NodeExists { .. }) => {
                let (bytes, _) = self.zk.get_data(znodes::CLUSTER_ID).await?;
                ClusterId::from_json(&bytes)?.id
            }
            Err(error) => return Err(error.into()),
        };
        match local {
            Some(local) if local != id => Err(AgentError::ClusterIdMismatch {
                zookeeper: id,
                local,
            }),
            _ => Ok(id),
        }
    }

    /// Applies `change` to a copy of the view and keeps it, with the next
    /// version, if anything changed.
    fn update(&self, change: impl FnOnce(&mut ClusterView)) {
        let current = self.view();
        let mut next = (*current).clone();
        change(&mut next);
        next.version = current.version;
        if next != *current {
            next.version = current.version + 1;
            *self.view.borrow_mut() = Arc::new(next);
            self.changed.notify();
        }
    }
}
