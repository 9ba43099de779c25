//! `portcullis new NAME`: a policy project that builds outside this repository — in Rust, a
//! crate on the SDK (from a path, a git repository, or a registry); in JavaScript, an ES
//! module built with componentize-js — with a settings schema, a first check with unit
//! tests, test suites for both doors (the same for every language), and a README.

use std::path::{Path, PathBuf};

/// Where the scaffold takes the SDK from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SdkSource {
    /// A directory holding the SDK crate: a checkout's `policies-wasm/sdk`, or an unpacked
    /// `cargo package` of it.
    Path(PathBuf),
    /// A git repository holding the workspace, at a tag, branch or revision.
    Git { url: String, rev: Option<String> },
    /// A registry version requirement, once the SDK is published.
    Registry(String),
}

impl std::str::FromStr for SdkSource {
    type Err = String;

    /// `path:DIR`, `git:URL[#REV]` or `version:REQ`.
    fn from_str(text: &str) -> Result<Self, String> {
        if let Some(dir) = text.strip_prefix("path:") {
            let dir = std::fs::canonicalize(dir).map_err(|e| format!("--sdk path:{dir}: {e}"))?;
            if !dir.join("Cargo.toml").is_file() {
                return Err(format!("--sdk path:{}: no Cargo.toml there", dir.display()));
            }
            return Ok(SdkSource::Path(dir));
        }
        if let Some(git) = text.strip_prefix("git:") {
            let (url, rev) = match git.split_once('#') {
                Some((url, rev)) => (url.to_string(), Some(rev.to_string())),
                None => (git.to_string(), None),
            };
            return Ok(SdkSource::Git { url, rev });
        }
        if let Some(version) = text.strip_prefix("version:") {
            return Ok(SdkSource::Registry(version.to_string()));
        }
        Err(format!(
            "--sdk {text:?}: expected path:DIR, git:URL[#REV] or version:REQ"
        ))
    }
}

impl SdkSource {
    /// The project's own repository at this engine's release tag.
    pub fn default_git() -> SdkSource {
        SdkSource::Git {
            url: env!("CARGO_PKG_REPOSITORY").to_string(),
            rev: Some(format!("v{}", env!("CARGO_PKG_VERSION"))),
        }
    }

    /// The dependency as Cargo.toml writes it.
    fn dependency(&self) -> String {
        let quote = |s: &str| toml_string(s);
        match self {
            SdkSource::Path(dir) => format!("{{ path = {} }}", quote(&dir.display().to_string())),
            SdkSource::Git {
                url,
                rev: Some(rev),
            } => {
                format!("{{ git = {}, rev = {} }}", quote(url), quote(rev))
            }
            SdkSource::Git { url, rev: None } => format!("{{ git = {} }}", quote(url)),
            SdkSource::Registry(version) => quote(version),
        }
    }
}

/// A TOML basic string.
fn toml_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScaffoldError {
    #[error(
        "{0:?} is not a policy name: use lower-case letters, digits and hyphens, starting with a \
         letter (it names the policy in configs and the crate)"
    )]
    Name(String),
    #[error("{0} already exists and is not empty: choose another name or --dir")]
    Exists(PathBuf),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The language a project is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// A crate on the Portcullis SDK, built with cargo for `wasm32-wasip2`.
    Rust,
    /// An ES module built with componentize-js (StarlingMonkey) from npm.
    JavaScript,
}

/// The test suites, the same for every language: the component decides alike whatever it
/// is written in.
const SUITES: &[(&str, &str)] = &[
    (
        "tests/suite.yaml",
        include_str!("../templates/suites/suite.yaml.in"),
    ),
    (
        "tests/exemptions.yaml",
        include_str!("../templates/suites/exemptions.yaml.in"),
    ),
];

const RUST: &[(&str, &str)] = &[
    (
        "Cargo.toml",
        include_str!("../templates/rust/Cargo.toml.in"),
    ),
    (
        "rust-toolchain.toml",
        include_str!("../templates/rust/rust-toolchain.toml"),
    ),
    (".gitignore", include_str!("../templates/rust/gitignore")),
    ("README.md", include_str!("../templates/rust/README.md.in")),
    (
        "src/lib.rs",
        include_str!("../templates/rust/src/lib.rs.in"),
    ),
];

const JAVASCRIPT: &[(&str, &str)] = &[
    (
        "package.json",
        include_str!("../templates/js/package.json.in"),
    ),
    ("build.mjs", include_str!("../templates/js/build.mjs.in")),
    (".gitignore", include_str!("../templates/js/gitignore")),
    ("README.md", include_str!("../templates/js/README.md.in")),
    (
        "src/policy.js",
        include_str!("../templates/js/src/policy.js.in"),
    ),
    (
        "tests/policy.test.mjs",
        include_str!("../templates/js/tests/policy.test.mjs"),
    ),
    // The ABI the component implements: a JavaScript project needs no SDK, only this.
    (
        "wit/policy.wit",
        include_str!("../../policies-wasm/wit/policy.wit"),
    ),
];

/// Writes a new policy project named `name` into `dir`; returns the files written. `sdk` is
/// where a Rust project takes the SDK from.
pub fn new_project(
    name: &str,
    dir: &Path,
    lang: Lang,
    sdk: &SdkSource,
) -> Result<Vec<PathBuf>, ScaffoldError> {
    check_name(name)?;
    if dir.exists()
        && std::fs::read_dir(dir)
            .map(|mut entries| entries.next().is_some())
            .unwrap_or(true)
    {
        return Err(ScaffoldError::Exists(dir.to_path_buf()));
    }
    let crate_name = name.replace('-', "_");
    let type_name: String = name
        .split('-')
        .map(|word| {
            let mut chars = word.chars();
            chars
                .next()
                .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect();
    let (files, module) = match lang {
        Lang::Rust => (
            RUST,
            format!("../target/wasm32-wasip2/release/{crate_name}.wasm"),
        ),
        Lang::JavaScript => (JAVASCRIPT, format!("../dist/{crate_name}.wasm")),
    };
    let mut written = Vec::new();
    for (path, template) in files.iter().chain(SUITES) {
        let text = template
            .replace("{{name}}", name)
            .replace("{{crate}}", &crate_name)
            .replace("{{type}}", &type_name)
            .replace("{{module}}", &module)
            .replace("{{sdk}}", &sdk.dependency());
        let path = dir.join(path);
        let write_error = |source| ScaffoldError::Write {
            path: path.clone(),
            source,
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(write_error)?;
        }
        std::fs::write(&path, text).map_err(write_error)?;
        written.push(path);
    }
    Ok(written)
}

fn check_name(name: &str) -> Result<(), ScaffoldError> {
    let valid = name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && !name.ends_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if valid {
        Ok(())
    } else {
        Err(ScaffoldError::Name(name.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_sources() {
        assert!(check_name("team-labels").is_ok());
        for bad in ["Team", "1st", "a_b", "x-", ""] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
        assert_eq!(
            "git:https://example.com/p.git#v1"
                .parse::<SdkSource>()
                .unwrap()
                .dependency(),
            r#"{ git = "https://example.com/p.git", rev = "v1" }"#
        );
        assert_eq!(
            "version:0.1".parse::<SdkSource>().unwrap().dependency(),
            r#""0.1""#
        );
        assert!("ftp:x".parse::<SdkSource>().is_err());
    }

    #[test]
    fn a_project_is_written_once() {
        let dir = tempfile::tempdir().unwrap();
        let project = dir.path().join("team-labels");
        let sdk = SdkSource::Registry("0.1".into());
        let files = new_project("team-labels", &project, Lang::Rust, &sdk).unwrap();
        assert_eq!(files.len(), RUST.len() + SUITES.len());
        let lib = std::fs::read_to_string(project.join("src/lib.rs")).unwrap();
        assert!(lib.contains("impl Policy for TeamLabels"), "{lib}");
        assert!(lib.contains("const NAME: &'static str = \"team-labels\";"));
        let suite = std::fs::read_to_string(project.join("tests/suite.yaml")).unwrap();
        assert!(suite.contains("release/team_labels.wasm"), "{suite}");
        assert!(!lib.contains("{{") && !suite.contains("{{"));
        assert!(matches!(
            new_project("team-labels", &project, Lang::Rust, &sdk),
            Err(ScaffoldError::Exists(_))
        ));

        let js = dir.path().join("js-labels");
        new_project("js-labels", &js, Lang::JavaScript, &sdk).unwrap();
        let policy = std::fs::read_to_string(js.join("src/policy.js")).unwrap();
        assert!(policy.contains("const NAME = 'js-labels';"), "{policy}");
        let suite = std::fs::read_to_string(js.join("tests/suite.yaml")).unwrap();
        assert!(suite.contains("module: ../dist/js_labels.wasm"), "{suite}");
        assert!(
            std::fs::read_to_string(js.join("wit/policy.wit"))
                .unwrap()
                .contains("world policy {")
        );
    }
}
