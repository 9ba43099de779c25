//! How suite results are shown: one line a case for a person, JUnit XML for CI.

use std::fmt::Write as _;

use super::run::SuiteResult;
use crate::markup::escape as xml;

/// Totals over every suite run.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Report {
    pub suites: usize,
    pub cases: usize,
    /// Cases whose decision differed from their expectation.
    pub failed: usize,
    /// Suites that could not run (unreadable, or their policy did not load).
    pub broken: usize,
}

impl Report {
    pub fn add(&mut self, suite: &SuiteResult) {
        self.suites += 1;
        self.cases += suite.cases.len();
        self.failed += suite
            .cases
            .iter()
            .filter(|c| !c.failures.is_empty())
            .count();
        self.broken += usize::from(suite.error.is_some());
    }

    pub fn passed(&self) -> bool {
        self.failed == 0 && self.broken == 0
    }

    pub fn summary(&self) -> String {
        let mut summary = format!(
            "{} {}, {} {}: {} passed, {} failed",
            self.suites,
            plural(self.suites, "suite", "suites"),
            self.cases,
            plural(self.cases, "case", "cases"),
            self.cases - self.failed,
            self.failed
        );
        if self.broken > 0 {
            summary.push_str(&format!(
                ", {} {} could not run",
                self.broken,
                plural(self.broken, "suite", "suites")
            ));
        }
        summary
    }
}

fn plural(n: usize, one: &'static str, many: &'static str) -> &'static str {
    if n == 1 { one } else { many }
}

/// A suite's result as a person reads it: every case, and what differed in a failed one.
pub fn human(suite: &SuiteResult) -> String {
    let mut out = String::new();
    if suite.name == suite.origin {
        let _ = writeln!(out, "{}", suite.origin);
    } else {
        let _ = writeln!(out, "{} ({})", suite.name, suite.origin);
    }
    if let Some(error) = &suite.error {
        let _ = writeln!(out, "  ERROR {}", indent(error, 8));
    }
    for case in &suite.cases {
        if case.failures.is_empty() {
            let _ = writeln!(out, "  ok    {}", case.name);
        } else {
            let _ = writeln!(out, "  FAIL  {}", case.name);
            for failure in &case.failures {
                let _ = writeln!(out, "        {}", indent(failure, 8));
            }
        }
    }
    out
}

fn indent(text: &str, by: usize) -> String {
    text.replace('\n', &format!("\n{}", " ".repeat(by)))
}

/// JUnit XML, as CI systems read test results: a `testsuite` per suite, a `testcase` per case,
/// a suite that could not run as one case with an `error`.
pub fn junit(suites: &[SuiteResult]) -> String {
    let mut report = Report::default();
    suites.iter().for_each(|s| report.add(s));
    let total: f64 = suites.iter().map(|s| s.duration.as_secs_f64()).sum();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"portcullis test\" tests=\"{}\" failures=\"{}\" time=\"{total:.3}\">",
        report.cases + report.broken,
        report.failed
    );
    for suite in suites {
        let failures = suite
            .cases
            .iter()
            .filter(|c| !c.failures.is_empty())
            .count();
        let errors = usize::from(suite.error.is_some());
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" file=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" time=\"{:.3}\">",
            xml(&suite.name),
            xml(&suite.origin),
            suite.cases.len() + errors,
            suite.duration.as_secs_f64()
        );
        if let Some(error) = &suite.error {
            let first = error.lines().next().unwrap_or_default();
            let _ = writeln!(
                out,
                "    <testcase classname=\"{}\" name=\"(suite)\"><error message=\"{}\">{}</error></testcase>",
                xml(&suite.name),
                xml(first),
                xml(error)
            );
        }
        for case in &suite.cases {
            let _ = write!(
                out,
                "    <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\"",
                xml(&suite.name),
                xml(&case.name),
                case.duration.as_secs_f64()
            );
            if case.failures.is_empty() {
                out.push_str("/>\n");
            } else {
                let text = case.failures.join("\n");
                let first = text.lines().next().unwrap_or_default();
                let _ = writeln!(
                    out,
                    "><failure message=\"{}\">{}</failure></testcase>",
                    xml(first),
                    xml(&text)
                );
            }
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::super::run::CaseResult;
    use super::*;
    use std::time::Duration;

    #[test]
    fn junit_escapes_and_counts() {
        let suite = SuiteResult {
            origin: "docs/p.md:12".into(),
            name: "p <1>".into(),
            error: None,
            cases: vec![
                CaseResult {
                    name: "a & b".into(),
                    failures: vec![],
                    duration: Duration::from_millis(2),
                },
                CaseResult {
                    name: "c".into(),
                    failures: vec!["expected denied, got allowed\n\"x\"\u{1}".into()],
                    duration: Duration::from_millis(3),
                },
            ],
            duration: Duration::from_millis(5),
        };
        let xml = junit(&[suite]);
        assert!(xml.contains("tests=\"2\" failures=\"1\""), "{xml}");
        assert!(xml.contains("name=\"p &lt;1&gt;\""), "{xml}");
        assert!(xml.contains("name=\"a &amp; b\""), "{xml}");
        assert!(xml.contains("<failure message=\"expected denied, got allowed\">expected denied, got allowed\n&quot;x&quot;?</failure>"), "{xml}");
    }
}
