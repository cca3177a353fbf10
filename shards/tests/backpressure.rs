//! A flooded owner takes at most its bound of requests; senders wait.

mod support;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use glommio::sync::Semaphore;
use sluice_shards::{
    Runtime, ShardContext, ShardHandler, ShardId, MESH_HANDLERS_PER_PEER_MAX, MESH_QUEUE_DEPTH_MAX,
};
use support::{config, join, wait_until};

/// Counts requests in its handler and holds every one until released.
struct Blocking {
    running: Cell<usize>,
    running_max: Cell<usize>,
    running_per_source: RefCell<Vec<usize>>,
    running_per_source_max: RefCell<Vec<usize>>,
    entered: Cell<usize>,
    release: Semaphore,
}

impl Blocking {
    fn new(shards: usize) -> Blocking {
        Blocking {
            running: Cell::new(0),
            running_max: Cell::new(0),
            running_per_source: RefCell::new(vec![0; shards]),
            running_per_source_max: RefCell::new(vec![0; shards]),
            entered: Cell::new(0),
            release: Semaphore::new(0),
        }
    }
}

/// The handler registered with the runtime; the test keeps a second `Rc`
/// to read the counters.
struct Handler(Rc<Blocking>);

impl ShardHandler<u64, u64> for Handler {
    async fn handle(&self, source: ShardId, request: u64) -> u64 {
        let this = &self.0;
        this.record_entry(source);
        // Closed to release: every waiter, present and future, passes.
        let _ = this.release.acquire(1).await;
        this.running.set(this.running.get() - 1);
        this.running_per_source.borrow_mut()[source.index()] -= 1;
        request * 2
    }
}

impl Blocking {
    fn record_entry(&self, source: ShardId) {
        self.entered.set(self.entered.get() + 1);
        self.running.set(self.running.get() + 1);
        self.running_max
            .set(self.running_max.get().max(self.running.get()));
        {
            let (mut now, mut max) = (
                self.running_per_source.borrow_mut(),
                self.running_per_source_max.borrow_mut(),
            );
            now[source.index()] += 1;
            max[source.index()] = max[source.index()].max(now[source.index()]);
        }
    }
}

/// Shard 0 owns a blocking handler; every other shard floods it with
/// `flood` calls. While blocked, shard 0 runs exactly
/// `MESH_HANDLERS_PER_PEER_MAX` requests per flooding peer, however long it
/// waits, and no call is answered. After release every call completes.
fn flood_shard_zero(shards: usize, flood: usize) {
    let peers = shards - 1;
    let answered = Arc::new(AtomicUsize::new(0));
    let (answered_in, answered_out) = (answered.clone(), answered.clone());
    let runtime = Runtime::start(config(shards), move |ctx: ShardContext<u64, u64>| {
        let answered = answered_in.clone();
        async move {
            if ctx.shard_id() != ShardId::CONTROL {
                ctx.register_handler(Handler(Rc::new(Blocking::new(shards))));
                let calls: Vec<_> = (0..flood as u64)
                    .map(|i| {
                        let (ctx, answered) = (ctx.clone(), answered.clone());
                        glommio::spawn_local(async move {
                            let answer = ctx.invoke_on(ShardId::CONTROL, i).await;
                            assert_eq!(answer, Ok(i * 2));
                            answered.fetch_add(1, Ordering::Relaxed);
                        })
                    })
                    .collect();
                for call in calls {
                    call.await;
                }
                return;
            }

            let owner = Rc::new(Blocking::new(shards));
            ctx.register_handler(Handler(owner.clone()));
            let bound = peers * MESH_HANDLERS_PER_PEER_MAX;
            wait_until(|| owner.entered.get() >= bound).await;
            // Give the flood every chance to push past the bound. A wait, not
            // a timing assertion: the checks hold however long this is.
            glommio::timer::sleep(Duration::from_millis(100)).await;
            assert_eq!(
                owner.entered.get(),
                bound,
                "the owner took more than its bound"
            );
            assert_eq!(owner.running.get(), bound);
            assert_eq!(
                answered.load(Ordering::Relaxed),
                0,
                "nothing is answered yet"
            );

            owner.release.close();
            wait_until(|| owner.entered.get() == peers * flood).await;
            assert!(owner.running_max.get() <= bound);
            for (source, &max) in owner.running_per_source_max.borrow().iter().enumerate() {
                let expected = if source == 0 {
                    0
                } else {
                    MESH_HANDLERS_PER_PEER_MAX
                };
                assert_eq!(
                    max, expected,
                    "requests from shard {source} running at once"
                );
            }
        }
    })
    .expect("start");
    join(runtime).expect("every shard ends cleanly");
    assert_eq!(answered_out.load(Ordering::Relaxed), peers * flood);
}

/// Far more calls than the queue and the handler slots hold together.
const FLOOD: usize = 4 * (MESH_QUEUE_DEPTH_MAX + MESH_HANDLERS_PER_PEER_MAX);

#[test]
fn one_flooding_peer_waits_for_a_blocked_owner() {
    flood_shard_zero(2, FLOOD);
}

#[test]
fn three_flooding_peers_each_get_their_own_bound() {
    flood_shard_zero(4, FLOOD);
}
