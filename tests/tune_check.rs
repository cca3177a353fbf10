//! `sluice tune --check --json`, the real binary on this machine: every knob
//! the operator documentation lists is in the report, whatever this host
//! has, and the exit code follows the worst severity.

use std::process::Command;

/// The knobs tuning/README.md documents, by their report names.
const DOCUMENTED_KNOBS: [&str; 16] = [
    "cpu.governor",
    "clocksource",
    "irq.affinity",
    "irq.irqbalance",
    "block.scheduler",
    "block.nr_requests",
    "mm.transparent_hugepage",
    "vm.swappiness",
    "rlimit.memlock",
    "kernel.io_uring_disabled",
    "fs.aio-max-nr",
    "net.core.somaxconn",
    "net.core.rmem_max",
    "net.core.wmem_max",
    "net.ipv4.tcp_rmem",
    "net.ipv4.tcp_wmem",
];

fn tune_check(extra: &[&str]) -> (Option<i32>, serde_json::Value) {
    let output = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["tune", "--check", "--json"])
        .args(extra)
        .output()
        .expect("sluice runs");
    let stdout = String::from_utf8(output.stdout).expect("UTF-8 output");
    let report = serde_json::from_str(&stdout).unwrap_or_else(|error| {
        panic!(
            "not JSON ({error}): {stdout}\nstderr: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (output.status.code(), report)
}

fn assert_every_knob_reported(code: Option<i32>, report: &serde_json::Value) {
    let knobs = report["knobs"].as_array().expect("a knobs array");
    for name in DOCUMENTED_KNOBS {
        let knob = knobs
            .iter()
            .find(|knob| knob["knob"] == name)
            .unwrap_or_else(|| panic!("{name} missing from {report:#}"));
        for field in ["current", "recommended", "why"] {
            let value = knob[field].as_str().unwrap_or_default();
            assert!(!value.is_empty(), "{name}.{field} empty: {knob:#}");
        }
        let severity = knob["severity"].as_str().unwrap_or_default();
        assert!(
            ["OK", "INFO", "WARN", "FATAL"].contains(&severity),
            "{name}: severity {severity:?}"
        );
    }
    let fatal = knobs.iter().any(|knob| knob["severity"] == "FATAL");
    assert_eq!(report["worst"] == "FATAL", fatal, "{report:#}");
    assert_eq!(code, Some(if fatal { 2 } else { 0 }), "{report:#}");
}

#[test]
fn every_knob_is_reported_on_this_host() {
    let log_dir = tempfile::tempdir().expect("temporary directory");
    let (code, report) = tune_check(&["--log-dir", log_dir.path().to_str().expect("UTF-8 path")]);
    assert_every_knob_reported(code, &report);
}

#[test]
fn a_host_without_proc_and_sys_reports_every_knob_unavailable() {
    let empty_root = tempfile::tempdir().expect("temporary directory");
    let root = empty_root.path().to_str().expect("UTF-8 path");
    let (code, report) = tune_check(&["--root", root]);
    assert_every_knob_reported(code, &report);
    assert_eq!(code, Some(0));
    let knobs = report["knobs"].as_array().expect("a knobs array");
    let unavailable = knobs
        .iter()
        .filter(|knob| knob["current"] == "not available here")
        .count();
    // Only io_uring_disabled reads its absence as an answer (an old kernel).
    assert_eq!(unavailable, DOCUMENTED_KNOBS.len() - 1, "{report:#}");
}

#[test]
fn apply_then_revert_through_the_binary_on_a_fake_tree() {
    let root = tempfile::tempdir().expect("temporary directory");
    let put = |path: &str, contents: &str| {
        let full = root.path().join(path);
        std::fs::create_dir_all(full.parent().expect("a parent")).expect("mkdir");
        std::fs::write(full, contents).expect("write");
    };
    put("proc/sys/vm/swappiness", "60\n");
    put(
        "proc/swaps",
        "Filename Type Size Used Priority\n/swapfile file 1024 0 -2\n",
    );
    put("proc/sys/net/core/somaxconn", "128\n");
    let read = |path: &str| std::fs::read_to_string(root.path().join(path)).expect("read");
    let state = root.path().join("state/tuning-revert.json");
    let run = |mode: &str| {
        let output = Command::new(env!("CARGO_BIN_EXE_sluice"))
            .args(["tune", mode, "--root"])
            .arg(root.path())
            .arg("--state")
            .arg(&state)
            .output()
            .expect("sluice runs");
        let stdout = String::from_utf8_lossy(&output.stdout).to_string();
        (output.status.code(), stdout)
    };

    let (code, stdout) = run("--apply");
    assert_eq!(code, Some(0), "{stdout}");
    assert!(
        stdout.contains("set /proc/sys/vm/swappiness = 1 (was 60)"),
        "{stdout}"
    );
    assert_eq!(read("proc/sys/vm/swappiness"), "1");
    assert_eq!(read("proc/sys/net/core/somaxconn"), "4096");
    assert!(state.exists());

    let (code, stdout) = run("--apply");
    assert_eq!(code, Some(0), "{stdout}");
    assert!(
        !stdout.contains("set /"),
        "a second apply sets nothing: {stdout}"
    );

    let (code, stdout) = run("--revert");
    assert_eq!(code, Some(0), "{stdout}");
    assert_eq!(read("proc/sys/vm/swappiness"), "60");
    assert_eq!(read("proc/sys/net/core/somaxconn"), "128");
    assert!(!state.exists());
}
