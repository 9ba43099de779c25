//! An authz request turned into the policy envelope: the route, the identity, and for calls
//! that run or change containers, the workload read from the body as dockerd reads it.

use crate::abi::{
    Container, ContainerKind, Device, DockerCall, NamespaceMode, Port, Profile, ProfileKind,
    Request, SelinuxOptions, Source, Sysctl, Volume, VolumeKind, Workload,
};
use crate::workload::{capability, host_path, image};

use super::authz::AuthzRequest;
use super::gojson::GoJson;
use super::moby::{self, BodyKind};
use super::route::{self, Class, Operation, Route};
use crate::config::DockerConfig;

/// Why a request cannot be decided; it is denied with this message.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum Undecidable {
    #[error(
        "{operation} needs its request body to be checked, but the authorization plugin received \
         none{why}; denied because the request cannot be inspected"
    )]
    MissingBody {
        operation: &'static str,
        why: &'static str,
    },
    #[error(
        "{operation} has a form-encoded body, from which dockerd reads parameters as if they \
         were in the query, but which it never shows the authorization plugin; denied because \
         the request cannot be inspected"
    )]
    FormBody { operation: &'static str },
    #[error("{operation} request body is not JSON: {reason}")]
    BadBody {
        operation: &'static str,
        reason: String,
    },
    #[error(
        "{operation} ({route}) cannot be inspected: {reason}; denied unless \
         docker.allowUninspectable lists {operation}"
    )]
    Uninspectable {
        operation: &'static str,
        route: String,
        reason: &'static str,
    },
    #[error(
        "{method} {path} is not a route of the Docker API this plugin knows; denied unless \
         docker.allowUnknownRoutes is set"
    )]
    UnknownRoute { method: String, path: String },
    #[error(
        "{operation} request body cannot be read as dockerd reads it ({reason}); dockerd \
         refuses it too"
    )]
    Refused {
        operation: &'static str,
        reason: String,
    },
}

/// Builds the envelope for an authz request, with the default rules for routes policies
/// cannot inspect (denied).
pub fn normalize(req: &AuthzRequest) -> Result<Request, Undecidable> {
    normalize_with(req, &DockerConfig::default())
}

/// Builds the envelope for an authz request.
pub fn normalize_with(req: &AuthzRequest, config: &DockerConfig) -> Result<Request, Undecidable> {
    let route = route::parse(&req.request_method, &req.request_uri);
    let op = route.operation.name();
    match route.class {
        Class::Uninspectable if !config.allow_uninspectable.iter().any(|a| a == op) => {
            let reason = route
                .pattern
                .and_then(|p| route::ROUTES.iter().find(|r| r.pattern == p))
                .map_or("", |r| r.reason);
            return Err(Undecidable::Uninspectable {
                operation: op,
                route: format!("{} {}", route.method, route.pattern.unwrap_or_default()),
                reason,
            });
        }
        Class::Unknown if !config.allow_unknown_routes => {
            return Err(Undecidable::UnknownRoute {
                method: route.method.clone(),
                path: route.path.clone(),
            });
        }
        _ => {}
    }
    // dockerd's handlers read parameters through Go's `r.Form` / `FormValue`, which take them
    // from a form-encoded (or multipart) body before the query: `POST /images/create` with
    // the body `fromImage=…`, `POST /build` with `networkmode=host`.
    if route.class == Class::Decided
        && req.headers_announce_body()
        && req.header("Content-Type").is_some_and(is_form)
    {
        return Err(Undecidable::FormBody { operation: op });
    }
    let body = match req.body() {
        Ok(body) => body.filter(|b| !b.iter().all(u8::is_ascii_whitespace)),
        Err(e) => {
            return Err(Undecidable::BadBody {
                operation: op,
                reason: e.to_string(),
            });
        }
    };

    let parsed = match &body {
        Some(bytes) => Some(read_body(&route.operation, op, bytes)?),
        None if route.operation.needs_body() => {
            let why = if req.headers_announce_body() {
                " although its headers announce one (dockerd drops bodies that are too large or \
                 not application/json)"
            } else {
                ""
            };
            return Err(Undecidable::MissingBody { operation: op, why });
        }
        // A start whose headers announce a body (old API versions take a HostConfig there)
        // may carry settings we cannot see.
        None if matches!(route.operation, Operation::ContainerStart { .. })
            && req.headers_announce_body()
            && req.header("Content-Type").is_some_and(is_json) =>
        {
            return Err(Undecidable::MissingBody {
                operation: op,
                why: " although its headers announce one (old API versions accept a HostConfig there)",
            });
        }
        None => None,
    };

    let workload = match route.operation {
        // A build's RUN steps run with settings from the query; its body is the context.
        Operation::Build => Some(build_workload(&route)),
        _ => parsed.as_ref().and_then(|(body, _)| workload(&route, body)),
    };
    let name = match &route.operation {
        Operation::ContainerCreate => route.query_value("name").map(str::to_string),
        Operation::ContainerStart { id }
        | Operation::ContainerRestart { id }
        | Operation::ContainerArchive { id }
        | Operation::ContainerUpdate { id }
        | Operation::ExecCreate { id }
        | Operation::ServiceUpdate { id } => Some(id.clone()),
        Operation::PluginUpgrade { name }
        | Operation::PluginEnable { name }
        | Operation::PluginDisable { name }
        | Operation::PluginRemove { name }
        | Operation::PluginSet { name } => Some(name.clone()),
        _ => None,
    };
    let pull_image = match route.operation {
        Operation::ImageCreate => pull_image(&route),
        _ => None,
    };

    Ok(Request {
        uid: String::new(),
        source: Source::Docker,
        operation: op.to_string(),
        kind: op.to_string(),
        subresource: None,
        user: req.user.clone(),
        groups: Vec::new(),
        namespace: None,
        name,
        dry_run: false,
        object: parsed.map_or_else(|| "{}".to_string(), |(_, text)| text),
        old_object: None,
        workload,
        docker: Some(DockerCall {
            method: route.method.clone(),
            path: route.path.clone(),
            query: route.query.clone(),
            api_version: route.api_version.clone(),
            operation: op.to_string(),
            pull_image,
            authn_method: Some(req.user_authn_method.clone()).filter(|m| !m.is_empty()),
        }),
    })
}

/// The body as dockerd's handler for `operation` decodes it, in canonical form, with its
/// text (what policies see as the object); bodies of other routes are read as plain JSON.
fn read_body(
    operation: &Operation,
    op: &'static str,
    bytes: &[u8],
) -> Result<(GoJson, String), Undecidable> {
    match BodyKind::of(operation) {
        Some(kind) => {
            let decoded = moby::decode(kind, bytes).map_err(|e| Undecidable::Refused {
                operation: op,
                reason: e.0,
            })?;
            Ok((decoded.tree, decoded.text))
        }
        None => {
            let parsed = GoJson::parse(bytes).map_err(|e| Undecidable::BadBody {
                operation: op,
                reason: e.to_string(),
            })?;
            let text = parsed.to_value().to_string();
            Ok((parsed, text))
        }
    }
}

fn is_form(content_type: &str) -> bool {
    content_type.split(';').next().is_some_and(|m| {
        let m = m.trim();
        m.eq_ignore_ascii_case("application/x-www-form-urlencoded")
            || m.eq_ignore_ascii_case("multipart/form-data")
    })
}

fn is_json(content_type: &str) -> bool {
    content_type
        .split(';')
        .next()
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
}

/// `fromImage` and `tag` of `POST /images/create`; `tag` may hold a digest. An import
/// (`fromSrc`) fetches no image from a registry.
fn pull_image(route: &Route) -> Option<crate::abi::ImageRef> {
    let from = route.query_value("fromImage").filter(|f| !f.is_empty())?;
    let reference = match route.query_value("tag").filter(|t| !t.is_empty()) {
        Some(tag) if tag.contains(':') => format!("{from}@{tag}"),
        Some(tag) => format!("{from}:{tag}"),
        None => from.to_string(),
    };
    Some(image::parse(&reference))
}

fn workload(route: &Route, body: &GoJson) -> Option<Workload> {
    match &route.operation {
        Operation::ContainerCreate => {
            // runconfig already merged the deprecated top-level HostConfig fields.
            let name = route.query_value("name").unwrap_or_default().to_string();
            Some(container_workload(
                route.operation.name(),
                name,
                body.get("Config"),
                body.get("HostConfig"),
            ))
        }
        Operation::ContainerStart { id } => {
            // Old API versions accept a HostConfig as the start body.
            Some(container_workload(
                route.operation.name(),
                id.clone(),
                &GoJson::Null,
                body.get("HostConfig"),
            ))
        }
        Operation::ContainerUpdate { id } => {
            let mut w = Workload::new(route.operation.name().into(), String::new());
            let mut c = Container::new(id.clone(), ContainerKind::Container, String::new());
            set_resources(&mut c, body);
            w.containers.push(c);
            w.restart_policy = restart_policy(body);
            Some(w)
        }
        Operation::ServiceCreate | Operation::ServiceUpdate { .. } => {
            Some(service_workload(route, body))
        }
        Operation::PluginPull | Operation::PluginUpgrade { .. } => {
            let name = route
                .query_value("remote")
                .or_else(|| route.query_value("name"))
                .unwrap_or_default();
            Some(plugin_workload(route.operation.name(), name, body))
        }
        Operation::VolumeCreate => Some(volume_workload(route, body)),
        Operation::PluginSet { name } => Some(plugin_settings_workload(route, name, body)),
        Operation::ExecCreate { id } => {
            let mut w = Workload::new(route.operation.name().into(), String::new());
            let mut c = Container::new(id.clone(), ContainerKind::Exec, String::new());
            c.privileged = body.get("Privileged").as_bool();
            set_user(&mut c, body.get("User").as_str());
            w.containers.push(c);
            Some(w)
        }
        _ => None,
    }
}

pub(super) fn container_workload(
    kind: &str,
    name: String,
    config: &GoJson,
    hc: &GoJson,
) -> Workload {
    let mut w = Workload::new(kind.to_string(), "/HostConfig".into());
    let mut c = Container::new(name, ContainerKind::Container, String::new());
    c.image = config.get("Image").as_str().map(image::parse);
    c.privileged = hc.get("Privileged").as_bool();
    c.capabilities_add = hc.get("CapAdd").strings().map(capability).collect();
    c.capabilities_drop = hc.get("CapDrop").strings().map(capability).collect();
    set_user(&mut c, config.get("User").as_str());
    security_opts(&mut c, hc.get("SecurityOpt").strings());
    c.read_only_root_filesystem = hc.get("ReadonlyRootfs").as_bool();
    c.ports = ports(config, hc);
    set_resources(&mut c, hc);
    c.masked_paths = path_list(hc.get("MaskedPaths"));
    c.readonly_paths = path_list(hc.get("ReadonlyPaths"));
    let test: Vec<&str> = config.get("Healthcheck").get("Test").strings().collect();
    c.health_check_disabled = test.first() == Some(&"NONE");
    if !test.is_empty() && !c.health_check_disabled {
        c.health_checks.push("healthcheck".into());
    }
    c.devices = hc
        .get("Devices")
        .as_array()
        .iter()
        .map(|d| Device {
            host_path: d.get("PathOnHost").as_str().unwrap_or_default().to_string(),
            container_path: d
                .get("PathInContainer")
                .as_str()
                .unwrap_or_default()
                .to_string(),
            permissions: d
                .get("CgroupPermissions")
                .as_str()
                .unwrap_or_default()
                .to_string(),
        })
        .collect();
    // A device cgroup rule lets the container create and use the devices it names (mknod is
    // among Docker's default capabilities), so each is a host device: `c 8:0 rwm`, `a *:* rwm`.
    c.devices
        .extend(hc.get("DeviceCgroupRules").strings().map(|rule| {
            let mut parts = rule.split_whitespace();
            let (kind, numbers, permissions) = (
                parts.next().unwrap_or_default(),
                parts.next().unwrap_or_default(),
                parts.next().unwrap_or_default(),
            );
            let every = kind == "a" || numbers.split(':').any(|n| n == "*");
            Device {
                host_path: if every {
                    "*".to_string()
                } else {
                    format!("{kind} {numbers}")
                },
                container_path: String::new(),
                permissions: permissions.to_string(),
            }
        }));
    w.containers.push(c);

    let ns = &mut w.namespaces;
    ns.pid = namespace_mode(hc.get("PidMode").as_str());
    ns.ipc = namespace_mode(hc.get("IpcMode").as_str());
    ns.network = namespace_mode(hc.get("NetworkMode").as_str());
    ns.uts = namespace_mode(hc.get("UTSMode").as_str());
    ns.user = namespace_mode(hc.get("UsernsMode").as_str());
    ns.cgroup = namespace_mode(hc.get("CgroupnsMode").as_str());

    w.volumes = binds(hc);
    w.volumes.extend(mounts(hc));
    w.volumes_from = hc
        .get("VolumesFrom")
        .strings()
        .map(str::to_string)
        .collect();
    w.sysctls = sysctls(hc);
    w.runtime_class = hc
        .get("Runtime")
        .as_str()
        .filter(|r| !r.is_empty())
        .map(str::to_string);
    w.restart_policy = restart_policy(hc);
    w.cgroup_parent = hc
        .get("CgroupParent")
        .as_str()
        .filter(|p| !p.is_empty())
        .map(str::to_string);
    w.labels = config
        .get("Labels")
        .map_entries()
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.as_str().unwrap_or_default().to_string()))
        .collect();
    w
}

/// `POST /volumes/create`: the local driver mounts its `device` option with mount(2), so a
/// `bind`/`rbind` in `o` binds a host path and an absolute `device` without it mounts a host
/// block device. Either is the host path it names.
fn volume_workload(route: &Route, body: &GoJson) -> Workload {
    let mut w = Workload::new(route.operation.name().into(), String::new());
    let name = body.get("Name").as_str().unwrap_or_default().to_string();
    let driver = body.get("Driver").as_str().unwrap_or_default();
    let mut c = Container::new(name.clone(), ContainerKind::Container, String::new());
    c.image = None;
    w.containers.push(c);
    for path in local_driver_host_paths(driver, body.get("DriverOpts")) {
        w.volumes.push(Volume {
            name: name.clone(),
            kind: VolumeKind::HostPath,
            source: "volume".into(),
            host_path: Some(host_path(&path)),
            read_only: false,
            pointer: "/DriverOpts".into(),
            propagation: None,
        });
    }
    w
}

/// The host paths a volume of driver `driver` with options `opts` reaches, when it is the
/// local driver (dockerd's default). The local driver hands `type`, `o` and `device` to
/// mount(2), so anything but a plain volume, a `tmpfs` or a network filesystem reaches the
/// host: `o=bind` binds `device`; a disk filesystem mounts the block device `device`; an
/// `overlay` stacks the host directories in `lowerdir`, `upperdir` and `workdir`; `proc`,
/// `sysfs`, `devtmpfs`, `cgroup`, ... mount the host kernel's own views (decided as `/proc`,
/// `/sys`, `/dev`). A relative `device` is relative to dockerd's working directory, `/` when
/// systemd starts it.
pub(super) fn local_driver_host_paths(driver: &str, opts: &GoJson) -> Vec<String> {
    if !(driver.is_empty() || driver == "local") {
        return Vec::new();
    }
    let typ = opts.get("type").as_str().unwrap_or_default();
    let options: Vec<&str> = opts
        .get("o")
        .as_str()
        .unwrap_or_default()
        .split(',')
        .collect();
    let device = opts.get("device").as_str().unwrap_or_default();
    let as_path = |p: &str| {
        if p.starts_with('/') {
            p.to_string()
        } else {
            format!("/{p}")
        }
    };
    if options.iter().any(|o| *o == "bind" || *o == "rbind") {
        return vec![as_path(device)];
    }
    let kernel_view = match typ {
        "proc" => Some("/proc"),
        "sysfs" | "cgroup" | "cgroup2" | "securityfs" | "debugfs" | "tracefs" | "bpf"
        | "configfs" | "pstore" | "efivarfs" | "fusectl" | "binfmt_misc" => Some("/sys"),
        "devtmpfs" | "devpts" | "mqueue" | "hugetlbfs" => Some("/dev"),
        _ => None,
    };
    if let Some(path) = kernel_view {
        return vec![path.to_string()];
    }
    match typ {
        // Memory, not the host's files.
        "tmpfs" | "ramfs" => Vec::new(),
        // Another machine's files (`server:/export`, `//server/share`).
        "nfs" | "nfs4" | "cifs" | "smb3" | "ceph" | "glusterfs"
            if device.contains(':') || device.starts_with("//") =>
        {
            Vec::new()
        }
        "overlay" => options
            .iter()
            .filter_map(|o| o.split_once('='))
            .filter(|(k, _)| matches!(*k, "lowerdir" | "upperdir" | "workdir"))
            .flat_map(|(_, dirs)| dirs.split(':'))
            .filter(|d| !d.is_empty())
            .map(as_path)
            .collect(),
        _ if device.is_empty() => Vec::new(),
        // A disk filesystem (or any other type) mounted from a host device or path.
        _ => vec![as_path(device)],
    }
}

/// `POST /plugins/{name}/set`: `["mnt.source=/path", "dev.path=/dev/x", "ENV=v"]`. A mount's
/// `source` is a host path and a device's `path` a host device.
fn plugin_settings_workload(route: &Route, name: &str, body: &GoJson) -> Workload {
    let mut w = Workload::new(route.operation.name().into(), String::new());
    let mut c = Container::new(name.to_string(), ContainerKind::Container, String::new());
    for (i, setting) in body.strings().enumerate() {
        let Some((key, value)) = setting.split_once('=') else {
            continue;
        };
        match key.rsplit_once('.') {
            Some((_, "source")) => w.volumes.push(Volume {
                name: String::new(),
                kind: VolumeKind::HostPath,
                source: "bind".into(),
                host_path: Some(host_path(value)),
                read_only: false,
                pointer: format!("/{i}"),
                propagation: None,
            }),
            Some((_, "path")) => c.devices.push(Device {
                host_path: value.to_string(),
                container_path: value.to_string(),
                permissions: "rwm".into(),
            }),
            _ => {}
        }
    }
    w.containers.push(c);
    w
}

/// `POST /build`: the classic builder runs each RUN step in a container with the query's
/// `networkmode`, `securityopt` and `cgroupparent` (first values, as Go's `FormValue`).
fn build_workload(route: &Route) -> Workload {
    let mut w = Workload::new(route.operation.name().into(), String::new());
    let mut c = Container::new(String::new(), ContainerKind::Container, String::new());
    security_opts(
        &mut c,
        route
            .query
            .iter()
            .filter(|(k, _)| k == "securityopt")
            .map(|(_, v)| v.as_str()),
    );
    w.containers.push(c);
    w.namespaces.network = namespace_mode(route.query_value("networkmode"));
    w.cgroup_parent = route
        .query_value("cgroupparent")
        .filter(|p| !p.is_empty())
        .map(str::to_string);
    w
}

/// `MaskedPaths` / `ReadonlyPaths`: `null` or absent leaves the daemon's defaults, while an
/// empty list turns them off.
fn path_list(value: &GoJson) -> Option<Vec<String>> {
    match value {
        GoJson::Array(_) => Some(value.strings().map(str::to_string).collect()),
        _ => None,
    }
}

/// `RestartPolicy` of a HostConfig or an update body; an empty name is the daemon's `no`.
fn restart_policy(from: &GoJson) -> Option<crate::abi::RestartPolicy> {
    let policy = from.get("RestartPolicy");
    let name = policy.get("Name").as_str().filter(|n| !n.is_empty())?;
    Some(crate::abi::RestartPolicy {
        name: name.to_ascii_lowercase(),
        maximum_retry_count: policy
            .get("MaximumRetryCount")
            .as_i64()
            .map(|n| n.clamp(0, u32::MAX as i64) as u32),
    })
}

/// `Memory`, `NanoCpus` and `PidsLimit` of a HostConfig or an update body.
fn set_resources(c: &mut Container, hc: &GoJson) {
    c.resources = resources(hc, ["Memory", "NanoCpus", "PidsLimit"]);
}

/// Memory (bytes), CPUs (nano-CPUs, as millicores) and pids limits under the given names;
/// zero means unlimited for the first two.
fn resources(from: &GoJson, [memory, cpus, pids]: [&str; 3]) -> crate::abi::Resources {
    let positive = |key: &str| from.get(key).as_i64().filter(|&v| v > 0).map(|v| v as u64);
    // `--cpus` arrives as NanoCpus; `--cpu-quota`/`--cpu-period` express the same limit.
    let quota = positive("CpuQuota").map(|q| q * 1000 / positive("CpuPeriod").unwrap_or(100_000));
    crate::abi::Resources {
        memory_limit_bytes: positive(memory),
        cpu_limit_millis: positive(cpus).map(|n| n.div_ceil(1_000_000)).or(quota),
        cpu_shares: positive("CpuShares"),
        pids_limit: from.get(pids).as_i64().filter(|&p| p != 0),
        ..Default::default()
    }
}

/// A swarm service's task: `TaskTemplate.ContainerSpec`, its resources, networks and
/// published ports. Swarm has no privileged mode or host PID/IPC; host networking is the
/// network named `host`.
pub(super) fn service_workload(route: &Route, body: &GoJson) -> Workload {
    let task = body.get("TaskTemplate");
    let spec = task.get("ContainerSpec");
    let mut w = Workload::new(
        route.operation.name().into(),
        "/TaskTemplate/ContainerSpec".into(),
    );
    let name = body.get("Name").as_str().unwrap_or_default().to_string();
    let mut c = Container::new(name, ContainerKind::Container, String::new());
    c.image = spec.get("Image").as_str().map(image::parse);
    set_user(&mut c, spec.get("User").as_str());
    c.capabilities_add = spec
        .get("CapabilityAdd")
        .strings()
        .map(capability)
        .collect();
    c.capabilities_drop = spec
        .get("CapabilityDrop")
        .strings()
        .map(capability)
        .collect();
    c.read_only_root_filesystem = spec.get("ReadOnly").as_bool();
    let selinux = spec.get("Privileges").get("SELinuxContext");
    if !selinux.is_null() {
        let text = |key: &str| {
            selinux
                .get(key)
                .as_str()
                .filter(|v| !v.is_empty())
                .map(str::to_string)
        };
        c.selinux = Some(SelinuxOptions {
            user: text("User"),
            role: text("Role"),
            type_: text("Type"),
            level: text("Level"),
            disabled: selinux.get("Disable").as_bool() == Some(true),
        });
    }
    c.resources = resources(
        task.get("Resources").get("Limits"),
        ["MemoryBytes", "NanoCPUs", "Pids"],
    );
    c.ports = body
        .get("EndpointSpec")
        .get("Ports")
        .as_array()
        .iter()
        .map(|p| Port {
            container_port: p.get("TargetPort").as_i64().unwrap_or(0) as u32,
            protocol: p.get("Protocol").as_str().unwrap_or("tcp").to_string(),
            host_ip: None,
            host_port: p.get("PublishedPort").as_i64().map(|h| h as u32),
        })
        .collect();
    w.containers.push(c);
    let networks = task
        .get("Networks")
        .as_array()
        .iter()
        .chain(body.get("Networks").as_array())
        .map(|n| n.get("Target").as_str().unwrap_or_default().to_string())
        .collect::<Vec<_>>();
    if networks.iter().any(|n| n.eq_ignore_ascii_case("host")) {
        w.namespaces.network = NamespaceMode::Host;
    }
    w.volumes = mounts(spec)
        .into_iter()
        .map(|mut v| {
            v.pointer = v
                .pointer
                .replacen("/HostConfig", "/TaskTemplate/ContainerSpec", 1);
            v
        })
        .collect();
    w.sysctls = sysctls(spec);
    // A plugin service (`TaskTemplate.PluginSpec`) installs a plugin on every node with the
    // privileges it lists.
    let plugin = task.get("PluginSpec");
    if !plugin.is_null() {
        // runtime.PluginSpec's JSON names are lower case.
        let name = plugin
            .get("remote")
            .as_str()
            .filter(|r| !r.is_empty())
            .or(plugin.get("name").as_str())
            .unwrap_or_default();
        let p = plugin_workload(route.operation.name(), name, plugin.get("privileges"));
        if p.namespaces.network == NamespaceMode::Host {
            w.namespaces.network = NamespaceMode::Host;
        }
        if p.namespaces.pid == NamespaceMode::Host {
            w.namespaces.pid = NamespaceMode::Host;
        }
        w.volumes.extend(p.volumes.into_iter().map(|mut v| {
            v.pointer = format!("/TaskTemplate/PluginSpec/Privileges{}", v.pointer);
            v
        }));
        w.containers.extend(p.containers);
    }
    w
}

/// The privileges a plugin asks for at pull or upgrade (`[{"Name": "mount", "Value": [...]}]`),
/// as the workload it would run: capabilities, host mounts, host networking, devices.
pub(super) fn plugin_workload(kind: &str, name: &str, body: &GoJson) -> Workload {
    let mut w = Workload::new(kind.to_string(), String::new());
    let mut c = Container::new(name.to_string(), ContainerKind::Container, String::new());
    c.image = Some(image::parse(name)).filter(|_| !name.is_empty());
    for (i, privilege) in body.as_array().iter().enumerate() {
        // `types.PluginPrivilege` spells its fields `Name` and `Value`; swarm's
        // `runtime.PluginPrivilege` (a plugin service) `name` and `value`.
        let field = |upper: &str, lower: &str| {
            let v = privilege.get(upper);
            if v.is_null() { privilege.get(lower) } else { v }
        };
        let values: Vec<&str> = field("Value", "value").strings().collect();
        match field("Name", "name").as_str().unwrap_or_default() {
            "capabilities" => c
                .capabilities_add
                .extend(values.iter().map(|v| capability(v))),
            "network" if values.iter().any(|v| v.eq_ignore_ascii_case("host")) => {
                w.namespaces.network = NamespaceMode::Host;
            }
            "host pid namespace" | "host-pid" if values.contains(&"true") => {
                w.namespaces.pid = NamespaceMode::Host;
            }
            "host ipc namespace" | "host-ipc" if values.contains(&"true") => {
                w.namespaces.ipc = NamespaceMode::Host;
            }
            "mount" => w.volumes.extend(values.iter().map(|path| Volume {
                name: String::new(),
                kind: VolumeKind::HostPath,
                source: "bind".into(),
                host_path: Some(host_path(path)),
                read_only: false,
                pointer: format!("/{i}"),
                propagation: None,
            })),
            "device" => c.devices.extend(values.iter().map(|path| Device {
                host_path: path.to_string(),
                container_path: path.to_string(),
                permissions: "rwm".into(),
            })),
            "allow-all-devices" if values.contains(&"true") => c.devices.push(Device {
                host_path: "*".into(),
                container_path: "*".into(),
                permissions: "rwm".into(),
            }),
            _ => {}
        }
    }
    w.containers.push(c);
    w
}

/// A `Sysctls` map (`{"net.ipv4.ip_forward": "1"}`).
fn sysctls(from: &GoJson) -> Vec<Sysctl> {
    from.get("Sysctls")
        .map_entries()
        .into_iter()
        .map(|(k, v)| Sysctl {
            name: k.to_string(),
            value: v.as_str().unwrap_or_default().to_string(),
        })
        .collect()
}

/// `host`, `container:<id>`, a private mode, or the daemon's default (empty).
fn namespace_mode(mode: Option<&str>) -> NamespaceMode {
    match mode.unwrap_or_default() {
        "" | "default" => NamespaceMode::Default,
        m if m.eq_ignore_ascii_case("host") => NamespaceMode::Host,
        m => match m.split_once(':') {
            Some((kind, target)) if kind.eq_ignore_ascii_case("container") => {
                NamespaceMode::Container(target.to_string())
            }
            _ => NamespaceMode::Private,
        },
    }
}

/// `--user`: `uid`, `name`, `uid:gid` or `name:group`. `root` is uid 0 in every image.
fn set_user(c: &mut Container, user: Option<&str>) {
    let Some(user) = user.filter(|u| !u.is_empty()) else {
        return;
    };
    c.user = Some(user.to_string());
    let (u, g) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    c.run_as_user = if u == "root" { Some(0) } else { u.parse().ok() };
    c.run_as_group = g.and_then(|g| if g == "root" { Some(0) } else { g.parse().ok() });
}

/// `SecurityOpt` entries, in both the `key=value` and the legacy `key:value` syntax.
///
/// Split as dockerd's `parseSecurityOpt` splits them: a bare `no-new-privileges` or
/// `disable` (SELinux labeling off), else at the first `=` when there is one, else at the
/// first `:`. Anything else dockerd refuses.
fn security_opts<'a>(c: &mut Container, opts: impl Iterator<Item = &'a str>) {
    for opt in opts {
        let (key, value) = match opt {
            "no-new-privileges" => ("no-new-privileges", "true"),
            "disable" => ("label", "disable"),
            _ => match opt.split_once('=').or_else(|| opt.split_once(':')) {
                Some((k, v)) => (k, v),
                None => continue,
            },
        };
        match key {
            "seccomp" => {
                let kind = match value {
                    "unconfined" => ProfileKind::Unconfined,
                    "builtin" | "" => ProfileKind::RuntimeDefault,
                    _ => ProfileKind::Localhost,
                };
                let localhost = (kind == ProfileKind::Localhost).then(|| value.to_string());
                c.seccomp = Some(Profile {
                    kind,
                    raw: value.to_string(),
                    localhost,
                });
            }
            "apparmor" => {
                let kind = match value {
                    "unconfined" => ProfileKind::Unconfined,
                    "docker-default" | "" => ProfileKind::RuntimeDefault,
                    _ => ProfileKind::Localhost,
                };
                let localhost = (kind == ProfileKind::Localhost).then(|| value.to_string());
                c.apparmor = Some(Profile {
                    kind,
                    raw: value.to_string(),
                    localhost,
                });
            }
            "label" => {
                let se = c.selinux.get_or_insert(SelinuxOptions {
                    user: None,
                    role: None,
                    type_: None,
                    level: None,
                    disabled: false,
                });
                match value.split_once(':') {
                    Some(("user", v)) => se.user = Some(v.to_string()),
                    Some(("role", v)) => se.role = Some(v.to_string()),
                    Some(("type", v)) => se.type_ = Some(v.to_string()),
                    Some(("level", v)) => se.level = Some(v.to_string()),
                    _ if value == "disable" => se.disabled = true,
                    _ => {}
                }
            }
            "no-new-privileges" => {
                // strconv.ParseBool; dockerd refuses any other value.
                let on = match value {
                    "1" | "t" | "T" | "TRUE" | "true" | "True" => true,
                    "0" | "f" | "F" | "FALSE" | "false" | "False" => false,
                    _ => continue,
                };
                c.allow_privilege_escalation = Some(!on);
            }
            _ => {}
        }
    }
}

/// `PortBindings` (`"80/tcp": [{"HostIp": "", "HostPort": "8080"}]`), and with
/// `PublishAllPorts` every exposed port on a random host port.
fn ports(config: &GoJson, hc: &GoJson) -> Vec<Port> {
    let split = |key: &str| {
        let (port, proto) = key.split_once('/').unwrap_or((key, "tcp"));
        (
            port.split('-')
                .next()
                .unwrap_or(port)
                .parse::<u32>()
                .unwrap_or(0),
            proto.to_string(),
        )
    };
    let mut out = Vec::new();
    for (key, bindings) in hc.get("PortBindings").map_entries() {
        let (container_port, protocol) = split(key);
        for b in bindings.as_array() {
            let host_port = b.get("HostPort").as_str().unwrap_or_default();
            out.push(Port {
                container_port,
                protocol: protocol.clone(),
                host_ip: b.get("HostIp").as_str().map(str::to_string),
                // An empty HostPort publishes on a random port.
                host_port: Some(
                    host_port
                        .split('-')
                        .next()
                        .unwrap_or("")
                        .parse()
                        .unwrap_or(0),
                ),
            });
        }
    }
    if hc.get("PublishAllPorts").as_bool() == Some(true) {
        for (key, _) in config.get("ExposedPorts").map_entries() {
            let (container_port, protocol) = split(key);
            out.push(Port {
                container_port,
                protocol,
                host_ip: None,
                host_port: Some(0),
            });
        }
    }
    out
}

/// `Binds`: `src:dst[:opts]` (a `src` that is not absolute names a volume), or a bare `dst`
/// for an anonymous volume.
fn binds(hc: &GoJson) -> Vec<Volume> {
    hc.get("Binds")
        .as_array()
        .iter()
        .enumerate()
        .filter_map(|(i, b)| {
            let spec = b.as_str()?;
            let parts: Vec<&str> = spec.split(':').collect();
            let (source, mode) = match parts.as_slice() {
                [_dst] => ("", ""),
                [a, b] if is_bind_mode(b) && !a.is_empty() => ("", *b),
                [src, _dst] => (*src, ""),
                [src, _dst, mode, ..] => (*src, *mode),
                [] => return None,
            };
            let read_only = mode.split(',').any(|m| m == "ro" || m == "readonly");
            let (kind, path, source_kind) = if source.starts_with('/') {
                (VolumeKind::HostPath, Some(bind_source(source)), "bind")
            } else {
                (VolumeKind::Volume, None, "volume")
            };
            Some(Volume {
                name: if source.starts_with('/') {
                    String::new()
                } else {
                    source.to_string()
                },
                kind,
                source: source_kind.to_string(),
                host_path: path,
                read_only,
                pointer: format!("/HostConfig/Binds/{i}"),
                propagation: mode
                    .split(',')
                    .find(|m| PROPAGATION_MODES.contains(m))
                    .map(str::to_string),
            })
        })
        .collect()
}

/// A bind source as dockerd mounts it: cleaned by spelling first (Go's `path.Clean`), so
/// `..` never climbs out of a symbolic link; then the host's root-level links.
pub(super) fn bind_source(raw: &str) -> crate::abi::Spelling {
    crate::abi::Spelling {
        raw: raw.to_string(),
        normalized: crate::workload::path::normalize(&crate::workload::path::clean(raw)),
    }
}

const PROPAGATION_MODES: &[&str] = &[
    "shared", "rshared", "slave", "rslave", "private", "rprivate",
];

fn is_bind_mode(text: &str) -> bool {
    text.split(',').all(|m| {
        matches!(
            m,
            "ro" | "rw"
                | "z"
                | "Z"
                | "nocopy"
                | "shared"
                | "rshared"
                | "slave"
                | "rslave"
                | "private"
                | "rprivate"
                | "consistent"
                | "cached"
                | "delegated"
        )
    })
}

/// `Mounts`: `{"Type": "bind", "Source": "/etc", "Target": "/x", "ReadOnly": true}`.
fn mounts(hc: &GoJson) -> Vec<Volume> {
    let mut out = Vec::new();
    for (i, m) in hc.get("Mounts").as_array().iter().enumerate() {
        let typ = m
            .get("Type")
            .as_str()
            .unwrap_or_default()
            .to_ascii_lowercase();
        let source = m.get("Source").as_str().unwrap_or_default();
        let driver = m.get("VolumeOptions").get("DriverConfig");
        let volume = |kind, host_path| Volume {
            name: if typ == "volume" {
                source.to_string()
            } else {
                String::new()
            },
            kind,
            source: typ.clone(),
            host_path,
            read_only: m.get("ReadOnly").as_bool() == Some(true),
            pointer: format!("/HostConfig/Mounts/{i}"),
            propagation: m
                .get("BindOptions")
                .get("Propagation")
                .as_str()
                .filter(|p| !p.is_empty())
                .map(str::to_string),
        };
        match typ.as_str() {
            "bind" => out.push(volume(VolumeKind::HostPath, Some(bind_source(source)))),
            // A volume created on first use with the local driver's options.
            "volume" => {
                let paths = local_driver_host_paths(
                    driver.get("Name").as_str().unwrap_or_default(),
                    driver.get("Options"),
                );
                if paths.is_empty() {
                    out.push(volume(VolumeKind::Volume, None));
                }
                for p in paths {
                    out.push(volume(VolumeKind::HostPath, Some(host_path(&p))));
                }
            }
            "tmpfs" => out.push(volume(VolumeKind::Tmpfs, None)),
            _ => out.push(volume(VolumeKind::Other, None)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    fn authz(method: &str, uri: &str, body: Option<&str>) -> AuthzRequest {
        let mut r = AuthzRequest {
            request_method: method.into(),
            request_uri: uri.into(),
            ..Default::default()
        };
        if let Some(b) = body {
            r.request_body = Some(base64::engine::general_purpose::STANDARD.encode(b));
            r.request_headers
                .insert("Content-Type".into(), "application/json".into());
            r.request_headers
                .insert("Content-Length".into(), b.len().to_string());
        }
        r
    }

    #[test]
    fn create_reads_hostconfig_like_dockerd() {
        let body = r#"{"Image":"alpine:3.19","hostconfig":{"PRIVILEGED":true,"CapAdd":["cap_sys_admin"],
            "Binds":["/var/run/docker.sock:/s","data:/d:ro","/srv/app:/app:ro,Z"],
            "Mounts":[{"type":"bind","source":"/etc//","target":"/e"}],"PidMode":"host","IpcMode":"container:db",
            "SecurityOpt":["seccomp:unconfined","no-new-privileges","label=disable"]}}"#;
        let req = normalize(&authz(
            "POST",
            "/v1.43/containers/create?name=web",
            Some(body),
        ))
        .unwrap();
        let w = req.workload.unwrap();
        let c = &w.containers[0];
        assert_eq!(c.name, "web");
        assert_eq!(c.privileged, Some(true));
        assert_eq!(c.capabilities_add[0].normalized, "SYS_ADMIN");
        assert_eq!(c.image.as_ref().unwrap().repository, "library/alpine");
        assert_eq!(c.seccomp.as_ref().unwrap().kind, ProfileKind::Unconfined);
        assert_eq!(c.allow_privilege_escalation, Some(false));
        assert!(c.selinux.as_ref().unwrap().disabled);
        assert_eq!(w.namespaces.pid, NamespaceMode::Host);
        assert_eq!(w.namespaces.ipc, NamespaceMode::Container("db".into()));
        let paths: Vec<_> = w
            .volumes
            .iter()
            .map(|v| {
                (
                    v.kind,
                    v.host_path.as_ref().map(|p| p.normalized.clone()),
                    v.read_only,
                )
            })
            .collect();
        assert_eq!(
            paths,
            vec![
                (VolumeKind::HostPath, Some("/run/docker.sock".into()), false),
                (VolumeKind::Volume, None, true),
                (VolumeKind::HostPath, Some("/srv/app".into()), true),
                (VolumeKind::HostPath, Some("/etc".into()), false),
            ]
        );
    }

    #[test]
    fn legacy_top_level_hostconfig() {
        let req = normalize(&authz(
            "POST",
            "/containers/create",
            Some(r#"{"Image":"x","Privileged":true}"#),
        ))
        .unwrap();
        assert_eq!(req.workload.unwrap().containers[0].privileged, Some(true));
    }

    #[test]
    fn missing_body_fails_closed() {
        let mut r = authz("POST", "/v1.43/containers/create", None);
        r.request_headers
            .insert("Content-Type".into(), "text/plain".into());
        r.request_headers
            .insert("Content-Length".into(), "120".into());
        assert!(matches!(
            normalize(&r),
            Err(Undecidable::MissingBody { .. })
        ));
        assert!(matches!(
            normalize(&authz(
                "POST",
                "/v1.43/containers/web/exec",
                Some("not json")
            )),
            Err(Undecidable::Refused { .. })
        ));
        // Listing needs no body.
        assert!(normalize(&authz("GET", "/v1.43/containers/json", None)).is_ok());
    }

    #[test]
    fn form_bodies_hide_parameters_and_fail_closed() {
        for (uri, content_type) in [
            ("/v1.41/images/create", "application/x-www-form-urlencoded"),
            ("/build", "Application/X-WWW-Form-Urlencoded; charset=utf-8"),
            ("/v1.41/build?t=x", "multipart/form-data; boundary=x"),
        ] {
            let mut r = authz("POST", uri, None);
            r.request_headers
                .insert("Content-Type".into(), content_type.into());
            r.request_headers
                .insert("Content-Length".into(), "40".into());
            assert!(
                matches!(normalize(&r), Err(Undecidable::FormBody { .. })),
                "{uri} {content_type}"
            );
        }
        // Without a body, or on a route nothing is decided by, nothing is hidden.
        let mut r = authz("POST", "/v1.41/images/create?fromImage=tiny", None);
        r.request_headers.insert(
            "Content-Type".into(),
            "application/x-www-form-urlencoded".into(),
        );
        r.request_headers
            .insert("Content-Length".into(), "0".into());
        assert!(normalize(&r).is_ok());
    }

    #[test]
    fn pull_reads_from_image_and_tag() {
        let req = normalize(&authz(
            "POST",
            "/v1.43/images/create?fromImage=registry.example.com%2Fteam%2Fapp&tag=1.4.2",
            None,
        ))
        .unwrap();
        let image = req.docker.unwrap().pull_image.unwrap();
        assert_eq!(
            (image.registry.as_str(), image.repository.as_str()),
            ("registry.example.com", "team/app")
        );
        assert_eq!(image.tag.as_deref(), Some("1.4.2"));
    }

    #[test]
    fn exec_user_and_privileged() {
        let req = normalize(&authz(
            "POST",
            "/v1.43/containers/web/exec",
            Some(r#"{"User":"root:root","Privileged":true}"#),
        ))
        .unwrap();
        let c = &req.workload.unwrap().containers[0];
        assert_eq!(c.kind, ContainerKind::Exec);
        assert_eq!((c.run_as_user, c.privileged), (Some(0), Some(true)));
    }

    #[test]
    fn old_api_start_with_a_hostconfig_body_is_read() {
        let req = normalize(&authz(
            "POST",
            "/v1.23/containers/abc/start",
            Some(r#"{"Privileged":true,"PidMode":"host"}"#),
        ))
        .unwrap();
        let w = req.workload.unwrap();
        assert_eq!(w.containers[0].privileged, Some(true));
        assert_eq!(w.namespaces.pid, NamespaceMode::Host);
        // A start whose JSON body was dropped cannot be checked.
        let mut dropped = authz("POST", "/v1.23/containers/abc/start", None);
        dropped
            .request_headers
            .insert("Content-Type".into(), "application/json".into());
        dropped
            .request_headers
            .insert("Content-Length".into(), "30".into());
        assert!(matches!(
            normalize(&dropped),
            Err(Undecidable::MissingBody { .. })
        ));
        // Today's clients start with no body at all.
        let mut plain = authz("POST", "/v1.43/containers/abc/start", None);
        plain
            .request_headers
            .insert("Content-Length".into(), "0".into());
        assert!(normalize(&plain).unwrap().workload.is_none());
    }

    #[test]
    fn empty_and_whitespace_bodies_fail_closed() {
        for body in ["", "   \n"] {
            let r = authz("POST", "/v1.43/containers/create", Some(body));
            assert!(
                matches!(normalize(&r), Err(Undecidable::MissingBody { .. })),
                "{body:?}"
            );
        }
        // dockerd cannot decode an array into its create request; neither do we.
        let r = authz("POST", "/v1.43/containers/create", Some("[1,2]"));
        assert!(matches!(normalize(&r), Err(Undecidable::Refused { .. })));
    }

    #[test]
    fn legacy_colon_options_and_capability_spellings() {
        let body = r#"{"HostConfig":{"SecurityOpt":["apparmor:unconfined","label:disable","no-new-privileges:true"],"CapAdd":["CAP_NET_ADMIN","net_raw"]}}"#;
        let req = normalize(&authz("POST", "/containers/create", Some(body))).unwrap();
        let c = &req.workload.unwrap().containers[0];
        assert_eq!(c.apparmor.as_ref().unwrap().kind, ProfileKind::Unconfined);
        assert!(c.selinux.as_ref().unwrap().disabled);
        assert_eq!(c.allow_privilege_escalation, Some(false));
        let caps: Vec<_> = c
            .capabilities_add
            .iter()
            .map(|s| s.normalized.as_str())
            .collect();
        assert_eq!(caps, ["NET_ADMIN", "NET_RAW"]);
    }

    #[test]
    fn services_and_plugins_are_workloads_too() {
        let body = r#"{"Name":"web","TaskTemplate":{"ContainerSpec":{"Image":"nginx:1.25","CapabilityAdd":["CAP_SYS_ADMIN"],
            "Mounts":[{"Type":"bind","Source":"/var/run/docker.sock","Target":"/s"}]},"Networks":[{"Target":"host"}]}}"#;
        let req = normalize(&authz("POST", "/v1.43/services/create", Some(body))).unwrap();
        let w = req.workload.unwrap();
        assert_eq!(w.containers[0].capabilities_add[0].normalized, "SYS_ADMIN");
        assert_eq!(w.namespaces.network, NamespaceMode::Host);
        assert_eq!(
            w.volumes[0].host_path.as_ref().unwrap().normalized,
            "/run/docker.sock"
        );
        assert_eq!(w.volumes[0].pointer, "/TaskTemplate/ContainerSpec/Mounts/0");

        let privileges = r#"[{"Name":"network","Value":["host"]},{"Name":"mount","Value":["/var/lib/docker"]},{"Name":"capabilities","Value":["CAP_SYS_ADMIN"]}]"#;
        let req = normalize(&authz(
            "POST",
            "/v1.43/plugins/pull?remote=vieux/sshfs:latest&name=sshfs",
            Some(privileges),
        ))
        .unwrap();
        let w = req.workload.unwrap();
        assert_eq!(w.namespaces.network, NamespaceMode::Host);
        assert_eq!(
            w.volumes[0].host_path.as_ref().unwrap().normalized,
            "/var/lib/docker"
        );
        assert_eq!(w.containers[0].capabilities_add[0].normalized, "SYS_ADMIN");
        assert_eq!(
            w.containers[0].image.as_ref().unwrap().repository,
            "vieux/sshfs"
        );
    }

    #[test]
    fn update_reads_resources() {
        let req = normalize(&authz(
            "POST",
            "/v1.43/containers/web/update",
            Some(r#"{"Memory":1048576,"PidsLimit":-1}"#),
        ))
        .unwrap();
        let c = &req.workload.unwrap().containers[0];
        assert_eq!(
            (c.resources.memory_limit_bytes, c.resources.pids_limit),
            (Some(1048576), Some(-1))
        );
    }

    #[test]
    fn host_access_outside_create_is_a_host_path() {
        let host = |req: Request| -> Vec<String> {
            req.workload
                .unwrap()
                .volumes
                .iter()
                .filter_map(|v| v.host_path.as_ref().map(|p| p.normalized.clone()))
                .collect()
        };
        let volume = |body: &str| normalize(&authz("POST", "/v1.41/volumes/create", Some(body)));
        assert_eq!(
            host(
                volume(r#"{"Name":"v","DriverOpts":{"type":"none","o":"bind","device":"/etc"}}"#)
                    .unwrap()
            ),
            ["/etc"]
        );
        assert_eq!(
            host(volume(r#"{"Name":"v","Driver":"local","DriverOpts":{"o":"ro,rbind","device":"var/run"}}"#).unwrap()),
            ["/run"]
        );
        assert_eq!(
            host(volume(r#"{"DriverOpts":{"type":"ext4","device":"/dev/sda1"}}"#).unwrap()),
            ["/dev/sda1"]
        );
        // Every other way mount(2) reaches the host: a relative device, the kernel's own
        // filesystems, an overlay of host directories. Memory and network filesystems do not.
        for (opts, want) in [
            (
                r#"{"type":"ext4","device":"dev/loop0"}"#,
                vec!["/dev/loop0"],
            ),
            (r#"{"type":"proc","device":"proc"}"#, vec!["/proc"]),
            (r#"{"type":"sysfs","device":"x"}"#, vec!["/sys"]),
            (r#"{"type":"cgroup2","device":"none"}"#, vec!["/sys"]),
            (r#"{"type":"devtmpfs","device":"udev"}"#, vec!["/dev"]),
            (
                r#"{"type":"overlay","device":"overlay","o":"lowerdir=/etc:/srv/a,upperdir=/srv/up,workdir=/srv/w"}"#,
                vec!["/etc", "/srv/a", "/srv/up", "/srv/w"],
            ),
            (r#"{"type":"tmpfs","device":"tmpfs","o":"size=1m"}"#, vec![]),
            (
                r#"{"type":"nfs","device":":/export","o":"addr=10.0.0.1"}"#,
                vec![],
            ),
            (r#"{"type":"cifs","device":"//server/share"}"#, vec![]),
        ] {
            let body = format!(r#"{{"Name":"v","DriverOpts":{opts}}}"#);
            assert_eq!(host(volume(&body).unwrap()), want, "{opts}");
        }
        assert!(
            host(volume(r#"{"DriverOpts":{"type":"tmpfs","device":"tmpfs"}}"#).unwrap()).is_empty()
        );
        assert!(
            host(volume(r#"{"Driver":"other","DriverOpts":{"o":"bind","device":"/"}}"#).unwrap())
                .is_empty()
        );

        let mount = r#"{"HostConfig":{"Mounts":[{"Type":"volume","Source":"v","Target":"/t",
            "VolumeOptions":{"DriverConfig":{"Options":{"o":"bind","device":"/sbin/.."}}}}]}}"#;
        let req = normalize(&authz("POST", "/v1.41/containers/create", Some(mount))).unwrap();
        assert_eq!(host(req), ["/usr"]);

        let set = normalize(&authz(
            "POST",
            "/v1.41/plugins/sshfs/set",
            Some(r#"["mymount.source=/root","DEBUG=1","dev.path=/dev/sda"]"#),
        ))
        .unwrap();
        let w = set.workload.clone().unwrap();
        assert_eq!(w.containers[0].devices[0].host_path, "/dev/sda");
        assert_eq!(host(set), ["/root"]);
    }

    #[test]
    fn builds_devices_and_security_options_as_dockerd_reads_them() {
        let build = normalize(&authz(
            "POST",
            "/v1.41/build?networkmode=host&securityopt=seccomp%3Dunconfined&cgroupparent=/x",
            None,
        ))
        .unwrap();
        let w = build.workload.unwrap();
        assert_eq!(w.namespaces.network, NamespaceMode::Host);
        assert_eq!(
            w.containers[0].seccomp.as_ref().unwrap().kind,
            ProfileKind::Unconfined
        );
        assert_eq!(w.cgroup_parent.as_deref(), Some("/x"));

        let body = r#"{"HostConfig":{"DeviceCgroupRules":["c 8:0 rwm","b *:* r"],
            "SecurityOpt":["disable","no-new-privileges=T","seccomp:x=y"]}}"#;
        let req = normalize(&authz("POST", "/v1.41/containers/create", Some(body))).unwrap();
        let c = &req.workload.unwrap().containers[0];
        let devices: Vec<_> = c.devices.iter().map(|d| d.host_path.as_str()).collect();
        assert_eq!(devices, ["c 8:0", "*"]);
        assert!(c.selinux.as_ref().unwrap().disabled);
        assert_eq!(c.allow_privilege_escalation, Some(false));
    }

    #[test]
    fn uninspectable_and_unknown_routes_are_denied_unless_allowed() {
        let plugin = authz("POST", "/v1.41/plugins/create?name=x", None);
        assert!(matches!(
            normalize(&plugin),
            Err(Undecidable::Uninspectable { .. })
        ));
        let allowed = DockerConfig {
            allow_uninspectable: vec!["plugin-create".into()],
            ..Default::default()
        };
        assert!(normalize_with(&plugin, &allowed).is_ok());
        let unknown = authz("POST", "/v1.41/containers/x/frobnicate", None);
        assert!(matches!(
            normalize(&unknown),
            Err(Undecidable::UnknownRoute { .. })
        ));
        let allowed = DockerConfig {
            allow_unknown_routes: true,
            ..Default::default()
        };
        assert!(normalize_with(&unknown, &allowed).is_ok());
        assert!(normalize(&authz("GET", "/v1.41/anything/new", None)).is_ok());
    }

    /// Bodies are read in their canonical form, where a misspelled member is silently absent:
    /// every member this file reads must be a JSON name of some moby request type.
    #[test]
    fn every_member_read_is_a_moby_json_name() {
        let schema = crate::docker::gojson::Schema::get();
        let names: std::collections::HashSet<&str> = schema
            .types
            .iter()
            .filter_map(|t| match &t.kind {
                crate::docker::gojson::schema::Kind::Struct(s) => Some(s),
                _ => None,
            })
            .flat_map(|s| s.fields.iter().map(|f| &*f.name))
            .collect();
        let source = include_str!("normalize.rs");
        let code = &source[..source.find("#[cfg(test)]").unwrap()];
        let mut read = 0;
        for piece in code.split(".get(\"").skip(1) {
            let name = &piece[..piece.find('"').unwrap()];
            // Local-driver options are a map's keys, not struct fields.
            if ["device", "o", "type"].contains(&name) {
                continue;
            }
            assert!(
                names.contains(name),
                "normalize.rs reads {name:?}, which no moby type has"
            );
            read += 1;
        }
        assert!(read > 50, "only {read} members found");
    }
}
