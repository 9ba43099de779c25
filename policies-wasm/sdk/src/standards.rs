//! Lists the standards define, shared by the policies that apply them.

/// Pod Security Standards baseline: the capabilities a container may add, spelled exactly as
/// the standard compares them (upper case, no `CAP_` prefix).
pub const PSS_BASELINE_CAPABILITIES: &[&str] = &[
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];

/// The newest Pod Security Standards version these lists know; `latest` means it.
pub const PSS_LATEST_MINOR: u32 = 37;

/// A Pod Security Standards version, `latest` or `v1.N`, as its minor number.
pub fn pss_version(text: &str) -> Result<u32, String> {
    if text == "latest" {
        return Ok(PSS_LATEST_MINOR);
    }
    let minor = text
        .strip_prefix("v1.")
        .and_then(|m| m.parse::<u32>().ok())
        .ok_or_else(|| {
            format!("{text:?} is not a version: use \"latest\" or \"v1.N\", e.g. \"v1.30\"")
        })?;
    // Versions newer than this module knows are decided as the newest it knows, as PSA does.
    Ok(minor.min(PSS_LATEST_MINOR))
}

/// A policy's `version` setting (absent: `latest`) as its minor number, or the settings error
/// that names it.
pub fn pss_version_setting(version: Option<&str>) -> Result<u32, crate::SettingsError> {
    pss_version(version.unwrap_or("latest")).map_err(|message| crate::SettingsError {
        field: "version".into(),
        message,
    })
}

/// Pod Security Standards restricted: the volume sources a pod may use.
pub const PSS_RESTRICTED_VOLUMES: &[&str] = &[
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "image",
    "persistentVolumeClaim",
    "projected",
    "secret",
];

/// Pod Security Standards baseline: the sysctls a pod may set, as of policy version
/// `v1.{minor}`.
pub fn pss_safe_sysctls(minor: u32) -> Vec<&'static str> {
    let mut list = vec![
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range",
        "net.ipv4.ip_unprivileged_port_start",
    ];
    if minor >= 27 {
        list.push("net.ipv4.ip_local_reserved_ports");
    }
    if minor >= 29 {
        list.extend([
            "net.ipv4.tcp_keepalive_time",
            "net.ipv4.tcp_fin_timeout",
            "net.ipv4.tcp_keepalive_intvl",
            "net.ipv4.tcp_keepalive_probes",
        ]);
    }
    if minor >= 32 {
        list.extend(["net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem"]);
    }
    if minor >= 37 {
        list.extend([
            "net.ipv4.tcp_slow_start_after_idle",
            "net.ipv4.tcp_notsent_lowat",
        ]);
    }
    list
}
