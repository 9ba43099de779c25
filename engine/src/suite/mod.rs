//! `portcullis test`: declarative test suites for policies. A suite names the policy under
//! test (a config `policies` entry, or a whole config file) and lists cases: a request for
//! either door and what the decision must be. Suites are YAML files, or the
//! ```` ```yaml portcullis-test ```` blocks of a Markdown page, so a policy's documented
//! examples are run as they are written.
//!
//! Each case goes through the same path as `portcullis eval` (every phase, match rules, the
//! response the server would send) and its outcome is compared with the case's `expect`.

mod check;
pub mod docker_cli;
mod format;
mod report;
mod run;

use std::path::{Path, PathBuf};

pub use format::{Case, Expect, Suite};
pub use report::{Report, human, junit};
pub use run::{CaseResult, SuiteResult, run_suite};

/// The info string of a Markdown code block that holds a suite.
pub const MARKDOWN_TAG: &str = "portcullis-test";

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SuiteError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{origin}: {message}")]
    Invalid { origin: String, message: String },
}

/// One suite as found in a file: where it is (file, and line for a Markdown block) and its
/// text, parsed later so one bad suite does not stop the others.
#[derive(Debug, Clone)]
pub struct Found {
    pub origin: String,
    pub path: PathBuf,
    pub text: String,
}

/// Every suite under the given paths: `.yaml`/`.yml` files, and the suite blocks of `.md`
/// files; directories are walked (sorted, so runs are stable).
pub fn discover(paths: &[PathBuf]) -> Result<Vec<Found>, SuiteError> {
    let mut found = Vec::new();
    for path in paths {
        collect(path, true, &mut found)?;
    }
    Ok(found)
}

fn collect(path: &Path, named: bool, found: &mut Vec<Found>) -> Result<(), SuiteError> {
    let read_error = |source| SuiteError::Read {
        path: path.to_path_buf(),
        source,
    };
    let metadata = std::fs::metadata(path).map_err(read_error)?;
    if metadata.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(read_error)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for entry in entries {
            let name = entry.file_name().and_then(|n| n.to_str()).unwrap_or("");
            // Build output and hidden folders hold no suites of their own.
            if name.starts_with('.') || name == "target" || name == "node_modules" {
                continue;
            }
            collect(&entry, false, found)?;
        }
        return Ok(());
    }
    let extension = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    match extension {
        "md" | "markdown" => {
            let text = std::fs::read_to_string(path).map_err(read_error)?;
            let (blocks, unclosed) = markdown_blocks(&text);
            for (line, block) in blocks {
                found.push(Found {
                    origin: format!("{}:{line}", path.display()),
                    path: path.to_path_buf(),
                    text: block,
                });
            }
            if let Some(line) = unclosed {
                return Err(SuiteError::Invalid {
                    origin: format!("{}:{line}", path.display()),
                    message: format!("a ```yaml {MARKDOWN_TAG} block is never closed"),
                });
            }
        }
        "yaml" | "yml" => {
            let text = std::fs::read_to_string(path).map_err(read_error)?;
            // In a walked directory, only YAML that is a suite (has `cases:`) counts: the
            // requests and configs a suite refers to live beside it.
            if named || looks_like_suite(&text) {
                found.push(Found {
                    origin: path.display().to_string(),
                    path: path.to_path_buf(),
                    text,
                });
            }
        }
        _ if named => {
            return Err(SuiteError::Invalid {
                origin: path.display().to_string(),
                message: "not a suite: expected a .yaml, .yml or .md file, or a directory".into(),
            });
        }
        _ => {}
    }
    Ok(())
}

fn looks_like_suite(text: &str) -> bool {
    text.lines().any(|line| line.starts_with("cases:"))
}

/// The ```` ```yaml portcullis-test ```` blocks of a Markdown text, with the line each
/// block's content starts on, and the line of a block left open at the end.
fn markdown_blocks(text: &str) -> (Vec<(usize, String)>, Option<usize>) {
    let mut blocks = Vec::new();
    let mut open: Option<(usize, String, String)> = None;
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        match &mut open {
            None => {
                if let Some(info) = trimmed.strip_prefix("```")
                    && info.split_whitespace().any(|word| word == MARKDOWN_TAG)
                {
                    let fence = "```".to_string();
                    open = Some((index + 2, fence, String::new()));
                }
            }
            Some((start, fence, body)) => {
                if trimmed.starts_with(fence.as_str()) {
                    blocks.push((*start, std::mem::take(body)));
                    open = None;
                } else {
                    body.push_str(line);
                    body.push('\n');
                }
            }
        }
    }
    (blocks, open.map(|(start, _, _)| start - 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_suites_are_found_with_their_line() {
        let page = "# p\n\n```yaml\nnot: a suite\n```\n\n```yaml portcullis-test\npolicy: {module: builtin:privileged}\ncases: []\n```\n";
        let (blocks, unclosed) = markdown_blocks(page);
        assert_eq!(blocks.len(), 1);
        assert_eq!(blocks[0].0, 8);
        assert!(blocks[0].1.starts_with("policy:"));
        assert_eq!(unclosed, None);
        let (_, unclosed) = markdown_blocks("text\n\n```yaml portcullis-test\ncases: []\n");
        assert_eq!(unclosed, Some(3));
    }
}
