//! The HTML report: one self-contained page (inline SVG, no script, no
//! network) with the figures, the latency percentile curve and the
//! throughput over time of one or more runs.

use std::fmt::Write as _;
use std::path::Path;

use crate::error::{BenchError, Result};
use crate::host::host_json;
use crate::report::RunReport;

const WIDTH: f64 = 760.0;
const HEIGHT: f64 = 340.0;
const MARGIN_LEFT: f64 = 70.0;
const MARGIN_RIGHT: f64 = 20.0;
const MARGIN_TOP: f64 = 30.0;
const MARGIN_BOTTOM: f64 = 50.0;
const COLORS: [&str; 6] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b",
];

/// One line of a chart.
struct Series {
    label: String,
    points: Vec<(f64, f64)>,
}

/// An axis: how a value maps to [0, 1] and where its ticks are.
struct Axis {
    label: String,
    log: bool,
    min: f64,
    max: f64,
    ticks: Vec<(f64, String)>,
}

impl Axis {
    fn position(&self, value: f64) -> f64 {
        let (value, min, max) = if self.log {
            (
                value.max(self.min).log10(),
                self.min.log10(),
                self.max.log10(),
            )
        } else {
            (value, self.min, self.max)
        };
        if max > min {
            ((value - min) / (max - min)).clamp(0.0, 1.0)
        } else {
            0.0
        }
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn chart(title: &str, x: &Axis, y: &Axis, series: &[Series]) -> String {
    let plot_w = WIDTH - MARGIN_LEFT - MARGIN_RIGHT;
    let plot_h = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM;
    let px = |v: f64| MARGIN_LEFT + x.position(v) * plot_w;
    let py = |v: f64| MARGIN_TOP + (1.0 - y.position(v)) * plot_h;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" font-family="sans-serif" font-size="11">"#
    );
    let _ = write!(
        svg,
        r#"<text x="{}" y="18" font-size="14" font-weight="bold">{}</text>"#,
        MARGIN_LEFT,
        escape(title)
    );
    let _ = write!(
        svg,
        r##"<rect x="{MARGIN_LEFT}" y="{MARGIN_TOP}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#888"/>"##
    );
    for (value, label) in &x.ticks {
        let at = px(*value);
        let _ = write!(
            svg,
            r##"<line x1="{at:.1}" y1="{MARGIN_TOP}" x2="{at:.1}" y2="{:.1}" stroke="#eee"/><text x="{at:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
            MARGIN_TOP + plot_h,
            MARGIN_TOP + plot_h + 15.0,
            escape(label)
        );
    }
    for (value, label) in &y.ticks {
        let at = py(*value);
        let _ = write!(
            svg,
            r##"<line x1="{MARGIN_LEFT}" y1="{at:.1}" x2="{:.1}" y2="{at:.1}" stroke="#eee"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            MARGIN_LEFT + plot_w,
            MARGIN_LEFT - 5.0,
            at + 4.0,
            escape(label)
        );
    }
    let _ = write!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
        MARGIN_LEFT + plot_w / 2.0,
        HEIGHT - 10.0,
        escape(&x.label)
    );
    let _ = write!(
        svg,
        r#"<text transform="translate(14,{:.1}) rotate(-90)" text-anchor="middle">{}</text>"#,
        MARGIN_TOP + plot_h / 2.0,
        escape(&y.label)
    );
    for (i, line) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let points: Vec<String> = line
            .points
            .iter()
            .map(|(vx, vy)| format!("{:.1},{:.1}", px(*vx), py(*vy)))
            .collect();
        let _ = write!(
            svg,
            r#"<polyline fill="none" stroke="{color}" stroke-width="2" points="{}"/>"#,
            points.join(" ")
        );
        for (vx, vy) in &line.points {
            let _ = write!(
                svg,
                r#"<circle cx="{:.1}" cy="{:.1}" r="2.5" fill="{color}"><title>{}: {vx:.4}, {vy:.3}</title></circle>"#,
                px(*vx),
                py(*vy),
                escape(&line.label)
            );
        }
        let _ = write!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" fill="{color}">{}</text>"#,
            MARGIN_LEFT + 10.0,
            MARGIN_TOP + 15.0 + 14.0 * i as f64,
            escape(&line.label)
        );
    }
    svg.push_str("</svg>");
    svg
}

/// The x position of percentile `p` on a "nines" axis: 1/(1 - p/100), so
/// p90, p99, p99.9 are evenly spaced on a log scale.
fn nines(percentile: f64) -> f64 {
    1.0 / (1.0 - percentile.min(99.9999) / 100.0)
}

fn latency_chart(runs: &[(String, &RunReport)]) -> Option<String> {
    let mut series = Vec::new();
    for (label, run) in runs {
        for latency in &run.latency {
            series.push(Series {
                label: format!("{label} {}", latency.what),
                points: latency
                    .curve
                    .iter()
                    .map(|(p, ms)| (nines(*p), ms.max(0.001)))
                    .collect(),
            });
        }
    }
    if series.is_empty() {
        return None;
    }
    let y_max = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .fold(0.001, f64::max);
    let y_min = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .fold(f64::MAX, f64::min)
        .max(0.001);
    let decade_min = y_min.log10().floor() as i32;
    let decade_max = y_max.log10().ceil().max(decade_min as f64 + 1.0) as i32;
    let x = Axis {
        label: "percentile".into(),
        log: true,
        min: 1.0,
        max: nines(99.9999),
        ticks: [0.0, 90.0, 99.0, 99.9, 99.99, 99.999, 99.9999]
            .iter()
            .map(|&p| (nines(p), format!("p{p}")))
            .collect(),
    };
    let y = Axis {
        label: "latency (ms, log)".into(),
        log: true,
        min: 10f64.powi(decade_min),
        max: 10f64.powi(decade_max),
        ticks: (decade_min..=decade_max)
            .map(|d| (10f64.powi(d), format!("{}", 10f64.powi(d))))
            .collect(),
    };
    Some(chart("Latency by percentile", &x, &y, &series))
}

fn throughput_chart(runs: &[(String, &RunReport)]) -> Option<String> {
    let series: Vec<Series> = runs
        .iter()
        .filter(|(_, run)| !run.windows.is_empty())
        .map(|(label, run)| Series {
            label: label.clone(),
            points: run
                .windows
                .iter()
                .map(|w| (w.start_s + w.elapsed.as_secs_f64(), w.mib_per_sec()))
                .collect(),
        })
        .collect();
    if series.is_empty() {
        return None;
    }
    let x_max = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .fold(1.0, f64::max);
    let y_max = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .fold(0.0, f64::max)
        .max(1e-3)
        * 1.1;
    let ticks = |max: f64| -> Vec<(f64, String)> {
        (0..=5)
            .map(|i| {
                let v = max * i as f64 / 5.0;
                (v, format!("{v:.1}"))
            })
            .collect()
    };
    let x = Axis {
        label: "time since start (s)".into(),
        log: false,
        min: 0.0,
        max: x_max,
        ticks: ticks(x_max),
    };
    let y = Axis {
        label: "MiB/s (window)".into(),
        log: false,
        min: 0.0,
        max: y_max,
        ticks: ticks(y_max),
    };
    Some(chart("Throughput over time", &x, &y, &series))
}

fn figures_table(runs: &[(String, &RunReport)]) -> String {
    let mut html =
        String::from("<table><tr><th>run</th><th>figure</th><th>value</th><th>unit</th></tr>");
    for (label, run) in runs {
        for figure in &run.figures {
            let _ = write!(
                html,
                "<tr><td>{}</td><td>{}</td><td>{:.3}</td><td>{}</td></tr>",
                escape(label),
                escape(&figure.name),
                figure.value,
                figure.unit
            );
        }
    }
    html.push_str("</table>");
    html
}

/// The page for `runs` (label, run).
pub fn page(title: &str, runs: &[(String, &RunReport)]) -> String {
    let host = serde_json::to_string_pretty(&host_json()).unwrap_or_default();
    let workloads: Vec<String> = runs
        .iter()
        .map(|(label, run)| {
            format!(
                "{label} ({} against {}{}): {}",
                run.mode,
                run.target,
                if run.interrupted { ", interrupted" } else { "" },
                run.workload
            )
        })
        .collect();
    let mut html = String::new();
    let _ = write!(
        html,
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{title}</title>\
         <style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}\
         td,th{{border:1px solid #ccc;padding:2px 8px;text-align:right}}pre{{background:#f6f6f6;padding:8px}}</style>\
         </head><body><h1>{title}</h1>",
        title = escape(title)
    );
    html.push_str(&figures_table(runs));
    for svg in [latency_chart(runs), throughput_chart(runs)]
        .into_iter()
        .flatten()
    {
        let _ = write!(html, "<p>{svg}</p>");
    }
    let _ = writeln!(
        html,
        "<h2>Workload</h2><pre>{}</pre><h2>Host</h2><pre>{}</pre></body></html>",
        escape(&workloads.join("\n")),
        escape(&host)
    );
    html
}

pub fn write_html(path: &Path, title: &str, runs: &[(String, &RunReport)]) -> Result<()> {
    std::fs::write(path, page(title, runs))
        .map_err(BenchError::io("cannot write the HTML report", path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Figure, LatencyReport};
    use crate::windows::Windows;
    use std::time::{Duration, Instant};

    #[test]
    fn the_page_has_both_charts_and_no_external_reference() {
        let start = Instant::now();
        let mut windows = Windows::new(start, Duration::from_secs(5));
        for i in 0..1000u64 {
            windows.record(1024, Some(100 + i));
        }
        windows.close_window(start + Duration::from_secs(5));
        let run = RunReport {
            mode: "produce",
            target: "127.0.0.1:9092".into(),
            workload: serde_json::json!({"topic": "<t>"}),
            started_unix_ms: 0,
            elapsed: Duration::from_secs(5),
            figures: vec![Figure::rate("records_per_sec", "records/s", 200.0)],
            windows: windows.closed().to_vec(),
            latency: LatencyReport::of("send to ack", windows.total_histogram())
                .into_iter()
                .collect(),
            details: serde_json::Value::Null,
            interrupted: false,
        };
        let html = page("produce", &[("run 1".to_string(), &run)]);
        assert!(html.contains("Latency by percentile"));
        assert!(html.contains("Throughput over time"));
        assert!(html.contains("&lt;t&gt;"));
        assert_eq!(html.matches("<svg").count(), 2);
        assert!(!html.contains("src=") && !html.contains("href="));
    }
}
