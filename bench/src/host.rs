//! What a result was measured on: recorded in every JSON report, because a
//! figure without its machine (and that machine's load) means little.

use serde_json::{json, Value};

/// Host name, kernel, CPU count and the load average at the time of the call.
pub fn host_json() -> Value {
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    json!({
        "hostname": proc_text("/proc/sys/kernel/hostname"),
        "kernel": proc_text("/proc/sys/kernel/osrelease"),
        "kernel_version": proc_text("/proc/sys/kernel/version"),
        "cpu_count": cpus,
        "cpu_model": cpu_model(),
        "loadavg": proc_text("/proc/loadavg"),
    })
}

/// The 1-minute load average, for progress and summary lines.
pub fn load_1m() -> Option<f64> {
    proc_text("/proc/loadavg")?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn proc_text(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|text| text.trim().to_string())
}

fn cpu_model() -> Option<String> {
    let cpuinfo = proc_text("/proc/cpuinfo")?;
    cpuinfo
        .lines()
        .find(|line| line.starts_with("model name"))
        .and_then(|line| line.split_once(':'))
        .map(|(_, model)| model.trim().to_string())
}
