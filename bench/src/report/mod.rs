//! What one run measured, in a form every mode shares, and its two outputs:
//! a JSON file (everything) and a self-contained HTML page (the latency
//! percentile curve and the throughput over time).

pub mod html;
pub mod json;

use std::time::Duration;

use hdrhistogram::Histogram;
use serde_json::Value;

use crate::windows::{LatencySummary, WindowSnapshot};

/// One headline figure of a run ("records_per_sec"), the unit of comparison
/// in `sluice perf compare`.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    pub name: String,
    pub unit: &'static str,
    pub value: f64,
    /// Whether a larger value is better (throughput) or worse (latency).
    pub higher_is_better: bool,
}

impl Figure {
    pub fn rate(name: &str, unit: &'static str, value: f64) -> Figure {
        Figure {
            name: name.to_string(),
            unit,
            value,
            higher_is_better: true,
        }
    }

    pub fn latency_ms(name: &str, value: f64) -> Figure {
        Figure {
            name: name.to_string(),
            unit: "ms",
            value,
            higher_is_better: false,
        }
    }
}

/// A latency distribution: its summary and the points of its percentile
/// curve.
#[derive(Debug, Clone, PartialEq)]
pub struct LatencyReport {
    /// What was timed ("send to acknowledgement").
    pub what: String,
    pub summary: LatencySummary,
    /// (percentile in %, latency in ms), from p0 to p100.
    pub curve: Vec<(f64, f64)>,
}

/// The percentiles the curve is drawn through: dense in the tail, where
/// the differences are.
const CURVE_PERCENTILES: [f64; 16] = [
    0.0, 10.0, 25.0, 50.0, 75.0, 90.0, 95.0, 99.0, 99.5, 99.9, 99.95, 99.99, 99.995, 99.999,
    99.9999, 100.0,
];

impl LatencyReport {
    pub fn of(what: &str, histogram: &Histogram<u64>) -> Option<LatencyReport> {
        let summary = LatencySummary::of(histogram)?;
        let curve = CURVE_PERCENTILES
            .iter()
            .map(|&p| (p, histogram.value_at_quantile(p / 100.0) as f64 / 1000.0))
            .collect();
        Some(LatencyReport {
            what: what.to_string(),
            summary,
            curve,
        })
    }
}

/// Everything one run of one mode measured.
#[derive(Debug, Clone)]
pub struct RunReport {
    /// "produce", "consume", "e2e", "limits".
    pub mode: &'static str,
    /// The bootstrap address (or the directory, for limits).
    pub target: String,
    /// The arguments that define the workload.
    pub workload: Value,
    pub started_unix_ms: u64,
    pub elapsed: Duration,
    pub figures: Vec<Figure>,
    /// The windows of the run, in order (5 s; 10 s for e2e).
    pub windows: Vec<WindowSnapshot>,
    pub latency: Vec<LatencyReport>,
    /// Mode-specific details (the limits table, e2e's uncorrected latency).
    pub details: Value,
    /// Stopped early by Ctrl-C: the figures cover what ran.
    pub interrupted: bool,
}

impl RunReport {
    pub fn figure(&self, name: &str) -> Option<f64> {
        self.figures
            .iter()
            .find(|f| f.name == name)
            .map(|f| f.value)
    }
}

/// Milliseconds since the Unix epoch, now.
pub fn unix_ms_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
