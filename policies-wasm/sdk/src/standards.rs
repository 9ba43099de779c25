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
