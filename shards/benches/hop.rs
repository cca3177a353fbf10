//! Cross-shard hop micro benchmark: what one `invoke_on` costs when the
//! owner is another shard, next to the same call when the owner is the
//! calling shard.
//!
//! `cargo bench -p sluice-shards --bench hop`
//!
//! Two shards; shard 0 calls a handler that answers at once. Cases:
//! - `local`: `invoke_on` the calling shard (a direct handler call);
//! - `remote, 1 in flight`: a full round trip, one call at a time (latency);
//! - `remote, 64 in flight`: 64 callers at once (per-call cost under load);
//! - `glommio ping-pong`: the floor, two executors bouncing a `u64` over a
//!   pair of glommio shared channels, no mesh (same pinning and spinning).
//!
//! Each case runs 3 times; the table shows ns per call (min/median/max).
//! Configurations: unpinned shards that sleep when idle (the default), and,
//! with 2 CPUs, shards pinned to cores that spin 200 µs before sleeping.

use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use glommio::channels::shared_channel;
use glommio::{LocalExecutorBuilder, Placement};
use sluice_shards::{Runtime, RuntimeConfig, ShardContext, ShardHandler, ShardId};

const RUNS: usize = 3;
const WARMUP_CALLS: usize = 10_000;
const LOCAL_CALLS: usize = 1_000_000;
const REMOTE_CALLS: usize = 100_000;
const PIPELINE_DEPTH: usize = 64;

struct Answer;

impl ShardHandler<u64, u64> for Answer {
    async fn handle(&self, _source: ShardId, request: u64) -> u64 {
        request + 1
    }
}

type Ctx = ShardContext<u64, u64>;

/// `calls` calls from `callers` concurrent tasks; ns per call.
async fn time_calls(ctx: &Ctx, target: ShardId, calls: usize, callers: usize) -> f64 {
    let start = Instant::now();
    let tasks: Vec<_> = (0..callers)
        .map(|_| {
            let ctx = ctx.clone();
            glommio::spawn_local(async move {
                for i in 0..(calls / callers) as u64 {
                    let answer = ctx.invoke_on(target, i).await.expect("answer");
                    assert_eq!(answer, i + 1);
                }
            })
        })
        .collect();
    for task in tasks {
        task.await;
    }
    start.elapsed().as_nanos() as f64 / calls as f64
}

/// ns per call for each case, `RUNS` times.
fn measure(config: RuntimeConfig) -> Vec<(&'static str, Vec<f64>)> {
    let results = Arc::new(Mutex::new(Vec::new()));
    let out = results.clone();
    let runtime = Runtime::start(config, move |ctx: Ctx| {
        let results = out.clone();
        async move {
            ctx.register_handler(Answer);
            if ctx.shard_id() != ShardId::CONTROL {
                return; // serves until shard 0 is done
            }
            let (me, peer) = (ctx.shard_id(), ShardId::new(1));
            time_calls(&ctx, peer, WARMUP_CALLS, 1).await;
            let ctx = Rc::new(ctx);
            let mut local = Vec::new();
            let mut remote = Vec::new();
            let mut pipelined = Vec::new();
            for _ in 0..RUNS {
                local.push(time_calls(&ctx, me, LOCAL_CALLS, 1).await);
                remote.push(time_calls(&ctx, peer, REMOTE_CALLS, 1).await);
                pipelined.push(time_calls(&ctx, peer, REMOTE_CALLS, PIPELINE_DEPTH).await);
            }
            *results.lock().unwrap() = vec![
                ("local (same shard)", local),
                ("remote, 1 in flight", remote),
                ("remote, 64 in flight", pipelined),
            ];
        }
    })
    .expect("start the runtime");
    runtime.join().expect("the benchmark runtime");
    let results = results.lock().unwrap().clone();
    results
}

/// ns per round trip of a bare glommio shared-channel ping-pong between
/// two executors laid out like `config`'s shards, `RUNS` times.
fn measure_ping_pong(config: &RuntimeConfig) -> (&'static str, Vec<f64>) {
    let executor = |cpu: usize| {
        let placement = if config.pin_to_cores {
            Placement::Fixed(cpu)
        } else {
            Placement::Unbound
        };
        let builder = LocalExecutorBuilder::new(placement).io_memory(config.io_memory_bytes);
        match config.spin_before_park {
            Some(spin) => builder.spin_before_park(spin),
            None => builder,
        }
    };
    let (ping, ping_in) = shared_channel::new_bounded::<u64>(1);
    let (pong, pong_in) = shared_channel::new_bounded::<u64>(1);
    let echo = executor(1)
        .spawn(move || async move {
            let (ping_in, pong) = (ping_in.connect().await, pong.connect().await);
            while let Some(value) = ping_in.recv().await {
                if pong.send(value).await.is_err() {
                    break;
                }
            }
        })
        .expect("echo executor");
    let runs = executor(0)
        .spawn(move || async move {
            let (ping, pong_in) = (ping.connect().await, pong_in.connect().await);
            let round_trip = |calls: usize| {
                let (ping, pong_in) = (&ping, &pong_in);
                async move {
                    let start = Instant::now();
                    for i in 0..calls as u64 {
                        ping.send(i).await.expect("ping");
                        assert_eq!(pong_in.recv().await, Some(i));
                    }
                    start.elapsed().as_nanos() as f64 / calls as f64
                }
            };
            round_trip(WARMUP_CALLS).await;
            let mut runs = Vec::new();
            for _ in 0..RUNS {
                runs.push(round_trip(REMOTE_CALLS).await);
            }
            runs
        })
        .expect("ping executor")
        .join()
        .expect("ping executor");
    echo.join().expect("echo executor");
    ("glommio ping-pong", runs)
}

fn print(title: &str, rows: &[(&str, Vec<f64>)]) {
    println!("\n{title}");
    println!(
        "{:<24} {:>10} {:>10} {:>10}",
        "ns per call", "min", "median", "max"
    );
    for (case, runs) in rows {
        let mut sorted = runs.clone();
        sorted.sort_by(f64::total_cmp);
        println!(
            "{case:<24} {:>10.0} {:>10.0} {:>10.0}",
            sorted[0],
            sorted[sorted.len() / 2],
            sorted[sorted.len() - 1]
        );
    }
}

fn run(title: &str, config: RuntimeConfig) {
    let mut rows = measure(config.clone());
    rows.push(measure_ping_pong(&config));
    print(title, &rows);
}

fn main() {
    let unpinned = RuntimeConfig {
        name: "hop".to_string(),
        ..RuntimeConfig::new(2)
    };
    run("2 shards, unpinned, sleep when idle", unpinned.clone());

    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cores >= 2 {
        let pinned = RuntimeConfig {
            pin_to_cores: true,
            spin_before_park: Some(Duration::from_micros(200)),
            ..unpinned
        };
        run(
            "2 shards, pinned to cores 0 and 1, spin 200 us before sleeping",
            pinned,
        );
    } else {
        println!("\n(pinned case skipped: fewer than 2 CPUs)");
    }
}
