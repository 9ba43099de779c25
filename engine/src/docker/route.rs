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
    ContainerStart { id: String },
    ContainerUpdate { id: String },
    ExecCreate { id: String },
    ImageCreate,
    PluginPull,
    PluginUpgrade { name: String },
    PluginEnable { name: String },
    PluginDisable { name: String },
    PluginRemove { name: String },
    PluginSet { name: String },
    PluginCreate,
    ServiceCreate,
    ServiceUpdate { id: String },
    NetworkCreate,
    VolumeCreate,
    Other,
}

impl Operation {
    /// The name policies see in `request.operation`.
    pub fn name(&self) -> &'static str {
        match self {
            Operation::ContainerCreate => "container-create",
            Operation::ContainerStart { .. } => "container-start",
            Operation::ContainerUpdate { .. } => "container-update",
            Operation::ExecCreate { .. } => "exec-create",
            Operation::ImageCreate => "image-create",
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
            Operation::Other => "other",
        }
    }

    /// Operations that cannot be decided without their JSON body.
    pub fn needs_body(&self) -> bool {
        matches!(
            self,
            Operation::ContainerCreate
                | Operation::ContainerUpdate { .. }
                | Operation::ExecCreate { .. }
                | Operation::PluginSet { .. }
                | Operation::ServiceCreate
                | Operation::ServiceUpdate { .. }
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub method: String,
    /// Decoded, normalized, without the version prefix.
    pub path: String,
    pub query: Vec<(String, String)>,
    pub api_version: Option<String>,
    pub operation: Operation,
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
    let operation = operation(&method, &segments);
    let query = form_urlencoded::parse(raw_query.as_bytes())
        .into_owned()
        .collect();
    Route {
        method,
        path,
        query,
        api_version,
        operation,
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

fn operation(method: &str, segments: &[&str]) -> Operation {
    if method != "POST" && method != "DELETE" {
        return Operation::Other;
    }
    let lower: Vec<String> = segments.iter().map(|s| s.to_ascii_lowercase()).collect();
    let s: Vec<&str> = lower.iter().map(String::as_str).collect();
    let id = |i: usize| segments[i].to_string();
    match (method, s.as_slice()) {
        ("POST", ["containers", "create"]) => Operation::ContainerCreate,
        ("POST", ["containers", _, "start"]) => Operation::ContainerStart { id: id(1) },
        ("POST", ["containers", _, "update"]) => Operation::ContainerUpdate { id: id(1) },
        ("POST", ["containers", _, "exec"]) => Operation::ExecCreate { id: id(1) },
        ("POST", ["images", "create"]) => Operation::ImageCreate,
        ("POST", ["plugins", "pull"]) => Operation::PluginPull,
        ("POST", ["plugins", "create"]) => Operation::PluginCreate,
        // Plugin names may contain slashes (`vieux/sshfs:latest`).
        ("POST", ["plugins", .., "upgrade"]) if s.len() > 2 => Operation::PluginUpgrade {
            name: middle(segments),
        },
        ("POST", ["plugins", .., "enable"]) if s.len() > 2 => Operation::PluginEnable {
            name: middle(segments),
        },
        ("POST", ["plugins", .., "disable"]) if s.len() > 2 => Operation::PluginDisable {
            name: middle(segments),
        },
        ("POST", ["plugins", .., "set"]) if s.len() > 2 => Operation::PluginSet {
            name: middle(segments),
        },
        ("DELETE", ["plugins", ..]) if s.len() > 1 => Operation::PluginRemove {
            name: segments[1..].join("/"),
        },
        ("POST", ["services", "create"]) => Operation::ServiceCreate,
        ("POST", ["services", _, "update"]) => Operation::ServiceUpdate { id: id(1) },
        ("POST", ["networks", "create"]) => Operation::NetworkCreate,
        ("POST", ["volumes", "create"]) => Operation::VolumeCreate,
        _ => Operation::Other,
    }
}

/// The segments between the first and the last, joined: a plugin's name.
fn middle(segments: &[&str]) -> String {
    segments[1..segments.len() - 1].join("/")
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
        assert_eq!(
            parse("POST", "/images/create?fromImage=nginx").operation,
            Operation::ImageCreate
        );
    }
}
