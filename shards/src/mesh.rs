//! The mesh: a bounded request queue from every shard to every other shard,
//! and the sending side of a cross-shard call.
//!
//! ```text
//!   shard s                                        shard t (the owner)
//!   invoke_on(t, req)
//!    └> lanes[t].line ──> queue s->t ───────────> serve loop for s ──> handler task
//!       FIFO wait while   bounded by              one per peer;        ShardHandler::handle
//!       the queue is full MESH_QUEUE_DEPTH_MAX    one handler slot          │
//!                                                 per running request       │
//!    <─────────────── reply: the oneshot carried in the envelope ───────────┘
//!
//!   N shards: N*(N-1) queues, one per ordered pair. invoke_on(s, req) on
//!   shard s itself skips all of this and calls the handler.
//! ```
//!
//! Each queue is a glommio shared channel: single producer (the sending
//! shard), single consumer (the owner), a lock-free ring between the two
//! threads. The queues are wired here, on the thread that starts the
//! runtime, so shard `i` is index `i` in every table. (glommio's
//! `MeshBuilder` numbers peers by executor id instead, and blocks every
//! shard in `join` if one shard never arrives.)
//!
//! Why bounded: a shard that floods another with requests would otherwise
//! grow the owner's queue without limit while the owner falls behind. With
//! a bound the sender awaits room, so an overloaded owner slows its callers
//! down (back-pressure) and memory stays fixed at
//! `N * (N-1) * MESH_QUEUE_DEPTH_MAX` envelopes. An envelope holds `Req`
//! inline, so keep `Req` small (box large payloads).

use std::future::Future;
use std::pin::pin;
use std::rc::Rc;

use futures::channel::oneshot;
use futures::future::{self, Either};
use futures::stream::{FuturesUnordered, StreamExt};
use glommio::channels::shared_channel::{
    self, ConnectedReceiver, ConnectedSender, SharedReceiver, SharedSender,
};
use glommio::{GlommioError, ResourceType};

use crate::error::MeshError;
use crate::id::{ShardCount, ShardId};
use crate::latch::{LocalLatch, SyncLatch};
use crate::line::Line;
use crate::serve::Service;

/// Requests that may wait in one queue (from one shard to one other shard).
/// A sender that finds its queue full awaits room.
pub const MESH_QUEUE_DEPTH_MAX: usize = 128;

/// Requests from one peer that may run on the owner at once. When they are
/// all running the owner stops taking that peer's requests off its queue,
/// the queue fills, and the peer waits. So at most
/// `MESH_QUEUE_DEPTH_MAX + MESH_HANDLERS_PER_PEER_MAX + 1` calls from one
/// shard to another are between sent and answered (the 1 is a request taken
/// off the queue and waiting for a handler slot).
pub const MESH_HANDLERS_PER_PEER_MAX: usize = 64;

// glommio rounds a channel's capacity up to a power of two; a power of two
// keeps the named limit the real one.
const _: () = assert!(MESH_QUEUE_DEPTH_MAX.is_power_of_two());
const _: () = assert!(MESH_HANDLERS_PER_PEER_MAX >= 1);

/// A request on its way to the owner, with the way back.
pub(crate) struct Envelope<Req, Resp> {
    pub(crate) request: Req,
    /// `Err(Closed)` when the owner refuses the request during shutdown.
    /// Dropped unanswered only when the owner shard dies.
    pub(crate) reply: oneshot::Sender<Result<Resp, MeshError>>,
}

/// One shard's ends of the mesh, created before its executor exists.
/// `to[t]` sends to shard `t`, `from[s]` receives from shard `s`; both are
/// `None` at the shard's own index.
pub(crate) struct MeshEnds<Req: Send, Resp: Send> {
    to: Vec<Option<SharedSender<Envelope<Req, Resp>>>>,
    from: Vec<Option<SharedReceiver<Envelope<Req, Resp>>>>,
}

/// Creates every queue of an `count`-shard mesh; element `i` goes to shard
/// `i`.
pub(crate) fn wire<Req: Send, Resp: Send>(count: ShardCount) -> Vec<MeshEnds<Req, Resp>> {
    let n = count.get();
    let mut ends: Vec<MeshEnds<Req, Resp>> = (0..n)
        .map(|_| MeshEnds {
            to: (0..n).map(|_| None).collect(),
            from: (0..n).map(|_| None).collect(),
        })
        .collect();
    for source in 0..n {
        for target in (0..n).filter(|&target| target != source) {
            let (sender, receiver) = shared_channel::new_bounded(MESH_QUEUE_DEPTH_MAX);
            ends[source].to[target] = Some(sender);
            ends[target].from[source] = Some(receiver);
        }
    }
    ends
}

/// The sending side of one queue.
struct Lane<Req: Send, Resp: Send> {
    sender: ConnectedSender<Envelope<Req, Resp>>,
    line: Line,
}

/// A shard's view of the mesh. Lives on its shard; shared by `Rc` between
/// the shard's [`ShardContext`](crate::ShardContext)s and its serve tasks.
pub(crate) struct LocalMesh<Req: Send, Resp: Send> {
    shard: ShardId,
    count: ShardCount,
    /// `lanes[t]`: to shard `t`; `None` at this shard's index.
    lanes: Vec<Option<Lane<Req, Resp>>>,
    /// `peers_gone[t]` fires when shard `t`'s thread has ended.
    peers_gone: Vec<LocalLatch>,
    /// Fires when this shard stops sending (every main task returned).
    closed: LocalLatch,
    pub(crate) service: Service<Req, Resp>,
}

impl<Req: Send + 'static, Resp: Send + 'static> LocalMesh<Req, Resp> {
    /// Connects this shard's ends. Returns `None` if a peer's thread ended
    /// first (it failed to start), since the mesh can then never be whole.
    pub(crate) async fn connect(
        shard: ShardId,
        count: ShardCount,
        ends: MeshEnds<Req, Resp>,
        exits: &[SyncLatch],
    ) -> Option<(
        LocalMesh<Req, Resp>,
        Vec<(ShardId, ConnectedReceiver<Envelope<Req, Resp>>)>,
    )> {
        // Every end waits for its peer end to connect, so all are connected
        // at once: one at a time, two shards would wait for each other.
        let senders = future::join_all(ends.to.into_iter().map(connect_opt_sender));
        let receivers = future::join_all(ends.from.into_iter().map(connect_opt_receiver));
        let all = pin!(future::join(senders, receivers));
        // A dead peer's ends connect at once (as disconnected), so check for
        // dead peers first.
        let exited = pin!(any_peer_exit(shard, exits));
        let (senders, receivers) = match future::select(exited, all).await {
            Either::Left(((), _)) => return None,
            Either::Right((connected, _)) => connected,
        };
        // A failing peer fires its exit before dropping its ends, but that
        // can fall between the two polls above: look again now that its
        // ends are seen.
        if exits.iter().any(SyncLatch::is_fired) {
            return None;
        }

        let lanes = senders
            .into_iter()
            .map(|sender| {
                sender.map(|sender| Lane {
                    sender,
                    line: Line::default(),
                })
            })
            .collect();
        let receivers = receivers
            .into_iter()
            .enumerate()
            .filter_map(|(source, receiver)| Some((ShardId::new(source), receiver?)))
            .collect();
        let mesh = LocalMesh {
            shard,
            count,
            lanes,
            peers_gone: count.ids().map(|_| LocalLatch::new()).collect(),
            closed: LocalLatch::new(),
            service: Service::new(count.get() - 1),
        };
        Some((mesh, receivers))
    }

    pub(crate) fn shard(&self) -> ShardId {
        self.shard
    }

    pub(crate) fn count(&self) -> ShardCount {
        self.count
    }

    pub(crate) fn peer_gone(&self, peer: ShardId) {
        self.peers_gone[peer.index()].fire();
    }

    /// Runs `request` on `target`'s handler and returns its response. See
    /// [`ShardContext::invoke_on`](crate::ShardContext::invoke_on).
    pub(crate) async fn invoke_on(
        self: &Rc<Self>,
        target: ShardId,
        request: Req,
    ) -> Result<Resp, MeshError> {
        assert!(
            self.count.contains(target),
            "invoke_on {target}, but the runtime has {}",
            self.count
        );
        if self.closed.is_fired() {
            return Err(MeshError::Closed);
        }
        if target == self.shard {
            // The owner is here: a plain call, no queue, no allocation
            // beyond the handler's boxed future.
            return self.service.call_local(self.shard, request).await;
        }
        let gone = &self.peers_gone[target.index()];
        if gone.is_fired() {
            return Err(MeshError::ShardGone(target));
        }
        let (reply, response) = oneshot::channel();
        self.send(target, Envelope { request, reply }).await?;
        match future::select(response, pin!(gone.wait())).await {
            Either::Left((Ok(answer), _)) => answer,
            // The owner dropped the request unanswered: only its death does
            // that, possibly a moment before its thread is seen to end.
            Either::Left((Err(oneshot::Canceled), _)) | Either::Right(_) => {
                Err(MeshError::ShardGone(target))
            }
        }
    }

    /// Puts `envelope` on the queue to `target`, in the order calls were
    /// made on this shard (see [`Line`]), waiting for room if it is full.
    async fn send(&self, target: ShardId, envelope: Envelope<Req, Resp>) -> Result<(), MeshError> {
        let lane = self.lanes[target.index()]
            .as_ref()
            .expect("a lane to every other shard");
        let envelope = if lane.line.is_empty() {
            match lane.sender.try_send(envelope) {
                Ok(()) => return Ok(()),
                Err(GlommioError::WouldBlock(ResourceType::Channel(envelope))) => envelope,
                Err(error) => return Err(self.send_failed(target, error)),
            }
        } else {
            envelope
        };
        let wait_and_send = async {
            let mut turn = lane.line.join();
            (&mut turn).await;
            let sent = lane.sender.send(envelope).await;
            drop(turn);
            sent
        };
        // glommio's `send` keeps waiting for room in the queue of a dead
        // consumer, so the wait also ends when the target is gone.
        let gone = self.peers_gone[target.index()].wait();
        match future::select(pin!(wait_and_send), pin!(gone)).await {
            Either::Left((Ok(()), _)) => Ok(()),
            Either::Left((Err(error), _)) => Err(self.send_failed(target, error)),
            Either::Right(((), _)) => Err(MeshError::ShardGone(target)),
        }
    }

    fn send_failed(&self, target: ShardId, error: GlommioError<Envelope<Req, Resp>>) -> MeshError {
        match error {
            // We closed our end: the mesh is shutting down.
            GlommioError::Closed(_) if self.closed.is_fired() => MeshError::Closed,
            // The owner dropped its end: its thread is ending.
            GlommioError::Closed(_) => MeshError::ShardGone(target),
            other => {
                debug_assert!(false, "unexpected mesh send error to {target}: {other:?}");
                tracing::error!(%target, error = ?other, "unexpected mesh send error");
                MeshError::ShardGone(target)
            }
        }
    }

    /// Stops sending: later calls fail with [`MeshError::Closed`], calls
    /// waiting for room fail the same way, and requests already queued are
    /// still delivered. Each owner sees its queue end once drained.
    pub(crate) fn close(&self) {
        self.closed.fire();
        for lane in self.lanes.iter().flatten() {
            lane.sender.close();
        }
    }
}

async fn connect_opt_sender<T: Send + 'static>(
    sender: Option<SharedSender<T>>,
) -> Option<ConnectedSender<T>> {
    Some(sender?.connect().await)
}

async fn connect_opt_receiver<T: Send + 'static>(
    receiver: Option<SharedReceiver<T>>,
) -> Option<ConnectedReceiver<T>> {
    Some(receiver?.connect().await)
}

/// Resolves when any shard other than `shard` has ended its thread; never,
/// if there is no other shard.
fn any_peer_exit(shard: ShardId, exits: &[SyncLatch]) -> impl Future<Output = ()> + '_ {
    let mut peers: FuturesUnordered<_> = exits
        .iter()
        .enumerate()
        .filter(move |(index, _)| *index != shard.index())
        .map(|(_, exit)| exit.wait())
        .collect();
    async move {
        if peers.next().await.is_none() {
            future::pending::<()>().await;
        }
    }
}
