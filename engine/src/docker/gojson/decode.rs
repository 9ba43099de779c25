//! Decoding a parsed document into a moby type exactly as Go 1.19's `encoding/json`
//! decodes into an existing value (decode.go: `value`, `array`, `object`, `literalStore`,
//! `indirect`). Go keeps going after a type mismatch and reports the first one at the end;
//! dockerd then refuses the request, so here the first error ends decoding — the values
//! decoded so far are never used either way.

use std::collections::BTreeMap;

use super::fold;
use super::scan::{Node, NodeRef};
use super::schema::{Kind, Schema, TypeId, Unmarshaler};
use super::value::{Slice, Value};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DecodeError(pub String);

pub struct Decoder<'s> {
    schema: &'s Schema,
}

/// Where `indirect` stops.
enum Target<'v> {
    Custom(Unmarshaler, &'v mut Value),
    Plain(TypeId, &'v mut Value),
}

impl<'s> Decoder<'s> {
    pub fn new(schema: &'s Schema) -> Self {
        Decoder { schema }
    }

    /// Decodes `node` into `v`, a value of type `ty`.
    pub fn value(&self, node: NodeRef, ty: TypeId, v: &mut Value) -> Result<(), DecodeError> {
        match node.node() {
            Node::Array { .. } => self.array(node, ty, v),
            Node::Object { .. } => self.object(node, ty, v),
            _ => self.literal(node, ty, v),
        }
    }

    fn mismatch(&self, what: &str, ty: TypeId) -> DecodeError {
        DecodeError(format!(
            "json: cannot unmarshal {what} into Go value of type {}",
            self.schema.ty(ty).name
        ))
    }

    /// Follows pointers, allocating nil ones, until a type with its own unmarshaler or a
    /// non-pointer. For `null` it stops at the first pointer, so that pointer is set to nil.
    fn indirect<'v>(&self, mut ty: TypeId, mut v: &'v mut Value, null: bool) -> Target<'v> {
        loop {
            let t = self.schema.ty(ty);
            if let Some(u) = t.unmarshaler {
                return Target::Custom(u, v);
            }
            let Kind::Ptr(elem) = t.kind else {
                return Target::Plain(ty, v);
            };
            if null {
                return Target::Plain(ty, v);
            }
            if !matches!(v, Value::Ptr(Some(_))) {
                *v = Value::Ptr(Some(Box::new(self.schema.zero(elem))));
            }
            let Value::Ptr(Some(inner)) = v else {
                unreachable!("allocated above")
            };
            v = inner;
            ty = elem;
        }
    }

    fn literal(&self, node: NodeRef, ty: TypeId, v: &mut Value) -> Result<(), DecodeError> {
        let null = matches!(node.node(), Node::Null);
        let (ty, v) = match self.indirect(ty, v, null) {
            Target::Custom(u, v) => return self.custom(u, node, v),
            Target::Plain(ty, v) => (ty, v),
        };
        let kind = &self.schema.ty(ty).kind;
        match node.node() {
            Node::Null => {
                // Pointers, maps and slices become nil; everything else is left as it was.
                if matches!(
                    kind,
                    Kind::Interface | Kind::Ptr(_) | Kind::Map(_) | Kind::Slice(_)
                ) {
                    *v = self.schema.zero(ty);
                }
                Ok(())
            }
            Node::Bool(b) => match kind {
                Kind::Bool => {
                    *v = Value::Bool(*b);
                    Ok(())
                }
                _ => Err(self.mismatch("bool", ty)),
            },
            Node::String(s) => match kind {
                Kind::String => {
                    *v = Value::String(s.to_string());
                    Ok(())
                }
                _ => Err(self.mismatch("string", ty)),
            },
            Node::Number(text) => {
                let bad = || self.mismatch(&format!("number {text}"), ty);
                match kind {
                    Kind::Int(bits) => {
                        let n: i64 = text.parse().map_err(|_| bad())?;
                        if *bits < 64 {
                            let limit = 1i64 << (bits - 1);
                            if n < -limit || n >= limit {
                                return Err(bad());
                            }
                        }
                        *v = Value::Int(n);
                    }
                    Kind::Uint(bits) => {
                        // strconv.ParseUint takes no sign at all.
                        if text.starts_with('-') {
                            return Err(bad());
                        }
                        let n: u64 = text.parse().map_err(|_| bad())?;
                        if *bits < 64 && n >> bits != 0 {
                            return Err(bad());
                        }
                        *v = Value::Uint(n);
                    }
                    Kind::Float(32) => {
                        let n: f32 = text.parse().map_err(|_| bad())?;
                        if n.is_infinite() {
                            return Err(bad());
                        }
                        *v = Value::Float(f64::from(n));
                    }
                    Kind::Float(_) => {
                        let n: f64 = text.parse().map_err(|_| bad())?;
                        if n.is_infinite() {
                            return Err(bad());
                        }
                        *v = Value::Float(n);
                    }
                    _ => return Err(bad()),
                }
                Ok(())
            }
            Node::Array { .. } | Node::Object { .. } => unreachable!("not a literal"),
        }
    }

    fn array(&self, node: NodeRef, ty: TypeId, v: &mut Value) -> Result<(), DecodeError> {
        let (ty, v) = match self.indirect(ty, v, false) {
            Target::Custom(u, v) => return self.custom(u, node, v),
            Target::Plain(ty, v) => (ty, v),
        };
        match self.schema.ty(ty).kind {
            Kind::Slice(elem) => {
                let Value::Slice(s) = v else {
                    unreachable!("a slice type holds a slice")
                };
                self.slice(node, elem, s)
            }
            Kind::Array(elem, len) => {
                let Value::Array(items) = v else {
                    unreachable!("an array type holds an array")
                };
                let mut i = 0;
                for child in node.children() {
                    if i < len {
                        self.value(child, elem, &mut items[i])?;
                    }
                    i += 1;
                }
                for item in items.iter_mut().skip(i) {
                    *item = self.schema.zero(elem);
                }
                Ok(())
            }
            _ => Err(self.mismatch("array", ty)),
        }
    }

    /// Elements decode into the slice's existing elements, growing its backing array as Go's
    /// reflect-based decoder does (capacity ×1.5, at least 4) and never clearing elements
    /// that lie between its length and its capacity.
    fn slice(&self, node: NodeRef, elem: TypeId, s: &mut Slice) -> Result<(), DecodeError> {
        let mut i = 0;
        for child in node.children() {
            if i >= s.backing.len() {
                let cap = s.backing.len();
                let new_cap = (cap + cap / 2).max(4);
                let mut backing = Vec::with_capacity(new_cap);
                backing.extend(s.backing.drain(..s.len));
                backing.resize_with(new_cap, || self.schema.zero(elem));
                s.backing = backing;
                s.nil = false;
            }
            if i >= s.len {
                s.len = i + 1;
            }
            self.value(child, elem, &mut s.backing[i])?;
            i += 1;
        }
        if i < s.len {
            s.len = i;
        }
        if i == 0 {
            *s = Slice {
                nil: false,
                backing: Vec::new(),
                len: 0,
            };
        }
        Ok(())
    }

    fn object(&self, node: NodeRef, ty: TypeId, v: &mut Value) -> Result<(), DecodeError> {
        let (ty, v) = match self.indirect(ty, v, false) {
            Target::Custom(u, v) => return self.custom(u, node, v),
            Target::Plain(ty, v) => (ty, v),
        };
        match &self.schema.ty(ty).kind {
            Kind::Map(elem) => {
                let Value::Map(map) = v else {
                    unreachable!("a map type holds a map")
                };
                let map = map.get_or_insert_with(BTreeMap::new);
                for (key, child) in node.entries() {
                    // Each value decodes into a fresh zero element, then replaces the key's.
                    let mut e = self.schema.zero(*elem);
                    self.value(child, *elem, &mut e)?;
                    map.insert(key.to_string(), e);
                }
                Ok(())
            }
            Kind::Struct(st) => {
                for (key, child) in node.entries() {
                    let found = st.by_name.get(key).copied().or_else(|| {
                        st.fields
                            .iter()
                            .position(|f| fold::matches(f.fold, f.name.as_bytes(), key.as_bytes()))
                    });
                    // Unknown keys are skipped.
                    let Some(f) = found else { continue };
                    let (field_ty, target) = self.field_mut(ty, &mut *v, &st.fields[f].index);
                    self.value(child, field_ty, target)?;
                }
                Ok(())
            }
            _ => Err(self.mismatch("object", ty)),
        }
    }

    /// The raw field at `index` below struct `v`, allocating embedded pointers on the way.
    fn field_mut<'v>(
        &self,
        mut ty: TypeId,
        mut v: &'v mut Value,
        index: &[usize],
    ) -> (TypeId, &'v mut Value) {
        for &i in index {
            if let Kind::Ptr(elem) = self.schema.ty(ty).kind {
                if !matches!(v, Value::Ptr(Some(_))) {
                    *v = Value::Ptr(Some(Box::new(self.schema.zero(elem))));
                }
                let Value::Ptr(Some(inner)) = v else {
                    unreachable!("allocated above")
                };
                v = inner;
                ty = elem;
            }
            let st = self.schema.strukt(ty);
            let Value::Struct(raw) = v else {
                unreachable!("a struct type holds a struct")
            };
            ty = st.raw[i].expect("fields in the table have a type");
            v = &mut raw[i];
        }
        (ty, v)
    }

    fn custom(&self, u: Unmarshaler, node: NodeRef, v: &mut Value) -> Result<(), DecodeError> {
        match u {
            Unmarshaler::StrSlice => self.strslice(node, v),
        }
    }

    /// `strslice.StrSlice.UnmarshalJSON`: `json.Unmarshal` into a fresh `[]string` (so
    /// `null` is nil and `[]` is empty), or failing that into one string.
    fn strslice(&self, node: NodeRef, v: &mut Value) -> Result<(), DecodeError> {
        let as_slice = || -> Result<Slice, DecodeError> {
            let mut p = Slice {
                nil: false,
                backing: vec![Value::String(String::new())],
                len: 0,
            };
            match node.node() {
                Node::Null => Ok(Slice::nil()),
                Node::Array { .. } => {
                    let string = self.schema.string;
                    self.slice(node, string, &mut p)?;
                    Ok(p)
                }
                _ => Err(DecodeError("json: cannot unmarshal into []string".into())),
            }
        };
        let slice = match as_slice() {
            Ok(p) => p,
            Err(e) => match node.node() {
                Node::String(s) => Slice {
                    nil: false,
                    backing: vec![Value::String(s.to_string())],
                    len: 1,
                },
                _ => return Err(e),
            },
        };
        *v = Value::Slice(slice);
        Ok(())
    }
}
