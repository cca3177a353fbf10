//! Cross-shard calls reach the owner, run there, and come back in order.

mod support;

use std::cell::RefCell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use sluice_shards::{MeshError, Runtime, RuntimeConfig, ShardContext, ShardHandler, ShardId};
use support::{config, has_cores, join};

/// What a handler reports about where it ran.
#[derive(Debug)]
struct RanOn {
    shard: ShardId,
    thread: String,
    source: ShardId,
}

/// Records the shard it was created on and the thread it runs on.
struct WhereAmI {
    shard: ShardId,
}

impl ShardHandler<(), RanOn> for WhereAmI {
    async fn handle(&self, source: ShardId, (): ()) -> RanOn {
        RanOn {
            shard: self.shard,
            thread: std::thread::current()
                .name()
                .unwrap_or_default()
                .to_string(),
            source,
        }
    }
}

/// Every shard calls every shard, itself included, and checks the answer
/// came from the owner's handler on the owner's thread. Main tasks return
/// without any shutdown request: a shard that is done keeps serving until
/// every main task has returned, then the runtime ends by itself.
fn every_shard_reaches_every_shard(config: RuntimeConfig) {
    let shards = config.shards;
    let checked = Arc::new(AtomicUsize::new(0));
    let counter = checked.clone();
    let runtime = Runtime::start(config, move |ctx: ShardContext<(), RanOn>| {
        let checked = counter.clone();
        async move {
            let me = ctx.shard_id();
            ctx.register_handler(WhereAmI { shard: me });
            for target in ctx.shard_count().ids() {
                let ran = ctx.invoke_on(target, ()).await.expect("an answer");
                assert_eq!(ran.shard, target, "the handler ran on the owner");
                assert_eq!(ran.thread, format!("test-shard-{}", target.index()));
                assert_eq!(ran.source, me);
                checked.fetch_add(1, Ordering::Relaxed);
            }
        }
    })
    .expect("start");
    join(runtime).expect("every shard ends cleanly");
    assert_eq!(checked.load(Ordering::Relaxed), shards * shards);
}

#[test]
fn one_shard_calls_itself() {
    every_shard_reaches_every_shard(config(1));
}

#[test]
fn two_shards_call_each_other() {
    every_shard_reaches_every_shard(config(2));
}

#[test]
fn two_pinned_shards_call_each_other() {
    if !has_cores(2) {
        eprintln!("skipped: fewer than 2 CPUs");
        return;
    }
    every_shard_reaches_every_shard(RuntimeConfig {
        pin_to_cores: true,
        ..config(2)
    });
}

#[test]
fn four_unpinned_shards_call_each_other() {
    every_shard_reaches_every_shard(config(4));
}

/// A numbered request and the numbers a handler has seen per source.
struct Sequenced {
    shard: ShardId,
    next_per_source: RefCell<Vec<u64>>,
}

impl ShardHandler<u64, (ShardId, u64)> for Sequenced {
    async fn handle(&self, source: ShardId, seq: u64) -> (ShardId, u64) {
        // Handlers start in the order their shard made the calls.
        {
            let mut next = self.next_per_source.borrow_mut();
            assert_eq!(seq, next[source.index()], "{source} -> {}", self.shard);
            next[source.index()] += 1;
        }
        // Some handlers suspend, so many run at once and finish out of order.
        if seq % 7 == 0 {
            glommio::executor().yield_now().await;
        }
        (self.shard, seq)
    }
}

/// Each shard makes `calls_per_pair` concurrent calls to every shard; all
/// are answered, correctly, and each owner saw each sender's calls in the
/// order they were made, although the queues filled up and senders waited.
fn concurrent_calls_are_answered_in_order(shards: usize, calls_per_pair: u64) {
    let answered = Arc::new(AtomicUsize::new(0));
    let counter = answered.clone();
    let runtime = Runtime::start(
        config(shards),
        move |ctx: ShardContext<u64, (ShardId, u64)>| {
            let answered = counter.clone();
            async move {
                let shards = ctx.shard_count().get();
                ctx.register_handler(Sequenced {
                    shard: ctx.shard_id(),
                    next_per_source: RefCell::new(vec![0; shards]),
                });
                // Tasks start in spawn order, so calls are made in `seq` order.
                let mut calls = Vec::new();
                for seq in 0..calls_per_pair {
                    for target in ctx.shard_count().ids() {
                        let ctx = ctx.clone();
                        calls.push(glommio::spawn_local(async move {
                            let answer = ctx.invoke_on(target, seq).await;
                            assert_eq!(answer, Ok((target, seq)));
                        }));
                    }
                }
                for call in calls {
                    call.await;
                    answered.fetch_add(1, Ordering::Relaxed);
                }
            }
        },
    )
    .expect("start");
    join(runtime).expect("every shard ends cleanly");
    let expected = shards * shards * calls_per_pair as usize;
    assert_eq!(answered.load(Ordering::Relaxed), expected);
}

#[test]
fn ten_thousand_concurrent_calls_per_pair_on_two_shards() {
    concurrent_calls_are_answered_in_order(2, 10_000);
}

#[test]
fn concurrent_calls_on_four_shards() {
    concurrent_calls_are_answered_in_order(4, 2_500);
}

#[test]
#[should_panic(expected = "invoke_on shard 2, but the runtime has 2 shards")]
fn calling_a_shard_that_does_not_exist_is_a_bug() {
    // The panic happens on a shard; `join` reports it and the test re-raises.
    let runtime = Runtime::start(config(2), |ctx: ShardContext<(), RanOn>| async move {
        ctx.register_handler(WhereAmI {
            shard: ctx.shard_id(),
        });
        if ctx.shard_id() == ShardId::new(0) {
            let _: Result<RanOn, MeshError> = ctx.invoke_on(ShardId::new(2), ()).await;
        } else {
            ctx.shutdown_requested().await;
        }
    })
    .expect("start");
    if let Err(error) = join(runtime) {
        panic!("{error}");
    }
}
