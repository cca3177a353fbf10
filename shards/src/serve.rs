//! The owner side of the mesh: the shard's handler, the serve loop that
//! takes each peer's requests off its queue, and the orderly stop.
//!
//! ```text
//!   queue from peer p ──> serve loop for p ──> wait for one of p's handler
//!                          (one per peer)       slots (MESH_HANDLERS_PER_PEER_MAX)
//!                                                    │
//!                                                    ▼
//!                                    task: handler.handle(p, request)
//!                                          reply via the envelope's oneshot
//! ```
//!
//! A serve loop handles one envelope at a time and spawns its handler in
//! arrival order, so a peer's requests start in the order they were sent.
//! When all of a peer's slots are busy, the loop stops reading and the
//! queue applies back-pressure to the peer.

use std::cell::{Cell, RefCell};
use std::pin::pin;
use std::rc::Rc;

use futures::future::{self, Either};
use glommio::channels::shared_channel::ConnectedReceiver;
use glommio::sync::{Gate, Semaphore, StaticPermit};
use glommio::task::JoinHandle;

use crate::error::MeshError;
use crate::handler::ErasedHandler;
use crate::id::ShardId;
use crate::latch::{LocalLatch, SyncLatch};
use crate::mesh::{Envelope, LocalMesh, MESH_HANDLERS_PER_PEER_MAX};

/// The shard's registered handler and the tasks running it for peers.
pub(crate) struct Service<Req, Resp> {
    handler: RefCell<Option<Rc<dyn ErasedHandler<Req, Resp>>>>,
    /// Fires when a handler is registered, or at shutdown without one.
    ready: LocalLatch,
    /// Handler tasks serving peers; shutdown waits for them.
    tasks: Gate,
    /// Serve loops still reading their queue.
    reading: Cell<usize>,
    all_read: LocalLatch,
    /// Fires when the shard is about to end; serve loops stop watching.
    stopping: LocalLatch,
}

impl<Req: 'static, Resp: 'static> Service<Req, Resp> {
    pub(crate) fn new(peers: usize) -> Service<Req, Resp> {
        let all_read = LocalLatch::new();
        if peers == 0 {
            all_read.fire();
        }
        Service {
            handler: RefCell::new(None),
            ready: LocalLatch::new(),
            tasks: Gate::new(),
            reading: Cell::new(peers),
            all_read,
            stopping: LocalLatch::new(),
        }
    }

    /// # Panics
    /// If the shard already has a handler, or registers one after shutdown
    /// has closed its service: both are bugs in the shard's setup.
    pub(crate) fn register(&self, handler: Rc<dyn ErasedHandler<Req, Resp>>) {
        assert!(
            self.handler.borrow().is_none(),
            "a shard registers exactly one handler"
        );
        assert!(
            !self.ready.is_fired(),
            "handler registered after the mesh closed"
        );
        *self.handler.borrow_mut() = Some(handler);
        self.ready.fire();
    }

    /// The handler, once registered; `None` if the mesh closed without one.
    async fn handler(&self) -> Option<Rc<dyn ErasedHandler<Req, Resp>>> {
        self.ready.wait().await;
        self.handler.borrow().clone()
    }

    /// A call from this shard to itself: the handler, directly.
    pub(crate) async fn call_local(&self, shard: ShardId, request: Req) -> Result<Resp, MeshError> {
        let handler = self.handler().await.ok_or(MeshError::Closed)?;
        Ok(handler.call(shard, request).await)
    }

    /// Runs `envelope` from `source` in a task holding one of the source's
    /// handler `slot`s.
    async fn dispatch(&self, source: ShardId, envelope: Envelope<Req, Resp>, slot: StaticPermit) {
        let Envelope { request, reply } = envelope;
        if reply.is_canceled() {
            // The caller gave up while the request was queued.
            return;
        }
        let Some(handler) = self.handler().await else {
            let _ = reply.send(Err(MeshError::Closed));
            return;
        };
        let task = self.tasks.spawn(async move {
            let response = handler.call(source, request).await;
            // The caller may have given up meanwhile; nothing to do then.
            let _ = reply.send(Ok(response));
            drop(slot);
        });
        match task {
            Ok(task) => drop(task.detach()),
            Err(_) => unreachable!("the handler gate closes only after every serve loop ended"),
        }
    }

    fn done_reading(&self) {
        let reading = self.reading.get() - 1;
        self.reading.set(reading);
        if reading == 0 {
            self.all_read.fire();
        }
    }
}

/// Starts one serve loop per peer queue; shut the mesh down with
/// [`shut_down`] and these handles.
pub(crate) fn start_serving<Req: Send + 'static, Resp: Send + 'static>(
    mesh: &Rc<LocalMesh<Req, Resp>>,
    queues: Vec<(ShardId, ConnectedReceiver<Envelope<Req, Resp>>)>,
    exits: &[SyncLatch],
) -> Vec<JoinHandle<()>> {
    queues
        .into_iter()
        .map(|(peer, queue)| {
            let loop_ = serve_peer(mesh.clone(), peer, queue, exits[peer.index()].clone());
            glommio::spawn_local(loop_).detach()
        })
        .collect()
}

/// Serves `peer` until it closes its end of the queue (and the queue is
/// drained) or its thread ends; then keeps watching for its end, so calls
/// to it fail fast, until this shard stops.
async fn serve_peer<Req: Send + 'static, Resp: Send + 'static>(
    mesh: Rc<LocalMesh<Req, Resp>>,
    peer: ShardId,
    queue: ConnectedReceiver<Envelope<Req, Resp>>,
    peer_exit: SyncLatch,
) {
    let slots = Rc::new(Semaphore::new(MESH_HANDLERS_PER_PEER_MAX as u64));
    let mut exited = pin!(peer_exit.wait());
    let mut peer_ended = false;
    loop {
        let envelope = match future::select(pin!(queue.recv()), exited.as_mut()).await {
            Either::Left((Some(envelope), _)) => envelope,
            Either::Left((None, _)) => break,
            Either::Right(((), _)) => {
                peer_ended = true;
                break;
            }
        };
        let slot = slots
            .acquire_static_permit(1)
            .await
            .expect("handler slots are never closed");
        mesh.service.dispatch(peer, envelope, slot).await;
    }
    mesh.service.done_reading();
    if !peer_ended {
        let stopping = pin!(mesh.service.stopping.wait());
        peer_ended = matches!(future::select(exited, stopping).await, Either::Left(_));
    }
    if peer_ended {
        mesh.peer_gone(peer);
    }
}

/// Stops this shard's part of the mesh, in an order that lets every queued
/// request be answered:
///
/// 1. stop sending (later calls from here fail with `Closed`);
/// 2. without a handler, refuse what is queued instead of waiting for one;
/// 3. wait until every peer has stopped sending here and its queue is
///    drained (or the peer is gone);
/// 4. wait for the handler tasks still running;
/// 5. end the serve loops.
///
/// Called once every shard's main task has returned, so no shard starts new
/// work that would need this one.
pub(crate) async fn shut_down<Req: Send + 'static, Resp: Send + 'static>(
    mesh: &LocalMesh<Req, Resp>,
    serve_loops: Vec<JoinHandle<()>>,
) {
    mesh.close();
    mesh.service.ready.fire();
    mesh.service.all_read.wait().await;
    mesh.service
        .tasks
        .close()
        .await
        .expect("the handler gate is closed once");
    mesh.service.stopping.fire();
    for serve_loop in serve_loops {
        serve_loop.await;
    }
}
