//! The terminal table: counts by policy and namespace (or container), then the first findings
//! with their reasons. Every finding is in `--format json`; this is what a person reads.

use std::io::Write;

use super::{ObjectReport, Outcome, Output, Summary};
use crate::config::Mode;

/// How many findings the table lists before it says how many more there are.
const LISTED: usize = 50;

pub struct Table<W: Write> {
    out: W,
    /// The column naming where an object is (`NAMESPACE`, `OBJECT`).
    place: String,
    listed: Vec<String>,
    unlisted: u64,
}

impl<W: Write> Table<W> {
    /// `place`: what the counts are grouped by (`Namespace`), shown as its column's head.
    pub fn new(out: W, place: &str) -> Self {
        Table {
            out,
            place: place.to_uppercase(),
            listed: Vec::new(),
            unlisted: 0,
        }
    }
}

impl<W: Write> Output for Table<W> {
    fn object(&mut self, report: &ObjectReport) -> std::io::Result<()> {
        for outcome in report
            .outcomes
            .iter()
            .filter(|o| !matches!(o.result, Outcome::Pass | Outcome::Skip))
        {
            if self.listed.len() == LISTED {
                self.unlisted += 1;
                continue;
            }
            let r = &report.resource;
            let what = match &r.namespace {
                Some(ns) => format!("{} {ns}/{}", r.kind, r.name),
                None => format!("{} {}", r.kind, r.name),
            };
            let why = outcome.why();
            let deny = if outcome.would_deny {
                ", would deny"
            } else {
                ""
            };
            let policy = match &outcome.rule {
                Some(rule) => format!("{} {rule}", outcome.policy),
                None => outcome.policy.clone(),
            };
            self.listed.push(format!(
                "  {what}: {policy} {} ({}{deny}): {why}",
                outcome.result.as_str(),
                mode_name(outcome.mode),
            ));
        }
        Ok(())
    }

    fn finish(&mut self, summary: &Summary) -> std::io::Result<()> {
        let header = [
            "POLICY",
            &self.place,
            "CHECKED",
            "PASS",
            "FAIL",
            "WARN",
            "ERROR",
            "SKIP",
            "WOULD DENY",
        ];
        let mut rows: Vec<[String; 9]> = Vec::new();
        for (policy, places) in &summary.by_policy {
            for (place, c) in places {
                rows.push([
                    policy.clone(),
                    place.clone(),
                    c.total().to_string(),
                    c.pass.to_string(),
                    c.fail.to_string(),
                    c.warn.to_string(),
                    c.error.to_string(),
                    c.skip.to_string(),
                    c.would_deny.to_string(),
                ]);
            }
        }
        let mut widths = header.map(str::len);
        for row in &rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let line = |out: &mut W, cells: &[&str]| -> std::io::Result<()> {
            let mut text = String::new();
            for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
                if i > 0 {
                    text.push_str("  ");
                }
                // Names left, counts right.
                if i < 2 {
                    text.push_str(&format!("{cell:<w$}"));
                } else {
                    text.push_str(&format!("{cell:>w$}"));
                }
            }
            writeln!(out, "{}", text.trim_end())
        };
        if !rows.is_empty() {
            line(&mut self.out, &header)?;
            for row in &rows {
                line(&mut self.out, &row.each_ref().map(String::as_str))?;
            }
            writeln!(self.out)?;
        }
        let kinds = summary
            .objects
            .iter()
            .map(|(kind, n)| format!("{kind} {n}"))
            .collect::<Vec<_>>()
            .join(", ");
        writeln!(
            self.out,
            "{} objects decided{}; {} would be refused in enforce mode.",
            summary.objects_total(),
            if kinds.is_empty() {
                String::new()
            } else {
                format!(" ({kinds})")
            },
            summary.objects_denied
        )?;
        if !self.listed.is_empty() {
            writeln!(self.out, "\nFindings:")?;
            for l in &self.listed {
                writeln!(self.out, "{l}")?;
            }
            if self.unlisted > 0 {
                writeln!(
                    self.out,
                    "  … and {} more (every finding: --format json)",
                    self.unlisted
                )?;
            }
        }
        self.out.flush()
    }
}

fn mode_name(mode: Mode) -> &'static str {
    match mode {
        Mode::Enforce => "enforce",
        Mode::Warn => "warn",
        Mode::Audit => "audit",
    }
}
