//! A `docker run`/`create`/`exec`/`pull` command line turned into the authz request dockerd
//! would send for it, so a test case can say `docker: docker run --privileged alpine`.
//!
//! The body is the one the docker CLI (20.10 and later) builds from those flags: the same
//! fields, the same spellings (binds versus anonymous volumes, `systempaths=unconfined` as
//! empty masked paths, a seccomp profile file read and inlined), so the door decides it as
//! it decides the real call. A differential test runs the same lines through the real CLI and
//! dockerd and compares what the door saw. A flag this reader does not know is an error,
//! never ignored: write such a request as `authz:` instead.

use std::collections::BTreeMap;
use std::path::Path;

use base64::Engine as _;
use serde_json::{Map, Value, json};

use crate::docker::AuthzRequest;

/// The API version the requests name, the docker CLI 20.10's.
const API_VERSION: &str = "v1.41";

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CommandError(String);

fn error(message: impl Into<String>) -> CommandError {
    CommandError(message.into())
}

/// Reads `docker run …`, `docker create …`, `docker exec …` or `docker pull …`.
/// `base_dir` is where relative files (`--security-opt seccomp=profile.json`) are read from.
pub fn authz_request(command: &str, base_dir: &Path) -> Result<AuthzRequest, CommandError> {
    let words = shlex::split(command).ok_or_else(|| {
        error(format!(
            "cannot split {command:?} into words (unbalanced quote)"
        ))
    })?;
    let mut words = words.into_iter().peekable();
    if words.peek().map(String::as_str) == Some("docker") {
        words.next();
    }
    let verb = words.next().ok_or_else(|| error("empty docker command"))?;
    let args: Vec<String> = words.collect();
    let (verb, args) = match (verb.as_str(), args.first().map(String::as_str)) {
        ("container", Some(sub @ ("run" | "create" | "exec"))) => (sub.to_string(), &args[1..]),
        ("image", Some("pull")) => ("pull".to_string(), &args[1..]),
        _ => (verb, &args[..]),
    };
    match verb.as_str() {
        "run" | "create" => container_create(args, base_dir),
        "exec" => exec_create(args),
        "pull" => image_pull(args),
        other => Err(error(format!(
            "`docker {other}` is not a command a test case can describe (run, create, exec, \
             pull); write the request as `authz:`"
        ))),
    }
}

fn request(uri: String, body: Option<Value>) -> AuthzRequest {
    let mut headers = BTreeMap::new();
    let body = body.map(|body| {
        // dockerd hands plugins the body as the CLI sent it: JSON and a newline.
        let text = format!("{body}\n");
        headers.insert("Content-Type".to_string(), "application/json".to_string());
        headers.insert("Content-Length".to_string(), text.len().to_string());
        base64::engine::general_purpose::STANDARD.encode(text)
    });
    AuthzRequest {
        request_method: "POST".into(),
        request_uri: uri,
        request_body: body,
        request_headers: headers,
        ..AuthzRequest::default()
    }
}

/// What a flag takes.
#[derive(Clone, Copy, PartialEq)]
enum Takes {
    Nothing,
    Value,
}

/// Flags as given, each `(name, value)`; `true` for a flag that takes no value.
type Flags = Vec<(String, String)>;

/// Splits flags from the operands, as the CLI's flag parser does: flags before the first
/// operand, `--flag=value`, `--flag value`, `-abc` clusters and `-uroot`.
fn parse_flags(
    args: &[String],
    takes: impl Fn(&str) -> Option<Takes>,
) -> Result<(Flags, Vec<String>), CommandError> {
    let mut flags = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        if arg == "--" {
            i += 1;
            break;
        }
        if let Some(long) = arg.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (long, None),
            };
            match takes(name) {
                None => return Err(error(format!("unknown flag --{name}"))),
                Some(Takes::Nothing) => {
                    flags.push((name.to_string(), inline.unwrap_or_else(|| "true".into())))
                }
                Some(Takes::Value) => {
                    let value = match inline {
                        Some(v) => v,
                        None => {
                            i += 1;
                            args.get(i)
                                .cloned()
                                .ok_or_else(|| error(format!("flag --{name} needs a value")))?
                        }
                    };
                    flags.push((name.to_string(), value));
                }
            }
        } else if arg.len() > 1 && arg.starts_with('-') {
            let cluster: Vec<char> = arg[1..].chars().collect();
            let mut j = 0;
            while j < cluster.len() {
                let name = cluster[j].to_string();
                match takes(&name) {
                    None => return Err(error(format!("unknown flag -{name}"))),
                    Some(Takes::Nothing) => flags.push((name, "true".into())),
                    Some(Takes::Value) => {
                        let rest: String = cluster[j + 1..].iter().collect();
                        let value = if !rest.is_empty() {
                            rest.strip_prefix('=').map(str::to_string).unwrap_or(rest)
                        } else {
                            i += 1;
                            args.get(i)
                                .cloned()
                                .ok_or_else(|| error(format!("flag -{name} needs a value")))?
                        };
                        flags.push((name, value));
                        break;
                    }
                }
                j += 1;
            }
        } else {
            break;
        }
        i += 1;
    }
    Ok((flags, args[i..].to_vec()))
}

/// The long name of a `docker run` short flag.
fn run_long_name(short: &str) -> &str {
    match short {
        "d" => "detach",
        "i" => "interactive",
        "t" => "tty",
        "e" => "env",
        "u" => "user",
        "v" => "volume",
        "p" => "publish",
        "P" => "publish-all",
        "m" => "memory",
        "c" => "cpu-shares",
        "l" => "label",
        "w" => "workdir",
        "h" => "hostname",
        "a" => "attach",
        other => other,
    }
}

fn run_flag(name: &str) -> Option<Takes> {
    use Takes::*;
    Some(match run_long_name(name) {
        "detach"
        | "interactive"
        | "tty"
        | "rm"
        | "privileged"
        | "read-only"
        | "publish-all"
        | "init"
        | "no-healthcheck"
        | "oom-kill-disable"
        | "disable-content-trust"
        | "sig-proxy"
        | "quiet"
        | "q"
        | "help" => Nothing,
        "env"
        | "user"
        | "volume"
        | "publish"
        | "memory"
        | "cpu-shares"
        | "label"
        | "workdir"
        | "hostname"
        | "attach"
        | "name"
        | "cap-add"
        | "cap-drop"
        | "mount"
        | "tmpfs"
        | "pid"
        | "ipc"
        | "uts"
        | "userns"
        | "cgroupns"
        | "network"
        | "net"
        | "security-opt"
        | "device"
        | "cpus"
        | "pids-limit"
        | "restart"
        | "sysctl"
        | "runtime"
        | "cgroup-parent"
        | "volumes-from"
        | "health-cmd"
        | "health-interval"
        | "health-timeout"
        | "health-retries"
        | "health-start-period"
        | "entrypoint"
        | "group-add"
        | "memory-reservation"
        | "memory-swap"
        | "cpu-quota"
        | "cpu-period"
        | "cpuset-cpus"
        | "expose"
        | "platform"
        | "pull"
        | "shm-size"
        | "ulimit"
        | "dns"
        | "add-host"
        | "log-driver"
        | "log-opt"
        | "stop-signal"
        | "stop-timeout"
        | "isolation"
        | "detach-keys"
        | "mac-address"
        | "cidfile"
        | "device-cgroup-rule"
        | "storage-opt" => Value,
        _ => return None,
    })
}

fn container_create(args: &[String], base_dir: &Path) -> Result<AuthzRequest, CommandError> {
    let (flags, operands) =
        parse_flags(args, run_flag).map_err(|e| error(format!("docker run: {e}")))?;
    let Some((image, cmd)) = operands.split_first() else {
        return Err(error("docker run: no image given"));
    };
    let mut config = Map::new();
    let mut host = Map::new();
    let mut query: Vec<(String, String)> = Vec::new();
    let mut masked_unconfined = false;
    let mut healthcheck = Map::new();
    for (name, value) in flags {
        let name = run_long_name(&name).to_string();
        let truthy = || parse_bool(&name, &value);
        match name.as_str() {
            "detach"
            | "rm"
            | "interactive"
            | "tty"
            | "sig-proxy"
            | "quiet"
            | "q"
            | "disable-content-trust"
            | "help" => match name.as_str() {
                "rm" => {
                    host.insert("AutoRemove".into(), json!(truthy()?));
                }
                "tty" => {
                    config.insert("Tty".into(), json!(truthy()?));
                }
                "interactive" => {
                    config.insert("OpenStdin".into(), json!(truthy()?));
                }
                _ => {}
            },
            "privileged" => {
                host.insert("Privileged".into(), json!(truthy()?));
            }
            "read-only" => {
                host.insert("ReadonlyRootfs".into(), json!(truthy()?));
            }
            "publish-all" => {
                host.insert("PublishAllPorts".into(), json!(truthy()?));
            }
            "init" => {
                host.insert("Init".into(), json!(truthy()?));
            }
            "oom-kill-disable" => {
                host.insert("OomKillDisable".into(), json!(truthy()?));
            }
            "no-healthcheck" => {
                if truthy()? {
                    healthcheck.insert("Test".into(), json!(["NONE"]));
                }
            }
            "name" => query.push(("name".into(), value)),
            "platform" => query.push(("platform".into(), value)),
            "user" => {
                config.insert("User".into(), json!(value));
            }
            "workdir" => {
                config.insert("WorkingDir".into(), json!(value));
            }
            "hostname" => {
                config.insert("Hostname".into(), json!(value));
            }
            "env" => list(&mut config, "Env", json!(value)),
            "label" => {
                let (k, v) = value.split_once('=').unwrap_or((&value, ""));
                config
                    .entry("Labels")
                    .or_insert_with(|| json!({}))
                    .as_object_mut()
                    .expect("labels are a map")
                    .insert(k.to_string(), json!(v));
            }
            "entrypoint" => {
                config.insert("Entrypoint".into(), json!([value]));
            }
            "cap-add" => list(&mut host, "CapAdd", json!(value)),
            "cap-drop" => list(&mut host, "CapDrop", json!(value)),
            "group-add" => list(&mut host, "GroupAdd", json!(value)),
            "volume" => volume(&value, &mut config, &mut host)?,
            "mount" => list(&mut host, "Mounts", mount(&value)?),
            "tmpfs" => {
                let (path, options) = value.split_once(':').unwrap_or((&value, ""));
                host.entry("Tmpfs")
                    .or_insert_with(|| json!({}))
                    .as_object_mut()
                    .expect("tmpfs is a map")
                    .insert(path.to_string(), json!(options));
            }
            "pid" => mode(&mut host, "PidMode", value),
            "ipc" => mode(&mut host, "IpcMode", value),
            "uts" => mode(&mut host, "UTSMode", value),
            "userns" => mode(&mut host, "UsernsMode", value),
            "cgroupns" => mode(&mut host, "CgroupnsMode", value),
            "network" | "net" => mode(&mut host, "NetworkMode", value),
            "security-opt" => {
                if value == "systempaths=unconfined" {
                    masked_unconfined = true;
                } else {
                    list(
                        &mut host,
                        "SecurityOpt",
                        json!(security_opt(&value, base_dir)?),
                    );
                }
            }
            "device" => list(&mut host, "Devices", device(&value)),
            "publish" => publish(&value, &mut config, &mut host)?,
            "expose" => {
                let port = if value.contains('/') {
                    value
                } else {
                    format!("{value}/tcp")
                };
                config
                    .entry("ExposedPorts")
                    .or_insert_with(|| json!({}))
                    .as_object_mut()
                    .expect("ports are a map")
                    .insert(port, json!({}));
            }
            "memory" => {
                host.insert("Memory".into(), json!(ram_in_bytes(&value)?));
            }
            "memory-reservation" => {
                host.insert("MemoryReservation".into(), json!(ram_in_bytes(&value)?));
            }
            "memory-swap" => {
                let bytes = if value == "-1" {
                    -1
                } else {
                    ram_in_bytes(&value)?
                };
                host.insert("MemorySwap".into(), json!(bytes));
            }
            "shm-size" => {
                host.insert("ShmSize".into(), json!(ram_in_bytes(&value)?));
            }
            "cpus" => {
                let cpus: f64 = value
                    .parse()
                    .map_err(|_| error(format!("--cpus {value:?} is not a number")))?;
                host.insert("NanoCpus".into(), json!((cpus * 1e9).round() as i64));
            }
            "cpu-shares" => {
                host.insert("CpuShares".into(), json!(int(&name, &value)?));
            }
            "cpu-quota" => {
                host.insert("CpuQuota".into(), json!(int(&name, &value)?));
            }
            "cpu-period" => {
                host.insert("CpuPeriod".into(), json!(int(&name, &value)?));
            }
            "cpuset-cpus" => {
                host.insert("CpusetCpus".into(), json!(value));
            }
            "pids-limit" => {
                host.insert("PidsLimit".into(), json!(int(&name, &value)?));
            }
            "restart" => {
                let (policy, count) = value.split_once(':').unwrap_or((&value, ""));
                let count = if count.is_empty() {
                    0
                } else {
                    int(&name, count)?
                };
                host.insert(
                    "RestartPolicy".into(),
                    json!({"Name": policy, "MaximumRetryCount": count}),
                );
            }
            "sysctl" => {
                let (k, v) = value
                    .split_once('=')
                    .ok_or_else(|| error(format!("--sysctl {value:?}: expected NAME=VALUE")))?;
                host.entry("Sysctls")
                    .or_insert_with(|| json!({}))
                    .as_object_mut()
                    .expect("sysctls are a map")
                    .insert(k.to_string(), json!(v));
            }
            "runtime" => {
                host.insert("Runtime".into(), json!(value));
            }
            "cgroup-parent" => {
                host.insert("CgroupParent".into(), json!(value));
            }
            "isolation" => {
                host.insert("Isolation".into(), json!(value));
            }
            "volumes-from" => list(&mut host, "VolumesFrom", json!(value)),
            "health-cmd" => {
                healthcheck.insert("Test".into(), json!(["CMD-SHELL", value]));
            }
            "health-retries" => {
                healthcheck.insert("Retries".into(), json!(int(&name, &value)?));
            }
            "health-interval" | "health-timeout" | "health-start-period" => {
                let nanos = humantime::parse_duration(&value)
                    .map_err(|e| error(format!("--{name} {value:?}: {e}")))?
                    .as_nanos() as i64;
                let key = match name.as_str() {
                    "health-interval" => "Interval",
                    "health-timeout" => "Timeout",
                    _ => "StartPeriod",
                };
                healthcheck.insert(key.into(), json!(nanos));
            }
            "device-cgroup-rule" => list(&mut host, "DeviceCgroupRules", json!(value)),
            "dns" => list(&mut host, "Dns", json!(value)),
            "add-host" => list(&mut host, "ExtraHosts", json!(value)),
            "ulimit" => {
                let (ulimit, limits) = value.split_once('=').ok_or_else(|| {
                    error(format!("--ulimit {value:?}: expected NAME=SOFT[:HARD]"))
                })?;
                let (soft, hard) = limits.split_once(':').unwrap_or((limits, limits));
                list(
                    &mut host,
                    "Ulimits",
                    json!({"Name": ulimit, "Soft": int(&name, soft)?, "Hard": int(&name, hard)?}),
                );
            }
            "log-driver" => {
                log_config(&mut host).insert("Type".into(), json!(value));
            }
            "log-opt" => {
                let (k, v) = value.split_once('=').unwrap_or((&value, ""));
                log_config(&mut host)
                    .entry("Config")
                    .or_insert_with(|| json!({}))
                    .as_object_mut()
                    .expect("log options are a map")
                    .insert(k.to_string(), json!(v));
            }
            "storage-opt" => {
                let (k, v) = value.split_once('=').unwrap_or((&value, ""));
                host.entry("StorageOpt")
                    .or_insert_with(|| json!({}))
                    .as_object_mut()
                    .expect("storage options are a map")
                    .insert(k.to_string(), json!(v));
            }
            "stop-signal" => {
                config.insert("StopSignal".into(), json!(value));
            }
            "stop-timeout" => {
                config.insert("StopTimeout".into(), json!(int(&name, &value)?));
            }
            "mac-address" => {
                config.insert("MacAddress".into(), json!(value));
            }
            // What is left only changes what the client does (attach, pull, detach keys,
            // a cid file): nothing of it reaches dockerd's body. A flag that would change
            // the body is either read above or unknown, never dropped.
            "attach" | "cidfile" | "detach-keys" | "pull" => {}
            other => unreachable!("--{other} is accepted by run_flag and handled above"),
        }
    }
    if !healthcheck.is_empty() {
        config.insert("Healthcheck".into(), Value::Object(healthcheck));
    }
    if masked_unconfined {
        host.insert("MaskedPaths".into(), json!([]));
        host.insert("ReadonlyPaths".into(), json!([]));
    }
    // The CLI's defaults: `--network` is `default`, `--restart` is `no`.
    host.entry("NetworkMode")
        .or_insert_with(|| json!("default"));
    host.entry("RestartPolicy")
        .or_insert_with(|| json!({"Name": "no", "MaximumRetryCount": 0}));
    config.insert("Image".into(), json!(image));
    if !cmd.is_empty() {
        config.insert("Cmd".into(), json!(cmd));
    }
    config.insert("HostConfig".into(), Value::Object(host));
    config.insert("NetworkingConfig".into(), json!({"EndpointsConfig": {}}));
    let mut uri = format!("/{API_VERSION}/containers/create");
    if !query.is_empty() {
        let pairs: Vec<String> = query
            .iter()
            .map(|(k, v)| format!("{k}={}", encode(v)))
            .collect();
        uri = format!("{uri}?{}", pairs.join("&"));
    }
    Ok(request(uri, Some(Value::Object(config))))
}

fn exec_flag(name: &str) -> Option<Takes> {
    use Takes::*;
    Some(match run_long_name(name) {
        "detach" | "interactive" | "tty" | "privileged" => Nothing,
        "env" | "user" | "workdir" | "detach-keys" => Value,
        _ => return None,
    })
}

fn exec_create(args: &[String]) -> Result<AuthzRequest, CommandError> {
    let (flags, operands) =
        parse_flags(args, exec_flag).map_err(|e| error(format!("docker exec: {e}")))?;
    let [container, cmd @ ..] = &operands[..] else {
        return Err(error("docker exec: no container given"));
    };
    if cmd.is_empty() {
        return Err(error("docker exec: no command given"));
    }
    let mut body = json!({
        "User": "", "Privileged": false, "Tty": false, "AttachStdin": false,
        "AttachStderr": true, "AttachStdout": true, "Detach": false, "DetachKeys": "",
        "Env": null, "WorkingDir": "", "Cmd": cmd,
    });
    for (name, value) in flags {
        let name = run_long_name(&name).to_string();
        match name.as_str() {
            "privileged" => body["Privileged"] = json!(parse_bool(&name, &value)?),
            "tty" => body["Tty"] = json!(parse_bool(&name, &value)?),
            "interactive" => body["AttachStdin"] = json!(parse_bool(&name, &value)?),
            "detach" => {
                let detach = parse_bool(&name, &value)?;
                body["Detach"] = json!(detach);
                body["AttachStdout"] = json!(!detach);
                body["AttachStderr"] = json!(!detach);
            }
            "user" => body["User"] = json!(value),
            "workdir" => body["WorkingDir"] = json!(value),
            "detach-keys" => body["DetachKeys"] = json!(value),
            "env" => {
                if !body["Env"].is_array() {
                    body["Env"] = json!([]);
                }
                body["Env"]
                    .as_array_mut()
                    .expect("set above")
                    .push(json!(value));
            }
            _ => {}
        }
    }
    Ok(request(
        format!("/{API_VERSION}/containers/{}/exec", encode(container)),
        Some(body),
    ))
}

fn image_pull(args: &[String]) -> Result<AuthzRequest, CommandError> {
    let (flags, operands) = parse_flags(args, |name| match name {
        "a" | "all-tags" | "q" | "quiet" | "disable-content-trust" => Some(Takes::Nothing),
        "platform" => Some(Takes::Value),
        _ => None,
    })
    .map_err(|e| error(format!("docker pull: {e}")))?;
    let [image] = &operands[..] else {
        return Err(error("docker pull: expected exactly one image"));
    };
    let all_tags = flags.iter().any(|(n, _)| n == "a" || n == "all-tags");
    // The client sends the familiar name and the tag (or digest) apart; `latest` when the
    // reference has neither and not every tag is asked for.
    let (name, tag) = split_reference(image);
    let mut query = vec![("fromImage".to_string(), familiar(name))];
    match tag {
        Some(tag) => query.push(("tag".into(), tag.to_string())),
        None if !all_tags => query.push(("tag".into(), "latest".into())),
        None => {}
    }
    for (flag, value) in flags {
        if flag == "platform" {
            query.push(("platform".into(), value));
        }
    }
    let pairs: Vec<String> = query
        .iter()
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .collect();
    Ok(request(
        format!("/{API_VERSION}/images/create?{}", pairs.join("&")),
        None,
    ))
}

/// `name[:tag]` or `name@digest` → (name, tag or digest).
fn split_reference(image: &str) -> (&str, Option<&str>) {
    if let Some((name, digest)) = image.split_once('@') {
        return (name, Some(digest));
    }
    let last_slash = image.rfind('/').map_or(0, |i| i + 1);
    match image[last_slash..].rfind(':') {
        Some(i) => (&image[..last_slash + i], Some(&image[last_slash + i + 1..])),
        None => (image, None),
    }
}

/// Docker Hub names as the CLI shows them: `docker.io/library/alpine` → `alpine`.
fn familiar(name: &str) -> String {
    let name = name
        .strip_prefix("docker.io/")
        .or_else(|| name.strip_prefix("index.docker.io/"))
        .unwrap_or(name);
    match name.strip_prefix("library/") {
        Some(rest) if !rest.contains('/') => rest.to_string(),
        _ => name.to_string(),
    }
}

/// What Go's `url.QueryEscape` leaves as it is.
const QUERY: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

fn encode(value: &str) -> String {
    percent_encoding::utf8_percent_encode(value, QUERY).to_string()
}

fn list(map: &mut Map<String, Value>, key: &str, value: Value) {
    match map.entry(key).or_insert_with(|| Value::Array(Vec::new())) {
        Value::Array(items) => items.push(value),
        _ => unreachable!("only lists are pushed to"),
    }
}

fn log_config(host: &mut Map<String, Value>) -> &mut Map<String, Value> {
    host.entry("LogConfig")
        .or_insert_with(|| json!({"Type": "", "Config": {}}))
        .as_object_mut()
        .expect("the log config is a map")
}

fn mode(host: &mut Map<String, Value>, key: &str, value: String) {
    host.insert(key.into(), json!(value));
}

fn parse_bool(name: &str, value: &str) -> Result<bool, CommandError> {
    match value {
        "true" | "1" | "t" | "T" | "TRUE" | "True" => Ok(true),
        "false" | "0" | "f" | "F" | "FALSE" | "False" => Ok(false),
        _ => Err(error(format!("--{name}={value}: not a boolean"))),
    }
}

fn int(name: &str, value: &str) -> Result<i64, CommandError> {
    value
        .parse()
        .map_err(|_| error(format!("--{name} {value:?} is not an integer")))
}

/// `512m`, `1g`, `1024`: bytes, as go-units' `RAMInBytes` reads them (binary units).
fn ram_in_bytes(value: &str) -> Result<i64, CommandError> {
    let lower = value.to_ascii_lowercase();
    let digits_end = lower
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(lower.len());
    let (number, unit) = lower.split_at(digits_end);
    let number: f64 = number
        .parse()
        .map_err(|_| error(format!("{value:?} is not a size")))?;
    let multiplier: f64 = match unit.trim_end_matches('b').trim_end_matches('i') {
        "" => 1.0,
        "k" => 1024.0,
        "m" => 1024.0 * 1024.0,
        "g" => 1024.0 * 1024.0 * 1024.0,
        "t" => 1024f64.powi(4),
        "p" => 1024f64.powi(5),
        _ => return Err(error(format!("{value:?} is not a size"))),
    };
    Ok((number * multiplier) as i64)
}

/// `-v`: a bind or named volume (`SRC:DST[:MODE]`) goes to `Binds`, a bare container path
/// is an anonymous volume in `Volumes`, as the CLI sorts them.
fn volume(
    value: &str,
    config: &mut Map<String, Value>,
    host: &mut Map<String, Value>,
) -> Result<(), CommandError> {
    if value.is_empty() {
        return Err(error("-v: empty volume"));
    }
    if value.contains(':') {
        match host.entry("Binds").or_insert_with(|| json!([])) {
            Value::Array(binds) => binds.push(json!(value)),
            _ => unreachable!("binds are a list"),
        }
    } else {
        config
            .entry("Volumes")
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .expect("volumes are a map")
            .insert(value.to_string(), json!({}));
    }
    Ok(())
}

/// `--mount type=bind,source=/,target=/host,readonly,bind-propagation=rshared`.
fn mount(value: &str) -> Result<Value, CommandError> {
    let mut mount = Map::new();
    let mut bind = Map::new();
    let mut tmpfs = Map::new();
    let mut volume = Map::new();
    mount.insert("Type".into(), json!("volume"));
    for field in value.split(',') {
        let (key, val) = match field.split_once('=') {
            Some((k, v)) => (k.to_ascii_lowercase(), Some(v)),
            None => (field.to_ascii_lowercase(), None),
        };
        let need = |v: Option<&str>| {
            v.map(str::to_string)
                .ok_or_else(|| error(format!("--mount {value:?}: {key} needs a value")))
        };
        match key.as_str() {
            "type" => {
                mount.insert("Type".into(), json!(need(val)?));
            }
            "source" | "src" => {
                mount.insert("Source".into(), json!(need(val)?));
            }
            "target" | "dst" | "destination" => {
                mount.insert("Target".into(), json!(need(val)?));
            }
            "readonly" | "ro" => {
                let ro = match val {
                    None => true,
                    Some(v) => parse_bool(&key, v)?,
                };
                mount.insert("ReadOnly".into(), json!(ro));
            }
            "consistency" => {
                mount.insert("Consistency".into(), json!(need(val)?));
            }
            "bind-propagation" => {
                bind.insert("Propagation".into(), json!(need(val)?));
            }
            "bind-nonrecursive" => {
                bind.insert("NonRecursive".into(), json!(true));
            }
            "volume-driver" => {
                volume
                    .entry("DriverConfig")
                    .or_insert_with(|| json!({}))
                    .as_object_mut()
                    .expect("the driver config is a map")
                    .insert("Name".into(), json!(need(val)?));
            }
            "volume-nocopy" => {
                volume.insert("NoCopy".into(), json!(true));
            }
            "volume-label" | "volume-opt" => {
                let (k, v) = need(val)?
                    .split_once('=')
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .ok_or_else(|| error(format!("--mount {value:?}: {key} needs KEY=VALUE")))?;
                let (map, field) = if key == "volume-label" {
                    (&mut volume, "Labels")
                } else {
                    let driver = volume
                        .entry("DriverConfig")
                        .or_insert_with(|| json!({}))
                        .as_object_mut()
                        .expect("the driver config is a map");
                    driver.entry("Name").or_insert_with(|| json!(""));
                    (driver, "Options")
                };
                map.entry(field)
                    .or_insert_with(|| json!({}))
                    .as_object_mut()
                    .expect("options are a map")
                    .insert(k, json!(v));
            }
            "tmpfs-size" => {
                tmpfs.insert("SizeBytes".into(), json!(ram_in_bytes(&need(val)?)?));
            }
            "tmpfs-mode" => {
                let mode = u32::from_str_radix(&need(val)?, 8)
                    .map_err(|_| error(format!("--mount {value:?}: tmpfs-mode is octal")))?;
                tmpfs.insert("Mode".into(), json!(mode));
            }
            _ => return Err(error(format!("--mount {value:?}: unknown field {key:?}"))),
        }
    }
    if !bind.is_empty() {
        mount.insert("BindOptions".into(), Value::Object(bind));
    }
    if !volume.is_empty() {
        mount.insert("VolumeOptions".into(), Value::Object(volume));
    }
    if !tmpfs.is_empty() {
        mount.insert("TmpfsOptions".into(), Value::Object(tmpfs));
    }
    Ok(Value::Object(mount))
}

/// `--security-opt seccomp=FILE` is sent with the file's JSON inlined, as the CLI reads it.
fn security_opt(value: &str, base_dir: &Path) -> Result<String, CommandError> {
    let Some(file) = value
        .strip_prefix("seccomp=")
        .or_else(|| value.strip_prefix("seccomp:"))
    else {
        return Ok(value.to_string());
    };
    if file == "unconfined" || file == "builtin" {
        return Ok(value.to_string());
    }
    let path = base_dir.join(file);
    let text = std::fs::read_to_string(&path).map_err(|e| {
        error(format!(
            "--security-opt seccomp: cannot read {}: {e}",
            path.display()
        ))
    })?;
    let profile: Value = serde_json::from_str(&text).map_err(|e| {
        error(format!(
            "--security-opt seccomp: {} is not JSON: {e}",
            path.display()
        ))
    })?;
    Ok(format!("seccomp={profile}"))
}

/// `--device /dev/sda[:/dev/xvda][:rwm]`.
fn device(value: &str) -> Value {
    let parts: Vec<&str> = value.split(':').collect();
    let (host, container, permissions) = match parts[..] {
        [host] => (host, host, "rwm"),
        [host, second] if second.starts_with('/') => (host, second, "rwm"),
        [host, permissions] => (host, host, permissions),
        [host, container, permissions, ..] => (host, container, permissions),
        [] => unreachable!("split yields at least one part"),
    };
    json!({"PathOnHost": host, "PathInContainer": container, "CgroupPermissions": permissions})
}

/// `-p [IP:][HOST:]CONTAINER[/PROTO]`, host ranges not expanded.
fn publish(
    value: &str,
    config: &mut Map<String, Value>,
    host: &mut Map<String, Value>,
) -> Result<(), CommandError> {
    let (spec, proto) = value.rsplit_once('/').unwrap_or((value, "tcp"));
    // An IPv6 host IP is bracketed: `[::1]:80:80`.
    let (ip, rest) = match spec.strip_prefix('[') {
        Some(bracketed) => {
            let (ip, rest) = bracketed
                .split_once("]:")
                .ok_or_else(|| error(format!("-p {value:?}: unclosed IPv6 bracket")))?;
            (ip.to_string(), rest.to_string())
        }
        None => (String::new(), spec.to_string()),
    };
    let parts: Vec<&str> = rest.split(':').collect();
    let (ip, host_port, container_port) = match (ip.is_empty(), &parts[..]) {
        (true, [c]) => (String::new(), "", *c),
        (true, [h, c]) => (String::new(), *h, *c),
        (true, [i, h, c]) => (i.to_string(), *h, *c),
        (false, [h, c]) => (ip, *h, *c),
        _ => {
            return Err(error(format!(
                "-p {value:?}: expected [IP:][HOST:]CONTAINER"
            )));
        }
    };
    let key = format!("{container_port}/{proto}");
    config
        .entry("ExposedPorts")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .expect("ports are a map")
        .insert(key.clone(), json!({}));
    match host
        .entry("PortBindings")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .expect("bindings are a map")
        .entry(key)
        .or_insert_with(|| json!([]))
    {
        Value::Array(bindings) => bindings.push(json!({"HostIp": ip, "HostPort": host_port})),
        _ => unreachable!("bindings are lists"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(command: &str) -> (String, Value) {
        let request = authz_request(command, Path::new(".")).unwrap();
        let body = request
            .request_body
            .map(|b| {
                let bytes = base64::engine::general_purpose::STANDARD.decode(b).unwrap();
                serde_json::from_slice(&bytes).unwrap()
            })
            .unwrap_or(Value::Null);
        (request.request_uri, body)
    }

    #[test]
    fn run_flags_become_the_create_body() {
        let (uri, body) = body(
            "docker run -d --rm --name web -uroot --privileged --cap-add SYS_ADMIN \
             -v /:/host:ro -v /data -p 127.0.0.1:8080:80 --pid=host \
             --security-opt systempaths=unconfined -m 512m --restart on-failure:3 \
             nginx:1.27 sh -c 'echo hi'",
        );
        assert_eq!(uri, "/v1.41/containers/create?name=web");
        assert_eq!(body["Image"], "nginx:1.27");
        assert_eq!(body["Cmd"], json!(["sh", "-c", "echo hi"]));
        assert_eq!(body["User"], "root");
        let host = &body["HostConfig"];
        assert_eq!(host["Privileged"], true);
        assert_eq!(host["CapAdd"], json!(["SYS_ADMIN"]));
        assert_eq!(host["Binds"], json!(["/:/host:ro"]));
        assert_eq!(body["Volumes"], json!({"/data": {}}));
        assert_eq!(
            host["PortBindings"],
            json!({"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}]})
        );
        assert_eq!(host["PidMode"], "host");
        assert_eq!(host["MaskedPaths"], json!([]));
        assert_eq!(host["Memory"], 512 * 1024 * 1024);
        assert_eq!(
            host["RestartPolicy"],
            json!({"Name": "on-failure", "MaximumRetryCount": 3})
        );
        assert_eq!(host["AutoRemove"], true);
    }

    #[test]
    fn exec_and_pull() {
        let (uri, exec) = body("docker exec -it --privileged -u 0 web id");
        assert_eq!(uri, "/v1.41/containers/web/exec");
        assert_eq!(exec["Privileged"], true);
        assert_eq!(exec["User"], "0");
        assert_eq!(exec["Cmd"], json!(["id"]));
        assert_eq!(
            body("docker pull alpine").0,
            "/v1.41/images/create?fromImage=alpine&tag=latest"
        );
        assert_eq!(
            body("docker pull docker.io/library/alpine:3.20").0,
            "/v1.41/images/create?fromImage=alpine&tag=3.20"
        );
        assert_eq!(
            body("docker pull localhost:5000/team/app").0,
            "/v1.41/images/create?fromImage=localhost%3A5000%2Fteam%2Fapp&tag=latest"
        );
    }

    #[test]
    fn every_accepted_flag_is_read() {
        // A flag run_flag accepts but the body builder forgot would panic here.
        for flag in [
            "-d",
            "-i",
            "-t",
            "--rm",
            "--privileged",
            "--read-only",
            "-P",
            "--init",
            "--no-healthcheck",
            "--oom-kill-disable",
            "--disable-content-trust",
            "--sig-proxy",
            "-q",
            "-e A=1",
            "-u 1",
            "-v /a:/b",
            "-p 80",
            "-m 1g",
            "-c 2",
            "-l a=b",
            "-w /",
            "-h h",
            "-a stdout",
            "--name n",
            "--cap-add X",
            "--cap-drop X",
            "--mount type=tmpfs,dst=/t",
            "--tmpfs /t",
            "--pid host",
            "--ipc host",
            "--uts host",
            "--userns host",
            "--cgroupns host",
            "--network none",
            "--net none",
            "--security-opt no-new-privileges",
            "--device /dev/null",
            "--cpus 1",
            "--pids-limit 1",
            "--restart always",
            "--sysctl a=b",
            "--runtime r",
            "--cgroup-parent p",
            "--volumes-from c",
            "--health-cmd c",
            "--health-interval 1s",
            "--health-timeout 1s",
            "--health-retries 1",
            "--health-start-period 1s",
            "--entrypoint e",
            "--group-add g",
            "--memory-reservation 1m",
            "--memory-swap -1",
            "--cpu-quota 1",
            "--cpu-period 1",
            "--cpuset-cpus 0",
            "--expose 1",
            "--platform linux",
            "--pull never",
            "--shm-size 1m",
            "--ulimit nofile=1:2",
            "--dns 1.1.1.1",
            "--add-host a:1.1.1.1",
            "--log-driver none",
            "--log-opt a=b",
            "--stop-signal KILL",
            "--stop-timeout 1",
            "--isolation default",
            "--detach-keys ctrl-x",
            "--mac-address 02:42:ac:11:00:02",
            "--cidfile f",
            "--device-cgroup-rule 'c 8:0 rwm'",
            "--storage-opt size=1G",
        ] {
            authz_request(&format!("docker run {flag} alpine"), Path::new("."))
                .unwrap_or_else(|e| panic!("{flag}: {e}"));
        }
        let (_, body) = body(
            "docker run --device-cgroup-rule 'c 8:0 rwm' --mount type=volume,src=v,dst=/v,volume-driver=local,volume-opt=type=none,volume-opt=device=/etc alpine",
        );
        assert_eq!(
            body["HostConfig"]["DeviceCgroupRules"],
            json!(["c 8:0 rwm"])
        );
        assert_eq!(
            body["HostConfig"]["Mounts"][0]["VolumeOptions"]["DriverConfig"],
            json!({"Name": "local", "Options": {"type": "none", "device": "/etc"}})
        );
    }

    #[test]
    fn unknown_flags_are_errors() {
        let err = authz_request("docker run --frobnicate x alpine", Path::new(".")).unwrap_err();
        assert!(
            err.to_string().contains("unknown flag --frobnicate"),
            "{err}"
        );
        let err = authz_request("docker exec --env-file f web sh", Path::new(".")).unwrap_err();
        assert!(err.to_string().contains("unknown flag --env-file"), "{err}");
        for dropped in [
            "--gpus all",
            "--env-file f",
            "--ip 10.0.0.2",
            "--network-alias a",
        ] {
            let err =
                authz_request(&format!("docker run {dropped} alpine"), Path::new(".")).unwrap_err();
            assert!(err.to_string().contains("unknown flag"), "{dropped}: {err}");
        }
        let err = authz_request("docker build .", Path::new(".")).unwrap_err();
        assert!(
            err.to_string().contains("write the request as `authz:`"),
            "{err}"
        );
    }
}
