//! Docker API paths normalized as dockerd routes them, so that no spelling of a path reaches
//! a handler without being recognised: percent-decoding (the router matches the decoded
//! path), the optional `/v<version>` prefix (any digits and dots), dot segments, repeated and
//! trailing slashes. Routes are matched case-insensitively: dockerd's router is case-sensitive,
//! so this only ever recognises more, never less.

use percent_encoding::percent_decode_str;

/// What an API call does, as far as policies care.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operation {
    ContainerCreate,
    ContainerStart {
        id: String,
    },
    ContainerRestart {
        id: String,
    },
    /// `docker cp`: dockerd mounts the container's volumes and binds on the host.
    ContainerArchive {
        id: String,
    },
    ContainerUpdate {
        id: String,
    },
    ExecCreate {
        id: String,
    },
    ImageCreate,
    Build,
    PluginPull,
    PluginUpgrade {
        name: String,
    },
    PluginEnable {
        name: String,
    },
    PluginDisable {
        name: String,
    },
    PluginRemove {
        name: String,
    },
    PluginSet {
        name: String,
    },
    PluginCreate,
    ServiceCreate,
    ServiceUpdate {
        id: String,
    },
    NetworkCreate,
    VolumeCreate,
    /// BuildKit's `/session` and `/grpc`: a stream the plugin never sees.
    BuildKitSession,
    SwarmJoin,
    Other,
}

impl Operation {
    /// The name policies see in `request.operation`.
    pub fn name(&self) -> &'static str {
        match self {
            Operation::ContainerCreate => "container-create",
            Operation::ContainerStart { .. } => "container-start",
            Operation::ContainerRestart { .. } => "container-restart",
            Operation::ContainerArchive { .. } => "container-archive",
            Operation::ContainerUpdate { .. } => "container-update",
            Operation::ExecCreate { .. } => "exec-create",
            Operation::ImageCreate => "image-create",
            Operation::Build => "build",
            Operation::PluginPull => "plugin-pull",
            Operation::PluginUpgrade { .. } => "plugin-upgrade",
            Operation::PluginEnable { .. } => "plugin-enable",
            Operation::PluginDisable { .. } => "plugin-disable",
            Operation::PluginRemove { .. } => "plugin-remove",
            Operation::PluginSet { .. } => "plugin-set",
            Operation::PluginCreate => "plugin-create",
            Operation::ServiceCreate => "service-create",
            Operation::ServiceUpdate { .. } => "service-update",
            Operation::NetworkCreate => "network-create",
            Operation::VolumeCreate => "volume-create",
            Operation::BuildKitSession => "buildkit-session",
            Operation::SwarmJoin => "swarm-join",
            Operation::Other => "other",
        }
    }

    /// Operations that cannot be decided without their JSON body. dockerd forwards a body to
    /// the plugin only when it is `application/json`, while plugin pull, upgrade and set and
    /// service create and update decode any body whatever its content type.
    pub fn needs_body(&self) -> bool {
        matches!(
            self,
            Operation::ContainerCreate
                | Operation::PluginPull
                | Operation::PluginUpgrade { .. }
                | Operation::ContainerUpdate { .. }
                | Operation::ExecCreate { .. }
                | Operation::PluginSet { .. }
                | Operation::ServiceCreate
                | Operation::ServiceUpdate { .. }
                | Operation::VolumeCreate
        )
    }
}

/// How the Docker door treats a route of dockerd's router (docs/docker-routes.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Starts, changes or enters a container, or gives one host resources: decided from its
    /// body and query.
    Decided,
    /// Can give host access through something the plugin never sees (a tarball, a stream,
    /// another daemon): denied unless the config allows the route by name.
    Uninspectable,
    /// Reads, or changes nothing a policy guards.
    Harmless,
    /// Not a route of dockerd 20.10's router. Reads pass; anything else is denied, since a
    /// newer daemon's route may do anything.
    Unknown,
}

/// One route of dockerd's router, with gorilla/mux's pattern syntax: `{name:.*}` matches any
/// number of segments (container names may contain `/`), `{id}` exactly one.
pub struct RouteSpec {
    pub method: &'static str,
    pub pattern: &'static str,
    pub class: Class,
    /// Why it is in its class, for the route table in the docs.
    pub reason: &'static str,
}

const fn route(
    method: &'static str,
    pattern: &'static str,
    class: Class,
    reason: &'static str,
) -> RouteSpec {
    RouteSpec {
        method,
        pattern,
        class,
        reason,
    }
}

use Class::{Decided, Harmless, Uninspectable};

const CHANGES_NO_HOST_ACCESS: &str = "changes nothing policies guard";
const READS: &str = "reads";
const ARCHIVE: &str = "mounts the container's binds on the host to copy through them: decided as the container when they resolve differently";

/// Every non-read route of dockerd 20.10 (api/server/router/*), in its registration order,
/// and the reads that are decided too (`docker cp` out of a container mounts its binds).
/// Every other GET, HEAD and OPTIONS route only reads and is harmless.
pub static ROUTES: &[RouteSpec] = &[
    route("POST", "/auth", Harmless, "checks registry credentials"),
    route(
        "POST",
        "/build",
        Decided,
        "RUN steps run with the query's network mode, security options and cgroup parent",
    ),
    route("POST", "/build/cancel", Harmless, CHANGES_NO_HOST_ACCESS),
    route("POST", "/build/prune", Harmless, CHANGES_NO_HOST_ACCESS),
    route(
        "POST",
        "/commit",
        Harmless,
        "makes an image; containers run from it are decided at create",
    ),
    route(
        "POST",
        "/configs/create",
        Harmless,
        "stores data for services",
    ),
    route(
        "POST",
        "/configs/{id}/update",
        Harmless,
        "stores data for services",
    ),
    route("POST", "/containers/create", Decided, "creates a container"),
    route(
        "POST",
        "/containers/prune",
        Harmless,
        CHANGES_NO_HOST_ACCESS,
    ),
    route(
        "POST",
        "/containers/{name:.*}/attach",
        Harmless,
        "attaches to a decided container",
    ),
    route(
        "POST",
        "/containers/{name:.*}/checkpoints",
        Harmless,
        "checkpoints a decided container",
    ),
    route(
        "POST",
        "/containers/{name:.*}/copy",
        Harmless,
        "removed in API 1.12",
    ),
    route(
        "POST",
        "/containers/{name:.*}/exec",
        Decided,
        "runs a process in a container, possibly privileged",
    ),
    route(
        "POST",
        "/containers/{name:.*}/kill",
        Harmless,
        CHANGES_NO_HOST_ACCESS,
    ),
    route(
        "POST",
        "/containers/{name:.*}/pause",
        Harmless,
        CHANGES_NO_HOST_ACCESS,
    ),
    route(
        "POST",
        "/containers/{name:.*}/rename",
        Harmless,
        CHANGES_NO_HOST_ACCESS,
    ),
    route(
        "POST",
        "/containers/{name:.*}/resize",
        Harmless,
        CHANGES_NO_HOST_ACCESS,
    ),
    route(
        "POST",
        "/containers/{name:.*}/restart",
        Decided,
        "mounts and joins again: decided as the container it starts when that resolves differently",
    ),
    route(
        "POST",
        "/containers/{name:.*}/start",
        Decided,
        "mounts and joins: decided as the container it starts when that resolves differently; API < 1.24 takes a HostConfig in the body",
    ),
    route(
        "POST",
        "/containers/{name:.*}/stop",
        Harmless,
        CHANGES_NO_HOST_ACCESS,
    ),
    route(
        "POST",
        "/containers/{name:.*}/unpause",
        Harmless,
        CHANGES_NO_HOST_ACCESS,
    ),
    route(
        "POST",
        "/containers/{name:.*}/update",
        Decided,
        "changes resources and the restart policy",
    ),
    route("POST", "/containers/{name:.*}/wait", Harmless, READS),
    route(
        "POST",
        "/exec/{name:.*}/resize",
        Harmless,
        CHANGES_NO_HOST_ACCESS,
    ),
    route(
        "POST",
        "/exec/{name:.*}/start",
        Harmless,
        "starts an exec decided when it was created",
    ),
    route(
        "POST",
        "/grpc",
        Uninspectable,
        "BuildKit's gRPC stream: builds the plugin never sees",
    ),
    route("POST", "/images/create", Decided, "pulls an image"),
    route("POST", "/images/load", Harmless, "loads image layers"),
    route("POST", "/images/prune", Harmless, CHANGES_NO_HOST_ACCESS),
    route("POST", "/images/{name:.*}/push", Harmless, READS),
    route(
        "POST",
        "/images/{name:.*}/tag",
        Harmless,
        CHANGES_NO_HOST_ACCESS,
    ),
    route("POST", "/networks/create", Decided, "creates a network"),
    route("POST", "/networks/prune", Harmless, CHANGES_NO_HOST_ACCESS),
    route(
        "POST",
        "/networks/{id:.*}/connect",
        Harmless,
        "dockerd refuses connecting to the host network",
    ),
    route(
        "POST",
        "/networks/{id:.*}/disconnect",
        Harmless,
        CHANGES_NO_HOST_ACCESS,
    ),
    route(
        "POST",
        "/nodes/{id}/update",
        Harmless,
        "changes a node's role or availability",
    ),
    route(
        "POST",
        "/plugins/create",
        Uninspectable,
        "the plugin's privileges are inside a tarball body the plugin never sees",
    ),
    route(
        "POST",
        "/plugins/pull",
        Decided,
        "installs a plugin with the privileges in the body",
    ),
    route(
        "POST",
        "/plugins/{name:.*}/disable",
        Decided,
        "may switch this plugin off",
    ),
    route(
        "POST",
        "/plugins/{name:.*}/enable",
        Decided,
        "runs a plugin with its privileges",
    ),
    route("POST", "/plugins/{name:.*}/push", Harmless, READS),
    route(
        "POST",
        "/plugins/{name:.*}/set",
        Decided,
        "settings can point a plugin's mounts and devices at host paths",
    ),
    route(
        "POST",
        "/plugins/{name:.*}/upgrade",
        Decided,
        "replaces a plugin with the privileges in the body",
    ),
    route(
        "POST",
        "/secrets/create",
        Harmless,
        "stores data for services",
    ),
    route(
        "POST",
        "/secrets/{id}/update",
        Harmless,
        "stores data for services",
    ),
    route(
        "POST",
        "/services/create",
        Decided,
        "runs containers on the swarm",
    ),
    route(
        "POST",
        "/services/{id}/update",
        Decided,
        "changes what a service runs",
    ),
    route(
        "POST",
        "/session",
        Uninspectable,
        "BuildKit's session stream: builds the plugin never sees",
    ),
    route(
        "POST",
        "/swarm/init",
        Harmless,
        "this daemon becomes the manager; services still come through its API",
    ),
    route(
        "POST",
        "/swarm/join",
        Uninspectable,
        "another swarm's managers then run tasks on this host without this daemon's API",
    ),
    route("POST", "/swarm/leave", Harmless, CHANGES_NO_HOST_ACCESS),
    route("POST", "/swarm/unlock", Harmless, CHANGES_NO_HOST_ACCESS),
    route("POST", "/swarm/update", Harmless, "changes swarm settings"),
    route(
        "POST",
        "/volumes/create",
        Decided,
        "the local driver's options can bind a host path",
    ),
    route("POST", "/volumes/prune", Harmless, CHANGES_NO_HOST_ACCESS),
    route("PUT", "/containers/{name:.*}/archive", Decided, ARCHIVE),
    route("GET", "/containers/{name:.*}/archive", Decided, ARCHIVE),
    route("HEAD", "/containers/{name:.*}/archive", Decided, ARCHIVE),
    route("DELETE", "/configs/{id}", Harmless, CHANGES_NO_HOST_ACCESS),
    route(
        "DELETE",
        "/containers/{name:.*}",
        Harmless,
        CHANGES_NO_HOST_ACCESS,
    ),
    route(
        "DELETE",
        "/containers/{name}/checkpoints/{checkpoint}",
        Harmless,
        CHANGES_NO_HOST_ACCESS,
    ),
    route(
        "DELETE",
        "/images/{name:.*}",
        Harmless,
        CHANGES_NO_HOST_ACCESS,
    ),
    route(
        "DELETE",
        "/networks/{id:.*}",
        Harmless,
        CHANGES_NO_HOST_ACCESS,
    ),
    route("DELETE", "/nodes/{id}", Harmless, CHANGES_NO_HOST_ACCESS),
    route(
        "DELETE",
        "/plugins/{name:.*}",
        Decided,
        "may remove this plugin",
    ),
    route("DELETE", "/secrets/{id}", Harmless, CHANGES_NO_HOST_ACCESS),
    route("DELETE", "/services/{id}", Harmless, CHANGES_NO_HOST_ACCESS),
    route(
        "DELETE",
        "/volumes/{name:.*}",
        Harmless,
        CHANGES_NO_HOST_ACCESS,
    ),
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub method: String,
    /// Decoded, normalized, without the version prefix.
    pub path: String,
    pub query: Vec<(String, String)>,
    pub api_version: Option<String>,
    pub operation: Operation,
    pub class: Class,
    /// The matched route of dockerd's router (`POST /containers/{name:.*}/exec`).
    pub pattern: Option<&'static str>,
}

impl Route {
    pub fn query_value(&self, key: &str) -> Option<&str> {
        // Go's `Query().Get` returns the first value.
        self.query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// The query as Go's `url.ParseQuery` reads it (what dockerd's `r.Form` and `Query().Get`
/// see): pairs split at `&`; a pair with a `;`, or with a `%` not followed by two hex digits
/// in its key or value, is dropped; `+` is a space. `?a=%zz&a=host` is `a=host` to dockerd.
fn go_parse_query(raw: &str) -> Vec<(String, String)> {
    fn unescape(s: &str) -> Option<String> {
        let bytes = s.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'%' => {
                    let hex = |b: u8| (b as char).to_digit(16);
                    let hi = bytes.get(i + 1).copied().and_then(hex)?;
                    let lo = bytes.get(i + 2).copied().and_then(hex)?;
                    out.push((hi * 16 + lo) as u8);
                    i += 3;
                }
                b'+' => {
                    out.push(b' ');
                    i += 1;
                }
                b => {
                    out.push(b);
                    i += 1;
                }
            }
        }
        Some(String::from_utf8_lossy(&out).into_owned())
    }
    raw.split('&')
        .filter(|pair| !pair.is_empty() && !pair.contains(';'))
        .filter_map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            Some((unescape(key)?, unescape(value)?))
        })
        .collect()
}

pub fn parse(method: &str, uri: &str) -> Route {
    let (raw_path, raw_query) = match uri.split_once('?') {
        Some((p, q)) => (p, q),
        None => (uri, ""),
    };
    // A request-target may be absolute (`http://host/path`); keep the path.
    let raw_path = match raw_path.find("://") {
        Some(i) => raw_path[i + 3..]
            .find('/')
            .map_or("/", |j| &raw_path[i + 3 + j..]),
        None => raw_path,
    };
    let decoded = percent_decode_str(raw_path).decode_utf8_lossy();
    let mut segments = crate::workload::path::segments(&decoded);
    let api_version = match segments.first() {
        Some(first) if is_version(first) => Some(segments.remove(0)[1..].to_string()),
        _ => None,
    };
    let path = format!("/{}", segments.join("/"));
    let method = method.to_ascii_uppercase();
    let (operation, class, pattern) = classify(&method, &segments);
    let query = go_parse_query(raw_query);
    Route {
        method,
        path,
        query,
        api_version,
        operation,
        class,
        pattern,
    }
}

/// `v1.43`, `v1`, `v2.`: a `v` then a digit, then digits and dots (dockerd's
/// `/v{version:[0-9.]+}`).
fn is_version(segment: &str) -> bool {
    let mut bytes = segment.bytes();
    matches!(bytes.next(), Some(b'v' | b'V'))
        && segment.len() > 1
        && segment.as_bytes()[1].is_ascii_digit()
        && bytes.all(|b| b.is_ascii_digit() || b == b'.')
}

/// The first route of the table that matches, as gorilla/mux picks it (routes are matched
/// case-insensitively here, which only ever recognises more).
/// The route table as the Markdown rows of `docs/docker-door.md` (a test keeps them equal).
pub fn table_markdown() -> String {
    let mut out = String::from("| method | route | class | why |\n| --- | --- | --- | --- |\n");
    for r in ROUTES {
        let class = match r.class {
            Class::Decided => "decided",
            Class::Uninspectable => "denied unless allowed",
            Class::Harmless => "harmless",
            Class::Unknown => "unknown",
        };
        out.push_str(&format!(
            "| {} | `{}` | {} | {} |\n",
            r.method, r.pattern, class, r.reason
        ));
    }
    out
}

fn classify(method: &str, segments: &[&str]) -> (Operation, Class, Option<&'static str>) {
    for spec in ROUTES.iter().filter(|r| r.method == method) {
        if let Some(name) = match_pattern(spec.pattern, segments) {
            let operation = operation(method, spec.pattern, name);
            return (operation, spec.class, Some(spec.pattern));
        }
    }
    if matches!(method, "GET" | "HEAD" | "OPTIONS") {
        return (Operation::Other, Class::Harmless, None);
    }
    (Operation::Other, Class::Unknown, None)
}

/// Matches `segments` against a pattern; `Some` holds what its `{…}` variable captured (the
/// first variable; joined with `/` for `{name:.*}`).
fn match_pattern(pattern: &str, segments: &[&str]) -> Option<String> {
    let parts: Vec<&str> = pattern.split('/').filter(|p| !p.is_empty()).collect();
    let wildcard = parts.iter().position(|p| p.ends_with(":.*}"));
    match wildcard {
        None => {
            if parts.len() != segments.len() {
                return None;
            }
            let mut captured = None;
            for (p, s) in parts.iter().zip(segments) {
                if p.starts_with('{') {
                    captured.get_or_insert_with(|| s.to_string());
                } else if !p.eq_ignore_ascii_case(s) {
                    return None;
                }
            }
            Some(captured.unwrap_or_default())
        }
        Some(w) => {
            // Literal segments before and after the one multi-segment variable.
            let (before, after) = (&parts[..w], &parts[w + 1..]);
            if segments.len() < before.len() + after.len() + 1 {
                return None;
            }
            let tail = &segments[segments.len() - after.len()..];
            let same = |ps: &[&str], ss: &[&str]| {
                ps.iter()
                    .zip(ss)
                    .all(|(p, s)| p.starts_with('{') || p.eq_ignore_ascii_case(s))
            };
            if !same(before, &segments[..before.len()]) || !same(after, tail) {
                return None;
            }
            Some(segments[before.len()..segments.len() - after.len()].join("/"))
        }
    }
}

fn operation(method: &str, pattern: &str, name: String) -> Operation {
    match (method, pattern) {
        ("POST", "/containers/create") => Operation::ContainerCreate,
        ("POST", "/containers/{name:.*}/start") => Operation::ContainerStart { id: name },
        ("POST", "/containers/{name:.*}/restart") => Operation::ContainerRestart { id: name },
        ("PUT" | "GET" | "HEAD", "/containers/{name:.*}/archive") => {
            Operation::ContainerArchive { id: name }
        }
        ("POST", "/containers/{name:.*}/update") => Operation::ContainerUpdate { id: name },
        ("POST", "/containers/{name:.*}/exec") => Operation::ExecCreate { id: name },
        ("POST", "/images/create") => Operation::ImageCreate,
        ("POST", "/build") => Operation::Build,
        ("POST", "/plugins/pull") => Operation::PluginPull,
        ("POST", "/plugins/create") => Operation::PluginCreate,
        ("POST", "/plugins/{name:.*}/upgrade") => Operation::PluginUpgrade { name },
        ("POST", "/plugins/{name:.*}/enable") => Operation::PluginEnable { name },
        ("POST", "/plugins/{name:.*}/disable") => Operation::PluginDisable { name },
        ("POST", "/plugins/{name:.*}/set") => Operation::PluginSet { name },
        ("DELETE", "/plugins/{name:.*}") => Operation::PluginRemove { name },
        ("POST", "/services/create") => Operation::ServiceCreate,
        ("POST", "/services/{id}/update") => Operation::ServiceUpdate { id: name },
        ("POST", "/networks/create") => Operation::NetworkCreate,
        ("POST", "/volumes/create") => Operation::VolumeCreate,
        ("POST", "/session" | "/grpc") => Operation::BuildKitSession,
        ("POST", "/swarm/join") => Operation::SwarmJoin,
        _ => Operation::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_of_create_is_create() {
        for uri in [
            "/v1.43/containers/create",
            "/containers/create",
            "/v1.24/containers/create?name=web",
            "/v1.99/containers/create",
            "/v1.43/containers/%63reate",
            "/v1.43/containers%2Fcreate",
            "/v1.43/containers/create/",
            "/v1.43//containers/create",
            "/v1.43/containers/../containers/create",
            "/v1.43/Containers/create",
            "//v1.43/containers/./create",
        ] {
            let route = parse("POST", uri);
            assert_eq!(route.operation, Operation::ContainerCreate, "{uri}");
            assert!(
                route.path.eq_ignore_ascii_case("/containers/create"),
                "{uri}"
            );
        }
    }

    #[test]
    fn version_and_query() {
        let r = parse(
            "post",
            "/v1.43/containers/create?name=web%2F..%2Fx%20y&platform=linux%2Famd64",
        );
        assert_eq!(r.api_version.as_deref(), Some("1.43"));
        assert_eq!(r.method, "POST");
        assert_eq!(r.query_value("name"), Some("web/../x y"));
        assert_eq!(r.query_value("platform"), Some("linux/amd64"));
    }

    #[test]
    fn the_query_is_read_as_go_reads_it() {
        let r = parse(
            "POST",
            "/v1.41/services/s/update?rollback=%zz&rollback=previous&version=3",
        );
        assert_eq!(r.query_value("rollback"), Some("previous"));
        let r = parse(
            "POST",
            "/build?networkmode=%zz&networkmode=host&a=b;c&t=x+y",
        );
        assert_eq!(r.query_value("networkmode"), Some("host"));
        assert_eq!(r.query_value("a"), None);
        assert_eq!(r.query_value("t"), Some("x y"));
        let r = parse("POST", "/images/create?fromImage=%4&fromImage=ok&&=v&k");
        assert_eq!(r.query_value("fromImage"), Some("ok"));
        assert_eq!(r.query_value(""), Some("v"));
        assert_eq!(r.query_value("k"), Some(""));
    }

    #[test]
    fn operations_with_ids() {
        assert_eq!(
            parse("POST", "/v1.43/containers/web/exec").operation,
            Operation::ExecCreate { id: "web".into() }
        );
        assert_eq!(
            parse("POST", "/v1.43/plugins/vieux/sshfs:latest/disable").operation,
            Operation::PluginDisable {
                name: "vieux/sshfs:latest".into()
            }
        );
        assert_eq!(
            parse("GET", "/v1.43/containers/json").operation,
            Operation::Other
        );
        assert_eq!(parse("HEAD", "/_ping").operation, Operation::Other);
        assert_eq!(parse("HEAD", "/_ping").class, Class::Harmless);
        assert_eq!(
            parse("POST", "/images/create?fromImage=nginx").operation,
            Operation::ImageCreate
        );
    }

    #[test]
    fn container_names_may_contain_slashes_in_every_spelling() {
        for uri in [
            "/v1.41/containers/a/b/exec",
            "/v1.41/containers/a%2Fb/exec",
            "/containers/a%2fb/exec",
            "/v1.41/containers/a/b/exec/",
        ] {
            assert_eq!(
                parse("POST", uri).operation,
                Operation::ExecCreate { id: "a/b".into() },
                "{uri}"
            );
        }
        assert_eq!(
            parse("POST", "/v1.41/containers/x/start/start").operation,
            Operation::ContainerStart {
                id: "x/start".into()
            }
        );
        assert_eq!(
            parse("POST", "/v1.41/containers/create").operation,
            Operation::ContainerCreate
        );
    }

    #[test]
    fn every_route_is_classified_and_unknown_writes_are_not_harmless() {
        assert_eq!(
            parse("POST", "/v1.41/plugins/create?name=x").class,
            Class::Uninspectable
        );
        assert_eq!(parse("POST", "/session").class, Class::Uninspectable);
        assert_eq!(parse("POST", "/v1.41/grpc").class, Class::Uninspectable);
        assert_eq!(parse("POST", "/swarm/join").class, Class::Uninspectable);
        assert_eq!(
            parse("POST", "/v1.41/containers/c/kill").class,
            Class::Harmless
        );
        assert_eq!(
            parse("POST", "/v1.41/build?networkmode=host").class,
            Class::Decided
        );
        assert_eq!(parse("POST", "/v1.41/nonsense").class, Class::Unknown);
        assert_eq!(
            parse("PATCH", "/v1.41/containers/create").class,
            Class::Unknown
        );
        assert_eq!(parse("GET", "/v1.41/nonsense").class, Class::Harmless);
        // Every pattern in the table is matched by its own spelling, or by an earlier route
        // of the same class, as gorilla/mux matches the first registered route.
        for (index, spec) in ROUTES.iter().enumerate() {
            let path = spec
                .pattern
                .replace("{name:.*}", "n/m")
                .replace("{id:.*}", "i")
                .replace("{id}", "i")
                .replace("{name}", "n")
                .replace("{checkpoint}", "c");
            let r = parse(spec.method, &format!("/v1.41{path}"));
            let matched = ROUTES
                .iter()
                .position(|x| x.method == spec.method && Some(x.pattern) == r.pattern)
                .unwrap_or_else(|| panic!("{} {} matched nothing", spec.method, spec.pattern));
            assert!(matched <= index, "{} {}", spec.method, spec.pattern);
            assert_eq!(r.class, spec.class, "{} {}", spec.method, spec.pattern);
        }
    }

    #[test]
    fn the_docs_show_this_route_table() {
        let docs = include_str!("../../../docs/docker-door.md");
        assert!(
            docs.contains(&table_markdown()),
            "docs/docker-door.md does not show the route table of route.rs; it is:\n{}",
            table_markdown()
        );
    }
}
