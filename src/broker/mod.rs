//! Starting and stopping the broker: one shard per core, each with its
//! partitions, its listener and its periodic work.
//!
//! Shutdown (SIGINT/SIGTERM): listeners stop accepting, connections finish
//! their current request, every partition is flushed and closed, exit 0.

pub mod config_edit;
pub mod control;
pub mod frontend;
pub mod messages;
pub mod shard;

use std::net::ToSocketAddrs;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use sluice_shards::{Runtime, RuntimeConfig};

use crate::cluster::{TopicInfo, TopicStore, TopicTable};
use crate::config::BrokerConfig;
use crate::coordinator::{GROUP_TICK_INTERVAL, OFFSETS_TOPIC};
use crate::partition::manager::TICK_INTERVAL;
use messages::{ShardRequest, ShardResponse};
use shard::{Advertised, Backend, ShardState};

/// How often a started shard checks whether the others are ready.
const STARTUP_POLL_INTERVAL: Duration = Duration::from_millis(2);

/// Runs the broker until a signal stops it.
pub fn run(config: BrokerConfig) -> Result<(), String> {
    let config = Arc::new(config);
    std::fs::create_dir_all(&config.log_dir)
        .map_err(|e| format!("creating log.dirs {}: {e}", config.log_dir.display()))?;
    let listener = config
        .listeners
        .first()
        .ok_or("no listener configured")?
        .clone();
    let host = if listener.host.is_empty() {
        "0.0.0.0".to_string()
    } else {
        listener.host.clone()
    };
    let port = resolve_port(&host, listener.port)?;
    let bind_addr = format!("{}:{port}", bracket(&host));
    let advertised = match config.advertised_listeners.first() {
        Some(a) if a.port != 0 => Advertised {
            host: a.host.clone(),
            port: a.port,
        },
        Some(a) => Advertised {
            host: a.host.clone(),
            port,
        },
        None => Advertised {
            host: host.clone(),
            port,
        },
    };
    let table = ensure_offsets_topic(&config, TopicStore::load(&config.log_dir)?)?;
    let cluster_id = cluster_id(&config)?;

    let mut runtime_config = RuntimeConfig::new(config.cores);
    runtime_config.name = "sluice-shard".into();
    runtime_config.pin_to_cores =
        config.cores <= std::thread::available_parallelism().map_or(1, |n| n.get());
    // A shard that cannot start (no listener, unreadable partitions) stops
    // the broker, which must then exit non-zero.
    let start_failed = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let shard_failed = start_failed.clone();
    let shard_config = config.clone();
    let shards_ready = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let runtime = Runtime::<ShardRequest, ShardResponse>::start(runtime_config, move |ctx| {
        let config = shard_config.clone();
        let table = table.clone();
        let advertised = advertised.clone();
        let cluster_id = cluster_id.clone();
        let bind_addr = bind_addr.clone();
        let failed = shard_failed.clone();
        let ready = shards_ready.clone();
        async move {
            let fail = |shutdown: &sluice_shards::ShutdownSignal| {
                failed.store(true, std::sync::atomic::Ordering::SeqCst);
                shutdown.request();
            };
            let shard_id = ctx.shard_id();
            let shutdown = ctx.shutdown_signal();
            let state = match ShardState::new(ctx.clone(), config, table.clone(), advertised, cluster_id) {
                Ok(state) => Rc::new(state),
                Err(error) => {
                    tracing::error!(%shard_id, %error, "shard failed to start");
                    fail(&shutdown);
                    return;
                }
            };
            ctx.register_handler(Backend(state.clone()));
            if let Err(error) = state.partitions.apply(&table).await {
                tracing::error!(%shard_id, %error, "opening partitions");
                fail(&shutdown);
                return;
            }
            // Groups are read back before this shard listens.
            state.groups.load(&state).await;
            // No shard listens before every shard has opened its partitions
            // and groups: a request routed to a shard still opening would
            // get NOT_LEADER_OR_FOLLOWER.
            ready.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            while ready.load(std::sync::atomic::Ordering::SeqCst) < state.context().shard_count().get() {
                if shutdown.is_requested() {
                    return;
                }
                glommio::timer::sleep(STARTUP_POLL_INTERVAL).await;
            }
            let listener = match glommio::net::TcpListener::bind(bind_addr.as_str()) {
                Ok(listener) => listener,
                Err(error) => {
                    tracing::error!(%shard_id, %error, addr = %bind_addr, "cannot listen");
                    fail(&shutdown);
                    return;
                }
            };
            if shard_id == sluice_shards::ShardId::CONTROL {
                tracing::info!(addr = %bind_addr, shards = state.context().shard_count().get(), "sluice broker listening");
                println!("sluice broker listening on {bind_addr}");
            }
            let ticker = glommio::spawn_local(tick_loop(state.clone()));
            let retention = glommio::spawn_local(retention_loop(state.clone()));
            let cleaner = glommio::spawn_local(cleaner_loop(state.clone()));
            let groups = glommio::spawn_local(group_loop(state.clone()));
            crate::server::listen(state.clone(), listener).await;
            ticker.await;
            retention.await;
            cleaner.await;
            groups.await;
            state.partitions.close_all().await;
            tracing::info!(%shard_id, "shard stopped");
        }
    })
    .map_err(|e| e.to_string())?;

    let shutdown = runtime.shutdown_signal();
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
    ])
    .map_err(|e| format!("installing signal handlers: {e}"))?;
    let handle = signals.handle();
    std::thread::spawn(move || {
        if let Some(signal) = signals.forever().next() {
            tracing::info!(signal, "shutting down");
            shutdown.request();
        }
    });
    let result = runtime.join().map_err(|e| e.to_string());
    handle.close();
    result?;
    if start_failed.load(std::sync::atomic::Ordering::SeqCst) {
        return Err("the broker could not start (see the errors above)".into());
    }
    Ok(())
}

async fn tick_loop(state: Rc<ShardState>) {
    let shutdown = state.context().shutdown_signal();
    while !shutdown.is_requested() {
        glommio::timer::sleep(TICK_INTERVAL).await;
        state.partitions.tick().await;
    }
}

/// Group timers: sessions, join and sync deadlines, offset expiry.
async fn group_loop(state: Rc<ShardState>) {
    let shutdown = state.context().shutdown_signal();
    while !shutdown.is_requested() {
        let sleep = glommio::timer::sleep(GROUP_TICK_INTERVAL);
        if let futures::future::Either::Right(_) =
            futures::future::select(Box::pin(sleep), Box::pin(shutdown.requested())).await
        {
            break;
        }
        state.groups.tick(&state).await;
    }
    // Connections drain by finishing their current request: a JoinGroup
    // waiting for a rebalance must be answered now, not after its timeout.
    state.groups.release_waiters();
}

/// Creates `__consumer_offsets` the first time the broker starts (Kafka
/// creates it on the first FindCoordinator; here it exists from the start,
/// so every shard reads its groups back before it listens).
fn ensure_offsets_topic(config: &BrokerConfig, table: TopicTable) -> Result<TopicTable, String> {
    if let Some(existing) = table.get(OFFSETS_TOPIC) {
        if existing.partitions != config.offsets_topic_num_partitions {
            tracing::warn!(
                existing = existing.partitions,
                configured = config.offsets_topic_num_partitions,
                "{OFFSETS_TOPIC} keeps its partition count; offsets.topic.num.partitions applies only when it is created"
            );
        }
        return Ok(table);
    }
    let mut configs = std::collections::BTreeMap::new();
    configs.insert("cleanup.policy".to_string(), "compact".to_string());
    configs.insert(
        "segment.bytes".to_string(),
        config.groups.offsets_topic_segment_bytes.to_string(),
    );
    let info = TopicInfo {
        name: OFFSETS_TOPIC.into(),
        id: uuid::Uuid::new_v4(),
        partitions: config.offsets_topic_num_partitions,
        configs,
        internal: true,
    };
    TopicStore::new(&config.log_dir)
        .and_then(|store| store.save(&info))
        .map_err(|e| {
            format!(
                "creating {OFFSETS_TOPIC} in {}: {e}",
                config.log_dir.display()
            )
        })?;
    tracing::info!(partitions = info.partitions, "created {OFFSETS_TOPIC}");
    Ok(table.with_topic(info))
}

async fn retention_loop(state: Rc<ShardState>) {
    let shutdown = state.context().shutdown_signal();
    let interval = Duration::from_millis(state.config().retention_check_interval_ms.max(100));
    loop {
        let sleep = glommio::timer::sleep(interval);
        if let futures::future::Either::Right(_) =
            futures::future::select(Box::pin(sleep), Box::pin(shutdown.requested())).await
        {
            return;
        }
        state
            .partitions
            .apply_retention(&state.topics(), crate::handlers::now_ms())
            .await;
    }
}

/// The shard's log cleaner: cleans the dirtiest due compacted partition
/// it owns, again at once while any is due, else after
/// `log.cleaner.backoff.ms`; stops at shutdown between two batches.
async fn cleaner_loop(state: Rc<ShardState>) {
    let config = state.config().cleaner.clone();
    if !config.enable {
        return;
    }
    let cleaner =
        crate::partition::cleaner::ShardCleaner::new(&config, state.context().shard_count().get());
    let shutdown = state.context().shutdown_signal();
    let stop = shutdown.clone();
    let mut pacer =
        sluice_io::log::compact::Throttle::new(config.io_max_bytes_per_second, move || {
            stop.is_requested()
        });
    let backoff = Duration::from_millis(config.backoff_ms.max(10));
    loop {
        let sleep = glommio::timer::sleep(backoff);
        if let futures::future::Either::Right(_) =
            futures::future::select(Box::pin(sleep), Box::pin(shutdown.requested())).await
        {
            return;
        }
        while !shutdown.is_requested()
            && state
                .partitions
                .clean_dirtiest(
                    &state.topics(),
                    crate::handlers::now_ms(),
                    &cleaner,
                    &mut pacer,
                )
                .await
        {}
    }
}

/// A port of 0 asks for a free one; every shard must bind the same port, so
/// pick it once here.
///
/// The shards bind with SO_REUSEPORT, so a second broker started on the
/// same port by the same user shares it instead of failing (a known gap: a
/// check for an existing listener raced with restarts after kill -9 in the
/// crash test and was taken out).
fn resolve_port(host: &str, port: u16) -> Result<u16, String> {
    if port != 0 {
        return Ok(port);
    }
    let addr = format!("{}:0", bracket(host))
        .to_socket_addrs()
        .map_err(|e| format!("resolving {host}: {e}"))?
        .next()
        .ok_or_else(|| format!("no address for {host}"))?;
    let probe = std::net::TcpListener::bind(addr).map_err(|e| format!("binding {addr}: {e}"))?;
    probe
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| e.to_string())
}

fn bracket(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}

/// The cluster id, created once and kept in the log directory (Kafka keeps
/// it in `meta.properties`).
fn cluster_id(config: &BrokerConfig) -> Result<String, String> {
    let path = config.log_dir.join("meta.properties");
    if let Ok(text) = std::fs::read_to_string(&path) {
        if let Some(id) = text.lines().find_map(|l| l.strip_prefix("cluster.id=")) {
            return Ok(id.trim().to_string());
        }
    }
    let id = base64_url(uuid::Uuid::new_v4().as_bytes());
    let text = format!(
        "version=0\nbroker.id={}\ncluster.id={id}\n",
        config.broker_id
    );
    std::fs::write(&path, text).map_err(|e| format!("writing {}: {e}", path.display()))?;
    Ok(id)
}

/// Kafka prints cluster ids as URL-safe base64 without padding.
fn base64_url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..=chunk.len() {
            out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}
