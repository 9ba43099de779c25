//! Go 1.19's `json.Marshal` of a decoded value: fields in encoding/json's order, `omitempty`,
//! fields behind a nil embedded pointer left out, map keys sorted, HTML-safe string escapes,
//! and Go's float formatting. This is the canonical form policies read: the same bytes a Go
//! program marshalling what dockerd decoded would produce.

use std::fmt::Write as _;

use super::schema::{Kind, Schema, TypeId};
use super::tree::GoJson;
use super::value::Value;

pub fn marshal(schema: &Schema, ty: TypeId, v: &Value) -> String {
    let mut out = String::new();
    encode(schema, ty, v, &mut out);
    out
}

fn encode(schema: &Schema, ty: TypeId, v: &Value, out: &mut String) {
    match (&schema.ty(ty).kind, v) {
        (_, Value::Bool(b)) => out.push_str(if *b { "true" } else { "false" }),
        (_, Value::Int(i)) => {
            let _ = write!(out, "{i}");
        }
        (_, Value::Uint(u)) => {
            let _ = write!(out, "{u}");
        }
        (Kind::Float(bits), Value::Float(f)) => float(*f, *bits, out),
        (_, Value::String(s)) => string(s, out),
        (Kind::Ptr(elem), Value::Ptr(p)) => match p {
            None => out.push_str("null"),
            Some(inner) => encode(schema, *elem, inner, out),
        },
        (Kind::Slice(elem), Value::Slice(s)) => {
            if s.nil {
                out.push_str("null");
            } else {
                list(schema, *elem, s.items(), out);
            }
        }
        (Kind::Array(elem, _), Value::Array(items)) => list(schema, *elem, items, out),
        (Kind::Map(elem), Value::Map(m)) => match m {
            None => out.push_str("null"),
            Some(m) => {
                out.push('{');
                for (i, (k, v)) in m.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    string(k, out);
                    out.push(':');
                    encode(schema, *elem, v, out);
                }
                out.push('}');
            }
        },
        (Kind::Struct(st), Value::Struct(_)) => {
            out.push('{');
            let mut first = true;
            for f in st.fields.iter() {
                let Some((fty, fv)) = field(schema, ty, v, &f.index) else {
                    continue;
                };
                if f.omit_empty && is_empty(schema, fty, fv) {
                    continue;
                }
                if !first {
                    out.push(',');
                }
                first = false;
                string(&f.name, out);
                out.push(':');
                encode(schema, fty, fv, out);
            }
            out.push('}');
        }
        (kind, value) => unreachable!("{kind:?} holding {value:?}"),
    }
}

/// The tree `marshal`'s text parses to, built without writing and re-reading the text: the
/// Docker door reads the canonical body both as text (what policies get) and as this tree.
pub fn tree(schema: &Schema, ty: TypeId, v: &Value) -> GoJson {
    match (&schema.ty(ty).kind, v) {
        (_, Value::Bool(b)) => GoJson::Bool(*b),
        (_, Value::Int(i)) => GoJson::Number((*i).into()),
        (_, Value::Uint(u)) => GoJson::Number((*u).into()),
        (Kind::Float(bits), Value::Float(f)) => {
            // Through Go's spelling, so the number is the one the text holds.
            let mut text = String::new();
            float(*f, *bits, &mut text);
            GoJson::Number(serde_json::from_str(&text).expect("Go's float text is a number"))
        }
        (_, Value::String(s)) => GoJson::String(s.clone()),
        (Kind::Ptr(elem), Value::Ptr(p)) => match p {
            None => GoJson::Null,
            Some(inner) => tree(schema, *elem, inner),
        },
        (Kind::Slice(elem), Value::Slice(s)) => {
            if s.nil {
                GoJson::Null
            } else {
                GoJson::Array(s.items().iter().map(|i| tree(schema, *elem, i)).collect())
            }
        }
        (Kind::Array(elem, _), Value::Array(items)) => {
            GoJson::Array(items.iter().map(|i| tree(schema, *elem, i)).collect())
        }
        (Kind::Map(elem), Value::Map(m)) => match m {
            None => GoJson::Null,
            Some(m) => GoJson::Object(
                m.iter()
                    .map(|(k, v)| (k.clone(), tree(schema, *elem, v)))
                    .collect(),
            ),
        },
        (Kind::Struct(st), Value::Struct(_)) => GoJson::Object(
            st.fields
                .iter()
                .filter_map(|f| {
                    let (fty, fv) = field(schema, ty, v, &f.index)?;
                    (!(f.omit_empty && is_empty(schema, fty, fv)))
                        .then(|| (f.name.to_string(), tree(schema, fty, fv)))
                })
                .collect(),
        ),
        (kind, value) => unreachable!("{kind:?} holding {value:?}"),
    }
}

fn list(schema: &Schema, elem: TypeId, items: &[Value], out: &mut String) {
    out.push('[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        encode(schema, elem, item, out);
    }
    out.push(']');
}

/// The raw field at `index` below struct `v`; `None` behind a nil embedded pointer.
pub fn field<'v>(
    schema: &Schema,
    mut ty: TypeId,
    mut v: &'v Value,
    index: &[usize],
) -> Option<(TypeId, &'v Value)> {
    for &i in index {
        if let Kind::Ptr(elem) = schema.ty(ty).kind {
            let Value::Ptr(Some(inner)) = v else {
                return None;
            };
            v = inner;
            ty = elem;
        }
        let Value::Struct(raw) = v else { return None };
        ty = schema.strukt(ty).raw[i]?;
        v = &raw[i];
    }
    Some((ty, v))
}

fn is_empty(schema: &Schema, ty: TypeId, v: &Value) -> bool {
    match v {
        Value::Bool(b) => !b,
        Value::Int(i) => *i == 0,
        Value::Uint(u) => *u == 0,
        Value::Float(f) => *f == 0.0,
        Value::String(s) => s.is_empty(),
        Value::Ptr(p) => p.is_none(),
        Value::Slice(s) => s.len == 0,
        Value::Map(m) => m.as_ref().is_none_or(|m| m.is_empty()),
        Value::Array(items) => items.is_empty(),
        Value::Struct(_) | Value::Unused => {
            let _ = (schema, ty);
            false
        }
    }
}

/// `encodeState.string` with HTML escaping on, as `json.Marshal` does.
fn string(s: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{0}'..='\u{1f}' | '<' | '>' | '&' => {
                let b = c as u8;
                out.push_str("\\u00");
                out.push(HEX[(b >> 4) as usize] as char);
                out.push(HEX[(b & 0xf) as usize] as char);
            }
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            _ => out.push(c),
        }
    }
    out.push('"');
}

/// `floatEncoder`: the shortest representation that reads back as the same float of its
/// size, in exponent form below 1e-6 and from 1e21 on, with Go's exponent spelling.
fn float(f: f64, bits: u32, out: &mut String) {
    let abs = f.abs();
    let exponent = abs != 0.0
        && if bits == 32 {
            let a = abs as f32;
            !(1e-6..1e21).contains(&a)
        } else {
            !(1e-6..1e21).contains(&abs)
        };
    let text = match (bits, exponent) {
        (32, false) => format!("{}", f as f32),
        (32, true) => format!("{:e}", f as f32),
        (_, false) => format!("{f}"),
        (_, true) => format!("{f:e}"),
    };
    if !exponent {
        out.push_str(&text);
        return;
    }
    // Rust writes `1e21` and `1.5e-7`; Go writes `1e+21` and (after its clean-up of
    // `e-07`) `1.5e-7`.
    match text.split_once('e') {
        Some((mantissa, exp)) if !exp.starts_with('-') => {
            let _ = write!(out, "{mantissa}e+{exp:0>2}");
        }
        _ => out.push_str(&text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_escape_as_go_does() {
        let mut out = String::new();
        string("a<b>&\"\\\n\t\u{1}\u{7f}\u{2028}é", &mut out);
        assert_eq!(
            out,
            r#""a\u003cb\u003e\u0026\"\\\n\t\u0001"#.to_string() + "\u{7f}\\u2028é\""
        );
    }

    #[test]
    fn floats_format_as_go_does() {
        let f = |v: f64, bits| {
            let mut out = String::new();
            float(v, bits, &mut out);
            out
        };
        assert_eq!(f(0.1f32 as f64, 32), "0.1");
        assert_eq!(f(1e21, 64), "1e+21");
        assert_eq!(f(1.5e-7, 64), "1.5e-7");
        assert_eq!(f(1e-10, 64), "1e-10");
        assert_eq!(f(123456789.0, 64), "123456789");
        assert_eq!(f(-0.0, 64), "-0");
        assert_eq!(f(3.4e38f32 as f64, 32), "3.4e+38");
    }
}
