//! `sluice-bench`: the perf-test harness users run as `sluice perf ...`.
//!
//! | mode | what it measures | output |
//! |---|---|---|
//! | `produce` | producer throughput, send-to-ack latency | kafka-producer-perf-test's lines |
//! | `consume` | consumer throughput, with or without a group | kafka-consumer-perf-test's CSV |
//! | `e2e` | producer-to-consumer latency at a fixed rate, corrected for coordinated omission | OMB-style 10 s windows and aggregate |
//! | `compare` | one workload against two brokers, interleaved | min/median/max and B/A per figure |
//! | `limits` | O_DIRECT write bandwidth, fdatasync latency, TCP bandwidth | a table |
//!
//! Every mode takes `--json FILE` and `--report FILE.html`. The client is
//! librdkafka (the `rdkafka` crate) on plain threads. Files: one concept
//! each; the modes share the send schedule (`rate`), windowed histograms
//! (`windows`), the delivery-timing producer (`sender`) and the reports.

pub mod cli;
pub mod client;
pub mod compare;
pub mod consume;
pub mod duration;
pub mod e2e;
pub mod error;
pub mod format;
pub mod host;
pub mod limits;
pub mod payload;
pub mod produce;
pub mod progress;
pub mod rate;
pub mod report;
pub mod sender;
pub mod stop;
pub mod windows;
