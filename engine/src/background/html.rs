//! `--format html`: one self-contained page (no scripts, fonts or anything fetched) with its
//! charts drawn as inline SVG: findings by policy, by namespace (or object), the worst
//! offenders, what enforce mode would deny, and the first findings with their reasons.
//!
//! What the page shows is counted as the objects come (`Summary`) plus a bounded sample: the
//! worst offenders and the first denials and findings; the page says how many more there were.

use crate::markup::escape;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write;

use super::{ObjectReport, Outcome, Output, Summary};

/// Objects kept as the worst offenders.
const OFFENDERS: usize = 10;
/// Places (namespaces, objects) drawn in the chart by place.
const PLACES: usize = 15;
/// Rows of the denial and finding tables.
const ROWS: usize = 500;

/// One finding, as a row of the page.
struct Row {
    object: String,
    policy: String,
    result: Outcome,
    mode: &'static str,
    would_deny: bool,
    why: String,
}

pub struct Html<W: Write> {
    out: W,
    title: String,
    /// `Namespace` or `Object`.
    place: &'static str,
    /// The objects with the most failing policies: (fails, object).
    offenders: Vec<(usize, String)>,
    denied: Vec<String>,
    denied_more: u64,
    rows: Vec<Row>,
    rows_more: u64,
}

impl<W: Write> Html<W> {
    pub fn new(out: W, title: impl Into<String>, place: &'static str) -> Self {
        Html {
            out,
            title: title.into(),
            place,
            offenders: Vec::new(),
            denied: Vec::new(),
            denied_more: 0,
            rows: Vec::new(),
            rows_more: 0,
        }
    }
}

fn object_name(report: &ObjectReport) -> String {
    let r = &report.resource;
    match &r.namespace {
        Some(ns) => format!("{} {ns}/{}", r.kind, r.name),
        None => format!("{} {}", r.kind, r.name),
    }
}

fn mode_name(mode: crate::config::Mode) -> &'static str {
    match mode {
        crate::config::Mode::Enforce => "enforce",
        crate::config::Mode::Warn => "warn",
        crate::config::Mode::Audit => "audit",
    }
}

const COLOURS: [(&str, &str); 4] = [
    ("fail", "#c62828"),
    ("warn", "#ef8f00"),
    ("error", "#6a1b9a"),
    ("pass", "#2e7d32"),
];

/// A horizontal bar chart, one bar per label, stacked by result. Each bar segment is a
/// `rect` with `data-label`, `data-result` and `data-count`, so the page can be checked.
fn bar_chart(id: &str, title: &str, bars: &[(String, [u64; 4])]) -> String {
    let label_width = 260.0;
    let width = 900.0;
    let row = 26.0;
    let height = 40.0 + row * bars.len().max(1) as f64;
    let max = bars
        .iter()
        .map(|(_, c)| c.iter().sum::<u64>())
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let scale = (width - label_width - 70.0) / max;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<figure><figcaption>{}</figcaption><svg id="{id}" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" aria-label="{}">"#,
        escape(title),
        escape(title)
    );
    if bars.is_empty() {
        let _ = write!(
            svg,
            r#"<text x="10" y="30" class="empty">nothing to show</text>"#
        );
    }
    for (i, (label, counts)) in bars.iter().enumerate() {
        let y = 10.0 + row * i as f64;
        let _ = write!(
            svg,
            r#"<text x="{x}" y="{ty}" text-anchor="end" class="label">{}</text>"#,
            escape(&truncate(label, 40)),
            x = label_width - 8.0,
            ty = y + 16.0
        );
        let mut x = label_width;
        for (k, (result, colour)) in COLOURS.iter().enumerate() {
            let count = counts[k];
            if count == 0 {
                continue;
            }
            let w = count as f64 * scale;
            let _ = write!(
                svg,
                r#"<rect class="bar" x="{x:.1}" y="{y}" width="{w:.1}" height="20" fill="{colour}" data-label="{}" data-result="{result}" data-count="{count}"><title>{}: {count} {result}</title></rect>"#,
                escape(label),
                escape(label)
            );
            x += w;
        }
        let total: u64 = counts.iter().sum();
        let _ = write!(
            svg,
            r#"<text x="{:.1}" y="{}" class="count">{total}</text>"#,
            x + 6.0,
            y + 15.0
        );
    }
    svg.push_str("</svg></figure>");
    svg
}

fn truncate(text: &str, chars: usize) -> String {
    if text.chars().count() <= chars {
        text.to_string()
    } else {
        let mut t: String = text.chars().take(chars - 1).collect();
        t.push('…');
        t
    }
}

impl<W: Write> Output for Html<W> {
    fn object(&mut self, report: &ObjectReport) -> std::io::Result<()> {
        let name = object_name(report);
        let fails = report
            .outcomes
            .iter()
            .filter(|o| o.result == Outcome::Fail)
            .count();
        if fails > 0 {
            // Kept sorted, most failures first; ties in the order seen.
            let at = self.offenders.partition_point(|(n, _)| *n >= fails);
            if at < OFFENDERS {
                self.offenders.insert(at, (fails, name.clone()));
                self.offenders.truncate(OFFENDERS);
            }
        }
        if report.would_deny() {
            if self.denied.len() < ROWS {
                self.denied.push(name.clone());
            } else {
                self.denied_more += 1;
            }
        }
        for o in report
            .outcomes
            .iter()
            .filter(|o| !matches!(o.result, Outcome::Pass | Outcome::Skip))
        {
            if self.rows.len() == ROWS {
                self.rows_more += 1;
                continue;
            }
            let why = o.why();
            self.rows.push(Row {
                object: name.clone(),
                policy: match &o.rule {
                    Some(rule) => format!("{} {rule}", o.policy),
                    None => o.policy.clone(),
                },
                result: o.result,
                mode: mode_name(o.mode),
                would_deny: o.would_deny,
                why,
            });
        }
        Ok(())
    }

    fn finish(&mut self, summary: &Summary) -> std::io::Result<()> {
        let counts = |c: &super::Counts| [c.fail, c.warn, c.error, c.pass];
        let by_policy: Vec<(String, [u64; 4])> = summary
            .by_policy
            .iter()
            .map(|(policy, places)| {
                let mut total = [0u64; 4];
                for c in places.values() {
                    for (t, n) in total.iter_mut().zip(counts(c)) {
                        *t += n;
                    }
                }
                (policy.clone(), total)
            })
            .collect();
        let mut by_place: BTreeMap<&str, [u64; 4]> = BTreeMap::new();
        for places in summary.by_policy.values() {
            for (place, c) in places {
                let entry = by_place.entry(place).or_default();
                for (t, n) in entry.iter_mut().zip(counts(c)) {
                    *t += n;
                }
            }
        }
        // The places with the most findings (fail, warn, error).
        let mut places: Vec<(String, [u64; 4])> = by_place
            .into_iter()
            .map(|(p, c)| (p.to_string(), c))
            .collect();
        places.sort_by_key(|(p, c)| (std::cmp::Reverse(c[0] + c[1] + c[2]), p.clone()));
        let places_more = places.len().saturating_sub(PLACES);
        places.truncate(PLACES);
        let offenders: Vec<(String, [u64; 4])> = self
            .offenders
            .iter()
            .map(|(n, name)| (name.clone(), [*n as u64, 0, 0, 0]))
            .collect();
        let total = |r: usize| -> u64 { by_policy.iter().map(|(_, c)| c[r]).sum() };

        let mut page = String::new();
        let _ = write!(
            page,
            r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem; color: #1b1b1b; max-width: 1100px; }}
h1 {{ font-size: 1.5rem; }} h2 {{ font-size: 1.15rem; margin-top: 2rem; }}
.cards {{ display: flex; gap: 1rem; flex-wrap: wrap; }}
.card {{ border: 1px solid #ccc; border-radius: 6px; padding: .75rem 1rem; min-width: 9rem; }}
.card .n {{ font-size: 1.6rem; font-weight: 600; display: block; }}
figure {{ margin: 1rem 0; }} figcaption {{ font-weight: 600; margin-bottom: .25rem; }}
svg text {{ font-size: 12px; fill: #1b1b1b; }}
table {{ border-collapse: collapse; width: 100%; font-size: .85rem; }}
th, td {{ border-bottom: 1px solid #ddd; padding: .3rem .4rem; text-align: left; vertical-align: top; }}
.fail {{ color: #c62828; }} .warn {{ color: #ef8f00; }} .error {{ color: #6a1b9a; }}
.legend span {{ display: inline-block; margin-right: 1rem; }}
.legend i {{ display: inline-block; width: .8rem; height: .8rem; margin-right: .3rem; vertical-align: middle; }}
</style></head><body>
<h1>{title}</h1>
<div class="cards">
<div class="card"><span class="n" id="objects-total">{objects}</span>objects decided</div>
<div class="card"><span class="n" id="objects-denied">{denied}</span>would be refused in enforce mode</div>
<div class="card"><span class="n fail" id="results-fail">{fail}</span>failed</div>
<div class="card"><span class="n warn" id="results-warn">{warn}</span>warnings</div>
<div class="card"><span class="n error" id="results-error">{error}</span>errors</div>
</div>
<p class="legend">"#,
            title = escape(&self.title),
            objects = summary.objects_total(),
            denied = summary.objects_denied,
            fail = total(0),
            warn = total(1),
            error = total(2),
        );
        for (result, colour) in COLOURS {
            let _ = write!(
                page,
                r#"<span><i style="background:{colour}"></i>{result}</span>"#
            );
        }
        page.push_str("</p>\n");
        page.push_str(&bar_chart("by-policy", "Results by policy", &by_policy));
        page.push_str(&bar_chart(
            "by-place",
            &format!("Results by {}", self.place.to_lowercase()),
            &places,
        ));
        if places_more > 0 {
            let _ = write!(page, "<p>… and {places_more} more with fewer findings.</p>");
        }
        page.push_str(&bar_chart(
            "offenders",
            "Worst offenders: failing policies per object",
            &offenders,
        ));
        let _ = write!(
            page,
            r#"<h2>What enforce mode would deny</h2><ul id="denied">"#
        );
        for name in &self.denied {
            let _ = write!(page, "<li>{}</li>", escape(name));
        }
        page.push_str("</ul>");
        if self.denied_more > 0 {
            let _ = write!(page, "<p>… and {} more.</p>", self.denied_more);
        }
        let _ = write!(
            page,
            r#"<h2>Findings</h2><table id="findings"><thead><tr><th>object</th><th>policy</th><th>result</th><th>mode</th><th>why</th></tr></thead><tbody>"#
        );
        for r in &self.rows {
            let _ = write!(
                page,
                r#"<tr><td>{}</td><td>{}</td><td class="{result}">{result}{deny}</td><td>{}</td><td>{}</td></tr>"#,
                escape(&r.object),
                escape(&r.policy),
                r.mode,
                escape(&r.why),
                result = r.result.as_str(),
                deny = if r.would_deny { " (would deny)" } else { "" },
            );
        }
        page.push_str("</tbody></table>");
        if self.rows_more > 0 {
            let _ = write!(
                page,
                "<p>… and {} more findings (every finding: --format json).</p>",
                self.rows_more
            );
        }
        page.push_str("\n</body></html>\n");
        self.out.write_all(page.as_bytes())?;
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::background::{ObjectReport, PolicyOutcome, Resource};
    use crate::config::Mode;

    fn report(name: &str, results: &[(&str, Outcome)]) -> ObjectReport {
        ObjectReport {
            door: "kubernetes",
            resource: Resource {
                api_version: "v1".into(),
                kind: "Pod".into(),
                namespace: Some("ns".into()),
                name: name.into(),
                uid: String::new(),
            },
            outcomes: results
                .iter()
                .map(|(policy, result)| PolicyOutcome {
                    policy: (*policy).into(),
                    rule: None,
                    mode: Mode::Enforce,
                    result: *result,
                    would_deny: *result == Outcome::Fail,
                    message: "<script>alert(1)</script>".into(),
                    reasons: Vec::new(),
                    patch: None,
                })
                .collect(),
        }
    }

    #[test]
    fn the_page_is_self_contained_and_escapes_what_it_shows() {
        let mut page = Vec::new();
        let mut html = Html::new(&mut page, "audit <test>", "Namespace");
        let mut summary = Summary::default();
        for r in [
            report("a", &[("p", Outcome::Fail), ("q", Outcome::Fail)]),
            report("b", &[("p", Outcome::Pass), ("q", Outcome::Fail)]),
        ] {
            summary.add(&r);
            html.object(&r).unwrap();
        }
        html.finish(&summary).unwrap();
        let page = String::from_utf8(page).unwrap();
        assert!(!page.contains("<script"), "{page}");
        assert!(page.contains("&lt;script&gt;"));
        assert!(page.contains("audit &lt;test&gt;"));
        for external in ["src=", "href=", "@import", "url("] {
            assert!(!page.contains(external), "{external} in {page}");
        }
        assert!(page.contains(r#"data-label="q" data-result="fail" data-count="2""#));
        // The worst offender first.
        let a = page.find(r#"data-label="Pod ns/a""#).unwrap();
        let b = page.find(r#"data-label="Pod ns/b""#).unwrap();
        assert!(a < b);
    }
}
