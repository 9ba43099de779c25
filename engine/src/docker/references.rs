//! What a call refers to, looked up in the daemon and made part of the workload, so that
//! every policy decides the call by what it will really do:
//!
//! - a namespace joined from another container (`container:<x>`) is the host's when `<x>`'s
//!   is, following `<x>`'s own joins; joining `<x>`'s PID namespace also reaches `<x>`'s
//!   host binds (through `/proc/<pid>/root`);
//! - `VolumesFrom` gives the new container `<x>`'s mounts, binds included;
//! - a named volume of the local driver created with a `device` is the host path it mounts;
//! - a service update with `?rollback=previous` restores the service's previous spec;
//! - enabling a plugin runs it with the settings made before;
//! - a bind source is the real path on the host, symbolic links followed
//!   (`host_paths.rs`), and is refused when it lies inside a directory another container can
//!   write to, where a link could be planted between this check and the mount;
//! - a start mounts and joins again: it is decided as the container it starts when any of
//!   that resolves differently from how the container was written.
//!
//! A reference that cannot be looked up makes the call undecidable (denied unless
//! `docker.allowUnresolved`). Calls that refer to nothing ask nothing.

use std::path::Path;

use crate::abi::{NamespaceMode, Request, Volume, VolumeKind, Workload};
use crate::config::DockerConfig;
use crate::workload::path::{clean, is_within, normalize};
use crate::workload::pointer_to_field;

use super::daemon::{LookupError, Lookups, Object};
use super::gojson::GoJson;
use super::host_paths;
use super::normalize::{
    bind_source, container_workload, local_driver_host_paths, plugin_workload, service_workload,
};
use super::route::{Operation, Route};

/// A reference the door could not look up; the call is denied with this message.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "{what} cannot be resolved: {why}; denied because the request cannot be decided without \
     it (docker.allowUnresolved decides it as written)"
)]
pub struct Unresolved {
    pub what: String,
    pub why: String,
}

/// A bind whose path another container could change between this check and the mount.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "{field}: the bind source {path} lies inside {writable}, which container {container} can \
     write to, so a part of the path could be replaced by a symbolic link after this check; \
     denied (docker.allowBindsInsideWritableMounts allows it)"
)]
pub struct Swappable {
    pub field: String,
    pub path: String,
    pub writable: String,
    pub container: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RefError {
    #[error(transparent)]
    Unresolved(#[from] Unresolved),
    #[error(transparent)]
    Swappable(#[from] Swappable),
}

/// What resolution found that the request did not say, for the decision's message.
pub type Notes = Vec<String>;

/// The containers created through this door since it started, by full ID, as their create
/// request described them (`Config` and `HostConfig`, as dockerd decoded them): recorded
/// from `AuthZRes`, where dockerd shows the request and the ID it answered. A start of one
/// needs no inspect: its settings cannot change but through the API, and its references are
/// resolved anew. A bounded record; what falls out is inspected.
#[derive(Default)]
pub struct Created {
    known: std::sync::Mutex<std::collections::HashMap<String, GoJson>>,
}

impl Created {
    const BOUND: usize = 4096;

    /// Records the container an `AuthZRes` of a successful create made.
    pub fn record(&self, authz: &super::AuthzRequest) {
        let route = super::route::parse(&authz.request_method, &authz.request_uri);
        if route.operation != Operation::ContainerCreate || authz.response_status_code != Some(201)
        {
            return;
        }
        let Some(id) = authz
            .response_body()
            .ok()
            .flatten()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .and_then(|v| v["Id"].as_str().map(str::to_string))
        else {
            return;
        };
        let Some(doc) = authz.body().ok().flatten().and_then(|b| {
            super::moby::decode(super::moby::BodyKind::of(&route.operation)?, &b)
                .ok()
                .map(|decoded| decoded.tree)
        }) else {
            return;
        };
        let mut known = self.known.lock().expect("not poisoned");
        if known.len() >= Self::BOUND {
            known.clear();
        }
        known.insert(id, doc);
    }

    /// `{"Config":…,"HostConfig":…}` of the container with this full ID, if it was created
    /// here.
    fn get(&self, id: &str) -> Option<GoJson> {
        if id.len() != 64 {
            return None;
        }
        self.known.lock().expect("not poisoned").get(id).cloned()
    }
}

/// Whether deciding this call needs anything beyond its own bytes.
pub fn refers_to_anything(route: &Route, request: &Request) -> bool {
    let in_workload = request.workload.as_ref().is_some_and(|w| {
        !w.volumes_from.is_empty()
            || w.volumes.iter().any(|v| {
                v.host_path.is_some() || (v.kind == VolumeKind::Volume && !v.name.is_empty())
            })
            || [&w.namespaces.network, &w.namespaces.pid, &w.namespaces.ipc]
                .iter()
                .any(|m| matches!(m, NamespaceMode::Container(_)))
    });
    match &route.operation {
        Operation::ContainerStart { .. }
        | Operation::ContainerRestart { .. }
        | Operation::ContainerArchive { .. }
        | Operation::PluginEnable { .. } => true,
        Operation::ContainerCreate => in_workload || publishes_all_ports(&request.object),
        Operation::ServiceUpdate { .. } if route.query_value("rollback") == Some("previous") => {
            true
        }
        Operation::ServiceCreate | Operation::ServiceUpdate { .. } => {
            in_workload
                || service_networks(&request.object)
                    .iter()
                    .any(|n| !n.eq_ignore_ascii_case("host"))
        }
        _ => in_workload,
    }
}

/// Resolves what `request` refers to and folds it into its workload. Each reference that
/// cannot be looked up refuses the call, or with `docker.allowUnresolved` leaves that part
/// as written.
pub async fn resolve(
    route: &Route,
    request: &mut Request,
    config: &DockerConfig,
    lookups: &mut Lookups<'_>,
    created: Option<&Created>,
) -> Result<Notes, RefError> {
    let mut notes = Notes::new();
    let started = matches!(
        route.operation,
        Operation::ContainerStart { .. }
            | Operation::ContainerRestart { .. }
            | Operation::ContainerArchive { .. }
    );
    match &route.operation {
        Operation::ContainerStart { id }
        | Operation::ContainerRestart { id }
        | Operation::ContainerArchive { id } => {
            let r = start(id, request, config, lookups, created, &mut notes).await;
            settle(r, config, &mut notes)?;
        }
        Operation::PluginEnable { name } => {
            let r = enable(route, name, request, lookups, &mut notes).await;
            settle(r, config, &mut notes)?;
        }
        Operation::ServiceUpdate { id } if route.query_value("rollback") == Some("previous") => {
            let r = rollback(route, id, request, lookups, &mut notes).await;
            settle(r, config, &mut notes)?;
        }
        _ => {}
    }
    let networks = match route.operation {
        Operation::ServiceCreate | Operation::ServiceUpdate { .. } => {
            service_networks(&request.object)
        }
        _ => Vec::new(),
    };
    let Some(workload) = request.workload.as_mut() else {
        return Ok(notes);
    };
    for network in networks {
        match is_host_network(lookups, &network).await {
            Ok(true) if workload.namespaces.network != NamespaceMode::Host => {
                workload.namespaces.network = NamespaceMode::Host;
                notes.push(format!("network {network} is the host's network"));
            }
            Ok(_) => {}
            Err(e) => settle(Err(e), config, &mut notes)?,
        }
    }
    if route.operation == Operation::ContainerCreate && publishes_all_ports(&request.object) {
        let r = image_ports(workload, lookups, &mut notes).await;
        settle(r, config, &mut notes)?;
    }
    let r = namespaces(workload, lookups, &mut notes, started).await;
    settle(r, config, &mut notes)?;
    let r = volumes_from(workload, lookups, &mut notes).await;
    settle(r, config, &mut notes)?;
    let r = named_volumes(workload, lookups, &mut notes).await;
    settle(r, config, &mut notes)?;
    let r = host_paths(workload, config, &mut notes);
    settle(r, config, &mut notes)?;
    // What a container mounts is checked for swappable paths when it is created; a start
    // re-resolves links but does not refuse a container made before for where its binds
    // lie (docs/docker-door.md).
    if !config.allow_binds_inside_writable_mounts && !started {
        let r = not_swappable(workload, config, lookups).await;
        settle(r, config, &mut notes)?;
    }
    Ok(notes)
}

/// `HostConfig.PublishAllPorts` (`docker run -P`) in a create's canonical body. The body is
/// Go's `json.Marshal` of what dockerd decodes, so a set flag is written exactly so (a string
/// holding the same text has its quotes escaped): the scan spares the parse of every create,
/// and the parse confirms the few that match.
fn publishes_all_ports(object: &str) -> bool {
    object.contains("\"PublishAllPorts\":true")
        && serde_json::from_str::<serde_json::Value>(object)
            .ok()
            .and_then(|body| body.get("HostConfig")?.get("PublishAllPorts")?.as_bool())
            == Some(true)
}

/// `docker run -P` publishes every port the *image* exposes, not only those the request
/// names (`--expose`, `-p`): dockerd merges the image's `ExposedPorts` into the container's
/// at create. Each becomes a port published on a random host port of every interface, as
/// it will be.
async fn image_ports(
    workload: &mut Workload,
    lookups: &mut Lookups<'_>,
    notes: &mut Notes,
) -> Result<(), Unresolved> {
    for container in &mut workload.containers {
        let Some(image) = container.image.as_ref().map(|i| i.raw.trim().to_string()) else {
            continue;
        };
        if image.is_empty() {
            continue;
        }
        // An image the daemon does not have cannot be created from (`docker run` pulls it
        // first, through this door).
        let Some(doc) = lookups
            .inspect(Object::Image, &image)
            .await
            .map_err(|e| Unresolved {
                what: format!("image {image:?}"),
                why: e.to_string(),
            })?
        else {
            continue;
        };
        let mut added = Vec::new();
        for (key, _) in doc.get("Config").get("ExposedPorts").map_entries() {
            let (port, protocol) = key.split_once('/').unwrap_or((key, "tcp"));
            let Ok(container_port) = port.split('-').next().unwrap_or(port).parse::<u32>() else {
                continue;
            };
            let known = container.ports.iter().any(|p| {
                p.container_port == container_port && p.protocol.eq_ignore_ascii_case(protocol)
            });
            if !known {
                container.ports.push(crate::abi::Port {
                    container_port,
                    protocol: protocol.to_ascii_lowercase(),
                    host_ip: None,
                    host_port: Some(0),
                });
                added.push(key.to_string());
            }
        }
        if !added.is_empty() {
            notes.push(format!(
                "-P publishes the ports image {image:?} exposes: {}",
                added.join(", ")
            ));
        }
    }
    Ok(())
}

/// A step's outcome: with `docker.allowUnresolved`, what could not be looked up is left as
/// written and said in the notes.
fn settle<E: Into<RefError>>(
    result: Result<(), E>,
    config: &DockerConfig,
    notes: &mut Notes,
) -> Result<(), RefError> {
    match result.map_err(Into::into) {
        Err(RefError::Unresolved(e)) if config.allow_unresolved => {
            notes.push(format!(
                "{} could not be looked up ({}), decided as written",
                e.what, e.why
            ));
            Ok(())
        }
        other => other,
    }
}

/// `POST /plugins/{name}/enable`: decided as the plugin will run.
async fn enable(
    route: &Route,
    name: &str,
    request: &mut Request,
    lookups: &mut Lookups<'_>,
    notes: &mut Notes,
) -> Result<(), Unresolved> {
    let plugin = found(
        lookups.inspect(Object::Plugin, name).await,
        Object::Plugin,
        name,
    )?;
    request.workload = Some(enabled_plugin(route.operation.name(), name, &plugin));
    request.object = plugin.to_value().to_string();
    notes.push(format!(
        "plugin {name} is enabled with its current settings"
    ));
    Ok(())
}

/// `POST /services/{id}/update?rollback=previous`: swarm replaces the body's spec with the
/// service's previous one.
async fn rollback(
    route: &Route,
    id: &str,
    request: &mut Request,
    lookups: &mut Lookups<'_>,
    notes: &mut Notes,
) -> Result<(), Unresolved> {
    let service = found(
        lookups.inspect(Object::Service, id).await,
        Object::Service,
        id,
    )?;
    let previous = service.get("PreviousSpec");
    if !previous.is_null() {
        request.workload = Some(service_workload(route, previous));
        request.object = previous.to_value().to_string();
        notes.push(format!(
            "?rollback=previous restores service {id}'s previous spec, which is what was decided"
        ));
    }
    Ok(())
}

/// An inspect answer, or why there is none.
fn found(
    answer: Result<Option<GoJson>, LookupError>,
    object: Object,
    name: &str,
) -> Result<GoJson, Unresolved> {
    let what = format!("{} {name:?}", object.noun());
    match answer {
        Ok(Some(doc)) => Ok(doc),
        Ok(None) => Err(Unresolved {
            what,
            why: format!("the daemon has no such {}", object.noun()),
        }),
        Err(e) => Err(Unresolved {
            what,
            why: e.to_string(),
        }),
    }
}

/// `POST /containers/{id}/start` and `/restart`: the container's binds are mounted and its
/// namespaces joined now, so it is decided as the container it starts when any of them
/// resolves differently from how it is written.
async fn start(
    id: &str,
    request: &mut Request,
    config: &DockerConfig,
    lookups: &mut Lookups<'_>,
    created: Option<&Created>,
    notes: &mut Notes,
) -> Result<(), RefError> {
    // A container this door saw created is known without asking the daemon (dockerd starts
    // `docker run`'s container by its full ID); any other is inspected.
    let container = match created.and_then(|c| c.get(id)) {
        Some(known) => known,
        None => found(
            lookups.inspect(Object::Container, id).await,
            Object::Container,
            id,
        )?,
    };
    // API < 1.24 starts with a new HostConfig, which replaces the container's.
    let body = GoJson::parse(request.object.as_bytes()).unwrap_or(GoJson::Null);
    let hc = match body.get("HostConfig") {
        GoJson::Null => container.get("HostConfig"),
        given => given,
    };
    let mut whole = container_workload(
        request.operation.as_str(),
        id.to_string(),
        container.get("Config"),
        hc,
    );
    // What is mounted is the container's mount points, those it got from `VolumesFrom` at
    // create included; a start with a HostConfig registers that one's mounts too. A
    // container known from its create has its binds, and those of the containers it names.
    match container.get("Mounts") {
        GoJson::Null => {
            let mut copied = Notes::new();
            volumes_from(&mut whole, lookups, &mut copied).await?;
        }
        mounts => {
            let mut mounted: Vec<Volume> = mounts
                .as_array()
                .iter()
                .enumerate()
                .map(|(i, m)| mount_point(m, &format!("/Mounts/{i}")))
                .collect();
            if body.get("HostConfig").is_null() {
                whole.volumes_from.clear();
            } else {
                mounted.append(&mut whole.volumes);
            }
            whole.volumes = mounted;
        }
    }
    let mut found_here = Notes::new();
    // A start's own HostConfig that publishes ports publishes those the container exposes
    // (its image's included, merged at create), which the start body does not show.
    let given = body.get("HostConfig");
    let publishes_all = given.get("PublishAllPorts").as_bool() == Some(true);
    if publishes_all || !given.get("PortBindings").map_entries().is_empty() {
        found_here.push(format!(
            "the start of {id} publishes ports with a HostConfig of its own (API < 1.24): \
             decided with the ports the container exposes"
        ));
        if publishes_all {
            // A container known from its create has only the ports its create named; the
            // image's are merged by dockerd.
            image_ports(&mut whole, lookups, &mut found_here).await?;
        }
    }
    namespaces(&mut whole, lookups, &mut found_here, true).await?;
    host_paths(&mut whole, config, &mut found_here)?;
    if found_here.is_empty() {
        // Nothing resolves differently from create: the start is decided by its own body.
        return Ok(());
    }
    notes.extend(found_here);
    notes.push(match request.operation.as_str() {
        "container-archive" => {
            format!("a copy into or out of {id} mounts its binds: decided as the container")
        }
        _ => format!("the start of {id} is decided as the container it starts"),
    });
    request.object = serde_json::json!({
        "Config": container.get("Config").to_value(),
        "HostConfig": hc.to_value(),
        "Mounts": container.get("Mounts").to_value(),
    })
    .to_string();
    request.workload = Some(whole);
    Ok(())
}

/// Namespaces joined from other containers: the host's when the container joined (or the
/// one it joins in turn) uses the host's. Joining a container's PID namespace also reaches,
/// through `/proc/<pid>/`, its files (binds included) and the network and IPC namespaces its
/// processes are in. At create (`at_start` false) a network join of a container that does
/// not exist yet is left to the start, when dockerd resolves it.
async fn namespaces(
    workload: &mut Workload,
    lookups: &mut Lookups<'_>,
    notes: &mut Notes,
    at_start: bool,
) -> Result<(), Unresolved> {
    const KINDS: [(&str, &str); 3] = [
        ("NetworkMode", "network"),
        ("PidMode", "process"),
        ("IpcMode", "IPC"),
    ];
    for (field, what) in KINDS {
        let mode = match field {
            "NetworkMode" => &workload.namespaces.network,
            "PidMode" => &workload.namespaces.pid,
            _ => &workload.namespaces.ipc,
        };
        let NamespaceMode::Container(first) = mode.clone() else {
            continue;
        };
        let mut chain = vec![first.clone()];
        // The containers' names, for messages (dockerd stores a join by ID).
        let mut shown: Vec<String> = Vec::new();
        let mut host = false;
        let mut reached = Vec::new();
        // Through a PID join: (network, IPC) of the processes seen in /proc.
        let mut seen_host = (false, false);
        // A join of a join is the same namespace; a chain longer than this is refused.
        loop {
            let name = chain.last().expect("not empty").clone();
            let answer = lookups.inspect(Object::Container, &name).await;
            if field == "NetworkMode" && !at_start && chain.len() == 1 && matches!(answer, Ok(None))
            {
                notes.push(format!(
                    "HostConfig.NetworkMode joins container {name}, which does not exist yet: decided when the container starts"
                ));
                break;
            }
            let c = found(answer, Object::Container, &name)?;
            shown.push(
                c.get("Name")
                    .as_str()
                    .map(|n| n.trim_start_matches('/').to_string())
                    .filter(|n| !n.is_empty())
                    .unwrap_or(name),
            );
            let hc = c.get("HostConfig");
            if field == "PidMode" {
                reached.extend(host_binds(&c));
                seen_host.0 |= hc.get("NetworkMode").as_str() == Some("host");
                seen_host.1 |= hc.get("IpcMode").as_str() == Some("host");
            }
            let next = hc.get(field).as_str().unwrap_or_default().to_string();
            match next.split_once(':') {
                _ if next.eq_ignore_ascii_case("host") => {
                    host = true;
                    break;
                }
                Some((kind, target)) if kind.eq_ignore_ascii_case("container") => {
                    chain.push(target.to_string());
                }
                _ => break,
            }
            if chain.len() > 15 {
                return Err(Unresolved {
                    what: format!("HostConfig.{field} container:{first}"),
                    why: "it joins more than 15 containers in a row".into(),
                });
            }
        }
        let Some(first) = shown.first().cloned() else {
            continue;
        };
        let via = if shown.len() > 1 {
            format!(" (through {})", shown[1..].join(", "))
        } else {
            String::new()
        };
        if host {
            let slot = match field {
                "NetworkMode" => &mut workload.namespaces.network,
                "PidMode" => &mut workload.namespaces.pid,
                _ => &mut workload.namespaces.ipc,
            };
            *slot = NamespaceMode::Host;
            notes.push(format!(
                "HostConfig.{field} joins the {what} namespace of container {first}{via}, which is the host's"
            ));
        }
        if !reached.is_empty() {
            notes.push(format!(
                "HostConfig.{field}: the files of container {first}'s processes are reachable through /proc, its binds included"
            ));
            workload.volumes.extend(reached);
        }
        if seen_host.0 && workload.namespaces.network != NamespaceMode::Host {
            workload.namespaces.network = NamespaceMode::Host;
            notes.push(format!(
                "HostConfig.PidMode: container {first}{via} is on the host's network, which its processes show through /proc"
            ));
        }
        if seen_host.1 && workload.namespaces.ipc != NamespaceMode::Host {
            workload.namespaces.ipc = NamespaceMode::Host;
            notes.push(format!(
                "HostConfig.PidMode: container {first}{via} is in the host's IPC namespace, which its processes show through /proc"
            ));
        }
    }
    Ok(())
}

/// Whether the network named or numbered `name` is the host's (the predefined network of
/// the `host` driver). Only swarm asks: a service task attached to the host network by ID
/// gets the host's namespace, while a container whose `NetworkMode` is that ID gets a
/// namespace of its own (dockerd compares `NetworkMode` with the literal `host`).
async fn is_host_network(lookups: &mut Lookups<'_>, name: &str) -> Result<bool, Unresolved> {
    if name.eq_ignore_ascii_case("host") {
        return Ok(true);
    }
    let network = found(
        lookups.inspect(Object::Network, name).await,
        Object::Network,
        name,
    )?;
    Ok(network.get("Driver").as_str() == Some("host"))
}

/// The networks a service spec attaches its tasks to (`TaskTemplate.Networks`, and the
/// deprecated top-level `Networks`).
fn service_networks(object: &str) -> Vec<String> {
    let Ok(spec) = GoJson::parse(object.as_bytes()) else {
        return Vec::new();
    };
    spec.get("TaskTemplate")
        .get("Networks")
        .as_array()
        .iter()
        .chain(spec.get("Networks").as_array())
        .filter_map(|n| n.get("Target").as_str())
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect()
}

/// `VolumesFrom: ["x", "y:ro"]`: every mount of `x` (its binds, its volumes) becomes the
/// new container's, read-only where the mode says so.
async fn volumes_from(
    workload: &mut Workload,
    lookups: &mut Lookups<'_>,
    notes: &mut Notes,
) -> Result<(), Unresolved> {
    let from = std::mem::take(&mut workload.volumes_from);
    for (i, spec) in from.iter().enumerate() {
        let (name, mode) = spec.split_once(':').unwrap_or((spec.as_str(), ""));
        let c = found(
            lookups.inspect(Object::Container, name).await,
            Object::Container,
            name,
        )?;
        let pointer = format!("/HostConfig/VolumesFrom/{i}");
        let read_only = mode.split(',').any(|m| m == "ro");
        let mut shown = Vec::new();
        for m in c.get("Mounts").as_array() {
            let mut v = mount_point(m, &pointer);
            v.read_only |= read_only;
            shown.push(format!(
                "{}:{}",
                m.get("Source")
                    .as_str()
                    .or(m.get("Name").as_str())
                    .unwrap_or_default(),
                m.get("Destination").as_str().unwrap_or_default()
            ));
            workload.volumes.push(v);
        }
        if !shown.is_empty() {
            notes.push(format!(
                "HostConfig.VolumesFrom[{i}] {spec:?} gives it container {name}'s mounts: {}",
                shown.join(", ")
            ));
        }
    }
    workload.volumes_from = from;
    Ok(())
}

/// One of a container's mount points as dockerd reports them (`Mounts` of inspect or list).
fn mount_point(m: &GoJson, pointer: &str) -> Volume {
    let typ = m
        .get("Type")
        .as_str()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let source = m.get("Source").as_str().unwrap_or_default();
    let (kind, host_path, name) = match typ.as_str() {
        "bind" => (
            VolumeKind::HostPath,
            Some(bind_source(source)),
            String::new(),
        ),
        "volume" => (
            VolumeKind::Volume,
            None,
            m.get("Name").as_str().unwrap_or_default().to_string(),
        ),
        "tmpfs" => (VolumeKind::Tmpfs, None, String::new()),
        _ => (VolumeKind::Other, None, String::new()),
    };
    Volume {
        name,
        kind,
        source: typ,
        host_path,
        read_only: m.get("RW").as_bool() == Some(false),
        pointer: pointer.to_string(),
        propagation: m
            .get("Propagation")
            .as_str()
            .filter(|p| !p.is_empty())
            .map(str::to_string),
    }
}

/// The binds of container `c`, reached through its processes' `/proc/<pid>/root`.
fn host_binds(c: &GoJson) -> Vec<Volume> {
    c.get("Mounts")
        .as_array()
        .iter()
        .map(|m| mount_point(m, "/HostConfig/PidMode"))
        .filter(|v| v.kind == VolumeKind::HostPath)
        .collect()
}

/// Named volumes that exist: a local-driver volume created with a `device` is a mount of
/// that host path or device.
async fn named_volumes(
    workload: &mut Workload,
    lookups: &mut Lookups<'_>,
    notes: &mut Notes,
) -> Result<(), Unresolved> {
    let mut reached = Vec::new();
    for v in workload.volumes.iter_mut() {
        if v.kind != VolumeKind::Volume || v.name.is_empty() {
            continue;
        }
        // A volume that does not exist yet is created empty by the local driver (or with
        // the mount's own driver options, already decided).
        let Some(volume) = lookups
            .inspect(Object::Volume, &v.name)
            .await
            .map_err(|e| Unresolved {
                what: format!("volume {:?}", v.name),
                why: e.to_string(),
            })?
        else {
            continue;
        };
        let driver = volume.get("Driver").as_str().unwrap_or_default();
        let paths = local_driver_host_paths(driver, volume.get("Options"));
        if paths.is_empty() {
            continue;
        }
        notes.push(format!(
            "volume {:?} is the host's {} (local driver options)",
            v.name,
            paths.join(", ")
        ));
        v.kind = VolumeKind::HostPath;
        for (i, path) in paths.iter().enumerate() {
            let spelling = crate::workload::host_path(path);
            if i == 0 {
                v.host_path = Some(spelling);
            } else {
                reached.push(Volume {
                    host_path: Some(spelling),
                    ..v.clone()
                });
            }
        }
    }
    workload.volumes.extend(reached);
    Ok(())
}

/// Every host path resolved on the host (when `docker.hostRoot` is set).
fn host_paths(
    workload: &mut Workload,
    config: &DockerConfig,
    notes: &mut Notes,
) -> Result<(), Unresolved> {
    if config.host_root.is_empty() {
        return Ok(());
    }
    let root = Path::new(&config.host_root);
    for v in workload.volumes.iter_mut() {
        let Some(spelling) = v.host_path.as_mut() else {
            continue;
        };
        let real = host_paths::resolve(root, &mounted_path(&v.pointer, &v.source, &spelling.raw))
            .map_err(|e| Unresolved {
            what: format!("host path {}", spelling.raw),
            why: e.to_string(),
        })?;
        // The table of distribution-wide links still applies on a host without them:
        // stricter, never looser.
        let real = normalize(&real);
        if real != spelling.normalized {
            notes.push(format!(
                "host path {} is {real} on this host (symbolic links followed)",
                spelling.raw
            ));
            spelling.normalized = real;
        }
    }
    Ok(())
}

/// The path the kernel is given: dockerd cleans a container's bind sources by spelling
/// first (Go's `path.Clean`), while a volume's `device` and a plugin's mounts reach
/// mount(2) as written.
fn mounted_path(pointer: &str, source: &str, raw: &str) -> String {
    let container_bind = source == "bind"
        && ["/HostConfig/", "/Mounts/", "/TaskTemplate/ContainerSpec/"]
            .iter()
            .any(|p| pointer.starts_with(p));
    if container_bind {
        clean(raw)
    } else {
        raw.to_string()
    }
}

/// Refuses a bind whose source lies strictly inside a directory that a running container
/// has mounted writable: from inside, that container can swap a component of the path for a
/// symbolic link between this check and the mount. Only a running container can act in that
/// window. A writable mount counts at its real path on the host, and a local volume at the
/// host paths its options name as well as at its data directory.
async fn not_swappable(
    workload: &Workload,
    config: &DockerConfig,
    lookups: &mut Lookups<'_>,
) -> Result<(), RefError> {
    // Each bind as written (cleaned as dockerd cleans it) and as resolved on the host.
    let binds: Vec<(&Volume, String, &str)> = workload
        .volumes
        .iter()
        .filter_map(|v| {
            let h = v.host_path.as_ref()?;
            let written = normalize(&mounted_path(&v.pointer, &v.source, &h.raw));
            Some((v, written, h.normalized.as_str()))
        })
        .collect();
    if binds.is_empty() {
        return Ok(());
    }
    let containers = lookups.running_containers().await.map_err(|e| Unresolved {
        what: "the running containers that can write to host paths".into(),
        why: e.to_string(),
    })?;
    let real = |path: &str| -> String {
        match config.host_root.as_str() {
            "" => normalize(path),
            root => host_paths::resolve(Path::new(root), path)
                .map(|p| normalize(&p))
                .unwrap_or_else(|_| normalize(path)),
        }
    };
    for c in &containers {
        let id = c.get("Id").as_str().unwrap_or_default();
        let name = c
            .get("Names")
            .strings()
            .next()
            .map_or(id, |n| n.trim_start_matches('/'))
            .to_string();
        for m in c.get("Mounts").as_array() {
            if m.get("RW").as_bool() != Some(true) {
                continue;
            }
            let mut writable: Vec<String> = m
                .get("Source")
                .as_str()
                .filter(|s| !s.is_empty())
                .map(|s| vec![real(s)])
                .unwrap_or_default();
            if m.get("Type").as_str() == Some("volume")
                && let Some(volume_name) = m.get("Name").as_str()
                && let Ok(Some(volume)) = lookups.inspect(Object::Volume, volume_name).await
            {
                let driver = volume.get("Driver").as_str().unwrap_or_default();
                writable.extend(
                    local_driver_host_paths(driver, volume.get("Options"))
                        .iter()
                        .map(|p| real(p)),
                );
            }
            for writable in writable {
                let inside = |path: &str| path != writable && is_within(path, &writable);
                for (v, written, resolved) in &binds {
                    if inside(written) || inside(resolved) {
                        return Err(Swappable {
                            field: pointer_to_field(&v.pointer),
                            path: written.clone(),
                            writable,
                            container: name,
                        }
                        .into());
                    }
                }
            }
        }
    }
    Ok(())
}

/// `POST /plugins/{name}/enable`: the plugin as it will run, from its config and the
/// settings made before (`GET /plugins/{name}/json`).
fn enabled_plugin(kind: &str, name: &str, plugin: &GoJson) -> Workload {
    let config = plugin.get("Config");
    let settings = plugin.get("Settings");
    let linux = config.get("Linux");
    // The privileges the daemon would list for it, as `types.PluginPrivilege`s.
    let mut privileges = Vec::new();
    let mut privilege = |name: &str, values: Vec<String>| {
        privileges.push(serde_json::json!({"Name": name, "Value": values}));
    };
    if config.get("Network").get("Type").as_str() == Some("host") {
        privilege("network", vec!["host".into()]);
    }
    if config.get("PidHost").as_bool() == Some(true) {
        privilege("host pid namespace", vec!["true".into()]);
    }
    // The mounts it runs with: those of its config, with the sources set since (runc binds
    // any mount whose options say `bind`/`rbind`, whatever its type), and its propagated
    // mount, which is shared with the host.
    let is_bind = |m: &GoJson| {
        matches!(m.get("Type").as_str().unwrap_or_default(), "" | "bind")
            || m.get("Options")
                .strings()
                .any(|o| o == "bind" || o == "rbind")
    };
    let mut mounts: Vec<String> = config
        .get("Mounts")
        .as_array()
        .iter()
        .chain(settings.get("Mounts").as_array())
        .filter(|m| is_bind(m))
        .filter_map(|m| {
            m.get("Source")
                .as_str()
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        })
        .collect();
    mounts.sort();
    mounts.dedup();
    if !mounts.is_empty() {
        privilege("mount", mounts);
    }
    let devices: Vec<String> = settings
        .get("Devices")
        .as_array()
        .iter()
        .filter_map(|d| {
            d.get("Path")
                .as_str()
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        })
        .collect();
    if !devices.is_empty() {
        privilege("device", devices);
    }
    if linux.get("AllowAllDevices").as_bool() == Some(true) {
        privilege("allow-all-devices", vec!["true".into()]);
    }
    let caps: Vec<String> = linux
        .get("Capabilities")
        .strings()
        .map(str::to_string)
        .collect();
    if !caps.is_empty() {
        privilege("capabilities", caps);
    }
    let list = GoJson::parse(serde_json::Value::Array(privileges).to_string().as_bytes())
        .expect("JSON we made");
    let mut w = plugin_workload(kind, name, &list);
    for v in &mut w.volumes {
        v.pointer = "/Settings/Mounts".into();
    }
    if config.get("IpcHost").as_bool() == Some(true) {
        w.namespaces.ipc = NamespaceMode::Host;
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(text: &str) -> GoJson {
        GoJson::parse(text.as_bytes()).unwrap()
    }

    #[test]
    fn a_plugin_is_enabled_with_the_settings_made_before() {
        // `GET /plugins/{name}/json` of a plugin whose mount source was set to /.
        let plugin = json(
            r#"{"Name":"p:latest","Enabled":false,
                "Settings":{"Mounts":[{"Name":"data","Source":"/","Destination":"/data","Type":"bind","Options":["rbind"],"Settable":["source"]}],
                            "Env":[],"Args":[],"Devices":[{"Name":"dev","Path":"/dev/sda"}]},
                "Config":{"Network":{"Type":"host"},"PidHost":false,"IpcHost":true,
                          "Linux":{"Capabilities":["CAP_SYS_ADMIN"],"AllowAllDevices":false,"Devices":null}}}"#,
        );
        let w = enabled_plugin("plugin-enable", "p:latest", &plugin);
        assert_eq!(w.namespaces.network, NamespaceMode::Host);
        assert_eq!(w.namespaces.ipc, NamespaceMode::Host);
        assert_eq!(w.namespaces.pid, NamespaceMode::Default);
        assert_eq!(w.volumes.len(), 1);
        assert_eq!(w.volumes[0].host_path.as_ref().unwrap().normalized, "/");
        assert_eq!(w.volumes[0].pointer, "/Settings/Mounts");
        let c = &w.containers[0];
        assert_eq!(c.capabilities_add[0].normalized, "SYS_ADMIN");
        assert_eq!(c.devices[0].host_path, "/dev/sda");
    }

    #[test]
    fn mount_points_as_dockerd_reports_them() {
        let bind = json(
            r#"{"Type":"bind","Source":"/srv/data","Destination":"/d","Mode":"","RW":false,"Propagation":"rprivate"}"#,
        );
        let v = mount_point(&bind, "/HostConfig/VolumesFrom/0");
        assert_eq!(v.kind, VolumeKind::HostPath);
        assert!(v.read_only);
        assert_eq!(v.propagation.as_deref(), Some("rprivate"));
        let volume = json(
            r#"{"Type":"volume","Name":"datavol","Source":"/var/lib/docker/volumes/datavol/_data","Destination":"/data","Driver":"local","RW":true}"#,
        );
        let v = mount_point(&volume, "/Mounts/1");
        assert_eq!((v.kind, v.name.as_str()), (VolumeKind::Volume, "datavol"));
        assert_eq!(v.host_path, None);
        assert!(!v.read_only);
    }

    #[test]
    fn bind_sources_are_cleaned_before_the_kernel_sees_them_and_devices_are_not() {
        assert_eq!(
            mounted_path("/HostConfig/Binds/0", "bind", "/srv/link/.."),
            "/srv"
        );
        assert_eq!(
            mounted_path(
                "/TaskTemplate/ContainerSpec/Mounts/0",
                "bind",
                "/a/./b/../c"
            ),
            "/a/c"
        );
        assert_eq!(
            mounted_path("/DriverOpts/device", "volume", "/srv/link/.."),
            "/srv/link/.."
        );
        assert_eq!(mounted_path("/3", "bind", "/srv/link/.."), "/srv/link/..");
    }

    #[test]
    fn fields_are_shown_as_policies_show_them() {
        assert_eq!(
            pointer_to_field("/HostConfig/Binds/0"),
            "HostConfig.Binds[0]"
        );
        assert_eq!(pointer_to_field("/Mounts/12"), "Mounts[12]");
    }
}
