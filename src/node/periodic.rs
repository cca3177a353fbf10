//! A shard's periodic work: the partition tick (lingering writes, flush
//! intervals, segment rolls), group timers, and retention.

use std::rc::Rc;
use std::time::Duration;

use crate::broker::shard::ShardState;
use crate::coordinator::GROUP_TICK_INTERVAL;
use crate::partition::manager::TICK_INTERVAL;

pub(super) async fn tick_loop(state: Rc<ShardState>) {
    let shutdown = state.context().shutdown_signal();
    while !shutdown.is_requested() {
        glommio::timer::sleep(TICK_INTERVAL).await;
        state.partitions().tick().await;
    }
}

/// Group timers: sessions, join and sync deadlines, offset expiry.
pub(super) async fn group_loop(state: Rc<ShardState>) {
    let shutdown = state.context().shutdown_signal();
    while !shutdown.is_requested() {
        let sleep = glommio::timer::sleep(GROUP_TICK_INTERVAL);
        if let futures::future::Either::Right(_) =
            futures::future::select(Box::pin(sleep), Box::pin(shutdown.requested())).await
        {
            break;
        }
        state.groups().tick(&state.offsets_log()).await;
    }
    // Connections drain by finishing their current request: a JoinGroup
    // waiting for a rebalance must be answered now, not after its timeout.
    state.groups().release_waiters();
}

pub(super) async fn retention_loop(state: Rc<ShardState>) {
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
            .partitions()
            .apply_retention(&state.topics(), crate::clock::now_ms())
            .await;
    }
}

/// The shard's log cleaner: cleans the dirtiest due compacted partition
/// it owns, again at once while any is due, else after
/// `log.cleaner.backoff.ms`; stops at shutdown between two batches.
pub(super) async fn cleaner_loop(state: Rc<ShardState>) {
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
                .partitions()
                .clean_dirtiest(
                    &state.topics(),
                    crate::clock::now_ms(),
                    &cleaner,
                    &mut pacer,
                )
                .await
        {}
    }
}

/// How often leaders look for followers that stopped keeping up.
const ISR_CHECK_INTERVAL: Duration = Duration::from_millis(500);

/// Leaders drop followers that have not caught up for
/// `replica.lag.time.max.ms` from the ISR (cluster mode).
pub(super) async fn isr_loop(state: Rc<ShardState>) {
    if !state.is_clustered() {
        return;
    }
    let lag_max_ms = state.config().cluster.replica_lag_time_max_ms as i64;
    let interval = ISR_CHECK_INTERVAL.min(Duration::from_millis((lag_max_ms / 2).max(10) as u64));
    let shutdown = state.context().shutdown_signal();
    loop {
        let sleep = glommio::timer::sleep(interval);
        if let futures::future::Either::Right(_) =
            futures::future::select(Box::pin(sleep), Box::pin(shutdown.requested())).await
        {
            state.stop_fetchers();
            return;
        }
        let now = crate::clock::now_ms();
        for partition in state.partitions().owned() {
            if let Some(isr) = partition.lagging_isr(now, lag_max_ms) {
                let tp =
                    crate::cluster::TopicPartition::new(partition.topic.clone(), partition.index);
                tracing::info!(partition = %tp, ?isr, "shrinking the ISR: a follower fell behind");
                crate::broker::backend::propose_isr(&state, &tp, &partition, isr);
            }
        }
    }
}
