//! What a check reports about one knob: [`Finding`], its [`Severity`], and
//! the [`Fix`] writes `--apply` would make.

use serde::{Deserialize, Serialize};

/// How much a knob's current value matters for the broker, in rising order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Severity {
    /// As recommended, or recommended-equivalent.
    Ok,
    /// Worth knowing; no effect on correctness, little on performance
    /// (also: the knob is not available on this host).
    Info,
    /// Costs throughput or latency; fix it on a production host.
    Warn,
    /// The broker will not start or will not work as configured.
    Fatal,
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Severity::Ok => "OK",
            Severity::Info => "INFO",
            Severity::Warn => "WARN",
            Severity::Fatal => "FATAL",
        })
    }
}

/// One write to a kernel file that brings a knob to its recommended value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fix {
    /// The host's absolute path (`/proc/sys/vm/swappiness`).
    pub path: String,
    /// What is there now, in the form the file accepts back on revert.
    pub previous: String,
    /// What `--apply` writes.
    pub value: String,
}

/// The state of one knob on this host.
#[derive(Clone, Debug, Serialize)]
pub struct Finding {
    /// The knob's stable name (`vm.swappiness`, `block.scheduler`).
    pub knob: &'static str,
    pub current: String,
    pub recommended: String,
    pub severity: Severity,
    /// Why the recommendation, and what the current value costs.
    pub why: String,
    /// The writes `--apply` makes; empty when nothing needs writing or the
    /// knob is not one `--apply` changes (then `why` says how to change it).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fixes: Vec<Fix>,
}

impl Finding {
    pub fn new(
        knob: &'static str,
        current: impl Into<String>,
        recommended: impl Into<String>,
        severity: Severity,
        why: impl Into<String>,
    ) -> Finding {
        Finding {
            knob,
            current: current.into(),
            recommended: recommended.into(),
            severity,
            why: why.into(),
            fixes: Vec::new(),
        }
    }

    /// The knob does not exist on this host (no cpufreq in a VM, an older
    /// kernel): INFO, never an error.
    pub fn unavailable(knob: &'static str, recommended: &str, reason: &str) -> Finding {
        Finding::new(
            knob,
            "not available here",
            recommended,
            Severity::Info,
            reason,
        )
    }

    pub fn with_fixes(mut self, fixes: Vec<Fix>) -> Finding {
        self.fixes = fixes;
        self
    }
}
