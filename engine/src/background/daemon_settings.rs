//! The daemon's own settings: CIS Docker Benchmark v1.6.0 section 2 ("Docker daemon
//! configuration"), numbered and titled as docker-bench-security numbers them, each decided
//! from what the daemon reports about itself where it does (`GET /info`, the default bridge
//! network), and otherwise from how it was started: its command line (read through
//! `/proc/<pid>/cmdline`, the pid being the process at the other end of its socket) and its
//! `daemon.json`. An item neither reveals is `skip`, with what would tell.
//!
//! These are facts about the host, not requests: they are reported, never enforced.

use serde_json::Value;

use super::{ObjectReport, Outcome, PolicyOutcome, Reason, Resource};
use crate::config::Mode;

/// The name section 2 findings are reported under.
pub const POLICY: &str = "cis-docker-daemon";

/// How the daemon was started, as far as it could be read.
#[derive(Debug, Clone, Default)]
pub struct Startup {
    /// The dockerd command line, when readable.
    pub args: Option<Vec<String>>,
    /// Its configuration file, when readable (`{}` when none exists: dockerd then has none).
    pub file: Option<Value>,
}

impl Startup {
    /// Every value given to a command-line flag, in order (`--flag=value`, `--flag value`,
    /// or `--flag` alone for a boolean).
    fn flag_values(&self, names: &[&str]) -> Vec<String> {
        let Some(args) = self.args.as_ref() else {
            return Vec::new();
        };
        let mut found = Vec::new();
        let mut i = 0;
        while i < args.len() {
            for name in names {
                let Some(rest) = args[i].strip_prefix(name) else {
                    continue;
                };
                if let Some(value) = rest.strip_prefix('=') {
                    found.push(value.to_string());
                } else if rest.is_empty() {
                    // A boolean flag alone is true; another takes the next argument.
                    match args.get(i + 1) {
                        Some(next) if !next.starts_with('-') && !is_bool_flag(name) => {
                            found.push(next.clone());
                            i += 1;
                        }
                        _ => found.push("true".into()),
                    }
                }
            }
            i += 1;
        }
        found
    }

    /// The last value of a command-line flag, as dockerd's flag parser takes the last.
    fn flag(&self, names: &[&str]) -> Option<String> {
        self.flag_values(names).pop()
    }

    /// A setting from the command line if given there, else from the file; `None` when
    /// that cannot be known (the file is unreadable). `Some(None)`: known, and not set.
    pub(crate) fn setting(&self, flags: &[&str], key: &str) -> Option<Option<Value>> {
        match self.flag(flags) {
            Some(value) => Some(Some(Value::String(value))),
            None => self.file.as_ref().map(|file| file.get(key).cloned()),
        }
    }
}

fn is_bool_flag(name: &str) -> bool {
    matches!(
        name,
        "--icc"
            | "--iptables"
            | "--ip6tables"
            | "--userland-proxy"
            | "--no-new-privileges"
            | "--live-restore"
            | "--experimental"
            | "--tlsverify"
            | "--tls"
            | "-D"
            | "--debug"
    )
}

/// `"false"`, `false`, or `"0"`.
fn is_false(value: &Value) -> bool {
    match value {
        Value::Bool(b) => !b,
        Value::String(s) => matches!(s.as_str(), "false" | "0" | "f" | "F" | "FALSE" | "False"),
        _ => false,
    }
}

fn is_true(value: &Value) -> bool {
    match value {
        Value::Bool(b) => *b,
        Value::String(s) => matches!(s.as_str(), "true" | "1" | "t" | "T" | "TRUE" | "True"),
        _ => false,
    }
}

/// What the daemon reports: `GET /info` and the `bridge` network's options (`None` when the
/// daemon runs without a default bridge).
pub struct Reported<'a> {
    pub info: &'a Value,
    pub bridge: Option<&'a Value>,
}

struct Item {
    id: &'static str,
    title: &'static str,
    /// Manual items are advice: they warn, never fail.
    manual: bool,
}

const ITEMS: &[Item] = &[
    Item {
        id: "2.1",
        title: "Run the Docker daemon as a non-root user, if possible",
        manual: true,
    },
    Item {
        id: "2.2",
        title: "Ensure network traffic is restricted between containers on the default bridge",
        manual: false,
    },
    Item {
        id: "2.3",
        title: "Ensure the logging level is set to 'info'",
        manual: false,
    },
    Item {
        id: "2.4",
        title: "Ensure Docker is allowed to make changes to iptables",
        manual: false,
    },
    Item {
        id: "2.5",
        title: "Ensure insecure registries are not used",
        manual: false,
    },
    Item {
        id: "2.6",
        title: "Ensure aufs storage driver is not used",
        manual: false,
    },
    Item {
        id: "2.7",
        title: "Ensure TLS authentication for Docker daemon is configured",
        manual: false,
    },
    Item {
        id: "2.8",
        title: "Ensure the default ulimit is configured appropriately",
        manual: true,
    },
    Item {
        id: "2.9",
        title: "Enable user namespace support",
        manual: false,
    },
    Item {
        id: "2.10",
        title: "Ensure the default cgroup usage has been confirmed",
        manual: false,
    },
    Item {
        id: "2.11",
        title: "Ensure base device size is not changed until needed",
        manual: false,
    },
    Item {
        id: "2.12",
        title: "Ensure that authorization for Docker client commands is enabled",
        manual: false,
    },
    Item {
        id: "2.13",
        title: "Ensure centralized and remote logging is configured",
        manual: false,
    },
    Item {
        id: "2.14",
        title: "Ensure containers are restricted from acquiring new privileges",
        manual: false,
    },
    Item {
        id: "2.15",
        title: "Ensure live restore is enabled",
        manual: false,
    },
    Item {
        id: "2.16",
        title: "Ensure Userland Proxy is Disabled",
        manual: false,
    },
    Item {
        id: "2.17",
        title: "Ensure that a daemon-wide custom seccomp profile is applied if appropriate",
        manual: true,
    },
    Item {
        id: "2.18",
        title: "Ensure that experimental features are not implemented in production",
        manual: false,
    },
];

/// An item's verdict: met, or not with why; or unknown with what would tell.
enum Found {
    Met(String),
    NotMet(String),
    Unknown(String),
}

const UNREADABLE: &str = "neither the API nor a readable command line or daemon.json says \
                          (run the audit as root on the daemon's host, or pass --daemon-json)";

fn security_option<'a>(info: &'a Value, name: &str) -> Option<&'a str> {
    info["SecurityOptions"].as_array()?.iter().find_map(|o| {
        let o = o.as_str()?;
        o.split(',')
            .any(|kv| kv == format!("name={name}"))
            .then_some(o)
    })
}

fn check(id: &str, reported: &Reported<'_>, startup: &Startup) -> Found {
    let info = reported.info;
    match id {
        "2.1" => match security_option(info, "rootless") {
            Some(_) => Found::Met("the daemon runs rootless".into()),
            None => Found::NotMet("the daemon runs as root".into()),
        },
        "2.2" => match reported.bridge {
            None => Found::Met("the daemon has no default bridge network".into()),
            Some(bridge) => {
                match bridge["Options"]["com.docker.network.bridge.enable_icc"].as_str() {
                    Some("false") => Found::Met("icc is off on the default bridge".into()),
                    _ => Found::NotMet(
                        "containers on the default bridge may talk to each other (icc is on)"
                            .into(),
                    ),
                }
            }
        },
        "2.3" => {
            if info["Debug"].as_bool() == Some(true) {
                return Found::NotMet("the daemon runs in debug mode".into());
            }
            match startup.setting(&["--log-level", "-l"], "log-level") {
                Some(Some(level)) if level.as_str() != Some("info") => {
                    Found::NotMet(format!("log level {level}"))
                }
                Some(_) => Found::Met("log level info".into()),
                None => Found::Unknown(UNREADABLE.into()),
            }
        }
        "2.4" => match startup.setting(&["--iptables"], "iptables") {
            Some(Some(v)) if is_false(&v) => {
                Found::NotMet("Docker may not change iptables (iptables=false)".into())
            }
            Some(_) => Found::Met("iptables is left to Docker".into()),
            None => Found::Unknown(UNREADABLE.into()),
        },
        "2.5" => {
            let config = &info["RegistryConfig"];
            let mut insecure: Vec<String> = config["InsecureRegistryCIDRs"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                // Loopback is always insecure to dockerd; the benchmark does not count it.
                .filter(|cidr| *cidr != "127.0.0.0/8" && *cidr != "::1/128")
                .map(str::to_string)
                .collect();
            if let Some(indexes) = config["IndexConfigs"].as_object() {
                insecure.extend(
                    indexes
                        .iter()
                        .filter(|(_, i)| i["Secure"].as_bool() == Some(false))
                        .map(|(name, _)| name.clone()),
                );
            }
            if insecure.is_empty() {
                Found::Met("no insecure registries".into())
            } else {
                Found::NotMet(format!("insecure registries: {}", insecure.join(", ")))
            }
        }
        "2.6" => match info["Driver"].as_str() {
            Some("aufs") => Found::NotMet("the storage driver is aufs".into()),
            Some(driver) => Found::Met(format!("the storage driver is {driver}")),
            None => Found::Unknown("the daemon did not say its storage driver".into()),
        },
        "2.7" => {
            let warnings: Vec<&str> = info["Warnings"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .filter(|w| w.contains("without encryption") || w.contains("without TLS"))
                .collect();
            if !warnings.is_empty() {
                return Found::NotMet(warnings.join("; "));
            }
            if startup.args.is_none() && startup.file.is_none() {
                return Found::Unknown(UNREADABLE.into());
            }
            let mut hosts = startup.flag_values(&["-H", "--host"]);
            if let Some(file) = &startup.file {
                hosts.extend(
                    file["hosts"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str)
                        .map(str::to_string),
                );
            }
            let tcp: Vec<&String> = hosts.iter().filter(|h| h.starts_with("tcp://")).collect();
            if tcp.is_empty() {
                return Found::Met("the daemon does not listen on TCP".into());
            }
            let verify = startup
                .setting(&["--tlsverify"], "tlsverify")
                .flatten()
                .is_some_and(|v| is_true(&v));
            if verify {
                Found::Met("TCP with TLS client verification".into())
            } else {
                Found::NotMet(format!(
                    "listens on {} without TLS client verification",
                    tcp.iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            }
        }
        "2.8" => match startup.setting(&["--default-ulimit"], "default-ulimits") {
            Some(Some(v)) if v.as_object().is_none_or(|o| !o.is_empty()) => {
                Found::Met(format!("default ulimits {v}"))
            }
            Some(_) => Found::NotMet("no default ulimit is set".into()),
            None => Found::Unknown(UNREADABLE.into()),
        },
        "2.9" => match security_option(info, "userns") {
            Some(_) => Found::Met("user namespaces are remapped".into()),
            None => Found::NotMet("containers' root is the host's root (no userns-remap)".into()),
        },
        "2.10" => match startup.setting(&["--cgroup-parent"], "cgroup-parent") {
            Some(Some(v)) => Found::NotMet(format!("cgroup parent is {v}: confirm it")),
            Some(None) => Found::Met("the default cgroup parent".into()),
            None => Found::Unknown(UNREADABLE.into()),
        },
        "2.11" => {
            if info["Driver"].as_str() != Some("devicemapper") {
                return Found::Met("not devicemapper".into());
            }
            match startup.setting(&["--storage-opt"], "storage-opts") {
                Some(Some(v)) if v.to_string().contains("dm.basesize") => {
                    Found::NotMet(format!("storage options {v}"))
                }
                Some(_) => Found::Met("base device size unchanged".into()),
                None => Found::Unknown(UNREADABLE.into()),
            }
        }
        "2.12" => {
            let plugins: Vec<&str> = info["Plugins"]["Authorization"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            if plugins.is_empty() {
                Found::NotMet("no authorization plugin".into())
            } else {
                Found::Met(format!("authorization plugins: {}", plugins.join(", ")))
            }
        }
        "2.13" => match info["LoggingDriver"].as_str() {
            Some("json-file") => Found::NotMet("containers log to local json-file".into()),
            Some(driver) => Found::Met(format!("logging driver {driver}")),
            None => Found::Unknown("the daemon did not say its logging driver".into()),
        },
        "2.14" => {
            if security_option(info, "no-new-privileges").is_some() {
                return Found::Met("no-new-privileges by default".into());
            }
            match startup.setting(&["--no-new-privileges"], "no-new-privileges") {
                Some(Some(v)) if is_true(&v) => Found::Met("no-new-privileges by default".into()),
                Some(_) => Found::NotMet("containers may gain new privileges by default".into()),
                None => Found::Unknown(UNREADABLE.into()),
            }
        }
        "2.15" => {
            if info["LiveRestoreEnabled"].as_bool() == Some(true) {
                Found::Met("live restore is on".into())
            } else if info["Swarm"]["LocalNodeState"].as_str() == Some("active") {
                Found::Met("live restore is off (incompatible with swarm mode)".into())
            } else {
                Found::NotMet("live restore is off".into())
            }
        }
        "2.16" => match startup.setting(&["--userland-proxy"], "userland-proxy") {
            Some(Some(v)) if is_false(&v) => Found::Met("the userland proxy is off".into()),
            Some(_) => Found::NotMet("the userland proxy is on".into()),
            None => Found::Unknown(UNREADABLE.into()),
        },
        "2.17" => match security_option(info, "seccomp") {
            Some(option) => Found::Met(format!("seccomp: {option}")),
            None => Found::NotMet("no seccomp profile".into()),
        },
        "2.18" => match info["ExperimentalBuild"].as_bool() {
            Some(true) => Found::NotMet("experimental features are on".into()),
            _ => Found::Met("experimental features are off".into()),
        },
        _ => Found::Unknown("unknown item".into()),
    }
}

/// The item numbers, for `--exclude`.
pub fn ids() -> impl Iterator<Item = &'static str> {
    ITEMS.iter().map(|i| i.id)
}

/// Every section 2 item not excluded, decided, as one report about the daemon.
pub fn audit(reported: &Reported<'_>, startup: &Startup, exclude: &[String]) -> ObjectReport {
    let info = reported.info;
    let outcomes = ITEMS
        .iter()
        .filter(|item| !exclude.iter().any(|e| e == item.id))
        .map(|item| {
            let (result, why) = match check(item.id, reported, startup) {
                Found::Met(why) => (Outcome::Pass, why),
                Found::NotMet(why) if item.manual => (Outcome::Warn, why),
                Found::NotMet(why) => (Outcome::Fail, why),
                Found::Unknown(why) => (Outcome::Skip, why),
            };
            PolicyOutcome {
                policy: POLICY.into(),
                rule: Some(item.id.into()),
                // Reported, never enforced.
                mode: Mode::Audit,
                result,
                would_deny: false,
                message: format!("{} {}: {why}", item.id, item.title),
                reasons: match result {
                    Outcome::Fail | Outcome::Warn => vec![Reason {
                        message: format!("{} {}: {why}", item.id, item.title),
                        field: String::new(),
                    }],
                    _ => Vec::new(),
                },
                patch: None,
            }
        })
        .collect();
    ObjectReport {
        door: "docker",
        resource: Resource {
            api_version: "docker/v1.41".into(),
            kind: "Daemon".into(),
            namespace: None,
            name: info["Name"].as_str().unwrap_or("dockerd").to_string(),
            uid: info["ID"].as_str().unwrap_or_default().to_string(),
        },
        outcomes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn results(info: Value, bridge: Option<Value>, startup: Startup) -> Vec<(String, Outcome)> {
        let reported = Reported {
            info: &info,
            bridge: bridge.as_ref(),
        };
        audit(&reported, &startup, &[])
            .outcomes
            .into_iter()
            .map(|o| (o.rule.unwrap(), o.result))
            .collect()
    }

    fn result(all: &[(String, Outcome)], id: &str) -> Outcome {
        all.iter().find(|(i, _)| i == id).unwrap().1
    }

    #[test]
    fn items_are_decided_from_what_the_daemon_reports() {
        let info = json!({
            "Driver": "overlay2",
            "LoggingDriver": "json-file",
            "SecurityOptions": ["name=seccomp,profile=default", "name=userns"],
            "Plugins": {"Authorization": ["portcullis"]},
            "RegistryConfig": {
                "InsecureRegistryCIDRs": ["127.0.0.0/8", "10.0.0.0/8"],
                "IndexConfigs": {"docker.io": {"Secure": true}}
            },
            "LiveRestoreEnabled": false,
            "ExperimentalBuild": false
        });
        let all = results(
            info,
            Some(json!({"Options": {"com.docker.network.bridge.enable_icc": "true"}})),
            Startup::default(),
        );
        assert_eq!(all.len(), 18);
        for (id, expected) in [
            ("2.1", Outcome::Warn),
            ("2.2", Outcome::Fail),
            ("2.4", Outcome::Skip),
            ("2.5", Outcome::Fail),
            ("2.6", Outcome::Pass),
            ("2.9", Outcome::Pass),
            ("2.12", Outcome::Pass),
            ("2.13", Outcome::Fail),
            ("2.15", Outcome::Fail),
            ("2.17", Outcome::Pass),
            ("2.18", Outcome::Pass),
        ] {
            assert_eq!(result(&all, id), expected, "{id}");
        }
    }

    #[test]
    fn the_command_line_is_read_as_dockerd_reads_its_flags() {
        let startup = Startup {
            args: Some(
                [
                    "dockerd",
                    "--iptables=false",
                    "--userland-proxy=false",
                    "--no-new-privileges",
                    "-H",
                    "tcp://0.0.0.0:2375",
                    "--log-level",
                    "debug",
                ]
                .map(String::from)
                .to_vec(),
            ),
            file: Some(json!({})),
        };
        let all = results(json!({}), None, startup);
        assert_eq!(result(&all, "2.2"), Outcome::Pass, "no default bridge");
        assert_eq!(result(&all, "2.3"), Outcome::Fail);
        assert_eq!(result(&all, "2.4"), Outcome::Fail);
        assert_eq!(result(&all, "2.7"), Outcome::Fail);
        assert_eq!(result(&all, "2.14"), Outcome::Pass);
        assert_eq!(result(&all, "2.16"), Outcome::Pass);
        // The file alone, when the command line says nothing.
        let startup = Startup {
            args: None,
            file: Some(json!({"userland-proxy": false, "icc": false, "iptables": true})),
        };
        let all = results(json!({}), None, startup);
        assert_eq!(result(&all, "2.4"), Outcome::Pass);
        assert_eq!(result(&all, "2.16"), Outcome::Pass);
        assert_eq!(result(&all, "2.14"), Outcome::Fail);
    }
}
