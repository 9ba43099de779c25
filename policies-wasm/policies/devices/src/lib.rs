//! `devices`: host devices given to containers (Docker `--device`; CIS 5.18). Only devices on
//! the allowed list pass; a plugin asking for every device never does. Kubernetes pods get
//! devices through device plugins and privileged mode, which other policies govern.

use portcullis_sdk::prelude::*;

#[derive(Debug, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Settings {
    /// Host device paths that may be passed through, e.g. `/dev/fuse`.
    pub allowed_devices: Vec<String>,
}

pub struct Devices;

impl Policy for Devices {
    type Settings = Settings;
    const NAME: &'static str = "devices";

    fn validate(request: &Request, settings: &Settings) -> Decision {
        let mut findings = Findings::default();
        for c in request.defined_containers() {
            for d in &c.devices {
                let path = portcullis_sdk::path::normalize(&d.host_path);
                if d.host_path == "*"
                    || !settings
                        .allowed_devices
                        .iter()
                        .any(|a| portcullis_sdk::path::normalize(a) == path)
                {
                    // A device cgroup rule (`c 8:0 rwm`, `a *:* rwm`) names device numbers,
                    // not a path, and has no path in the container.
                    let from_rule = !d.host_path.starts_with('/') && d.container_path.is_empty();
                    let shown = match (d.host_path.as_str(), from_rule) {
                        ("*", _) => "every host device".to_string(),
                        (numbers, true) => format!("host devices {numbers} (a device cgroup rule)"),
                        (_, false) => format!("host device {path}"),
                    };
                    findings.deny(
                        if from_rule {
                            "HostConfig.DeviceCgroupRules"
                        } else {
                            "HostConfig.Devices"
                        },
                        format!("{shown} must not be passed to the container"),
                    );
                }
            }
        }
        findings.into_decision()
    }
}

#[cfg(not(feature = "bundled"))]
portcullis_sdk::policy!(Devices);

#[cfg(all(test, not(feature = "bundled")))]
mod tests {
    use super::*;
    use portcullis_sdk::Device;
    use portcullis_sdk::testing::*;

    #[test]
    fn only_allowed_devices() {
        let mut c = container("", "alpine");
        c.devices = vec![Device {
            host_path: "/dev/../dev/sda".into(),
            container_path: "/dev/sda".into(),
            permissions: "rwm".into(),
        }];
        let d = run::<Devices>(&docker_create(c.clone()), "{}").unwrap();
        assert_eq!(
            d.reasons[0].message,
            "host device /dev/sda must not be passed to the container"
        );
        assert!(
            run::<Devices>(&docker_create(c), r#"{"allowedDevices":["/dev/sda"]}"#)
                .unwrap()
                .allowed
        );
    }
}
