//! [`Runtime`]: starts one glommio executor thread per shard, connects the
//! mesh, runs each shard's main task, and reports how the shards ended.

use std::any::Any;
use std::future::Future;
use std::marker::PhantomData;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use glommio::{LocalExecutorBuilder, Placement};

use crate::config::RuntimeConfig;
use crate::context::ShardContext;
use crate::error::RuntimeError;
use crate::id::{ShardCount, ShardId};
use crate::latch::SyncLatch;
use crate::mesh::{self, LocalMesh, MeshEnds};
use crate::serve;
use crate::shutdown::ShutdownSignal;

/// A running set of shards exchanging `Req`/`Resp` over the mesh.
///
/// Lifecycle:
/// 1. [`Runtime::start`] spawns a thread per shard; each creates its
///    executor (pinned to CPU `i` if asked), connects its ends of the mesh,
///    and runs `factory(ShardContext)` as its main task.
/// 2. Someone requests shutdown through the [`ShutdownSignal`]; main tasks
///    notice and return. Until *every* main task has returned, every shard
///    keeps serving requests, so a shard that finishes early still answers
///    the others.
/// 3. The mesh closes (new calls fail with `Closed`), queued requests are
///    answered, handler tasks finish, and the threads end.
/// 4. [`Runtime::join`] waits for the threads and reports the first
///    failure.
///
/// A shard that panics (in its main task, a handler, or any task it
/// spawned) or fails to start ends its thread. The runtime then requests
/// shutdown, calls waiting on that shard fail with `ShardGone`, and `join`
/// returns the error naming the shard. A partition whose owner is gone is
/// unavailable, so the whole node stops rather than limping on.
///
/// Dropping a `Runtime` without joining requests shutdown and detaches the
/// threads.
pub struct Runtime<Req, Resp> {
    threads: Vec<JoinHandle<Result<(), String>>>,
    shared: Arc<Shared>,
    count: ShardCount,
    _messages: PhantomData<fn(Req) -> Resp>,
}

/// State shared by all shard threads and the starting thread.
struct Shared {
    shutdown: ShutdownSignal,
    /// `exits[i]` fires when shard `i`'s thread ends, however it ends.
    exits: Vec<SyncLatch>,
    main_finished: Vec<AtomicBool>,
    mains_running: AtomicUsize,
    /// Fires when every main task has returned (or its shard has ended).
    mains_done: SyncLatch,
    /// `failure_order[i]`: the how-many-th failure shard `i` was, so `join`
    /// reports the first, not a consequence; `usize::MAX` if it did not fail.
    failure_order: Vec<AtomicUsize>,
    failures: AtomicUsize,
}

impl Shared {
    fn new(count: ShardCount) -> Shared {
        Shared {
            shutdown: ShutdownSignal::new(),
            exits: count.ids().map(|_| SyncLatch::new()).collect(),
            main_finished: count.ids().map(|_| AtomicBool::new(false)).collect(),
            mains_running: AtomicUsize::new(count.get()),
            mains_done: SyncLatch::new(),
            failure_order: count.ids().map(|_| AtomicUsize::new(usize::MAX)).collect(),
            failures: AtomicUsize::new(0),
        }
    }

    /// Counts `shard`'s main task as returned; idempotent.
    fn main_finished(&self, shard: ShardId) {
        if !self.main_finished[shard.index()].swap(true, Ordering::AcqRel)
            && self.mains_running.fetch_sub(1, Ordering::AcqRel) == 1
        {
            self.mains_done.fire();
        }
    }

    fn record_failure(&self, shard: ShardId) {
        let order = self.failures.fetch_add(1, Ordering::AcqRel);
        self.failure_order[shard.index()].store(order, Ordering::Release);
        self.shutdown.request();
    }

    /// Marks a shard whose thread never ran as ended.
    fn never_ran(&self, shard: ShardId) {
        self.main_finished(shard);
        self.exits[shard.index()].fire();
    }
}

/// Lives on a shard thread's stack (or in its closure, before the thread
/// runs), so it runs on every way out: a normal end, a failed start, a
/// panic anywhere on the shard, or a thread that was never spawned.
struct ThreadExit {
    shard: ShardId,
    shared: Arc<Shared>,
    clean: bool,
}

impl Drop for ThreadExit {
    fn drop(&mut self) {
        if !self.clean {
            tracing::error!(shard = %self.shard, "shard ended abnormally; requesting shutdown");
            self.shared.record_failure(self.shard);
        }
        self.shared.main_finished(self.shard);
        self.shared.exits[self.shard.index()].fire();
    }
}

impl<Req: Send + 'static, Resp: Send + 'static> Runtime<Req, Resp> {
    /// Starts `config.shards` shards, each running `factory(ctx)` as its
    /// main task. The factory runs on every shard, on that shard's thread;
    /// the future it returns need not be `Send`.
    ///
    /// # Errors
    /// An invalid configuration, or a shard thread the OS refused (the
    /// shards already started are stopped and joined first). A shard whose
    /// executor cannot be created is reported by [`Runtime::join`].
    pub fn start<F, Fut>(config: RuntimeConfig, factory: F) -> Result<Self, RuntimeError>
    where
        F: Fn(ShardContext<Req, Resp>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        config.validate()?;
        let count = ShardCount::new(config.shards).expect("validated shard count");
        let shared = Arc::new(Shared::new(count));
        let factory = Arc::new(factory);
        let mut threads = Vec::with_capacity(count.get());
        for (index, ends) in mesh::wire::<Req, Resp>(count).into_iter().enumerate() {
            let shard = ShardId::new(index);
            let exit = ThreadExit {
                shard,
                shared: shared.clone(),
                clean: false,
            };
            let (config, factory) = (config.clone(), factory.clone());
            let spawned = std::thread::Builder::new()
                .name(format!("{}-{index}", config.name))
                .spawn(move || shard_thread(exit, &config, count, ends, factory));
            match spawned {
                Ok(thread) => threads.push(thread),
                Err(source) => {
                    // The closure and its ThreadExit were dropped: this shard
                    // counts as failed and shutdown is requested. The shards
                    // after it never ran; the ones before it stop.
                    for later in index + 1..count.get() {
                        shared.never_ran(ShardId::new(later));
                    }
                    for thread in threads {
                        let _ = thread.join();
                    }
                    return Err(RuntimeError::Spawn { shard, source });
                }
            }
        }
        Ok(Runtime {
            threads,
            shared,
            count,
            _messages: PhantomData,
        })
    }
}

impl<Req, Resp> Runtime<Req, Resp> {
    pub fn shard_count(&self) -> ShardCount {
        self.count
    }

    /// The signal that asks every shard to stop.
    pub fn shutdown_signal(&self) -> ShutdownSignal {
        self.shared.shutdown.clone()
    }

    /// Waits until every shard thread has ended. Returns `Ok` if all ended
    /// normally, else the first failure (later ones, usually consequences,
    /// are logged).
    ///
    /// This does not request shutdown: do that first, or have a shard do
    /// it. It returns after a shard failure too, since a failure requests
    /// shutdown, provided main tasks return when asked.
    pub fn join(mut self) -> Result<(), RuntimeError> {
        let threads = std::mem::take(&mut self.threads);
        let mut failures = Vec::new();
        for (index, thread) in threads.into_iter().enumerate() {
            let shard = ShardId::new(index);
            let error = match thread.join() {
                Ok(Ok(())) => continue,
                Ok(Err(reason)) => RuntimeError::ShardStart { shard, reason },
                Err(payload) => RuntimeError::ShardPanicked {
                    shard,
                    message: panic_message(payload.as_ref()),
                },
            };
            let order = self.shared.failure_order[index].load(Ordering::Acquire);
            failures.push((order, error));
        }
        failures.sort_by_key(|(order, _)| *order);
        let mut failures = failures.into_iter().map(|(_, error)| error);
        let first = failures.next();
        for later in failures {
            tracing::error!(error = %later, "shard also failed");
        }
        first.map_or(Ok(()), Err)
    }
}

impl<Req, Resp> Drop for Runtime<Req, Resp> {
    fn drop(&mut self) {
        if !self.threads.is_empty() {
            self.shared.shutdown.request();
        }
    }
}

/// The body of shard thread `exit.shard`.
fn shard_thread<Req, Resp, F, Fut>(
    exit: ThreadExit,
    config: &RuntimeConfig,
    count: ShardCount,
    ends: MeshEnds<Req, Resp>,
    factory: Arc<F>,
) -> Result<(), String>
where
    Req: Send + 'static,
    Resp: Send + 'static,
    F: Fn(ShardContext<Req, Resp>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + 'static,
{
    let shard = exit.shard;
    let placement = if config.pin_to_cores {
        Placement::Fixed(shard.index())
    } else {
        Placement::Unbound
    };
    let mut builder = LocalExecutorBuilder::new(placement)
        .name(&config.name)
        .io_memory(config.io_memory_bytes)
        .ring_depth(config.ring_depth);
    if let Some(spin) = config.spin_before_park {
        builder = builder.spin_before_park(spin);
    }
    let executor = match builder.make() {
        Ok(executor) => executor,
        Err(error) => {
            tracing::error!(%shard, %error, "could not create the shard's executor");
            // Announce the end before `ends` is dropped, so peers see a dead
            // shard rather than a mesh that connected with holes in it.
            drop(exit);
            return Err(error.to_string());
        }
    };
    // Rebound after the executor so that on a panic it is dropped first:
    // peers learn the shard is gone before its tasks are torn down.
    let mut exit = exit;
    tracing::debug!(%shard, pinned = config.pin_to_cores, "shard started");
    let shared = exit.shared.clone();
    executor.run(shard_main(shard, count, ends, shared, factory));
    exit.clean = true;
    tracing::debug!(%shard, "shard ended");
    Ok(())
}

/// A shard's life on its executor: connect, run the main task, wait for
/// every other main task, then shut the mesh down in order.
async fn shard_main<Req, Resp, F, Fut>(
    shard: ShardId,
    count: ShardCount,
    ends: MeshEnds<Req, Resp>,
    shared: Arc<Shared>,
    factory: Arc<F>,
) where
    Req: Send + 'static,
    Resp: Send + 'static,
    F: Fn(ShardContext<Req, Resp>) -> Fut,
    Fut: Future<Output = ()>,
{
    let Some((mesh, queues)) = LocalMesh::connect(shard, count, ends, &shared.exits).await else {
        tracing::warn!(%shard, "another shard ended before the mesh was up; not starting");
        return;
    };
    let mesh = Rc::new(mesh);
    let serve_loops = serve::start_serving(&mesh, queues, &shared.exits);
    factory(ShardContext::new(mesh.clone(), shared.shutdown.clone())).await;
    shared.main_finished(shard);
    shared.mains_done.wait().await;
    serve::shut_down(&mesh, serve_loops).await;
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(message) = payload.downcast_ref::<&str>() {
        (*message).to_string()
    } else if let Some(message) = payload.downcast_ref::<String>() {
        message.clone()
    } else {
        "(a panic payload that is not a string)".to_string()
    }
}
