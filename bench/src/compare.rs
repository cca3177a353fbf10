//! `sluice perf compare`: one workload against two brokers, interleaved run
//! by run (A B A B ...) so that drift of the machine (other jobs, thermal,
//! page cache) falls on both alike, then each figure's min/median/max for
//! both and the ratio of the medians B/A.

use std::io::Write;

use serde_json::{json, Value};

use crate::consume::{self, ConsumeArgs};
use crate::e2e::{self, E2eArgs};
use crate::error::{BenchError, Result};
use crate::host::host_json;
use crate::produce::{self, ProduceArgs};
use crate::report::json::{run_json, SCHEMA_VERSION};
use crate::report::RunReport;
use crate::stop::StopFlag;

#[derive(Debug, Clone, clap::Args)]
pub struct CompareArgs {
    /// Broker A, HOST:PORT (the baseline).
    #[arg(long)]
    pub a: String,
    /// Broker B, HOST:PORT.
    #[arg(long)]
    pub b: String,
    /// Runs per broker.
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    #[command(subcommand)]
    pub workload: CompareWorkload,
}

/// The mode to run against both; its --bootstrap-server is replaced.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum CompareWorkload {
    Produce(ProduceArgs),
    Consume(ConsumeArgs),
    E2e(E2eArgs),
}

impl CompareWorkload {
    fn run_against(
        &self,
        bootstrap: &str,
        stop: &StopFlag,
        out: &mut dyn Write,
    ) -> Result<RunReport> {
        match self {
            CompareWorkload::Produce(args) => {
                let args = ProduceArgs {
                    bootstrap_server: bootstrap.into(),
                    ..args.clone()
                };
                produce::run(&args, stop, out)
            }
            CompareWorkload::Consume(args) => {
                let args = ConsumeArgs {
                    bootstrap_server: bootstrap.into(),
                    ..args.clone()
                };
                consume::run(&args, stop, out)
            }
            CompareWorkload::E2e(args) => {
                let args = E2eArgs {
                    bootstrap_server: bootstrap.into(),
                    ..args.clone()
                };
                e2e::run(&args, stop, out)
            }
        }
    }
}

/// The runs of both sides.
#[derive(Debug, Clone)]
pub struct Comparison {
    pub a: Vec<RunReport>,
    pub b: Vec<RunReport>,
}

/// Min, median and max of some values (the median of an even count is the
/// mean of the middle two).
pub fn min_median_max(values: &[f64]) -> Option<(f64, f64, f64)> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    let median = if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    };
    Some((sorted[0], median, sorted[n - 1]))
}

/// One row of the comparison table.
#[derive(Debug, Clone, PartialEq)]
pub struct FigureComparison {
    pub name: String,
    pub unit: &'static str,
    pub a: (f64, f64, f64),
    pub b: (f64, f64, f64),
    /// median(B) / median(A).
    pub ratio: f64,
}

impl Comparison {
    pub fn rows(&self) -> Vec<FigureComparison> {
        let Some(first) = self.a.first() else {
            return Vec::new();
        };
        first
            .figures
            .iter()
            .filter_map(|figure| {
                let values = |runs: &[RunReport]| -> Vec<f64> {
                    runs.iter().filter_map(|r| r.figure(&figure.name)).collect()
                };
                let a = min_median_max(&values(&self.a))?;
                let b = min_median_max(&values(&self.b))?;
                Some(FigureComparison {
                    name: figure.name.clone(),
                    unit: figure.unit,
                    a,
                    b,
                    ratio: if a.1 != 0.0 { b.1 / a.1 } else { f64::NAN },
                })
            })
            .collect()
    }

    pub fn table(&self, a: &str, b: &str) -> String {
        let mut text = format!(
            "{:<24} {:>9} | {:>32} | {:>32} | {:>7}\n",
            "figure",
            "unit",
            format!("A {a} min/median/max"),
            format!("B {b} min/median/max"),
            "B/A"
        );
        for row in self.rows() {
            let triple =
                |(min, median, max): (f64, f64, f64)| format!("{min:.2} / {median:.2} / {max:.2}");
            text += &format!(
                "{:<24} {:>9} | {:>32} | {:>32} | {:>7.3}\n",
                row.name,
                row.unit,
                triple(row.a),
                triple(row.b),
                row.ratio
            );
        }
        text
    }

    pub fn json(&self, args: &CompareArgs) -> Value {
        json!({
            "schema_version": SCHEMA_VERSION,
            "tool": "sluice perf compare",
            "host": host_json(),
            "a": {"target": args.a, "runs": self.a.iter().map(run_json).collect::<Vec<_>>()},
            "b": {"target": args.b, "runs": self.b.iter().map(run_json).collect::<Vec<_>>()},
            "comparison": self.rows().iter().map(|row| json!({
                "figure": row.name,
                "unit": row.unit,
                "a": {"min": row.a.0, "median": row.a.1, "max": row.a.2},
                "b": {"min": row.b.0, "median": row.b.1, "max": row.b.2},
                "ratio_b_over_a": row.ratio,
            })).collect::<Vec<_>>(),
        })
    }
}

pub fn run(args: &CompareArgs, stop: &StopFlag, out: &mut dyn Write) -> Result<Comparison> {
    if args.runs == 0 {
        return Err(BenchError::Usage("--runs must be at least 1".into()));
    }
    let mut comparison = Comparison {
        a: Vec::new(),
        b: Vec::new(),
    };
    'runs: for run in 1..=args.runs {
        for (side, bootstrap) in [("A", &args.a), ("B", &args.b)] {
            if stop.is_set() {
                break 'runs;
            }
            let _ = writeln!(out, "=== run {run}/{} {side} {bootstrap}", args.runs);
            let report = args.workload.run_against(bootstrap, stop, out)?;
            match side {
                "A" => comparison.a.push(report),
                _ => comparison.b.push(report),
            }
        }
    }
    // An interrupted round leaves A with one run more; compare what both have.
    comparison.a.truncate(comparison.b.len());
    let _ = write!(out, "{}", comparison.table(&args.a, &args.b));
    let _ = out.flush();
    Ok(comparison)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn min_median_max_of_odd_and_even_counts() {
        assert_eq!(min_median_max(&[3.0, 1.0, 2.0]), Some((1.0, 2.0, 3.0)));
        assert_eq!(min_median_max(&[4.0, 1.0, 2.0, 3.0]), Some((1.0, 2.5, 4.0)));
        assert_eq!(min_median_max(&[]), None);
    }
}
