//! The JSON report: every window, every percentile, the workload and the
//! host, for one run or for the runs of a comparison.

use std::path::Path;

use serde_json::{json, Map, Value};

use crate::error::{BenchError, Result};
use crate::host::host_json;
use crate::report::{LatencyReport, RunReport};
use crate::windows::{LatencySummary, WindowSnapshot, PERCENTILES};

/// The schema version: bump it when a field changes meaning.
pub const SCHEMA_VERSION: u32 = 1;

pub fn latency_summary_json(summary: &LatencySummary) -> Value {
    let mut map = Map::new();
    map.insert("count".into(), json!(summary.count));
    map.insert("mean_ms".into(), json!(summary.mean_ms));
    for ((label, _), value) in PERCENTILES.iter().zip(summary.percentiles_ms) {
        map.insert(format!("{label}_ms"), json!(value));
    }
    map.insert("max_ms".into(), json!(summary.max_ms));
    Value::Object(map)
}

fn latency_json(latency: &LatencyReport) -> Value {
    json!({
        "what": latency.what,
        "summary": latency_summary_json(&latency.summary),
        "curve": latency.curve.iter()
            .map(|(percentile, ms)| json!({"percentile": percentile, "ms": ms}))
            .collect::<Vec<_>>(),
    })
}

fn window_json(window: &WindowSnapshot) -> Value {
    json!({
        "start_s": window.start_s,
        "elapsed_s": window.elapsed.as_secs_f64(),
        "records": window.records,
        "bytes": window.bytes,
        "errors": window.errors,
        "records_per_sec": window.records_per_sec(),
        "mib_per_sec": window.mib_per_sec(),
        "latency": window.latency.as_ref().map(latency_summary_json),
    })
}

/// One run as JSON (without the host: the file has it once).
pub fn run_json(report: &RunReport) -> Value {
    let figures: Map<String, Value> = report
        .figures
        .iter()
        .map(|f| (f.name.clone(), json!({"value": f.value, "unit": f.unit})))
        .collect();
    json!({
        "mode": report.mode,
        "target": report.target,
        "workload": report.workload,
        "started_unix_ms": report.started_unix_ms,
        "elapsed_s": report.elapsed.as_secs_f64(),
        "interrupted": report.interrupted,
        "figures": figures,
        "latency": report.latency.iter().map(latency_json).collect::<Vec<_>>(),
        "windows": report.windows.iter().map(window_json).collect::<Vec<_>>(),
        "details": report.details,
    })
}

/// The document for a single run.
pub fn single_run_document(report: &RunReport) -> Value {
    json!({
        "schema_version": SCHEMA_VERSION,
        "tool": "sluice perf",
        "host": host_json(),
        "run": run_json(report),
    })
}

pub fn write_json(path: &Path, document: &Value) -> Result<()> {
    let text = serde_json::to_string_pretty(document)
        .map_err(|e| BenchError::Usage(format!("cannot encode the JSON report: {e}")))?;
    std::fs::write(path, text + "\n").map_err(BenchError::io("cannot write the JSON report", path))
}
