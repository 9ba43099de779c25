//! The bodies dockerd decodes, read as dockerd 20.10 reads them: each into its moby type
//! with Go's `encoding/json` semantics, then the handler's own post-processing (runconfig's
//! `getHostConfig` for container create and start). The result is Go's `json.Marshal` of
//! what the handler holds — the canonical body every policy reads; the client's bytes are
//! never read again.

use super::gojson::GoJson;
use super::gojson::decode::Decoder;
use super::gojson::encode::{marshal, tree};
use super::gojson::schema::{Kind, TypeId};
use super::gojson::{Document, Schema, Value};
use super::route::Operation;

/// A request body type dockerd decodes, named as `moby-oracle` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// `POST /containers/create`: `{"Config","HostConfig","NetworkingConfig"}` as
    /// runconfig's `DecodeConfig` returns them.
    ContainerCreate,
    /// `POST /containers/{id}/start` with a body (API < 1.24): `{"HostConfig"}`.
    ContainerStart,
    ContainerUpdate,
    ExecCreate,
    ServiceSpec,
    VolumeCreate,
    PluginPrivileges,
    NetworkCreate,
}

impl BodyKind {
    pub const ALL: [BodyKind; 8] = [
        BodyKind::ContainerCreate,
        BodyKind::ContainerStart,
        BodyKind::ContainerUpdate,
        BodyKind::ExecCreate,
        BodyKind::ServiceSpec,
        BodyKind::VolumeCreate,
        BodyKind::PluginPrivileges,
        BodyKind::NetworkCreate,
    ];

    /// The type each body-reading handler decodes into.
    pub fn of(operation: &Operation) -> Option<BodyKind> {
        Some(match operation {
            Operation::ContainerCreate => BodyKind::ContainerCreate,
            Operation::ContainerStart { .. } => BodyKind::ContainerStart,
            Operation::ContainerUpdate { .. } => BodyKind::ContainerUpdate,
            Operation::ExecCreate { .. } => BodyKind::ExecCreate,
            Operation::ServiceCreate | Operation::ServiceUpdate { .. } => BodyKind::ServiceSpec,
            Operation::VolumeCreate => BodyKind::VolumeCreate,
            Operation::PluginPull | Operation::PluginUpgrade { .. } => BodyKind::PluginPrivileges,
            Operation::NetworkCreate => BodyKind::NetworkCreate,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            BodyKind::ContainerCreate => "container-create",
            BodyKind::ContainerStart => "container-start",
            BodyKind::ContainerUpdate => "container-update",
            BodyKind::ExecCreate => "exec-create",
            BodyKind::ServiceSpec => "service-spec",
            BodyKind::VolumeCreate => "volume-create",
            BodyKind::PluginPrivileges => "plugin-privileges",
            BodyKind::NetworkCreate => "network-create",
        }
    }
}

/// Why dockerd would refuse to decode a body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BodyError(pub String);

/// A body as dockerd's handler holds it, in canonical form.
#[derive(Debug, Clone)]
pub struct Decoded {
    /// Go's `json.Marshal` of the decoded value: what policies and the audit log see.
    pub text: String,
    /// The same value as a tree (exactly what `text` parses to), for normalization to read.
    pub tree: GoJson,
}

/// Decodes `body` as dockerd does for `kind`.
pub fn decode(kind: BodyKind, body: &[u8]) -> Result<Decoded, BodyError> {
    let schema = Schema::get();
    let doc = Document::parse(body).map_err(|e| BodyError(e.to_string()))?;
    let decoder = Decoder::new(schema);
    let read = |root: &str| -> Result<(TypeId, Value), BodyError> {
        let ty = schema.root(root);
        let mut v = schema.zero(ty);
        decoder
            .value(doc.root(), ty, &mut v)
            .map_err(|e| BodyError(e.0))?;
        Ok((ty, v))
    };
    let (ty, value) = match kind {
        BodyKind::ContainerCreate => {
            let (wty, mut wrapper) = read("container-create-wrapper")?;
            let hc = host_config(schema, wty, &mut wrapper);
            let ty = schema.root("container-create");
            let Value::Struct(mut raw) = wrapper else {
                unreachable!("the wrapper is a struct")
            };
            let w = schema.strukt(wty);
            let take = |raw: &mut Vec<Value>, name: &str| {
                std::mem::replace(
                    &mut raw[w.raw_index(name).expect("wrapper field")],
                    Value::Unused,
                )
            };
            let config = take(&mut raw, "Config");
            let networking = take(&mut raw, "NetworkingConfig");
            (ty, Value::Struct(vec![config, hc, networking]))
        }
        BodyKind::ContainerStart => {
            let (wty, mut wrapper) = read("container-create-wrapper")?;
            let hc = host_config(schema, wty, &mut wrapper);
            (schema.root("container-start"), Value::Struct(vec![hc]))
        }
        BodyKind::PluginPrivileges => {
            let read = read("plugin-privileges")?;
            if doc.more(body) {
                return Err(BodyError("invalid privileges".into()));
            }
            read
        }
        other => read(other.name())?,
    };
    Ok(Decoded {
        text: marshal(schema, ty, &value),
        tree: tree(schema, ty, &value),
    })
}

/// runconfig's `getHostConfig`: the `HostConfig` member, with the deprecated top-level
/// HostConfig fields filling what it leaves empty, or the top-level fields alone when there
/// is no member; then the default network mode.
fn host_config(schema: &Schema, wty: TypeId, wrapper: &mut Value) -> Value {
    let w = schema.strukt(wty);
    let Value::Struct(raw) = wrapper else {
        unreachable!("the wrapper is a struct")
    };
    let inner_i = w.raw_index("InnerHostConfig").expect("wrapper field");
    let outer_i = w.raw_index("HostConfig").expect("wrapper field");
    let cpuset = raw[w.raw_index("Cpuset").expect("wrapper field")]
        .as_str()
        .to_string();
    let hc_ptr_ty = w.raw[inner_i].expect("typed");
    let Kind::Ptr(hc_ty) = schema.ty(hc_ptr_ty).kind else {
        unreachable!("HostConfig is a pointer")
    };
    let outer = std::mem::replace(&mut raw[outer_i], Value::Ptr(None));
    let inner = std::mem::replace(&mut raw[inner_i], Value::Ptr(None));
    let mut hc = match (outer, inner) {
        (Value::Ptr(None), inner) => inner,
        (outer, Value::Ptr(None)) => outer,
        (Value::Ptr(Some(mut outer)), Value::Ptr(Some(mut inner))) => {
            for path in [
                &["Resources", "Memory"][..],
                &["Resources", "MemorySwap"],
                &["Resources", "CPUShares"],
                &["Resources", "CpusetCpus"],
                &["VolumeDriver"],
            ] {
                let from = go_field_mut(schema, hc_ty, &mut outer, path).clone();
                let to = go_field_mut(schema, hc_ty, &mut inner, path);
                if is_zero(to) && !is_zero(&from) {
                    *to = from;
                }
            }
            Value::Ptr(Some(inner))
        }
        (outer, _) => outer,
    };
    if let Value::Ptr(Some(h)) = &mut hc {
        let cpus = go_field_mut(schema, hc_ty, h, &["Resources", "CpusetCpus"]);
        if !cpuset.is_empty() && cpus.as_str().is_empty() {
            *cpus = Value::String(cpuset);
        }
        let mode = go_field_mut(schema, hc_ty, h, &["NetworkMode"]);
        if mode.as_str().is_empty() {
            *mode = Value::String("default".into());
        }
    }
    hc
}

fn is_zero(v: &Value) -> bool {
    match v {
        Value::Int(i) => *i == 0,
        Value::String(s) => s.is_empty(),
        _ => false,
    }
}

/// A field by its Go name (not its JSON name), through value-embedded structs.
fn go_field_mut<'v>(
    schema: &Schema,
    mut ty: TypeId,
    mut v: &'v mut Value,
    path: &[&str],
) -> &'v mut Value {
    for name in path {
        let st = schema.strukt(ty);
        let i = st.raw_index(name).expect("moby field");
        let Value::Struct(raw) = v else {
            unreachable!("a struct")
        };
        ty = st.raw[i].expect("typed");
        v = &mut raw[i];
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tree_is_what_the_canonical_text_reads_as() {
        let bodies: [(BodyKind, &str); 3] = [
            (
                BodyKind::ContainerCreate,
                r#"{"Image":"alpine","Env":["A=<b>"],"Labels":{"z":"1","a":"2"},
                   "HostConfig":{"Privileged":true,"CpuPercent":5,"NanoCpus":-1,
                   "Binds":["/etc:/x"],"Devices":[{"PathOnHost":"/dev/sda"}]},
                   "Healthcheck":{"Interval":15000000000},"MacAddress":"","StopTimeout":null}"#,
            ),
            (
                BodyKind::ServiceSpec,
                r#"{"Name":"s","TaskTemplate":{"ContainerSpec":{"Image":"x","Privileges":
                   {"CredentialSpec":null}},"Resources":{"Limits":{"NanoCPUs":2}}},
                   "Mode":{"Replicated":{"Replicas":3}},
                   "UpdateConfig":{"MaxFailureRatio":0.1,"Monitor":1}}"#,
            ),
            (
                BodyKind::VolumeCreate,
                r#"{"Name":"v","DriverOpts":{"o":"bind"}}"#,
            ),
        ];
        for (kind, body) in bodies {
            let decoded = decode(kind, body.as_bytes()).unwrap();
            assert_eq!(
                decoded.tree,
                GoJson::parse(decoded.text.as_bytes()).unwrap(),
                "{}",
                decoded.text
            );
        }
    }
}
