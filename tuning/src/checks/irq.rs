//! `irq.affinity` and `irq.irqbalance`: where the interrupts of the NIC's
//! and the disks' queues are handled.

use std::collections::BTreeMap;

use crate::finding::{Finding, Fix, Severity};
use crate::host::Host;
use crate::parse;

pub const AFFINITY: &str = "irq.affinity";
pub const IRQBALANCE: &str = "irq.irqbalance";

const AFFINITY_RECOMMENDED: &str = "queue interrupts spread over the cores";
const AFFINITY_WHY: &str = "Every shard sends and receives on its own connections and writes its \
    own partitions; when all queue interrupts of the NIC or the NVMe device land on one CPU, \
    that CPU's shard also does every other shard's interrupt and softirq work and becomes the \
    bottleneck.";
const IRQBALANCE_RECOMMENDED: &str = "not running once queue interrupts are pinned";
const IRQBALANCE_WHY: &str = "irqbalance moves interrupts as load shifts; harmless when it \
    spreads them, but it undoes a pinned spread (tune --apply's). Stop it \
    (`systemctl disable --now irqbalance`) or ban the broker's cores \
    (IRQBALANCE_BANNED_CPULIST) when you pin by hand; --apply does not stop services.";

/// A device whose queue interrupts are checked, and those interrupts.
#[derive(Debug)]
struct QueueDevice {
    name: String,
    irqs: Vec<u32>,
}

pub fn affinity(host: &Host) -> Finding {
    let names = host
        .read("/proc/interrupts")
        .ok()
        .flatten()
        .map(|text| parse::interrupt_names(&text))
        .unwrap_or_default();
    let devices = queue_devices(host, &names);
    if devices.is_empty() {
        return Finding::unavailable(
            AFFINITY,
            AFFINITY_RECOMMENDED,
            "no NIC, NVMe or virtio disk with MSI interrupts found under /sys",
        );
    }
    let online = host.online_cpus();
    let mut severity = Severity::Ok;
    let mut current = Vec::new();
    let mut fixes = Vec::new();
    for device in &devices {
        let mut handled_on: Vec<u32> = Vec::new();
        for irq in &device.irqs {
            handled_on.extend(effective_cpus(host, *irq));
        }
        handled_on.sort_unstable();
        handled_on.dedup();
        let device_severity = decide(device.irqs.len(), handled_on.len(), online.len());
        current.push(format!(
            "{}: {} queue irq{} on CPU{} {}",
            device.name,
            device.irqs.len(),
            if device.irqs.len() == 1 { "" } else { "s" },
            if handled_on.len() == 1 { "" } else { "s" },
            parse::format_cpu_list(&handled_on)
        ));
        if device_severity > Severity::Ok {
            fixes.extend(spread(host, &device.irqs, &online));
        }
        severity = severity.max(device_severity);
    }
    Finding::new(
        AFFINITY,
        current.join("; "),
        AFFINITY_RECOMMENDED,
        severity,
        AFFINITY_WHY,
    )
    .with_fixes(fixes)
}

/// WARN when a device has several queues and several CPUs to use but all
/// its interrupts are handled on one CPU.
fn decide(queue_irqs: usize, cpus_handling: usize, cpus_online: usize) -> Severity {
    if queue_irqs >= 2 && cpus_online >= 2 && cpus_handling <= 1 {
        Severity::Warn
    } else {
        Severity::Ok
    }
}

/// Round-robin: queue `i` to the `i`-th online CPU.
fn spread(host: &Host, irqs: &[u32], online: &[u32]) -> Vec<Fix> {
    irqs.iter()
        .zip(online.iter().cycle())
        .filter_map(|(irq, cpu)| {
            let path = format!("/proc/irq/{irq}/smp_affinity_list");
            let previous = host.read(&path).ok().flatten()?;
            let value = cpu.to_string();
            (previous != value).then_some(Fix {
                path,
                previous,
                value,
            })
        })
        .collect()
}

/// The CPUs that actually handle `irq` (effective affinity where the kernel
/// reports it, else the allowed set).
fn effective_cpus(host: &Host, irq: u32) -> Vec<u32> {
    ["effective_affinity_list", "smp_affinity_list"]
        .iter()
        .find_map(|file| host.read(&format!("/proc/irq/{irq}/{file}")).ok().flatten())
        .and_then(|text| parse::cpu_list(&text).ok())
        .unwrap_or_default()
}

/// Physical NICs (`/sys/class/net/*` with a device) and NVMe and virtio
/// disks, with their MSI queue interrupts (config/admin vectors left out).
fn queue_devices(host: &Host, names: &BTreeMap<u32, String>) -> Vec<QueueDevice> {
    let mut devices = Vec::new();
    let mut seen_paths: Vec<String> = Vec::new();
    let nics = host
        .list("/sys/class/net")
        .into_iter()
        .map(|nic| (nic.clone(), format!("/sys/class/net/{nic}/device")));
    let disks = host
        .list("/sys/block")
        .into_iter()
        .filter(|disk| disk.starts_with("nvme") || disk.starts_with("vd"))
        .map(|disk| (disk.clone(), format!("/sys/block/{disk}/device")));
    for (name, device_link) in nics.chain(disks) {
        let Some(device) = host.resolve(&device_link) else {
            continue;
        };
        let Some(msi_dir) = msi_irqs_dir(host, &device) else {
            continue;
        };
        if seen_paths.contains(&msi_dir) {
            continue; // several namespaces of one NVMe controller
        }
        let irqs: Vec<u32> = host
            .list(&msi_dir)
            .iter()
            .filter_map(|irq| irq.parse().ok())
            .filter(|irq| names.get(irq).is_none_or(|name| is_queue_irq(name)))
            .collect();
        seen_paths.push(msi_dir);
        if !irqs.is_empty() {
            devices.push(QueueDevice { name, irqs });
        }
    }
    devices
}

/// The `msi_irqs` directory of a device or of the PCI function above it (a
/// virtio device or an NVMe controller sits one or two levels below).
fn msi_irqs_dir(host: &Host, device: &str) -> Option<String> {
    let mut path = device.to_string();
    for _ in 0..3 {
        for candidate in [
            format!("{path}/msi_irqs"),
            format!("{path}/device/msi_irqs"),
        ] {
            if host.path(&candidate).is_dir() {
                return host.resolve(&candidate);
            }
        }
        path = path.rsplit_once('/')?.0.to_string();
        if path.is_empty() {
            return None;
        }
    }
    None
}

/// Data-path vectors only: virtio's `-config` and NVMe's admin queue `q0`
/// carry no I/O.
fn is_queue_irq(name: &str) -> bool {
    let nvme_admin = name.starts_with("nvme") && name.ends_with("q0");
    !(nvme_admin || name.ends_with("-config"))
}

pub fn irqbalance(host: &Host) -> Finding {
    let pids: Vec<String> = host
        .list("/proc")
        .into_iter()
        .filter(|entry| entry.bytes().all(|b| b.is_ascii_digit()))
        .collect();
    if pids.is_empty() {
        return Finding::unavailable(IRQBALANCE, IRQBALANCE_RECOMMENDED, "no processes in /proc");
    }
    let running = pids.into_iter().find(|pid| {
        host.read(&format!("/proc/{pid}/comm"))
            .ok()
            .flatten()
            .is_some_and(|comm| comm == "irqbalance")
    });
    let (current, severity) = match running {
        Some(pid) => (format!("running (pid {pid})"), Severity::Info),
        None => ("not running".to_string(), Severity::Ok),
    };
    Finding::new(
        IRQBALANCE,
        current,
        IRQBALANCE_RECOMMENDED,
        severity,
        IRQBALANCE_WHY,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_queues_on_one_cpu_warns_only_with_cpus_to_spare() {
        assert_eq!(decide(4, 1, 8), Severity::Warn);
        assert_eq!(decide(4, 4, 8), Severity::Ok);
        assert_eq!(decide(1, 1, 8), Severity::Ok);
        assert_eq!(decide(4, 1, 1), Severity::Ok);
    }

    #[test]
    fn config_and_admin_vectors_are_not_queues() {
        assert!(is_queue_irq("virtio1-req.0"));
        assert!(is_queue_irq("nvme0q1"));
        assert!(is_queue_irq("eth0-TxRx-3"));
        assert!(!is_queue_irq("virtio2-config"));
        assert!(!is_queue_irq("nvme0q0"));
    }
}
