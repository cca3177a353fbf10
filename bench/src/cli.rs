//! `sluice perf ...`: the subcommands, the options every mode shares
//! (`--json`, `--report`) and the exit code.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::compare::{self, CompareArgs};
use crate::consume::{self, ConsumeArgs};
use crate::e2e::{self, E2eArgs};
use crate::error::Result;
use crate::limits::{self, LimitsArgs};
use crate::produce::{self, ProduceArgs};
use crate::report::html::write_html;
use crate::report::json::{single_run_document, write_json};
use crate::report::RunReport;
use crate::stop::StopFlag;

/// Measures a Kafka-compatible broker (Sluice or any other) with librdkafka.
#[derive(Debug, clap::Args)]
pub struct PerfCommand {
    #[command(subcommand)]
    pub mode: PerfMode,
    /// Write every window, percentile, the workload and the host here.
    #[arg(long, global = true, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Write a self-contained HTML page (latency curve, throughput) here.
    #[arg(long, global = true, value_name = "FILE.html")]
    pub report: Option<PathBuf>,
}

#[derive(Debug, clap::Subcommand)]
pub enum PerfMode {
    /// Producer throughput and latency (kafka-producer-perf-test's output).
    Produce(ProduceArgs),
    /// Consumer throughput (kafka-consumer-perf-test's CSV).
    Consume(ConsumeArgs),
    /// End-to-end latency at a fixed rate, corrected for coordinated omission.
    E2e(E2eArgs),
    /// One workload against two brokers, interleaved run by run.
    Compare(CompareArgs),
    /// This host's disk and network ceilings.
    Limits(LimitsArgs),
}

fn write_outputs(
    command: &PerfCommand,
    title: &str,
    document: serde_json::Value,
    runs: &[(String, &RunReport)],
) -> Result<()> {
    if let Some(path) = &command.json {
        write_json(path, &document)?;
    }
    if let Some(path) = &command.report {
        write_html(path, title, runs)?;
    }
    Ok(())
}

fn execute(command: &PerfCommand, stop: &StopFlag) -> Result<()> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let single = |report: RunReport, command: &PerfCommand| -> Result<()> {
        let title = format!("sluice perf {} ({})", report.mode, report.target);
        write_outputs(
            command,
            &title,
            single_run_document(&report),
            &[("run".to_string(), &report)],
        )
    };
    match &command.mode {
        PerfMode::Produce(args) => single(produce::run(args, stop, &mut out)?, command),
        PerfMode::Consume(args) => single(consume::run(args, stop, &mut out)?, command),
        PerfMode::E2e(args) => single(e2e::run(args, stop, &mut out)?, command),
        PerfMode::Limits(args) => match &args.serve {
            Some(address) => limits::serve(address, stop),
            None => single(limits::run(args, stop, &mut out)?, command),
        },
        PerfMode::Compare(args) => {
            let comparison = compare::run(args, stop, &mut out)?;
            let _ = out.flush();
            let mut runs = Vec::new();
            for (i, (a, b)) in comparison.a.iter().zip(&comparison.b).enumerate() {
                runs.push((format!("A {} run {}", args.a, i + 1), a));
                runs.push((format!("B {} run {}", args.b, i + 1), b));
            }
            write_outputs(
                command,
                &format!("sluice perf compare: A {} vs B {}", args.a, args.b),
                comparison.json(args),
                &runs,
            )
        }
    }
}

/// Runs `sluice perf ...`; the exit code is 0 on success (also when Ctrl-C
/// cut the run short: what was measured is printed), 1 on an error.
pub fn run(command: PerfCommand) -> ExitCode {
    let stop = match StopFlag::on_signals() {
        Ok(stop) => stop,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::FAILURE;
        }
    };
    match execute(&command, &stop) {
        Ok(()) => {
            if stop.is_set() {
                eprintln!("interrupted: the figures above cover the part that ran");
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_parses_like_kafkas_tools() {
        use clap::Parser;
        #[derive(clap::Parser)]
        struct Top {
            #[command(flatten)]
            perf: PerfCommand,
        }
        let top = Top::try_parse_from([
            "perf",
            "produce",
            "--topic",
            "t",
            "--num-records",
            "10",
            "--record-size",
            "100",
            "--throughput",
            "-1",
            "--producer-props",
            "acks=all",
            "linger.ms=5",
            "--json",
            "out.json",
        ])
        .unwrap();
        let PerfMode::Produce(args) = &top.perf.mode else {
            panic!("not produce");
        };
        assert_eq!(args.producer_props, ["acks=all", "linger.ms=5"]);
        assert_eq!(args.throughput, -1.0);
        assert_eq!(args.bootstrap_server, "localhost:9092");
        assert_eq!(top.perf.json, Some(PathBuf::from("out.json")));
        assert!(
            Top::try_parse_from(["perf", "produce", "--topic", "t", "--record-size", "1"]).is_err()
        );
        let compare = Top::try_parse_from([
            "perf", "compare", "--a", "h:1", "--b", "h:2", "consume", "--topic", "t",
        ])
        .unwrap();
        assert!(matches!(compare.perf.mode, PerfMode::Compare(_)));
    }
}
