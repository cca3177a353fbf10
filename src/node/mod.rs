//! Starting and stopping the broker: one shard per core, each with its
//! partitions, its listener and its periodic work.
//!
//! Start-up: the log directory, the topic table (with `__consumer_offsets`
//! created at the first start), the cluster id; then every shard opens the
//! partitions it owns and reads its groups back, and only when all have,
//! each binds the listener. Shutdown (SIGINT/SIGTERM): listeners stop
//! accepting, connections finish their current request, every partition is
//! flushed and closed, exit 0.
//!
//! This module sits above both the broker's state (`crate::broker`) and the
//! listener it starts (`crate::server`), so neither imports the other's
//! start-up.

mod cluster;
mod identity;
mod malloc;
mod periodic;

use std::net::ToSocketAddrs;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use sluice_shards::{Runtime, RuntimeConfig};

use crate::broker::backend::Backend;
use crate::broker::control::AgentSlot;
use crate::broker::messages::{ShardRequest, ShardResponse};
use crate::broker::shard::{Advertised, ShardState};
use crate::broker::BrokerError;
use crate::cluster::{TopicStore, TopicTable};
use crate::config::BrokerConfig;
use identity::{cluster_id, ensure_offsets_topic};

/// How often a started shard checks whether the others are ready.
const STARTUP_POLL_INTERVAL: Duration = Duration::from_millis(2);

/// Runs the broker until a signal stops it.
pub fn run(config: BrokerConfig) -> Result<(), BrokerError> {
    malloc::keep_large_buffers();
    let config = Arc::new(config);
    std::fs::create_dir_all(&config.log_dir).map_err(|source| BrokerError::File {
        op: "creating log.dirs",
        path: config.log_dir.clone(),
        source,
    })?;
    let listener = config
        .listeners
        .first()
        .ok_or_else(|| BrokerError::Config("no listener configured".into()))?
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
    // A cluster member takes its topics and cluster id from ZooKeeper
    // (shard 0's agent, below); the embedded node from its log directory.
    let clustered = config.cluster.is_clustered();
    let (table, cluster_id) = if clustered {
        if config.broker_id < 0 {
            return Err(BrokerError::Config(
                "broker.id must be set (0 or more) on a cluster member".into(),
            ));
        }
        (TopicTable::default(), String::new())
    } else {
        let table = ensure_offsets_topic(
            &config,
            TopicStore::load(&config.log_dir).map_err(BrokerError::Topics)?,
        )?;
        (table, cluster_id(&config)?)
    };

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
            let state =
                match ShardState::new(ctx.clone(), config, table.clone(), advertised, cluster_id) {
                    Ok(state) => {
                        let state = Rc::new(state);
                        ShardState::remember_self(&state);
                        state
                    }
                    Err(error) => {
                        tracing::error!(%shard_id, %error, "shard failed to start");
                        fail(&shutdown);
                        return;
                    }
                };
            // A cluster member's control plane needs shard 0's agent, which
            // publishes its first view through this shard's own handler: the
            // handler goes first, the agent fills its slot after.
            let agent_slot: AgentSlot = Rc::new(std::cell::OnceCell::new());
            match Backend::new(state.clone(), clustered.then(|| agent_slot.clone())) {
                Ok(backend) => ctx.register_handler(backend),
                Err(error) => {
                    tracing::error!(%shard_id, %error, "shard failed to start");
                    fail(&shutdown);
                    return;
                }
            }
            let agent = if clustered && shard_id == sluice_shards::ShardId::CONTROL {
                match cluster::start_agent(&state).await {
                    Ok(agent) => {
                        let _ = agent_slot.set(agent.clone());
                        Some(agent)
                    }
                    Err(error) => {
                        tracing::error!(%shard_id, %error, "joining the cluster");
                        fail(&shutdown);
                        return;
                    }
                }
            } else {
                None
            };
            if !clustered {
                if let Err(error) = state.open_partitions().await {
                    tracing::error!(%shard_id, %error, "opening partitions");
                    fail(&shutdown);
                    return;
                }
                // Groups are read back before this shard listens (in a
                // cluster, as each view says which partitions it leads).
                state.groups().load(&state.offsets_log()).await;
            }
            // No shard listens before every shard has opened its partitions
            // and groups: a request routed to a shard still opening would
            // get NOT_LEADER_OR_FOLLOWER.
            ready.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            while ready.load(std::sync::atomic::Ordering::SeqCst)
                < state.context().shard_count().get()
            {
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
            let ticker = glommio::spawn_local(periodic::tick_loop(state.clone()));
            let retention = glommio::spawn_local(periodic::retention_loop(state.clone()));
            let cleaner = glommio::spawn_local(periodic::cleaner_loop(state.clone()));
            let isr = glommio::spawn_local(periodic::isr_loop(state.clone()));
            let groups = glommio::spawn_local(periodic::group_loop(state.clone()));
            let following =
                agent.map(|agent| glommio::spawn_local(cluster::run_agent(agent, state.clone())));
            crate::server::listen(state.clone(), listener).await;
            ticker.await;
            retention.await;
            cleaner.await;
            isr.await;
            groups.await;
            if let Some(following) = following {
                following.await;
            }
            state.partitions().close_all().await;
            tracing::info!(%shard_id, "shard stopped");
        }
    })?;

    let shutdown = runtime.shutdown_signal();
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
    ])
    .map_err(BrokerError::Signals)?;
    let handle = signals.handle();
    std::thread::spawn(move || {
        if let Some(signal) = signals.forever().next() {
            tracing::info!(signal, "shutting down");
            shutdown.request();
        }
    });
    let result = runtime.join();
    handle.close();
    result?;
    if start_failed.load(std::sync::atomic::Ordering::SeqCst) {
        return Err(BrokerError::StartFailed);
    }
    Ok(())
}

/// A port of 0 asks for a free one; every shard must bind the same port, so
/// pick it once here.
///
/// The shards bind with SO_REUSEPORT, so a second broker started on the
/// same port by the same user shares it instead of failing (a known gap: a
/// check for an existing listener raced with restarts after kill -9 in the
/// crash test and was taken out).
fn resolve_port(host: &str, port: u16) -> Result<u16, BrokerError> {
    if port != 0 {
        return Ok(port);
    }
    let addr = format!("{}:0", bracket(host))
        .to_socket_addrs()
        .map_err(|e| BrokerError::Config(format!("resolving {host}: {e}")))?
        .next()
        .ok_or_else(|| BrokerError::Config(format!("no address for {host}")))?;
    let probe = std::net::TcpListener::bind(addr)
        .map_err(|e| BrokerError::Config(format!("binding {addr}: {e}")))?;
    probe
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| BrokerError::Config(format!("binding {addr}: {e}")))
}

fn bracket(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}
