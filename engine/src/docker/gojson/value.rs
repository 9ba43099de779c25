//! Values shaped as Go holds them after decoding, so that decoding can do what Go does to
//! values that already exist: fill a pointer's struct field by field, reuse a slice's
//! elements (including ones left past its length by an earlier, shorter decode), and add
//! keys to a map.

use std::collections::BTreeMap;

use super::schema::{Kind, Schema, TypeId};

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Bool(bool),
    Int(i64),
    Uint(u64),
    Float(f64),
    String(String),
    Ptr(Option<Box<Value>>),
    Slice(Slice),
    Array(Vec<Value>),
    /// `None` is a nil map; keys sort as Go's encoder sorts them.
    Map(Option<BTreeMap<String, Value>>),
    /// Raw fields in declaration order.
    Struct(Vec<Value>),
    /// A raw field encoding/json never reads or writes.
    Unused,
}

/// A Go slice: a backing array (its length is the capacity) of which the first `len`
/// elements are visible.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Slice {
    pub nil: bool,
    pub backing: Vec<Value>,
    pub len: usize,
}

impl Slice {
    pub fn nil() -> Slice {
        Slice {
            nil: true,
            backing: Vec::new(),
            len: 0,
        }
    }

    pub fn items(&self) -> &[Value] {
        &self.backing[..self.len]
    }
}

impl Schema {
    /// Go's zero value of a type.
    pub fn zero(&self, ty: TypeId) -> Value {
        match &self.ty(ty).kind {
            Kind::Bool => Value::Bool(false),
            Kind::Int(_) => Value::Int(0),
            Kind::Uint(_) => Value::Uint(0),
            Kind::Float(_) => Value::Float(0.0),
            Kind::String => Value::String(String::new()),
            Kind::Interface | Kind::Ptr(_) => Value::Ptr(None),
            Kind::Slice(_) => Value::Slice(Slice::nil()),
            Kind::Array(elem, len) => Value::Array((0..*len).map(|_| self.zero(*elem)).collect()),
            Kind::Map(_) => Value::Map(None),
            Kind::Struct(s) => Value::Struct(
                s.raw
                    .iter()
                    .map(|raw| raw.map_or(Value::Unused, |t| self.zero(t)))
                    .collect(),
            ),
        }
    }
}

impl Value {
    pub fn as_bool(&self) -> bool {
        matches!(self, Value::Bool(true))
    }

    pub fn as_i64(&self) -> i64 {
        match self {
            Value::Int(i) => *i,
            _ => 0,
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Value::String(s) => s,
            _ => "",
        }
    }

    pub fn is_nil(&self) -> bool {
        matches!(self, Value::Ptr(None) | Value::Map(None))
            || matches!(self, Value::Slice(s) if s.nil)
    }
}
