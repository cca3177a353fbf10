//! Helpers shared by the runtime's behaviour tests.

#![allow(dead_code)] // each test file uses a different subset

use std::sync::mpsc;
use std::time::Duration;

use sluice_shards::{Runtime, RuntimeConfig, RuntimeError};

/// How long a test waits for a runtime to end before calling it hung. Only
/// a guard against hanging CI: no test asserts on how long anything takes.
pub(crate) const HANG_GUARD: Duration = Duration::from_secs(120);

/// A small unpinned runtime configuration for tests.
pub(crate) fn config(shards: usize) -> RuntimeConfig {
    RuntimeConfig {
        io_memory_bytes: 256 << 10,
        name: "test-shard".to_string(),
        ..RuntimeConfig::new(shards)
    }
}

/// Whether this machine has at least `cores` CPUs to pin shards to.
pub(crate) fn has_cores(cores: usize) -> bool {
    std::thread::available_parallelism().is_ok_and(|n| n.get() >= cores)
}

/// Joins `runtime`, failing the test (instead of hanging it) if the shards
/// have not all ended within [`HANG_GUARD`].
pub(crate) fn join<Req, Resp>(runtime: Runtime<Req, Resp>) -> Result<(), RuntimeError>
where
    Req: 'static,
    Resp: 'static,
{
    let (done, result) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(runtime.join());
    });
    result
        .recv_timeout(HANG_GUARD)
        .expect("the runtime hung: not every shard ended")
}

/// Waits on a shard until `condition` holds, checking every millisecond.
/// For waiting on other shards' progress; the hang guard bounds it.
pub(crate) async fn wait_until(condition: impl Fn() -> bool) {
    while !condition() {
        glommio::timer::sleep(Duration::from_millis(1)).await;
    }
}
