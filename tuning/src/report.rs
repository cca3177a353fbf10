//! The `--check` output: a table for people, JSON for tools.

use serde::Serialize;

use crate::finding::{Finding, Severity};

/// Every finding of one check run.
#[derive(Debug, Serialize)]
pub struct Report {
    /// The worst severity found (what the exit code is decided on).
    pub worst: Severity,
    pub knobs: Vec<Finding>,
}

impl Report {
    pub fn new(knobs: Vec<Finding>) -> Report {
        let worst = knobs
            .iter()
            .map(|finding| finding.severity)
            .max()
            .unwrap_or(Severity::Ok);
        Report { worst, knobs }
    }

    pub fn to_json(&self) -> String {
        // A struct of strings and enums always serializes.
        serde_json::to_string_pretty(self)
            .unwrap_or_else(|error| format!("{{\"error\":\"{error}\"}}"))
    }

    /// Columns severity, knob, current, recommended; under every finding
    /// that is not OK, why, wrapped, and whether `--apply` changes it.
    pub fn to_table(&self) -> String {
        let header = ["SEVERITY", "KNOB", "CURRENT", "RECOMMENDED"];
        let rows: Vec<[String; 4]> = self
            .knobs
            .iter()
            .map(|finding| {
                [
                    finding.severity.to_string(),
                    finding.knob.to_string(),
                    finding.current.clone(),
                    finding.recommended.clone(),
                ]
            })
            .collect();
        let mut widths = header.map(|title| title.chars().count());
        for row in &rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let line = |cells: [&str; 4]| {
            let mut text = String::new();
            for (index, (cell, width)) in cells.iter().zip(widths).enumerate() {
                if index == 3 {
                    text.push_str(cell);
                } else {
                    text.push_str(&format!("{cell:<width$}  "));
                }
            }
            text.trim_end().to_string() + "\n"
        };
        let mut out = line(header);
        for (row, finding) in rows.iter().zip(&self.knobs) {
            out.push_str(&line([&row[0], &row[1], &row[2], &row[3]]));
            if finding.severity > Severity::Ok {
                let mut why = finding.why.clone();
                if !finding.fixes.is_empty() {
                    why.push_str(" [--apply changes this]");
                }
                for wrapped in wrap(&why, 88) {
                    out.push_str(&format!(
                        "{:indent$}{wrapped}\n",
                        "",
                        indent = widths[0] + 2
                    ));
                }
            }
        }
        let count = |severity| self.knobs.iter().filter(|f| f.severity == severity).count();
        out.push_str(&format!(
            "\n{} knobs: {} OK, {} INFO, {} WARN, {} FATAL\n",
            self.knobs.len(),
            count(Severity::Ok),
            count(Severity::Info),
            count(Severity::Warn),
            count(Severity::Fatal)
        ));
        out
    }
}

/// Greedy word wrap at `width` characters.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut current = String::new();
    for word in text.split_whitespace() {
        if !current.is_empty() && current.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut current));
        }
        if !current.is_empty() {
            current.push(' ');
        }
        current.push_str(word);
    }
    if !current.is_empty() {
        lines.push(current);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worst_severity_decides() {
        let report = Report::new(vec![
            Finding::new("a", "1", "1", Severity::Ok, "why"),
            Finding::new("b", "1", "2", Severity::Fatal, "why"),
            Finding::new("c", "1", "2", Severity::Warn, "why"),
        ]);
        assert_eq!(report.worst, Severity::Fatal);
        assert_eq!(Report::new(Vec::new()).worst, Severity::Ok);
        let table = report.to_table();
        assert!(table.contains("FATAL     b"), "{table}");
        assert!(table.contains("1 OK, 0 INFO, 1 WARN, 1 FATAL"), "{table}");
    }

    #[test]
    fn wrap_keeps_words_whole() {
        assert_eq!(wrap("aa bb cc", 5), ["aa bb", "cc"]);
        assert_eq!(wrap("", 5), Vec::<String>::new());
    }
}
