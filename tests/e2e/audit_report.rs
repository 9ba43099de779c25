//! The audit's HTML report as a person sees it: rendered by a real headless Chromium
//! (Debian's `chromium`), its DOM read back and a screenshot kept in
//! `target/test-artifacts/`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::audit_kubernetes::{audit, cluster_with_workloads};
use crate::support::text;
use crate::support::workspace;

fn chromium() -> PathBuf {
    for candidate in ["/usr/bin/chromium", "/usr/bin/chromium-browser"] {
        if Path::new(candidate).exists() {
            return candidate.into();
        }
    }
    panic!(
        "chromium is not installed: this test needs Debian's chromium (apt-get install chromium)"
    );
}

/// Chromium as a root test runs it: no sandbox, no GPU, a profile of its own.
fn headless(profile: &Path) -> Command {
    let mut command = Command::new(chromium());
    command
        .args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()));
    command
}

/// The text inside the element with `id` in `dom`.
fn by_id<'a>(dom: &'a str, id: &str) -> &'a str {
    let start = dom
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id} in the rendered page"));
    let open = start + dom[start..].find('>').unwrap() + 1;
    let close = open + dom[open..].find('<').unwrap();
    &dom[open..close]
}

#[test]
#[ignore = "needs kube-apiserver, etcd and chromium (tests/provision/install.sh): run tests/run.sh"]
fn the_html_report_renders_in_a_browser_with_its_counts_and_charts() {
    let (cluster, dir, config) = cluster_with_workloads();
    let out = audit(&cluster, &config, &["--format", "html"]);
    assert!(out.status.success(), "{}", text(&out));
    let page = dir.path().join("report.html");
    std::fs::write(&page, &out.stdout).unwrap();
    let url = format!("file://{}", page.display());

    let profile = dir.path().join("chromium");
    let rendered = headless(&profile)
        .arg("--dump-dom")
        .arg(&url)
        .output()
        .unwrap();
    assert!(rendered.status.success(), "{}", text(&rendered));
    let dom = String::from_utf8_lossy(&rendered.stdout);
    assert_eq!(by_id(&dom, "objects-total"), "6", "{dom}");
    assert_eq!(by_id(&dom, "objects-denied"), "4");
    assert_eq!(by_id(&dom, "results-fail"), "6");
    assert_eq!(by_id(&dom, "results-warn"), "2");
    for chart in ["by-policy", "by-place", "offenders"] {
        assert!(
            dom.contains(&format!("<svg id=\"{chart}\"")),
            "no chart {chart}"
        );
    }
    assert!(
        dom.contains(r#"data-label="pss-baseline" data-result="fail" data-count="4""#),
        "{dom}"
    );
    assert!(
        dom.contains(r#"data-label="audit-a" data-result="fail" data-count="3""#),
        "{dom}"
    );
    // The worst offender: the Pod failing two policies.
    assert!(
        dom.contains(r#"data-label="Pod audit-a/hostnet" data-result="fail" data-count="2""#),
        "{dom}"
    );
    let denied = &dom[dom.find("id=\"denied\"").unwrap()..];
    let denied = &denied[..denied.find("</ul>").unwrap()];
    assert_eq!(denied.matches("<li>").count(), 4, "{denied}");
    // Nothing is fetched: no script, stylesheet, image or font from anywhere.
    let source = String::from_utf8_lossy(&out.stdout);
    for external in ["<script", "src=", "href=", "@import", "url("] {
        assert!(!source.contains(external), "the page refers to {external}");
    }

    let artifacts = workspace().join("target/test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let screenshot = artifacts.join("audit-report.png");
    let _ = std::fs::remove_file(&screenshot);
    let shot = headless(&profile)
        .arg(format!("--screenshot={}", screenshot.display()))
        .arg("--window-size=1200,1600")
        .arg(&url)
        .output()
        .unwrap();
    assert!(shot.status.success(), "{}", text(&shot));
    let png = std::fs::read(&screenshot).unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    assert!(png.len() > 20_000, "a blank page? {} bytes", png.len());
}
