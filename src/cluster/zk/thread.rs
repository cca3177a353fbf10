//! The ZooKeeper thread: a local executor driven by `async_io::block_on`,
//! one loop that owns the `zookeeper-client` session, serves commands,
//! forwards watches and session changes, and replaces an expired session.

use std::future::Future;
use std::time::{Duration, Instant};

use async_executor::LocalExecutor;
use futures::channel::{mpsc, oneshot};
use futures::future::{self, Either, FutureExt, LocalBoxFuture};
use futures::stream::{FuturesUnordered, StreamExt};
use zookeeper_client as zk;

use super::requests::{self, PendingWatch};
use super::{
    Command, ZkError, ZkEvent, CLOSE_TIMEOUT_MS, RECONNECT_BACKOFF_MS, REQUESTS_IN_FLIGHT_MAX,
    WATCHES_MAX,
};

/// What the thread needs to open sessions.
pub(super) struct Setup {
    /// `host:port,...` without the chroot.
    pub servers: String,
    pub chroot: Option<String>,
    pub session_timeout: Duration,
    /// How long the first session may take.
    pub connection_timeout: Duration,
}

/// Hands `zookeeper-client`'s tasks (its session loop, background deletes)
/// to the thread's executor.
struct Spawner<'e>(&'e LocalExecutor<'static>);

impl asyncs::task::Spawn for Spawner<'_> {
    fn spawn(&self, task: asyncs::task::Task) {
        self.0.spawn(Box::into_pin(task.future)).detach();
    }
}

/// The thread's body.
pub(super) fn run(
    setup: Setup,
    commands: mpsc::Receiver<Command>,
    events: mpsc::Sender<ZkEvent>,
    shutdown: oneshot::Receiver<()>,
    started: oneshot::Sender<Result<i64, ZkError>>,
) {
    let executor: LocalExecutor<'static> = LocalExecutor::new();
    let spawner = Spawner(&executor);
    let _scope = asyncs::task::enter(&spawner);
    let mut session = Session {
        setup,
        commands,
        outbox: Outbox {
            events,
            lost: false,
        },
        shutdown,
    };
    async_io::block_on(executor.run(session.serve(started)));
}

/// Races `work` against a timer.
async fn within<T>(limit: Duration, work: impl Future<Output = T>) -> Option<T> {
    let timer = async_io::Timer::after(limit);
    match future::select(Box::pin(work), timer).await {
        Either::Left((value, _)) => Some(value),
        Either::Right(_) => None,
    }
}

/// Why serving one session stopped.
enum End {
    Expired,
    Shutdown,
}

/// The event queue to shard 0, which the thread never waits on.
struct Outbox {
    events: mpsc::Sender<ZkEvent>,
    /// Events were dropped; [`ZkEvent::EventsLost`] is owed.
    lost: bool,
}

impl Outbox {
    fn emit(&mut self, event: ZkEvent) {
        self.settle();
        if self.lost {
            return;
        }
        if let Err(e) = self.events.try_send(event) {
            if e.is_full() {
                tracing::warn!("shard 0 is not reading ZooKeeper events; dropping them");
                self.lost = true;
            }
        }
    }

    /// Sends the owed [`ZkEvent::EventsLost`] when there is room.
    fn settle(&mut self) {
        if self.lost && self.events.try_send(ZkEvent::EventsLost).is_ok() {
            self.lost = false;
        }
    }
}

struct Session {
    setup: Setup,
    commands: mpsc::Receiver<Command>,
    outbox: Outbox,
    shutdown: oneshot::Receiver<()>,
}

impl Session {
    async fn serve(&mut self, started: oneshot::Sender<Result<i64, ZkError>>) {
        let deadline = Instant::now() + self.setup.connection_timeout;
        let mut client = loop {
            match connect(&self.setup).await {
                Ok(client) => break client,
                Err(error) if Instant::now() >= deadline => {
                    let _ = started.send(Err(error));
                    return;
                }
                Err(error) => {
                    tracing::debug!("ZooKeeper {}: {error}; retrying", self.setup.servers);
                    async_io::Timer::after(Duration::from_millis(200)).await;
                }
            }
        };
        let _ = started.send(Ok(client.session_id().0));
        tracing::info!(
            "ZooKeeper session {} with {}{}",
            client.session_id(),
            self.setup.servers,
            self.setup.chroot.as_deref().unwrap_or("")
        );
        loop {
            match self.serve_session(&client).await {
                End::Shutdown => break,
                End::Expired => {
                    tracing::warn!("ZooKeeper session {} expired", client.session_id());
                    self.outbox.emit(ZkEvent::SessionExpired);
                }
            }
            drop(client);
            client = match self.reconnect().await {
                Some(client) => client,
                None => return,
            };
            tracing::info!("new ZooKeeper session {}", client.session_id());
            self.outbox.emit(ZkEvent::SessionEstablished {
                session_id: client.session_id().0,
            });
        }
        close(client).await;
    }

    /// Opens a new session after an expiry, for as long as it takes; None
    /// when shut down meanwhile.
    async fn reconnect(&mut self) -> Option<zk::Client> {
        loop {
            let attempt = connect(&self.setup).boxed_local();
            let outcome = future::select(attempt, &mut self.shutdown).await;
            match outcome {
                Either::Left((Ok(client), _)) => return Some(client),
                Either::Left((Err(error), _)) => {
                    tracing::warn!("no new ZooKeeper session yet: {error}");
                }
                Either::Right(_) => return None,
            }
            let pause = async_io::Timer::after(Duration::from_millis(RECONNECT_BACKOFF_MS));
            if let Either::Right(_) = future::select(pause, &mut self.shutdown).await {
                return None;
            }
        }
    }

    async fn serve_session(&mut self, client: &zk::Client) -> End {
        let Session {
            commands,
            outbox,
            shutdown,
            ..
        } = self;
        let mut states = client.state_watcher();
        // Each request resolves to whether it asked for a watch, and the
        // watch it set.
        let mut in_flight: FuturesUnordered<LocalBoxFuture<'static, (bool, Option<PendingWatch>)>> =
            FuturesUnordered::new();
        let mut watches: FuturesUnordered<PendingWatch> = FuturesUnordered::new();
        let mut watch_requests_in_flight = 0usize;
        loop {
            let next_command = if in_flight.len() < REQUESTS_IN_FLIGHT_MAX {
                commands.next().left_future()
            } else {
                future::pending().right_future()
            };
            futures::select_biased! {
                _ = (&mut *shutdown).fuse() => return End::Shutdown,
                state = states.changed().fuse() => match state {
                    zk::SessionState::Disconnected => outbox.emit(ZkEvent::ConnectionLost),
                    zk::SessionState::SyncConnected | zk::SessionState::ConnectedReadOnly => {
                        outbox.emit(ZkEvent::ConnectionRestored)
                    }
                    zk::SessionState::Expired
                    | zk::SessionState::AuthFailed
                    | zk::SessionState::Closed => {
                        // The client fails what it still holds (session
                        // expired); let those answers reach their callers
                        // rather than dropping them unanswered.
                        let drained = async { while in_flight.next().await.is_some() {} };
                        let limit = Duration::from_millis(CLOSE_TIMEOUT_MS);
                        if within(limit, drained).await.is_none() {
                            tracing::warn!("ZooKeeper requests still pending at expiry; dropped");
                        }
                        return End::Expired;
                    }
                },
                watch = watches.select_next_some() => {
                    if let Some((path, kind)) = watch {
                        outbox.emit(ZkEvent::Watch { path, kind });
                    }
                }
                (watching, watch) = in_flight.select_next_some() => {
                    if watching {
                        watch_requests_in_flight -= 1;
                    }
                    if let Some(watch) = watch {
                        watches.push(watch);
                    }
                }
                command = next_command.fuse() => {
                    let Some(Command { request, reply }) = command else {
                        // Every handle is gone: nobody can ask anything.
                        return End::Shutdown;
                    };
                    let watching = request.wants_watch();
                    if watching && watches.len() + watch_requests_in_flight >= WATCHES_MAX {
                        let _ = reply.send(Err(ZkError::TooManyWatches));
                        continue;
                    }
                    if watching {
                        watch_requests_in_flight += 1;
                    }
                    let client = client.clone();
                    in_flight.push(async move {
                        let (result, watch) = requests::run(client, request).await;
                        // A caller that gave up does not cancel the watch
                        // it set: its event still comes.
                        let _ = reply.send(result);
                        (watching, watch)
                    }.boxed_local());
                }
            }
            outbox.settle();
        }
    }
}

/// One attempt at a session, chroot included: connect to the servers,
/// create the chroot if missing (Kafka does the same at start), then
/// root the client there.
async fn connect(setup: &Setup) -> Result<zk::Client, ZkError> {
    let connector = zk::Client::connector().with_session_timeout(setup.session_timeout);
    let attempt = connector.connect(&setup.servers);
    let client = within(setup.connection_timeout, attempt)
        .await
        .ok_or_else(|| ZkError::ConnectTimeout {
            timeout_ms: setup.connection_timeout.as_millis() as u64,
            servers: setup.servers.clone(),
        })?
        .map_err(|e| ZkError::Other {
            path: String::new(),
            message: format!("cannot connect to {}: {e}", setup.servers),
        })?;
    let Some(chroot) = &setup.chroot else {
        return Ok(client);
    };
    let directory = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
    client
        .mkdir(chroot, &directory)
        .await
        .map_err(|e| ZkError::Other {
            path: chroot.clone(),
            message: format!("cannot create the chroot: {e}"),
        })?;
    client.chroot(chroot.as_str()).map_err(|_| ZkError::Other {
        path: chroot.clone(),
        message: "not a valid chroot".to_string(),
    })
}

/// Ends the session cleanly so its ephemerals vanish now: dropping the last
/// client sends CloseSession; wait (bounded) for ZooKeeper to confirm.
async fn close(client: zk::Client) {
    let mut states = client.state_watcher();
    drop(client);
    let closed = async {
        while !states.peek_state().is_terminated() {
            states.changed().await;
        }
    };
    if within(Duration::from_millis(CLOSE_TIMEOUT_MS), closed)
        .await
        .is_none()
    {
        tracing::warn!("ZooKeeper did not confirm the session's close in time");
    }
}
