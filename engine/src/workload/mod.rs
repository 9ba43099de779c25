//! The normalized workload both doors produce: spellings that differ between Kubernetes and
//! Docker, and between one client and another, are resolved here once per request so that
//! policies compare like with like. Pure functions; no I/O.

pub mod image;
pub mod path;
pub mod quantity;

use crate::abi::Spelling;

/// A capability as written, beside its canonical form: upper case, no `CAP_` prefix
/// (`cap_sys_admin` → `SYS_ADMIN`), the form every runtime accepts.
pub fn capability(raw: &str) -> Spelling {
    let upper = raw.trim().to_ascii_uppercase();
    let normalized = upper.strip_prefix("CAP_").unwrap_or(&upper).to_string();
    Spelling {
        raw: raw.to_string(),
        normalized,
    }
}

/// A host path as written, beside its lexically normalized form.
pub fn host_path(raw: &str) -> Spelling {
    Spelling {
        raw: raw.to_string(),
        normalized: path::normalize(raw),
    }
}

/// A JSON pointer as policies show fields: `/HostConfig/Binds/0` → `HostConfig.Binds[0]`.
pub fn pointer_to_field(pointer: &str) -> String {
    let mut field = String::new();
    for token in pointer.split('/').skip(1) {
        let token = token.replace("~1", "/").replace("~0", "~");
        if !token.is_empty() && token.bytes().all(|b| b.is_ascii_digit()) {
            field.push_str(&format!("[{token}]"));
        } else {
            if !field.is_empty() {
                field.push('.');
            }
            field.push_str(&token);
        }
    }
    field
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capabilities_normalize_every_spelling() {
        for raw in [
            "SYS_ADMIN",
            "sys_admin",
            "CAP_SYS_ADMIN",
            "cap_sys_admin",
            " Cap_Sys_Admin ",
        ] {
            assert_eq!(capability(raw).normalized, "SYS_ADMIN", "{raw}");
            assert_eq!(capability(raw).raw, raw);
        }
        assert_eq!(capability("ALL").normalized, "ALL");
    }
}
