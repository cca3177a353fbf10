//! `block.scheduler` and `block.nr_requests`: the I/O scheduler and request
//! queue size of the disk holding the log directory.
//!
//! The disk is found the way `lsblk` does: the log directory's `st_dev`
//! names `/sys/dev/block/MAJ:MIN`, a link into the device tree; a partition
//! (a directory with a `partition` file) is walked up to its disk, whose
//! `queue/` holds the knobs.

use std::path::Path;

use crate::finding::{Finding, Fix, Severity};
use crate::host::Host;
use crate::parse;

pub const SCHEDULER: &str = "block.scheduler";
pub const NR_REQUESTS: &str = "block.nr_requests";

const SCHEDULER_WHY: &str = "Sluice writes whole blocks with O_DIRECT and already orders and \
    batches its I/O per partition (group commit); NVMe and virtio devices have deep hardware \
    queues (or a host) that schedule better, so a kernel scheduler only adds a lock and \
    latency per request. `none` for NVMe, virtio and SSDs; mq-deadline for spinning disks.";
const NR_REQUESTS_WHY: &str = "Each shard keeps many O_DIRECT reads and writes in flight through \
    io_uring; a short request queue makes them wait in the kernel instead of in the device.";
/// Requests the block layer queues per hardware queue; each shard's ring
/// holds 128 entries by default, so two shards can fill 256.
const NR_REQUESTS_RECOMMENDED: u64 = 256;
/// Below this the queue throttles a single shard's ring.
const NR_REQUESTS_WARN_BELOW: u64 = 64;

/// The disk under a log directory, resolved through sysfs.
#[derive(Debug, PartialEq, Eq)]
pub struct Disk {
    /// `nvme0n1`, `vda`, `sda`.
    pub name: String,
    /// The disk's sysfs directory (host path).
    pub sys_path: String,
}

/// Both block findings for the disk holding `log_dir`.
pub fn check(host: &Host, log_dir: Option<&Path>) -> Vec<Finding> {
    let Some(log_dir) = log_dir else {
        return unavailable("no --log-dir given: pass the broker's log directory");
    };
    let metadata = match std::fs::metadata(log_dir) {
        Ok(metadata) => metadata,
        Err(error) => return unavailable(&format!("{}: {error}", log_dir.display())),
    };
    let device = std::os::unix::fs::MetadataExt::dev(&metadata);
    let (major, minor) = (libc::major(device), libc::minor(device));
    match disk_of(host, major, minor) {
        Ok(disk) => check_disk(host, &disk),
        Err(reason) => unavailable(&format!("{}: {reason}", log_dir.display())),
    }
}

fn unavailable(reason: &str) -> Vec<Finding> {
    vec![
        Finding::unavailable(SCHEDULER, "none", reason),
        Finding::unavailable(NR_REQUESTS, &format!("≥ {NR_REQUESTS_RECOMMENDED}"), reason),
    ]
}

/// The disk for device number `major:minor`, walking up from a partition.
pub fn disk_of(host: &Host, major: u32, minor: u32) -> Result<Disk, String> {
    if major == 0 {
        return Err(format!(
            "on device 0:{minor}, a filesystem without a block device of its own \
             (tmpfs, overlayfs, a btrfs subvolume)"
        ));
    }
    let link = format!("/sys/dev/block/{major}:{minor}");
    let mut sys_path = host
        .resolve(&link)
        .ok_or_else(|| format!("{link} does not exist"))?;
    if host.path(&format!("{sys_path}/partition")).exists() {
        sys_path = sys_path
            .rsplit_once('/')
            .map(|(parent, _)| parent.to_string())
            .ok_or_else(|| format!("partition {sys_path} has no parent disk"))?;
    }
    let name = sys_path
        .rsplit('/')
        .next()
        .filter(|name| !name.is_empty())
        .ok_or_else(|| format!("{link} resolves to {sys_path}, not a disk"))?
        .to_string();
    Ok(Disk { name, sys_path })
}

/// The scheduler and nr_requests findings for `disk`.
pub fn check_disk(host: &Host, disk: &Disk) -> Vec<Finding> {
    let solid_state = is_solid_state(host, disk);
    vec![scheduler(host, disk, solid_state), nr_requests(host, disk)]
}

/// NVMe and virtio disks count as solid state whatever `rotational` says
/// (virtio reports 1 by default; the host decides).
fn is_solid_state(host: &Host, disk: &Disk) -> bool {
    if disk.name.starts_with("nvme") || disk.name.starts_with("vd") {
        return true;
    }
    host.read(&format!("{}/queue/rotational", disk.sys_path))
        .ok()
        .flatten()
        .is_some_and(|rotational| rotational == "0")
}

fn scheduler(host: &Host, disk: &Disk, solid_state: bool) -> Finding {
    let recommended = if solid_state { "none" } else { "mq-deadline" };
    let path = format!("{}/queue/scheduler", disk.sys_path);
    let text = match host.read_present(&path) {
        Ok(text) => text,
        Err(reason) => return Finding::unavailable(SCHEDULER, recommended, &reason),
    };
    let Some(current) = parse::selected_choice(&text) else {
        return Finding::unavailable(SCHEDULER, recommended, &format!("{path}: {text:?}"));
    };
    let severity = decide_scheduler(current, solid_state);
    let mut finding = Finding::new(
        SCHEDULER,
        format!("{}: {current}", disk.name),
        recommended,
        severity,
        SCHEDULER_WHY,
    );
    if severity > Severity::Ok && parse::choices(&text).contains(&recommended) {
        finding = finding.with_fixes(vec![Fix {
            path,
            previous: current.to_string(),
            value: recommended.to_string(),
        }]);
    }
    finding
}

/// Solid state: anything but `none` is WARN. Spinning disks: `none` is INFO
/// (no merging or ordering of seeks), a scheduler is OK.
fn decide_scheduler(current: &str, solid_state: bool) -> Severity {
    match (solid_state, current) {
        (true, "none") => Severity::Ok,
        (true, _) => Severity::Warn,
        (false, "none") => Severity::Info,
        (false, _) => Severity::Ok,
    }
}

fn nr_requests(host: &Host, disk: &Disk) -> Finding {
    let recommended = format!("≥ {NR_REQUESTS_RECOMMENDED}");
    let path = format!("{}/queue/nr_requests", disk.sys_path);
    let current = match host.read_present(&path) {
        Ok(text) => match text.parse::<u64>() {
            Ok(value) => value,
            Err(_) => {
                return Finding::unavailable(
                    NR_REQUESTS,
                    &recommended,
                    &format!("{path}: {text:?}"),
                )
            }
        },
        Err(reason) => return Finding::unavailable(NR_REQUESTS, &recommended, &reason),
    };
    let severity = decide_nr_requests(current);
    let mut finding = Finding::new(
        NR_REQUESTS,
        format!("{}: {current}", disk.name),
        recommended,
        severity,
        NR_REQUESTS_WHY,
    );
    if severity > Severity::Ok {
        finding = finding.with_fixes(vec![Fix {
            path,
            previous: current.to_string(),
            value: NR_REQUESTS_RECOMMENDED.to_string(),
        }]);
    }
    finding
}

fn decide_nr_requests(current: u64) -> Severity {
    if current < NR_REQUESTS_WARN_BELOW {
        Severity::Warn
    } else if current < NR_REQUESTS_RECOMMENDED {
        Severity::Info
    } else {
        Severity::Ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheduler_severity_depends_on_the_medium() {
        assert_eq!(decide_scheduler("none", true), Severity::Ok);
        assert_eq!(decide_scheduler("mq-deadline", true), Severity::Warn);
        assert_eq!(decide_scheduler("bfq", true), Severity::Warn);
        assert_eq!(decide_scheduler("mq-deadline", false), Severity::Ok);
        assert_eq!(decide_scheduler("none", false), Severity::Info);
    }

    #[test]
    fn short_request_queues_warn() {
        assert_eq!(decide_nr_requests(32), Severity::Warn);
        assert_eq!(decide_nr_requests(128), Severity::Info);
        assert_eq!(decide_nr_requests(256), Severity::Ok);
        assert_eq!(decide_nr_requests(1023), Severity::Ok);
    }
}
