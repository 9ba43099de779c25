//! A reader for the canonical JSON `moby::decode` produces (Go's `json.Marshal` of what
//! dockerd decoded): every key is spelled exactly once, so lookups are exact. Objects keep
//! their entries in order.

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

#[derive(Debug, Clone, PartialEq)]
pub enum GoJson {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(String),
    Array(Vec<GoJson>),
    /// Every entry in document order, duplicates kept.
    Object(Vec<(String, GoJson)>),
}

static NULL: GoJson = GoJson::Null;

impl GoJson {
    pub fn parse(bytes: &[u8]) -> Result<GoJson, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    /// Member `name`; `Null` when absent.
    pub fn get(&self, name: &str) -> &GoJson {
        match self {
            GoJson::Object(entries) => entries
                .iter()
                .rev()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v)
                .unwrap_or(&NULL),
            _ => &NULL,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, GoJson::Null)
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            GoJson::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            GoJson::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            GoJson::Number(n) => n.as_i64(),
            _ => None,
        }
    }

    pub fn as_array(&self) -> &[GoJson] {
        match self {
            GoJson::Array(items) => items,
            _ => &[],
        }
    }

    /// Strings of an array; other items are skipped (Go would reject the body).
    pub fn strings(&self) -> impl Iterator<Item = &str> {
        self.as_array().iter().filter_map(GoJson::as_str)
    }

    /// A Go map: for duplicate keys (exact, maps are case-sensitive) the last value wins.
    pub fn map_entries(&self) -> Vec<(&str, &GoJson)> {
        let mut out: Vec<(&str, &GoJson)> = Vec::new();
        if let GoJson::Object(entries) = self {
            for (k, v) in entries {
                match out.iter_mut().find(|(existing, _)| *existing == k) {
                    Some(slot) => slot.1 = v,
                    None => out.push((k, v)),
                }
            }
        }
        out
    }

    /// Back to plain JSON (for the raw object policies may read), keeping the value Go would
    /// see for duplicate keys.
    pub fn to_value(&self) -> serde_json::Value {
        use serde_json::Value;
        match self {
            GoJson::Null => Value::Null,
            GoJson::Bool(b) => Value::Bool(*b),
            GoJson::Number(n) => Value::Number(n.clone()),
            GoJson::String(s) => Value::String(s.clone()),
            GoJson::Array(items) => Value::Array(items.iter().map(GoJson::to_value).collect()),
            GoJson::Object(entries) => {
                let mut map = serde_json::Map::new();
                for (k, v) in entries {
                    map.insert(k.clone(), v.to_value());
                }
                Value::Object(map)
            }
        }
    }
}

impl<'de> Deserialize<'de> for GoJson {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(GoJsonVisitor)
    }
}

struct GoJsonVisitor;

impl<'de> Visitor<'de> for GoJsonVisitor {
    type Value = GoJson;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E>(self) -> Result<GoJson, E> {
        Ok(GoJson::Null)
    }

    fn visit_none<E>(self) -> Result<GoJson, E> {
        Ok(GoJson::Null)
    }

    fn visit_bool<E>(self, v: bool) -> Result<GoJson, E> {
        Ok(GoJson::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<GoJson, E> {
        Ok(GoJson::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<GoJson, E> {
        Ok(GoJson::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<GoJson, E> {
        Ok(serde_json::Number::from_f64(v).map_or(GoJson::Null, GoJson::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<GoJson, E> {
        Ok(GoJson::String(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<GoJson, E> {
        Ok(GoJson::String(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<GoJson, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(GoJson::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<GoJson, A::Error> {
        let mut entries = Vec::new();
        while let Some((k, v)) = map.next_entry::<String, GoJson>()? {
            entries.push((k, v));
        }
        Ok(GoJson::Object(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_members_and_map_entries() {
        let body =
            GoJson::parse(br#"{"HostConfig":{"Privileged":true},"Labels":{"a":"1","b":"2"}}"#)
                .unwrap();
        assert_eq!(
            body.get("HostConfig").get("Privileged").as_bool(),
            Some(true)
        );
        assert!(body.get("hostconfig").is_null());
        assert_eq!(body.get("Labels").map_entries().len(), 2);
    }
}
