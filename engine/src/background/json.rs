//! `--format json`: one line per finding, written as each object is decided.
//!
//! Each line is an object with these fields (documented in docs/audit.md, kept stable):
//! `source` (always `"audit"`), `door` (`kubernetes` or `docker`), `resource`
//! (`apiVersion`, `kind`, `namespace` when it has one, `name`, `uid`), `policy`, `rule` (the
//! numbered item, when the policy has them), `mode` (`enforce`, `warn`, `audit`), `result`
//! (`fail`, `warn`, `error`, `skip`; `pass` too with `--show-passes`), `wouldDeny`, and when
//! there is one `message`, `reasons` (`message`, `field`) and `patch` (RFC 6902).

use std::io::Write;

use serde::Serialize;

use super::{ObjectReport, Outcome, Output, PolicyOutcome, Resource, Summary};

#[derive(Serialize)]
struct Line<'a> {
    source: &'static str,
    door: &'static str,
    resource: &'a Resource,
    #[serde(flatten)]
    outcome: &'a PolicyOutcome,
}

/// One finding as its JSON line's value (the audit log writes it with a timestamp).
pub fn line(report: &ObjectReport, outcome: &PolicyOutcome) -> serde_json::Value {
    serde_json::to_value(Line {
        source: "audit",
        door: report.door,
        resource: &report.resource,
        outcome,
    })
    .expect("a finding serializes")
}

pub struct JsonLines<W: Write> {
    out: W,
    passes: bool,
}

impl<W: Write> JsonLines<W> {
    /// `passes`: also a line for each policy an object passes.
    pub fn new(out: W, passes: bool) -> Self {
        JsonLines { out, passes }
    }
}

impl<W: Write> Output for JsonLines<W> {
    fn object(&mut self, report: &ObjectReport) -> std::io::Result<()> {
        for outcome in &report.outcomes {
            if outcome.result == Outcome::Pass && !self.passes {
                continue;
            }
            let line = Line {
                source: "audit",
                door: report.door,
                resource: &report.resource,
                outcome,
            };
            serde_json::to_writer(&mut self.out, &line)?;
            self.out.write_all(b"\n")?;
        }
        Ok(())
    }

    fn finish(&mut self, _: &Summary) -> std::io::Result<()> {
        self.out.flush()
    }
}
