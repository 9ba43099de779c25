//! moby's request types as encoding/json sees them: every type reachable from the bodies
//! dockerd decodes, with each struct's field table (JSON names, the embedded-field path to
//! each, `omitempty`, and which of Go's case-folding comparisons the name gets).
//!
//! `moby-types.json` is generated, not written: `tests/oracle/moby` (`moby-oracle schema`)
//! reflects over moby 20.10.24's types with Go 1.19's own field-table algorithm, and a test
//! checks the committed file against it.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde::Deserialize;

pub type TypeId = usize;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fold {
    /// Only ASCII letters, none of them `k` or `s`.
    Letters,
    /// ASCII with a non-letter.
    Ascii,
    /// ASCII with `k` or `s`: the Kelvin sign and `ſ` match too.
    Special,
}

#[derive(Debug)]
pub struct Field {
    pub name: Box<str>,
    /// Raw field indexes from the struct down through embedded structs.
    pub index: Box<[usize]>,
    pub omit_empty: bool,
    pub fold: Fold,
}

#[derive(Debug)]
pub enum Kind {
    Bool,
    Int(u32),
    Uint(u32),
    Float(u32),
    String,
    Interface,
    Ptr(TypeId),
    Slice(TypeId),
    Array(TypeId, usize),
    /// Map keys are strings (the generator refuses other key kinds).
    Map(TypeId),
    Struct(Struct),
}

#[derive(Debug)]
pub struct Struct {
    /// Type of each raw field; `None` for fields encoding/json never touches.
    pub raw: Box<[Option<TypeId>]>,
    pub go_names: Box<[Box<str>]>,
    /// In encoding/json's order (by index sequence).
    pub fields: Box<[Field]>,
    /// Exact JSON name → position in `fields`.
    pub by_name: HashMap<Box<str>, usize>,
}

impl Struct {
    /// The raw field with Go name `name`.
    pub fn raw_index(&self, name: &str) -> Option<usize> {
        self.go_names.iter().position(|n| &**n == name)
    }
}

/// A custom `UnmarshalJSON` the engine implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unmarshaler {
    /// `strslice.StrSlice`: an array of strings, or one bare string.
    StrSlice,
}

#[derive(Debug)]
pub struct Type {
    pub name: Box<str>,
    pub kind: Kind,
    pub unmarshaler: Option<Unmarshaler>,
}

#[derive(Debug)]
pub struct Schema {
    pub go_version: String,
    pub types: Vec<Type>,
    pub roots: HashMap<String, TypeId>,
    /// Go's `string`, for `StrSlice`'s inner `[]string`.
    pub string: TypeId,
}

impl Schema {
    pub fn get() -> &'static Schema {
        static SCHEMA: OnceLock<Schema> = OnceLock::new();
        SCHEMA.get_or_init(|| {
            Schema::from_json(include_str!("moby-types.json"))
                .expect("the generated moby-types.json is readable")
        })
    }

    pub fn root(&self, kind: &str) -> TypeId {
        self.roots[kind]
    }

    pub fn ty(&self, id: TypeId) -> &Type {
        &self.types[id]
    }

    pub fn strukt(&self, id: TypeId) -> &Struct {
        match &self.types[id].kind {
            Kind::Struct(s) => s,
            _ => panic!("{} is not a struct", self.types[id].name),
        }
    }

    pub fn from_json(text: &str) -> Result<Schema, String> {
        let doc: SchemaDoc = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let types = doc
            .types
            .into_iter()
            .map(TypeDoc::into_type)
            .collect::<Result<Vec<Type>, _>>()?;
        let string = types
            .iter()
            .position(|t| matches!(t.kind, Kind::String) && &*t.name == "string")
            .ok_or("no string type")?;
        Ok(Schema {
            string,
            go_version: doc.go,
            types,
            roots: doc.roots,
        })
    }
}

#[derive(Deserialize)]
struct SchemaDoc {
    go: String,
    roots: HashMap<String, TypeId>,
    types: Vec<TypeDoc>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TypeDoc {
    name: String,
    kind: String,
    #[serde(default)]
    bits: u32,
    elem: Option<TypeId>,
    #[serde(default)]
    len: usize,
    #[serde(default)]
    raw: Vec<i64>,
    #[serde(default)]
    go_names: Vec<String>,
    #[serde(default)]
    fields: Vec<FieldDoc>,
    unmarshal: Option<String>,
}

#[derive(Deserialize)]
struct FieldDoc {
    name: String,
    index: Vec<usize>,
    #[serde(default)]
    omitempty: bool,
    fold: String,
}

impl TypeDoc {
    fn into_type(self) -> Result<Type, String> {
        let elem = || {
            self.elem
                .ok_or_else(|| format!("{}: no element type", self.name))
        };
        let kind = match self.kind.as_str() {
            "bool" => Kind::Bool,
            "int" => Kind::Int(self.bits),
            "uint" => Kind::Uint(self.bits),
            "float" => Kind::Float(self.bits),
            "string" => Kind::String,
            "interface" => Kind::Interface,
            "ptr" => Kind::Ptr(elem()?),
            "slice" => Kind::Slice(elem()?),
            "array" => Kind::Array(elem()?, self.len),
            "map" => Kind::Map(elem()?),
            "struct" => {
                let mut fields = Vec::with_capacity(self.fields.len());
                let mut by_name = HashMap::new();
                for (i, f) in self.fields.into_iter().enumerate() {
                    let fold = match f.fold.as_str() {
                        "letters" => Fold::Letters,
                        "ascii" => Fold::Ascii,
                        "special" => Fold::Special,
                        other => return Err(format!("{}: fold {other}", self.name)),
                    };
                    by_name.insert(f.name.clone().into_boxed_str(), i);
                    fields.push(Field {
                        name: f.name.into(),
                        index: f.index.into(),
                        omit_empty: f.omitempty,
                        fold,
                    });
                }
                Kind::Struct(Struct {
                    raw: self.raw.iter().map(|&r| usize::try_from(r).ok()).collect(),
                    go_names: self.go_names.into_iter().map(Into::into).collect(),
                    fields: fields.into(),
                    by_name,
                })
            }
            other => return Err(format!("{}: kind {other}", self.name)),
        };
        let unmarshaler = match self.unmarshal.as_deref() {
            None => None,
            Some("strslice") => Some(Unmarshaler::StrSlice),
            Some(other) => return Err(format!("{}: unmarshaler {other}", self.name)),
        };
        Ok(Type {
            name: self.name.into(),
            kind,
            unmarshaler,
        })
    }
}
