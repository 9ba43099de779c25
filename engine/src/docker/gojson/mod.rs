//! JSON read exactly as dockerd reads request bodies: Go 1.19's `encoding/json` decoding
//! into moby 20.10's request types. A reader that disagrees with dockerd on any body is a
//! way past the Docker door, so nothing here is approximated: the syntax and string rules
//! are Go's scanner's (`scan`), field names match with Go's folding (`fold`), values decode
//! into existing values the way Go's decoder does (`decode`, `value`), the types come from
//! moby's own definitions (`schema`), and what policies see is Go's `json.Marshal` of the
//! result (`encode`). `tests/oracle/moby` is the Go program all of this is checked against.

pub mod decode;
pub mod encode;
pub mod fold;
pub mod scan;
pub mod schema;
pub mod tree;
pub mod value;

pub use decode::DecodeError;
pub use scan::{Document, SyntaxError};
pub use schema::Schema;
pub use tree::GoJson;
pub use value::Value;
