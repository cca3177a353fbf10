//! The checks, `apply` and `revert` over a fake `/proc` and `/sys` tree in a
//! temporary directory: what a badly tuned host reports, what applying
//! writes, and that reverting restores every original value.

use std::path::Path;

use sluice_tuning::checks::block;
use sluice_tuning::{apply, check_all, Finding, Host, RevertState, Severity};

fn put(root: &Path, path: &str, contents: &str) {
    let full = root.join(path.trim_start_matches('/'));
    std::fs::create_dir_all(full.parent().unwrap()).unwrap();
    std::fs::write(full, contents).unwrap();
}

fn link(root: &Path, path: &str, target: &str) {
    let full = root.join(path.trim_start_matches('/'));
    std::fs::create_dir_all(full.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(target, full).unwrap();
}

fn read(root: &Path, path: &str) -> String {
    std::fs::read_to_string(root.join(path.trim_start_matches('/'))).unwrap()
}

const NVME_PCI: &str = "/sys/devices/pci0000:00/0000:01:00.0";
const NIC_PCI: &str = "/sys/devices/pci0000:00/0000:02:00.0";

/// A 4-CPU host tuned for a laptop: powersave, THP always, swap with
/// swappiness 60, mq-deadline on NVMe, every queue interrupt on CPU 0,
/// small socket limits, hpet, a 64 KiB memlock limit.
fn badly_tuned_host(root: &Path) {
    put(root, "/sys/devices/system/cpu/online", "0-3\n");
    for cpu in 0..4 {
        let dir = format!("/sys/devices/system/cpu/cpu{cpu}/cpufreq");
        put(root, &format!("{dir}/scaling_governor"), "powersave\n");
        put(
            root,
            &format!("{dir}/scaling_available_governors"),
            "performance powersave\n",
        );
    }
    put(
        root,
        "/sys/devices/system/clocksource/clocksource0/current_clocksource",
        "hpet\n",
    );
    put(
        root,
        "/sys/devices/system/clocksource/clocksource0/available_clocksource",
        "tsc hpet acpi_pm\n",
    );

    // NVMe disk nvme0n1 with partition nvme0n1p1 (259:1), on PCI 01:00.0
    // with an admin queue (irq 40) and four I/O queues (41-44).
    let disk = format!("{NVME_PCI}/nvme/nvme0/nvme0n1");
    put(
        root,
        &format!("{disk}/queue/scheduler"),
        "none [mq-deadline] kyber\n",
    );
    put(root, &format!("{disk}/queue/nr_requests"), "32\n");
    put(root, &format!("{disk}/queue/rotational"), "0\n");
    put(root, &format!("{disk}/nvme0n1p1/partition"), "1\n");
    link(
        root,
        "/sys/dev/block/259:1",
        "../../devices/pci0000:00/0000:01:00.0/nvme/nvme0/nvme0n1/nvme0n1p1",
    );
    link(
        root,
        "/sys/block/nvme0n1",
        "../devices/pci0000:00/0000:01:00.0/nvme/nvme0/nvme0n1",
    );
    link(root, &format!("{disk}/device"), "..");
    link(root, &format!("{NVME_PCI}/nvme/nvme0/device"), "../..");
    // A NIC with two queues (irqs 50, 51).
    link(
        root,
        "/sys/class/net/eth0/device",
        "../../../devices/pci0000:00/0000:02:00.0",
    );
    put(root, "/sys/class/net/lo/type", "772\n");
    let mut interrupts = String::from("           CPU0       CPU1       CPU2       CPU3\n");
    for (irq, name, pci) in [
        (40, "nvme0q0", NVME_PCI),
        (41, "nvme0q1", NVME_PCI),
        (42, "nvme0q2", NVME_PCI),
        (43, "nvme0q3", NVME_PCI),
        (44, "nvme0q4", NVME_PCI),
        (50, "eth0-TxRx-0", NIC_PCI),
        (51, "eth0-TxRx-1", NIC_PCI),
    ] {
        put(root, &format!("{pci}/msi_irqs/{irq}"), "msix\n");
        put(root, &format!("/proc/irq/{irq}/smp_affinity_list"), "0\n");
        put(
            root,
            &format!("/proc/irq/{irq}/effective_affinity_list"),
            "0\n",
        );
        interrupts.push_str(&format!(
            " {irq}:  100  0  0  0  PCI-MSIX-0000  0-edge  {name}\n"
        ));
    }
    put(root, "/proc/interrupts", &interrupts);
    put(root, "/proc/321/comm", "irqbalance\n");
    put(root, "/proc/7/comm", "systemd\n");

    put(
        root,
        "/sys/kernel/mm/transparent_hugepage/enabled",
        "[always] madvise never\n",
    );
    put(root, "/proc/sys/vm/swappiness", "60\n");
    put(
        root,
        "/proc/swaps",
        "Filename Type Size Used Priority\n/dev/nvme0n1p2 partition 8388604 0 -2\n",
    );
    put(
        root,
        "/proc/self/limits",
        "Limit                     Soft Limit           Hard Limit           Units\n\
         Max locked memory         65536                65536                bytes\n",
    );
    put(root, "/proc/sys/kernel/io_uring_disabled", "0\n");
    put(root, "/proc/sys/fs/aio-max-nr", "65536\n");
    put(root, "/proc/sys/net/core/somaxconn", "128\n");
    put(root, "/proc/sys/net/core/rmem_max", "212992\n");
    put(root, "/proc/sys/net/core/wmem_max", "212992\n");
    put(
        root,
        "/proc/sys/net/ipv4/tcp_rmem",
        "4096\t131072\t6291456\n",
    );
    put(
        root,
        "/proc/sys/net/ipv4/tcp_wmem",
        "4096\t16384\t4194304\n",
    );
}

fn check(host: &Host) -> Vec<Finding> {
    let disk = block::disk_of(host, 259, 1).unwrap();
    let mut findings = check_all(host, None);
    findings.retain(|finding| !finding.knob.starts_with("block."));
    findings.extend(block::check_disk(host, &disk));
    findings
}

fn finding<'a>(findings: &'a [Finding], knob: &str) -> &'a Finding {
    findings
        .iter()
        .find(|finding| finding.knob == knob)
        .unwrap_or_else(|| panic!("no {knob} in {findings:#?}"))
}

#[test]
fn a_partition_is_walked_up_to_its_disk() {
    let root = tempfile::tempdir().unwrap();
    badly_tuned_host(root.path());
    let host = Host::new(root.path());
    let disk = block::disk_of(&host, 259, 1).unwrap();
    assert_eq!(disk.name, "nvme0n1");
    assert!(disk.sys_path.ends_with("/nvme/nvme0/nvme0n1"), "{disk:?}");
    assert!(block::disk_of(&host, 259, 9).is_err());
    assert!(block::disk_of(&host, 0, 42).is_err());
}

#[test]
fn a_badly_tuned_host_reports_each_problem() {
    let root = tempfile::tempdir().unwrap();
    badly_tuned_host(root.path());
    let host = Host::new(root.path());
    let findings = check(&host);
    let severity = |knob| finding(&findings, knob).severity;
    assert_eq!(severity("cpu.governor"), Severity::Warn);
    assert_eq!(finding(&findings, "cpu.governor").current, "powersave");
    assert_eq!(severity("clocksource"), Severity::Warn);
    assert_eq!(severity("irq.affinity"), Severity::Warn);
    assert_eq!(
        finding(&findings, "irq.affinity").current,
        "eth0: 2 queue irqs on CPU 0; nvme0n1: 4 queue irqs on CPU 0"
    );
    assert_eq!(
        finding(&findings, "irq.irqbalance").current,
        "running (pid 321)"
    );
    assert_eq!(
        finding(&findings, "block.scheduler").current,
        "nvme0n1: mq-deadline"
    );
    assert_eq!(severity("block.scheduler"), Severity::Warn);
    assert_eq!(severity("block.nr_requests"), Severity::Warn);
    assert_eq!(severity("mm.transparent_hugepage"), Severity::Warn);
    assert_eq!(severity("vm.swappiness"), Severity::Warn);
    assert_eq!(severity("rlimit.memlock"), Severity::Fatal);
    assert_eq!(severity("kernel.io_uring_disabled"), Severity::Ok);
    assert_eq!(severity("net.core.somaxconn"), Severity::Warn);
    assert_eq!(severity("net.ipv4.tcp_rmem"), Severity::Info);
    assert_eq!(severity("net.ipv4.tcp_wmem"), Severity::Info);
    assert_eq!(severity("fs.aio-max-nr"), Severity::Info);
}

#[test]
fn an_empty_host_reports_every_knob_as_not_available() {
    let root = tempfile::tempdir().unwrap();
    let host = Host::new(root.path());
    let findings = check_all(&host, None);
    assert!(findings.len() >= 16, "{findings:#?}");
    for finding in &findings {
        assert!(finding.severity <= Severity::Info, "{finding:#?}");
        assert!(finding.fixes.is_empty(), "{finding:#?}");
    }
    assert_eq!(
        finding(&findings, "vm.swappiness").current,
        "not available here"
    );
}

#[test]
fn apply_is_idempotent_and_revert_restores_every_value() {
    let root = tempfile::tempdir().unwrap();
    badly_tuned_host(root.path());
    let host = Host::new(root.path());
    let state_path = root.path().join("var/lib/sluice/tuning-revert.json");
    let before_tree: Vec<(String, String)> = [
        "/sys/devices/system/cpu/cpu2/cpufreq/scaling_governor",
        "/proc/sys/vm/swappiness",
        "/proc/sys/net/ipv4/tcp_wmem",
        "/proc/irq/42/smp_affinity_list",
        "/sys/kernel/mm/transparent_hugepage/enabled",
    ]
    .iter()
    .map(|path| (path.to_string(), read(root.path(), path)))
    .collect();

    let outcome = apply::apply(&host, &check(&host), &state_path).unwrap();
    assert!(outcome.failed.is_empty(), "{:?}", outcome.failed);
    assert_eq!(read(root.path(), "/proc/sys/vm/swappiness"), "1");
    assert_eq!(
        read(
            root.path(),
            "/sys/devices/system/cpu/cpu2/cpufreq/scaling_governor"
        ),
        "performance"
    );
    assert_eq!(
        read(root.path(), "/proc/sys/net/ipv4/tcp_wmem"),
        "4096 16384 16777216"
    );
    // Queues 1-4 round-robin over CPUs 0-3: queue 2 (irq 42) to CPU 1.
    assert_eq!(read(root.path(), "/proc/irq/42/smp_affinity_list"), "1");
    let state = RevertState::load(&state_path).unwrap();
    let recorded = state
        .changes
        .iter()
        .find(|change| change.path == "/proc/sys/vm/swappiness")
        .unwrap();
    assert_eq!(
        (recorded.previous.as_str(), recorded.value.as_str()),
        ("60", "1")
    );

    // The fake files do not change the way the kernel would (effective
    // affinity, the bracketed choice); write what the kernel would show.
    put(
        root.path(),
        "/sys/kernel/mm/transparent_hugepage/enabled",
        "always [madvise] never",
    );
    for irq in 41..=44 {
        let cpu = read(root.path(), &format!("/proc/irq/{irq}/smp_affinity_list"));
        put(
            root.path(),
            &format!("/proc/irq/{irq}/effective_affinity_list"),
            &cpu,
        );
    }
    for irq in 50..=51 {
        let cpu = read(root.path(), &format!("/proc/irq/{irq}/smp_affinity_list"));
        put(
            root.path(),
            &format!("/proc/irq/{irq}/effective_affinity_list"),
            &cpu,
        );
    }
    let again = apply::apply(&host, &check(&host), &state_path).unwrap();
    let thp_or_irq: Vec<_> = again
        .written
        .iter()
        .filter(|fix| fix.path.contains("transparent") || fix.path.starts_with("/proc/irq"))
        .collect();
    assert!(thp_or_irq.is_empty(), "{thp_or_irq:?}");
    // Whatever a second apply rewrites, the recorded original stays.
    let state = RevertState::load(&state_path).unwrap();
    assert!(state
        .changes
        .iter()
        .any(|change| change.path == "/proc/sys/vm/swappiness" && change.previous == "60"));

    let reverted = apply::revert(&host, &state_path).unwrap();
    assert!(reverted.failed.is_empty(), "{:?}", reverted.failed);
    for (path, before) in &before_tree {
        let now = read(root.path(), path);
        let expected = match path.as_str() {
            // Selection files take the bare value back.
            "/sys/kernel/mm/transparent_hugepage/enabled" => "always".to_string(),
            _ => before.trim().replace('\t', " "),
        };
        assert_eq!(now, expected, "{path}");
    }
    assert!(!state_path.exists(), "an emptied state file is removed");
    let nothing = apply::revert(&host, &state_path).unwrap();
    assert!(nothing.written.is_empty());
}

#[test]
fn a_refused_write_is_reported_and_not_recorded() {
    let root = tempfile::tempdir().unwrap();
    badly_tuned_host(root.path());
    let host = Host::new(root.path());
    let state_path = root.path().join("state.json");
    let findings = check(&host);
    // The kernel refuses some writes (managed NVMe interrupts, a value over
    // a device's limit); a directory in place of the file refuses it here.
    let swappiness = root.path().join("proc/sys/vm/swappiness");
    std::fs::remove_file(&swappiness).unwrap();
    std::fs::create_dir(&swappiness).unwrap();

    let outcome = apply::apply(&host, &findings, &state_path).unwrap();
    assert_eq!(outcome.failed.len(), 1, "{:?}", outcome.failed);
    assert_eq!(outcome.failed[0].0.path, "/proc/sys/vm/swappiness");
    assert!(!outcome.written.is_empty());
    let state = RevertState::load(&state_path).unwrap();
    assert!(state
        .changes
        .iter()
        .all(|change| change.path != "/proc/sys/vm/swappiness"));
    assert_eq!(state.changes.len(), outcome.written.len());
}
