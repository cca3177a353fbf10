//! Memory knobs: `mm.transparent_hugepage`, `vm.swappiness` and
//! `rlimit.memlock` (the locked memory io_uring buffers need).

use crate::finding::{Finding, Fix, Severity};
use crate::host::Host;
use crate::parse::{self, Limit};

pub const TRANSPARENT_HUGEPAGE: &str = "mm.transparent_hugepage";
pub const SWAPPINESS: &str = "vm.swappiness";
pub const MEMLOCK: &str = "rlimit.memlock";

const THP_PATH: &str = "/sys/kernel/mm/transparent_hugepage/enabled";
const THP_WHY: &str = "With `always` the kernel backs any large anonymous mapping with huge \
    pages and khugepaged compacts memory to make them, stalling a shard for milliseconds at \
    random; `madvise` leaves huge pages to code that asks for them.";

const SWAPPINESS_PATH: &str = "/proc/sys/vm/swappiness";
const SWAPPINESS_RECOMMENDED: u64 = 1;
/// Above this the kernel swaps out idle broker memory (indexes, producer
/// state) while keeping page cache.
const SWAPPINESS_WARN_ABOVE: u64 = 10;
const SWAPPINESS_WHY: &str = "A shard that touches swapped-out memory stops for a disk read; \
    with 1 the kernel swaps only to avoid running out of memory (Kafka's advice too).";

const MEMLOCK_WHY: &str = "Each shard registers a buffer (1 MiB by default, \
    sluice-shards' IO_MEMORY_BYTES_DEFAULT) with io_uring as locked memory; glommio refuses \
    to start below 512 KiB, and when registration fails it falls back to slower unregistered \
    buffers. This is the limit of the process running the check: set the broker's own with \
    LimitMEMLOCK=infinity in its systemd unit or in /etc/security/limits.d (--apply cannot).";
/// glommio's reactor refuses to start below this (`MIN_MEMLOCK_LIMIT`).
const MEMLOCK_GLOMMIO_MIN_BYTES: u64 = 512 << 10;
/// What each shard locks by default: its registered io_uring buffer.
const MEMLOCK_PER_SHARD_BYTES: u64 = 1 << 20;
/// Room for shards configured with more io memory than the default.
const MEMLOCK_COMFORTABLE_BYTES: u64 = 64 << 20;

pub fn transparent_hugepages(host: &Host) -> Finding {
    let recommended = "madvise";
    let text = match host.read_present(THP_PATH) {
        Ok(text) => text,
        Err(reason) => return Finding::unavailable(TRANSPARENT_HUGEPAGE, recommended, &reason),
    };
    let Some(current) = parse::selected_choice(&text) else {
        return Finding::unavailable(TRANSPARENT_HUGEPAGE, recommended, &format!("{text:?}"));
    };
    let severity = decide_thp(current);
    let mut finding = Finding::new(
        TRANSPARENT_HUGEPAGE,
        current,
        "madvise (or never)",
        severity,
        THP_WHY,
    );
    if severity > Severity::Ok {
        finding = finding.with_fixes(vec![Fix {
            path: THP_PATH.to_string(),
            previous: current.to_string(),
            value: recommended.to_string(),
        }]);
    }
    finding
}

fn decide_thp(current: &str) -> Severity {
    if current == "always" {
        Severity::Warn
    } else {
        Severity::Ok
    }
}

pub fn swappiness(host: &Host) -> Finding {
    let recommended = SWAPPINESS_RECOMMENDED.to_string();
    let current = match host.read_present(SWAPPINESS_PATH) {
        Ok(text) => match text.parse::<u64>() {
            Ok(value) => value,
            Err(_) => return Finding::unavailable(SWAPPINESS, &recommended, &format!("{text:?}")),
        },
        Err(reason) => return Finding::unavailable(SWAPPINESS, &recommended, &reason),
    };
    let swap = host
        .read("/proc/swaps")
        .ok()
        .flatten()
        .is_some_and(|swaps| parse::swap_configured(&swaps));
    let severity = decide_swappiness(current, swap);
    let why = if swap {
        SWAPPINESS_WHY.to_string()
    } else {
        format!("No swap is configured, so the value has no effect now. {SWAPPINESS_WHY}")
    };
    let mut finding = Finding::new(
        SWAPPINESS,
        current.to_string(),
        recommended.clone(),
        severity,
        why,
    );
    if severity > Severity::Ok {
        finding = finding.with_fixes(vec![Fix {
            path: SWAPPINESS_PATH.to_string(),
            previous: current.to_string(),
            value: recommended,
        }]);
    }
    finding
}

fn decide_swappiness(current: u64, swap_configured: bool) -> Severity {
    if !swap_configured || current <= SWAPPINESS_WARN_ABOVE {
        Severity::Ok
    } else {
        Severity::Warn
    }
}

pub fn memlock(host: &Host) -> Finding {
    let recommended = "unlimited";
    let limits = match host.read_present("/proc/self/limits") {
        Ok(limits) => limits,
        Err(reason) => return Finding::unavailable(MEMLOCK, recommended, &reason),
    };
    let Some(limit) = parse::memlock_soft_limit(&limits) else {
        return Finding::unavailable(
            MEMLOCK,
            recommended,
            "no `Max locked memory` row in /proc/self/limits",
        );
    };
    let shards = host.online_cpus().len() as u64;
    Finding::new(
        MEMLOCK,
        limit.to_string(),
        recommended,
        decide_memlock(limit, shards),
        MEMLOCK_WHY,
    )
}

/// FATAL below glommio's minimum; WARN when one shard per CPU cannot
/// register its default buffer; INFO when that fits but little more.
fn decide_memlock(limit: Limit, shards: u64) -> Severity {
    let Limit::Bytes(bytes) = limit else {
        return Severity::Ok;
    };
    if bytes < MEMLOCK_GLOMMIO_MIN_BYTES {
        Severity::Fatal
    } else if bytes < shards * MEMLOCK_PER_SHARD_BYTES + MEMLOCK_GLOMMIO_MIN_BYTES {
        Severity::Warn
    } else if bytes < MEMLOCK_COMFORTABLE_BYTES {
        Severity::Info
    } else {
        Severity::Ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thp_always_warns() {
        assert_eq!(decide_thp("always"), Severity::Warn);
        assert_eq!(decide_thp("madvise"), Severity::Ok);
        assert_eq!(decide_thp("never"), Severity::Ok);
    }

    #[test]
    fn swappiness_matters_only_with_swap() {
        assert_eq!(decide_swappiness(60, true), Severity::Warn);
        assert_eq!(decide_swappiness(60, false), Severity::Ok);
        assert_eq!(decide_swappiness(1, true), Severity::Ok);
        assert_eq!(decide_swappiness(10, true), Severity::Ok);
    }

    #[test]
    fn memlock_below_glommio_minimum_is_fatal() {
        assert_eq!(decide_memlock(Limit::Bytes(64 << 10), 2), Severity::Fatal);
        assert_eq!(decide_memlock(Limit::Bytes(1 << 20), 2), Severity::Warn);
        assert_eq!(decide_memlock(Limit::Bytes(8 << 20), 2), Severity::Info);
        assert_eq!(decide_memlock(Limit::Bytes(8 << 20), 16), Severity::Warn);
        assert_eq!(decide_memlock(Limit::Bytes(64 << 20), 16), Severity::Ok);
        assert_eq!(decide_memlock(Limit::Unlimited, 64), Severity::Ok);
    }
}
