//! The authz plugin protocol's request and response (`/AuthZPlugin.AuthZReq` and
//! `/AuthZPlugin.AuthZRes`). dockerd sends `RequestUri` and `RequestHeaders`; its
//! documentation spells them `RequestURI` and `RequestHeader`: both are read.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::decision::Verdict;

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct AuthzRequest {
    #[serde(rename = "User", default, skip_serializing_if = "String::is_empty")]
    pub user: String,
    #[serde(
        rename = "UserAuthNMethod",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub user_authn_method: String,
    #[serde(rename = "RequestMethod", default)]
    pub request_method: String,
    #[serde(rename = "RequestUri", alias = "RequestURI", default)]
    pub request_uri: String,
    /// Base64 in JSON, as Go encodes `[]byte`.
    #[serde(
        rename = "RequestBody",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub request_body: Option<String>,
    #[serde(rename = "RequestHeaders", alias = "RequestHeader", default)]
    pub request_headers: BTreeMap<String, String>,
    #[serde(
        rename = "ResponseStatusCode",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub response_status_code: Option<u16>,
    /// `AuthZRes` only: the response dockerd sent, base64, when it is JSON.
    #[serde(
        rename = "ResponseBody",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub response_body: Option<String>,
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BodyError {
    #[error("RequestBody is not base64: {0}")]
    Base64(String),
}

/// A `[]byte` as Go's JSON encodes it.
fn decode_base64(field: Option<&str>) -> Result<Option<Vec<u8>>, BodyError> {
    field
        .map(|b64| {
            base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|e| BodyError::Base64(e.to_string()))
        })
        .transpose()
}

impl AuthzRequest {
    /// The decoded response body of an `AuthZRes`; `None` when dockerd sent none.
    pub fn response_body(&self) -> Result<Option<Vec<u8>>, BodyError> {
        decode_base64(self.response_body.as_deref())
    }

    /// The decoded body; `None` when dockerd sent none.
    pub fn body(&self) -> Result<Option<Vec<u8>>, BodyError> {
        decode_base64(self.request_body.as_deref())
    }

    /// A header by name, case-insensitively (dockerd canonicalizes names, other clients may not).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.request_headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether the client sent a body, as far as the headers tell: a non-zero
    /// `Content-Length`, or a JSON content type without one (chunked requests carry no
    /// length, and dockerd drops `Transfer-Encoding` from the headers it forwards).
    pub fn headers_announce_body(&self) -> bool {
        match self.header("Content-Length").map(str::trim) {
            Some(len) => len != "0",
            None => self.header("Content-Type").is_some(),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct AuthzResponse {
    #[serde(rename = "Allow")]
    pub allow: bool,
    #[serde(rename = "Msg", default)]
    pub msg: String,
    #[serde(rename = "Err", default)]
    pub err: String,
}

impl AuthzResponse {
    pub fn from_verdict(verdict: &Verdict) -> Self {
        AuthzResponse {
            allow: verdict.allowed,
            msg: if verdict.allowed {
                String::new()
            } else {
                verdict.message.clone()
            },
            err: String::new(),
        }
    }

    pub fn deny(msg: impl Into<String>) -> Self {
        AuthzResponse {
            allow: false,
            msg: msg.into(),
            err: String::new(),
        }
    }
}
