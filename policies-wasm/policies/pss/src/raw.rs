//! The few pod spec fields the checks read as written rather than from the normalized
//! workload: seccomp and AppArmor profile types (apart from their annotations), probe and
//! lifecycle hosts, and `spec.os.name`.
//!
//! They are deserialized straight from the object's JSON text at the workload's pointer: serde
//! steps over everything else without allocating, where a `Value` of the whole object built
//! every map and string of it only for these to be read (that was most of this policy's own
//! cost per admission). The types are those of `k8s.io/api/core/v1`; an object whose fields have
//! other types did not come from an API server and cannot be inspected.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PodSpec {
    pub os: Option<PodOs>,
    pub security_context: Option<SecurityContext>,
    pub containers: Option<Vec<RawContainer>>,
    pub init_containers: Option<Vec<RawContainer>>,
    pub ephemeral_containers: Option<Vec<RawContainer>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct PodOs {
    pub name: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SecurityContext {
    pub app_armor_profile: Option<Profile>,
    pub seccomp_profile: Option<Profile>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Profile {
    #[serde(rename = "type")]
    pub kind: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct RawContainer {
    pub security_context: Option<SecurityContext>,
    pub liveness_probe: Option<Handler>,
    pub readiness_probe: Option<Handler>,
    pub startup_probe: Option<Handler>,
    pub lifecycle: Option<Lifecycle>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Lifecycle {
    pub post_start: Option<Handler>,
    pub pre_stop: Option<Handler>,
}

/// A probe or a lifecycle handler: only the actions that name a host.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Handler {
    pub http_get: Option<Host>,
    pub tcp_socket: Option<Host>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Host {
    pub host: Option<String>,
}

impl PodSpec {
    pub fn os_name(&self) -> Option<&str> {
        self.os.as_ref()?.name.as_deref()
    }

    pub fn app_armor(&self) -> Option<&str> {
        profile(&self.security_context, |s| &s.app_armor_profile)
    }

    pub fn seccomp(&self) -> Option<&str> {
        profile(&self.security_context, |s| &s.seccomp_profile)
    }

    /// The container at `relative` (`/containers/0`, `/initContainers/1`, ...: a normalized
    /// container's pointer with the workload's taken off).
    pub fn container(&self, relative: &str) -> Option<&RawContainer> {
        let mut parts = relative.strip_prefix('/')?.split('/');
        let list = match parts.next()? {
            "containers" => &self.containers,
            "initContainers" => &self.init_containers,
            "ephemeralContainers" => &self.ephemeral_containers,
            _ => return None,
        };
        let index: usize = parts.next()?.parse().ok()?;
        if parts.next().is_some() {
            return None;
        }
        list.as_ref()?.get(index)
    }
}

impl RawContainer {
    pub fn app_armor(&self) -> Option<&str> {
        profile(&self.security_context, |s| &s.app_armor_profile)
    }

    pub fn seccomp(&self) -> Option<&str> {
        profile(&self.security_context, |s| &s.seccomp_profile)
    }

    /// The handlers PSA's hostProbesAndHostLifecycle check looks at, in its order.
    pub fn handlers(&self) -> impl Iterator<Item = &Handler> {
        let lifecycle = self.lifecycle.as_ref();
        [
            self.liveness_probe.as_ref(),
            self.readiness_probe.as_ref(),
            self.startup_probe.as_ref(),
            lifecycle.and_then(|l| l.post_start.as_ref()),
            lifecycle.and_then(|l| l.pre_stop.as_ref()),
        ]
        .into_iter()
        .flatten()
    }
}

impl Handler {
    /// The hosts the handler's `httpGet` and `tcpSocket` name, in that order.
    pub fn hosts(&self) -> impl Iterator<Item = &str> {
        [self.http_get.as_ref(), self.tcp_socket.as_ref()]
            .into_iter()
            .flatten()
            .filter_map(|h| h.host.as_deref())
    }
}

fn profile(
    context: &Option<SecurityContext>,
    which: impl Fn(&SecurityContext) -> &Option<Profile>,
) -> Option<&str> {
    which(context.as_ref()?).as_ref()?.kind.as_deref()
}

/// The pod spec at `pointer` (a JSON pointer, as the workload's) in the object's JSON text;
/// the default when nothing is there or it is `null`.
pub fn pod_spec_at(object: &str, pointer: &str) -> Result<PodSpec, String> {
    let segments: Vec<Cow<str>> = pointer
        .split('/')
        .skip(1)
        .map(|s| {
            if s.contains('~') {
                Cow::Owned(s.replace("~1", "/").replace("~0", "~"))
            } else {
                Cow::Borrowed(s)
            }
        })
        .collect();
    let mut de = portcullis_sdk::serde_json::Deserializer::from_str(object);
    let spec = At::<PodSpec>::new(&segments)
        .deserialize(&mut de)
        .and_then(|spec| de.end().map(|()| spec))
        .map_err(|e| e.to_string())?;
    Ok(spec.unwrap_or_default())
}

/// Deserializes the `T` at a path of object keys (or array indices), stepping over the rest.
struct At<'p, T> {
    path: &'p [Cow<'p, str>],
    wanted: PhantomData<T>,
}

impl<'p, T> At<'p, T> {
    fn new(path: &'p [Cow<'p, str>]) -> Self {
        At {
            path,
            wanted: PhantomData,
        }
    }
}

impl<'de, T: Deserialize<'de>> DeserializeSeed<'de> for At<'_, T> {
    type Value = Option<T>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Option<T>, D::Error> {
        if self.path.is_empty() {
            return Option::<T>::deserialize(deserializer);
        }
        deserializer.deserialize_any(self)
    }
}

impl<'de, T: Deserialize<'de>> Visitor<'de> for At<'_, T> {
    type Value = Option<T>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "an object holding {:?}", self.path.join("/"))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Option<T>, E> {
        Ok(None)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<T>, A::Error> {
        let (key, rest) = self.path.split_first().expect("a non-empty path");
        let mut found = None;
        while let Some(k) = map.next_key::<Cow<'de, str>>()? {
            if k == *key {
                // A repeated key: the last one counts, as in encoding/json and serde_json.
                found = map.next_value_seed(At::<T>::new(rest))?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Option<T>, A::Error> {
        let (key, rest) = self.path.split_first().expect("a non-empty path");
        let wanted: Option<usize> = key.parse().ok();
        let mut found = None;
        let mut index = 0;
        loop {
            if Some(index) == wanted {
                match seq.next_element_seed(At::<T>::new(rest))? {
                    Some(value) => found = value,
                    None => break,
                }
            } else if seq.next_element::<IgnoredAny>()?.is_none() {
                break;
            }
            index += 1;
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_spec_at_the_pointer_and_steps_over_the_rest() {
        let object = r#"{"metadata":{"name":"x","annotations":{"a":"b"}},
            "spec":{"template":{"spec":{
                "os":{"name":"windows"},
                "securityContext":{"seccompProfile":{"type":"Unconfined"},"runAsUser":5},
                "containers":[{"name":"a","image":"i"},
                    {"name":"b","securityContext":{"appArmorProfile":{"type":"Localhost"}},
                     "livenessProbe":{"httpGet":{"host":"10.0.0.1","port":80}},
                     "lifecycle":{"preStop":{"tcpSocket":{"host":"h"}}}}],
                "volumes":[{"name":"v","hostPath":{"path":"/"}}]}}}}"#;
        let spec = pod_spec_at(object, "/spec/template/spec").unwrap();
        assert_eq!(spec.os_name(), Some("windows"));
        assert_eq!(spec.seccomp(), Some("Unconfined"));
        assert_eq!(spec.app_armor(), None);
        let b = spec.container("/containers/1").unwrap();
        assert_eq!(b.app_armor(), Some("Localhost"));
        let hosts: Vec<&str> = b.handlers().flat_map(Handler::hosts).collect();
        assert_eq!(hosts, ["10.0.0.1", "h"]);
        assert!(spec.container("/containers/2").is_none());
        assert!(spec.container("/initContainers/0").is_none());
    }

    #[test]
    fn absent_or_null_is_the_default_and_the_last_repeated_key_counts() {
        assert!(
            pod_spec_at(r#"{"spec":null}"#, "/spec")
                .unwrap()
                .os
                .is_none()
        );
        assert!(
            pod_spec_at(r#"{"kind":"Pod"}"#, "/spec")
                .unwrap()
                .os
                .is_none()
        );
        let spec = pod_spec_at(
            r#"{"spec":{"os":{"name":"linux"}},"spec":{"os":{"name":"windows"},"containers":null}}"#,
            "/spec",
        )
        .unwrap();
        assert_eq!(spec.os_name(), Some("windows"));
        assert!(spec.container("/containers/0").is_none());
    }

    #[test]
    fn a_field_of_another_type_cannot_be_inspected() {
        let err = pod_spec_at(r#"{"spec":{"os":{"name":5}}}"#, "/spec").unwrap_err();
        assert!(err.contains("invalid type"), "{err}");
        assert!(pod_spec_at(r#"{"spec":"#, "/spec").is_err());
    }
}
