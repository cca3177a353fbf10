//! Starting, stopping, and shards that die: every path ends, and `join`
//! says which shard failed.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sluice_shards::{
    MeshError, Runtime, RuntimeConfig, RuntimeError, ShardContext, ShardHandler, ShardId,
    SHARDS_MAX,
};
use support::{config, join};

/// The request that makes [`Echo`] panic.
const POISON: u64 = u64::MAX;

/// Answers with the request, or panics on [`POISON`].
struct Echo;

impl ShardHandler<u64, u64> for Echo {
    async fn handle(&self, _source: ShardId, request: u64) -> u64 {
        assert_ne!(request, POISON, "poisoned request");
        request
    }
}

fn count() -> (Arc<AtomicUsize>, Arc<AtomicUsize>) {
    let counter = Arc::new(AtomicUsize::new(0));
    (counter.clone(), counter)
}

#[test]
fn shutdown_ends_every_shard() {
    for shards in [1, 2, 4] {
        let (started, started_out) = count();
        let (ended, ended_out) = count();
        let runtime = Runtime::start(config(shards), move |ctx: ShardContext<u64, u64>| {
            let (started, ended) = (started.clone(), ended.clone());
            async move {
                ctx.register_handler(Echo);
                started.fetch_add(1, Ordering::SeqCst);
                ctx.shutdown_requested().await;
                assert!(ctx.is_shutdown_requested());
                ended.fetch_add(1, Ordering::SeqCst);
            }
        })
        .expect("start");
        while started_out.load(Ordering::SeqCst) < shards {
            std::thread::sleep(Duration::from_millis(1));
        }
        runtime.shutdown_signal().request();
        join(runtime).expect("every shard ends cleanly");
        assert_eq!(ended_out.load(Ordering::SeqCst), shards);
    }
}

#[test]
fn a_shard_can_request_shutdown() {
    let (ended, ended_out) = count();
    let runtime = Runtime::start(config(4), move |ctx: ShardContext<u64, u64>| {
        let ended = ended.clone();
        async move {
            ctx.register_handler(Echo);
            if ctx.shard_id() == ShardId::new(3) {
                ctx.shutdown_signal().request();
            }
            ctx.shutdown_requested().await;
            ended.fetch_add(1, Ordering::SeqCst);
        }
    })
    .expect("start");
    join(runtime).expect("every shard ends cleanly");
    assert_eq!(ended_out.load(Ordering::SeqCst), 4);
}

/// Shard 0's main task returns at once; shard 1 keeps calling it and is
/// still answered, since the mesh stays up until every main task returned.
#[test]
fn a_shard_that_finished_keeps_serving_the_others() {
    let (answered, answered_out) = count();
    let runtime = Runtime::start(config(2), move |ctx: ShardContext<u64, u64>| {
        let answered = answered.clone();
        async move {
            ctx.register_handler(Echo);
            if ctx.shard_id() == ShardId::CONTROL {
                return;
            }
            glommio::timer::sleep(Duration::from_millis(20)).await;
            for i in 0..1000 {
                assert_eq!(ctx.invoke_on(ShardId::CONTROL, i).await, Ok(i));
                answered.fetch_add(1, Ordering::SeqCst);
            }
        }
    })
    .expect("start");
    join(runtime).expect("every shard ends cleanly");
    assert_eq!(answered_out.load(Ordering::SeqCst), 1000);
}

/// Once every main task has returned the mesh closes: a handler still
/// running on shard 0 (serving shard 1) finds its calls refused.
#[test]
fn calls_fail_closed_once_every_main_task_returned() {
    struct CallsBack(ShardContext<u64, u64>, Arc<Mutex<Option<MeshError>>>);
    impl ShardHandler<u64, u64> for CallsBack {
        async fn handle(&self, _source: ShardId, request: u64) -> u64 {
            let CallsBack(ctx, refused) = self;
            if ctx.shard_id() == ShardId::CONTROL {
                // Call shard 1 until the mesh refuses, which happens only
                // after both main tasks returned.
                loop {
                    match ctx.invoke_on(ShardId::new(1), 0).await {
                        Ok(_) => glommio::timer::sleep(Duration::from_millis(1)).await,
                        Err(error) => {
                            *refused.lock().unwrap() = Some(error);
                            break;
                        }
                    }
                }
            }
            request
        }
    }

    let refused = Arc::new(Mutex::new(None));
    let refused_in = refused.clone();
    let runtime = Runtime::start(config(2), move |ctx: ShardContext<u64, u64>| {
        let refused = refused_in.clone();
        async move {
            ctx.register_handler(CallsBack(ctx.clone(), refused));
            if ctx.shard_id() == ShardId::new(1) {
                // Not awaited: the main task returns while it runs.
                let call = ctx.clone();
                glommio::spawn_local(async move { call.invoke_on(ShardId::CONTROL, 7).await })
                    .detach();
                glommio::timer::sleep(Duration::from_millis(20)).await;
            }
        }
    })
    .expect("start");
    join(runtime).expect("every shard ends cleanly");
    assert_eq!(*refused.lock().unwrap(), Some(MeshError::Closed));
}

fn expect_panicked(result: Result<(), RuntimeError>, shard: usize, message: &str) {
    match result {
        Err(RuntimeError::ShardPanicked {
            shard: failed,
            message: text,
        }) => {
            assert_eq!(failed, ShardId::new(shard));
            assert!(text.contains(message), "{text}");
        }
        other => panic!("expected shard {shard} to have panicked, got {other:?}"),
    }
}

#[test]
fn a_panicking_main_task_fails_join_naming_its_shard() {
    for (shards, dying) in [(2, 1), (4, 2), (1, 0)] {
        let runtime = Runtime::start(
            config(shards),
            move |ctx: ShardContext<u64, u64>| async move {
                ctx.register_handler(Echo);
                if ctx.shard_id() == ShardId::new(dying) {
                    panic!("main task of shard {dying} gives up");
                }
                // The others end because the failure requests shutdown.
                ctx.shutdown_requested().await;
            },
        )
        .expect("start");
        let error = join(runtime);
        assert_eq!(
            error.as_ref().err().and_then(RuntimeError::shard),
            Some(ShardId::new(dying))
        );
        expect_panicked(error, dying, "gives up");
    }
}

/// Shard 1's handler panics on the poisoned request. The calls to it
/// behind that one, running, queued, or waiting for room in the full
/// queue, end with `ShardGone` instead of hanging.
#[test]
fn calls_to_a_dead_shard_fail_with_shard_gone() {
    let (gone, gone_out) = count();
    let runtime = Runtime::start(config(2), move |ctx: ShardContext<u64, u64>| {
        let gone = gone.clone();
        async move {
            ctx.register_handler(Echo);
            if ctx.shard_id() != ShardId::CONTROL {
                ctx.shutdown_requested().await;
                return;
            }
            let target = ShardId::new(1);
            assert_eq!(ctx.invoke_on(target, 1).await, Ok(1));
            let calls: Vec<_> = std::iter::once(POISON)
                .chain(0..1000)
                .map(|request| {
                    let ctx = ctx.clone();
                    glommio::spawn_local(async move { ctx.invoke_on(target, request).await })
                })
                .collect();
            for call in calls {
                match call.await {
                    Err(MeshError::ShardGone(shard)) => {
                        assert_eq!(shard, target);
                        gone.fetch_add(1, Ordering::SeqCst);
                    }
                    Ok(_) => {} // answered before the poisoned request ran
                    Err(other) => panic!("unexpected {other:?}"),
                }
            }
            assert!(ctx.is_shutdown_requested());
            assert_eq!(
                ctx.invoke_on(target, 1).await,
                Err(MeshError::ShardGone(target))
            );
        }
    })
    .expect("start");
    expect_panicked(join(runtime), 1, "poisoned request");
    assert!(gone_out.load(Ordering::SeqCst) >= 1);
}

/// With shards pinned one per CPU, one more shard than CPUs cannot be
/// placed: that shard fails to start, and the others end instead of
/// waiting for it forever.
#[test]
fn a_shard_that_cannot_start_fails_join() {
    let cpus = glommio::CpuSet::online()
        .expect("CPU list")
        .iter()
        .map(|cpu| cpu.cpu)
        .max()
        .expect("a CPU")
        + 1;
    if cpus + 1 > SHARDS_MAX {
        eprintln!("skipped: more CPUs than a runtime may have shards");
        return;
    }
    let (mains, mains_out) = count();
    let runtime = Runtime::start(
        RuntimeConfig {
            pin_to_cores: true,
            ..config(cpus + 1)
        },
        move |ctx: ShardContext<u64, u64>| {
            let mains = mains.clone();
            async move {
                mains.fetch_add(1, Ordering::SeqCst);
                ctx.shutdown_requested().await;
            }
        },
    )
    .expect("start");
    match join(runtime) {
        Err(RuntimeError::ShardStart { shard, reason }) => {
            assert_eq!(shard, ShardId::new(cpus), "{reason}");
        }
        other => panic!("expected shard {cpus} to fail to start, got {other:?}"),
    }
    // No main task ran: the mesh was never whole.
    assert_eq!(mains_out.load(Ordering::SeqCst), 0);
}

#[test]
fn invalid_configurations_are_refused() {
    let factory = |_: ShardContext<u64, u64>| async {};
    for config in [
        config(0),
        RuntimeConfig {
            ring_depth: 0,
            ..config(2)
        },
    ] {
        match Runtime::start(config, factory) {
            Err(RuntimeError::InvalidConfig(_)) => {}
            Err(other) => panic!("expected InvalidConfig, got {other}"),
            Ok(_) => panic!("expected InvalidConfig, got a runtime"),
        }
    }
}

/// Until the target registers its handler, calls to it wait, and then are
/// answered.
#[test]
fn calls_wait_for_the_handler() {
    let runtime = Runtime::start(config(2), |ctx: ShardContext<u64, u64>| async move {
        if ctx.shard_id() == ShardId::CONTROL {
            assert_eq!(ctx.invoke_on(ShardId::new(1), 5).await, Ok(5));
        } else {
            glommio::timer::sleep(Duration::from_millis(20)).await;
            ctx.register_handler(Echo);
        }
    })
    .expect("start");
    join(runtime).expect("every shard ends cleanly");
}

/// A shard that never registers a handler does not hold the runtime up:
/// at shutdown its queued requests are refused with `Closed`.
#[test]
fn a_shard_without_a_handler_does_not_hold_up_shutdown() {
    let runtime = Runtime::start(config(2), |ctx: ShardContext<u64, u64>| async move {
        if ctx.shard_id() == ShardId::CONTROL {
            return; // no handler
        }
        ctx.register_handler(Echo);
        let call = ctx.clone();
        // Detached: the main task returns while the call waits. Whether the
        // refusal arrives before this shard ends is up to scheduling; if it
        // does, it must be `Closed`.
        glommio::spawn_local(async move {
            let answer = call.invoke_on(ShardId::CONTROL, 1).await;
            assert_eq!(answer, Err(MeshError::Closed));
        })
        .detach();
        glommio::executor().yield_now().await;
    })
    .expect("start");
    join(runtime).expect("every shard ends cleanly");
}
