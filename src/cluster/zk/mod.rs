//! The ZooKeeper session of a clustered broker, as an async API that shard 0
//! (the control shard) awaits.
//!
//! # Design: why the session runs on its own thread
//!
//! ```text
//!  shard 0 (glommio executor)                 thread "sluice-zk"
//!  ┌──────────────────────────┐  commands   ┌────────────────────────────────┐
//!  │ ZkSession::create/get/.. ├────────────>│ async-io block_on + a local    │
//!  │   awaits a oneshot reply │<────────────┤ async-executor running the     │──TCP──> ZooKeeper
//!  │ ZkEvents::next()         │   events    │ zookeeper-client session,      │
//!  │   (watches, expiry)      │<────────────┤ one loop owning the Client     │
//!  └──────────────────────────┘  (bounded)  └────────────────────────────────┘
//! ```
//!
//! `zookeeper-client` (the maintained async client) does its I/O through
//! `async-io` and spawns its session task through `asyncs`/`spawns`; it has
//! no glommio support. Running it on shard 0 directly would still need
//! `async-io`'s reactor, which then runs on a hidden thread of its own and
//! wakes shard 0 from outside anyway; and ZooKeeper's heartbeats would wait
//! behind whatever the data path is doing on shard 0 (glommio is
//! cooperative), so a busy shard could lose its session. A dedicated thread
//! costs the same one thread, keeps session heartbeats, ZooKeeper
//! framing and reconnects off the data path, and needs little glue: the thread
//! drives `async-io`'s reactor itself (`async_io::block_on`) and gives
//! `zookeeper-client` a spawner for its tasks (an `async_executor`
//! executor on the same thread).
//!
//! The two sides talk through `futures::channel` queues (`mpsc` for
//! commands and events, `oneshot` for each reply). Glommio tasks await them
//! like any future: a wake from the ZooKeeper thread reaches shard 0 through
//! glommio's foreign-waker path. No lock sits on the data path; the queues'
//! own synchronization is only ever touched by control-plane code.
//!
//! # Semantics
//!
//! - [`ZkSession::start`] connects (creating `zookeeper.connect`'s chroot
//!   when it is missing, as Kafka does) and returns once the first session
//!   is established, or fails after `zookeeper.connection.timeout.ms`.
//! - Requests run concurrently on the session (at most
//!   [`REQUESTS_IN_FLIGHT_MAX`]; more wait in the command queue, at most
//!   [`COMMANDS_MAX`], and then the caller waits). A request that meets a
//!   lost connection fails with [`ZkError::ConnectionLoss`] (it may or may
//!   not have been applied, as in every ZooKeeper client); the session
//!   reconnects by itself within the session timeout.
//! - Watches are ZooKeeper's one-shot watches, set by the `*_and_watch`
//!   calls; each fires once as [`ZkEvent::Watch`]. At most [`WATCHES_MAX`]
//!   are pending.
//! - When the session expires, every ephemeral node and watch of it is gone:
//!   [`ZkEvent::SessionExpired`] is sent, the thread opens a new session
//!   (retrying every [`RECONNECT_BACKOFF_MS`]) and sends
//!   [`ZkEvent::SessionEstablished`]. The broker then re-registers
//!   (`/brokers/ids/<id>`), runs for controller again and re-sets its watches
//!   after re-reading what they covered, as Kafka's `KafkaZkClient` state
//!   change handlers do. Requests issued meanwhile wait for the new session.
//! - Events are queued (at most [`EVENTS_MAX`]); if shard 0 falls that far
//!   behind, later events are dropped and [`ZkEvent::EventsLost`] follows:
//!   the consumer re-reads and re-watches everything, as after an expiry.
//!   The ZooKeeper thread never blocks on shard 0.
//! - Dropping the [`ZkSession`] (or [`ZkSession::close`]) closes the session
//!   cleanly, so its ephemeral nodes disappear at once rather than after the
//!   session timeout.

mod requests;
mod thread;

use std::fmt;
use std::time::Duration;

use futures::channel::{mpsc, oneshot};
use futures::{SinkExt, StreamExt};

use crate::config::ZookeeperConfig;

/// Commands queued from shard 0 before the caller waits.
pub const COMMANDS_MAX: usize = 256;
/// Requests running on the session at once.
pub const REQUESTS_IN_FLIGHT_MAX: usize = 64;
/// Events queued for shard 0 before they are dropped for [`ZkEvent::EventsLost`].
pub const EVENTS_MAX: usize = 4096;
/// One-shot watches pending at once.
pub const WATCHES_MAX: usize = 65_536;
/// Children listed by one request (Kafka clusters have up to ~200k
/// partitions per cluster; a topic's partitions or the broker list are far
/// fewer). A longer list is refused rather than held.
pub const CHILDREN_MAX: usize = 1 << 20;
/// The pause between attempts to open a new session after an expiry.
pub const RECONNECT_BACKOFF_MS: u64 = 1000;
/// How long closing waits for ZooKeeper to confirm the session's end.
pub const CLOSE_TIMEOUT_MS: u64 = 2000;

const _: () = assert!(REQUESTS_IN_FLIGHT_MAX <= COMMANDS_MAX);
const _: () = assert!(WATCHES_MAX >= EVENTS_MAX);

/// What a ZooKeeper request can fail with. Node errors name the path.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ZkError {
    #[error("{path}: no such znode")]
    NoNode { path: String },
    #[error("{path}: the znode exists")]
    NodeExists { path: String },
    #[error("{path}: the znode's version is not the expected one")]
    BadVersion { path: String },
    #[error("{path}: the znode has children")]
    NotEmpty { path: String },
    #[error("{path}: an ephemeral znode cannot have children")]
    NoChildrenForEphemerals { path: String },
    #[error("the ZooKeeper session expired")]
    SessionExpired,
    #[error("the connection to ZooKeeper was lost; the request may or may not have been applied")]
    ConnectionLoss,
    #[error("no ZooKeeper session within {timeout_ms} ms ({servers})")]
    ConnectTimeout { timeout_ms: u64, servers: String },
    #[error("{WATCHES_MAX} watches are already pending")]
    TooManyWatches,
    #[error("{path}: more than {CHILDREN_MAX} children")]
    TooManyChildren { path: String },
    #[error("the ZooKeeper session is closed")]
    Closed,
    #[error("{path}: ZooKeeper error: {message}")]
    Other { path: String, message: String },
}

/// A znode's metadata (ZooKeeper's `Stat`), the fields Kafka uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ZkStat {
    /// Data version, for conditional set and delete.
    pub version: i32,
    /// Children version.
    pub cversion: i32,
    /// The creating zxid (Kafka uses it for the controller epoch's zkVersion
    /// and to tell a re-created node from the old one).
    pub czxid: i64,
    pub mzxid: i64,
    pub ctime_ms: i64,
    pub mtime_ms: i64,
    /// The owning session for an ephemeral node, else 0.
    pub ephemeral_owner: i64,
    pub data_length: i32,
    pub num_children: i32,
}

/// How a znode is created.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CreateMode {
    Persistent,
    /// The path gets a 10-digit sequence number appended
    /// (`config_change_0000000003`).
    PersistentSequential,
    /// Deleted when the session ends (`/brokers/ids/<id>`, `/controller`).
    Ephemeral,
    EphemeralSequential,
}

/// One operation of an atomic [`ZkSession::multi`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ZkOp {
    Create {
        path: String,
        data: Vec<u8>,
        mode: CreateMode,
    },
    SetData {
        path: String,
        data: Vec<u8>,
        expected_version: Option<i32>,
    },
    Delete {
        path: String,
        expected_version: Option<i32>,
    },
    /// Fails the whole transaction unless the znode has this version
    /// (Kafka's controller guards its writes with `/controller_epoch`'s).
    CheckVersion { path: String, version: i32 },
}

/// The result of one [`ZkOp`], in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ZkOpResult {
    Created { path: String },
    SetData { stat: ZkStat },
    Deleted,
    Checked,
}

/// What changed at a watched znode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WatchKind {
    NodeCreated,
    NodeDeleted,
    NodeDataChanged,
    NodeChildrenChanged,
}

/// Something the session tells shard 0 without being asked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ZkEvent {
    /// A one-shot watch fired. `path` is relative to the chroot.
    Watch { path: String, kind: WatchKind },
    /// The connection dropped; the session lives on while ZooKeeper holds
    /// it (up to the session timeout). Informational.
    ConnectionLost,
    /// Connected again within the same session.
    ConnectionRestored,
    /// The session is gone with its ephemerals and watches; a new one is
    /// being opened.
    SessionExpired,
    /// A new session replaced an expired one: register again.
    SessionEstablished { session_id: i64 },
    /// Events were dropped because shard 0 did not keep up: re-read and
    /// re-watch everything.
    EventsLost,
}

/// A request to the session thread.
pub(crate) enum Request {
    Create {
        path: String,
        data: Vec<u8>,
        mode: CreateMode,
        parents: bool,
    },
    EnsurePath {
        path: String,
    },
    GetData {
        path: String,
        watch: bool,
    },
    SetData {
        path: String,
        data: Vec<u8>,
        expected_version: Option<i32>,
    },
    Exists {
        path: String,
        watch: bool,
    },
    Children {
        path: String,
        watch: bool,
    },
    Delete {
        path: String,
        expected_version: Option<i32>,
    },
    DeleteRecursive {
        path: String,
    },
    Multi(Vec<ZkOp>),
}

impl Request {
    fn wants_watch(&self) -> bool {
        matches!(
            self,
            Request::GetData { watch: true, .. }
                | Request::Exists { watch: true, .. }
                | Request::Children { watch: true, .. }
        )
    }
}

pub(crate) enum Reply {
    Created(String),
    Data(Vec<u8>, ZkStat),
    Stat(ZkStat),
    MaybeStat(Option<ZkStat>),
    Children(Vec<String>),
    Done,
    Multi(Vec<ZkOpResult>),
}

pub(crate) struct Command {
    request: Request,
    reply: oneshot::Sender<Result<Reply, ZkError>>,
}

/// The session handle, owned by shard 0. Not `Clone`: one owner, and
/// dropping it closes the session.
pub struct ZkSession {
    commands: mpsc::Sender<Command>,
    session_id: i64,
    /// Dropped (or fired) to stop the thread.
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    chroot: Option<String>,
}

/// The event stream of a session; shard 0 keeps one task reading it.
#[derive(Debug)]
pub struct ZkEvents {
    events: mpsc::Receiver<ZkEvent>,
}

impl ZkEvents {
    /// The next event; None once the session is closed.
    pub async fn next(&mut self) -> Option<ZkEvent> {
        self.events.next().await
    }
}

impl fmt::Debug for ZkSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ZkSession")
            .field("session_id", &format_args!("{:#x}", self.session_id))
            .field("chroot", &self.chroot)
            .finish()
    }
}

impl ZkSession {
    /// Starts the session thread and waits for the first session (at most
    /// `zookeeper.connection.timeout.ms`), creating the chroot if missing.
    pub async fn start(config: &ZookeeperConfig) -> Result<(ZkSession, ZkEvents), ZkError> {
        let (commands, command_queue) = mpsc::channel(COMMANDS_MAX);
        let (event_sink, events) = mpsc::channel(EVENTS_MAX);
        let (shutdown, shutdown_signal) = oneshot::channel();
        let (started, started_signal) = oneshot::channel();
        let setup = thread::Setup {
            servers: config.servers_text(),
            chroot: config.chroot.clone(),
            session_timeout: Duration::from_millis(u64::from(config.session_timeout_ms)),
            connection_timeout: Duration::from_millis(u64::from(config.connection_timeout_ms)),
        };
        let thread = std::thread::Builder::new()
            .name("sluice-zk".to_string())
            .spawn(move || thread::run(setup, command_queue, event_sink, shutdown_signal, started))
            .map_err(|e| ZkError::Other {
                path: String::new(),
                message: format!("cannot start the ZooKeeper thread: {e}"),
            })?;
        let session_id = match started_signal.await {
            Ok(Ok(id)) => id,
            Ok(Err(error)) => {
                let _ = thread.join();
                return Err(error);
            }
            Err(_) => {
                let _ = thread.join();
                return Err(ZkError::Closed);
            }
        };
        let session = ZkSession {
            commands,
            session_id,
            shutdown: Some(shutdown),
            thread: Some(thread),
            chroot: config.chroot.clone(),
        };
        Ok((session, ZkEvents { events }))
    }

    /// The id of the first session (events report later ones).
    pub fn first_session_id(&self) -> i64 {
        self.session_id
    }

    async fn call(&self, request: Request) -> Result<Reply, ZkError> {
        let (reply, answer) = oneshot::channel();
        let mut commands = self.commands.clone();
        commands
            .send(Command { request, reply })
            .await
            .map_err(|_| ZkError::Closed)?;
        answer.await.map_err(|_| ZkError::Closed)?
    }

    /// Creates a znode; returns its path (with the sequence number for the
    /// sequential modes). `NodeExists` and `NoNode` (a missing parent) are
    /// errors.
    pub async fn create(
        &self,
        path: &str,
        data: Vec<u8>,
        mode: CreateMode,
    ) -> Result<String, ZkError> {
        self.create_request(path, data, mode, false).await
    }

    /// As [`create`](Self::create), creating missing parents as empty
    /// persistent znodes first (Kafka's `createRecursive`).
    pub async fn create_with_parents(
        &self,
        path: &str,
        data: Vec<u8>,
        mode: CreateMode,
    ) -> Result<String, ZkError> {
        self.create_request(path, data, mode, true).await
    }

    async fn create_request(
        &self,
        path: &str,
        data: Vec<u8>,
        mode: CreateMode,
        parents: bool,
    ) -> Result<String, ZkError> {
        let request = Request::Create {
            path: path.to_string(),
            data,
            mode,
            parents,
        };
        match self.call(request).await? {
            Reply::Created(path) => Ok(path),
            _ => unreachable!("create answers Created"),
        }
    }

    /// Creates the persistent path and its parents where missing, without
    /// data; an existing path is fine (Kafka's `makeSurePersistentPathExists`).
    pub async fn ensure_path(&self, path: &str) -> Result<(), ZkError> {
        let request = Request::EnsurePath {
            path: path.to_string(),
        };
        self.call(request).await.map(|_| ())
    }

    pub async fn get_data(&self, path: &str) -> Result<(Vec<u8>, ZkStat), ZkError> {
        self.get_data_request(path, false).await
    }

    /// Reads and sets a watch: [`WatchKind::NodeDataChanged`] or
    /// [`WatchKind::NodeDeleted`] later. No watch is set when the znode is
    /// missing (`NoNode`); use [`exists_and_watch`](Self::exists_and_watch).
    pub async fn get_data_and_watch(&self, path: &str) -> Result<(Vec<u8>, ZkStat), ZkError> {
        self.get_data_request(path, true).await
    }

    async fn get_data_request(
        &self,
        path: &str,
        watch: bool,
    ) -> Result<(Vec<u8>, ZkStat), ZkError> {
        let request = Request::GetData {
            path: path.to_string(),
            watch,
        };
        match self.call(request).await? {
            Reply::Data(data, stat) => Ok((data, stat)),
            _ => unreachable!("get answers Data"),
        }
    }

    /// Replaces the data, if the version matches when one is given.
    pub async fn set_data(
        &self,
        path: &str,
        data: Vec<u8>,
        expected_version: Option<i32>,
    ) -> Result<ZkStat, ZkError> {
        let request = Request::SetData {
            path: path.to_string(),
            data,
            expected_version,
        };
        match self.call(request).await? {
            Reply::Stat(stat) => Ok(stat),
            _ => unreachable!("set answers Stat"),
        }
    }

    pub async fn exists(&self, path: &str) -> Result<Option<ZkStat>, ZkError> {
        self.exists_request(path, false).await
    }

    /// Checks and sets a watch whether or not the znode exists: created,
    /// deleted or data changed.
    pub async fn exists_and_watch(&self, path: &str) -> Result<Option<ZkStat>, ZkError> {
        self.exists_request(path, true).await
    }

    async fn exists_request(&self, path: &str, watch: bool) -> Result<Option<ZkStat>, ZkError> {
        let request = Request::Exists {
            path: path.to_string(),
            watch,
        };
        match self.call(request).await? {
            Reply::MaybeStat(stat) => Ok(stat),
            _ => unreachable!("exists answers MaybeStat"),
        }
    }

    /// The children's names (not paths), sorted.
    pub async fn get_children(&self, path: &str) -> Result<Vec<String>, ZkError> {
        self.children_request(path, false).await
    }

    /// Lists and sets a watch: [`WatchKind::NodeChildrenChanged`] or
    /// [`WatchKind::NodeDeleted`] later.
    pub async fn get_children_and_watch(&self, path: &str) -> Result<Vec<String>, ZkError> {
        self.children_request(path, true).await
    }

    async fn children_request(&self, path: &str, watch: bool) -> Result<Vec<String>, ZkError> {
        let request = Request::Children {
            path: path.to_string(),
            watch,
        };
        match self.call(request).await? {
            Reply::Children(children) => Ok(children),
            _ => unreachable!("children answers Children"),
        }
    }

    /// Deletes a znode without children, if the version matches when given.
    pub async fn delete(&self, path: &str, expected_version: Option<i32>) -> Result<(), ZkError> {
        let request = Request::Delete {
            path: path.to_string(),
            expected_version,
        };
        self.call(request).await.map(|_| ())
    }

    /// Deletes a znode and everything under it; a missing one is fine
    /// (Kafka's `deleteRecursive`, used when a topic is deleted).
    pub async fn delete_recursive(&self, path: &str) -> Result<(), ZkError> {
        let request = Request::DeleteRecursive {
            path: path.to_string(),
        };
        self.call(request).await.map(|_| ())
    }

    /// Applies every operation or none. On failure the error is the first
    /// failing operation's.
    pub async fn multi(&self, ops: Vec<ZkOp>) -> Result<Vec<ZkOpResult>, ZkError> {
        match self.call(Request::Multi(ops)).await? {
            Reply::Multi(results) => Ok(results),
            _ => unreachable!("multi answers Multi"),
        }
    }

    /// Closes the session (its ephemerals go at once) and joins the thread.
    pub fn close(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            // The thread ends within CLOSE_TIMEOUT_MS of the signal.
            if thread.join().is_err() {
                tracing::error!("the ZooKeeper session thread panicked");
            }
        }
    }
}

impl Drop for ZkSession {
    fn drop(&mut self) {
        self.stop();
    }
}
