//! The listener and connection loop of one shard.
//!
//! Every shard listens on the same port (SO_REUSEPORT), so the kernel
//! spreads connections over the shards. A connection is served entirely on
//! the shard that accepted it: one request at a time, in order, as Kafka
//! does (a client pipelines; responses go back in request order).

pub mod budget;
pub mod connection;

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use futures::future::Either;
use glommio::net::TcpListener;

use crate::broker::shard::ShardState;
use budget::RequestBudget;

/// Accepts connections until shutdown; each gets its own task.
pub async fn listen(shard: Rc<ShardState>, listener: TcpListener) {
    let shutdown = shard.context().shutdown_signal();
    let active = Rc::new(Cell::new(0usize));
    let budget = Rc::new(RequestBudget::new(
        shard.config().request_bytes_in_flight_max_per_shard(),
    ));
    loop {
        let accepted =
            futures::future::select(Box::pin(listener.accept()), Box::pin(shutdown.requested()))
                .await;
        match accepted {
            Either::Left((Ok(stream), _)) => {
                let shard = shard.clone();
                let budget = budget.clone();
                let active = active.clone();
                active.set(active.get() + 1);
                glommio::spawn_local(async move {
                    connection::serve(shard, budget, stream).await;
                    active.set(active.get() - 1);
                })
                .detach();
            }
            Either::Left((Err(error), _)) => {
                tracing::warn!(%error, "accept failed");
                glommio::timer::sleep(Duration::from_millis(10)).await;
            }
            Either::Right(_) => break,
        }
    }
    drop(listener);
    // Let in-flight requests finish: a connection stops after its current
    // request once shutdown is requested.
    let deadline = std::time::Instant::now() + SHUTDOWN_DRAIN_MAX;
    while active.get() > 0 && std::time::Instant::now() < deadline {
        glommio::timer::sleep(Duration::from_millis(5)).await;
    }
}

/// The longest shutdown waits for in-flight requests (a long-polling fetch
/// is cut short by shutdown itself).
const SHUTDOWN_DRAIN_MAX: Duration = Duration::from_secs(30);
