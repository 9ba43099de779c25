//! JSON text read as Go 1.19's `json.Decoder.Decode` reads it: the first value of the input
//! (whatever follows it is never looked at), syntax checked before anything is decoded, at
//! most 10,000 levels of nesting, and strings unquoted the way `encoding/json` does —
//! invalid UTF-8 and lone surrogates become U+FFFD one byte or one escape at a time, which
//! is not what Rust's lossy conversion does.
//!
//! The value is kept as a flat list of nodes in document order, duplicates and all, so that
//! decoding can replay it into Go-shaped values (see `decode`), and so that neither building
//! nor dropping a deeply nested document recurses.

use std::fmt;

/// encoding/json's scanner refuses input nested deeper than this (scanner.go).
pub const MAX_NESTING_DEPTH: usize = 10_000;

#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Null,
    Bool(bool),
    /// The literal as written: Go parses it for the type it is decoded into.
    Number(Box<str>),
    String(Box<str>),
    /// Elements follow, each a subtree; `end` is the index just past the last of them.
    Array {
        end: u32,
    },
    /// Key (a `String` node) and value subtrees alternate up to `end`.
    Object {
        end: u32,
    },
}

/// One parsed JSON value.
#[derive(Debug, Clone)]
pub struct Document {
    nodes: Vec<Node>,
    /// Bytes of input up to the end of the value (what `Decoder.Decode` consumed).
    consumed: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub offset: usize,
    pub message: String,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (at byte {})", self.message, self.offset)
    }
}

impl std::error::Error for SyntaxError {}

/// A node and its place in the document.
#[derive(Clone, Copy)]
pub struct NodeRef<'d> {
    doc: &'d Document,
    index: usize,
}

impl Document {
    /// Reads the first JSON value of `input`, as `Decoder.Decode` does: leading white space
    /// is skipped, trailing bytes are ignored, empty input is an error (Go's `io.EOF`).
    pub fn parse(input: &[u8]) -> Result<Document, SyntaxError> {
        Parser {
            input,
            pos: 0,
            nodes: Vec::new(),
        }
        .parse()
    }

    /// `Decoder.More()` after this value: whether a byte other than white space, `]` or `}`
    /// follows it.
    pub fn more(&self, input: &[u8]) -> bool {
        input[self.consumed.min(input.len())..]
            .iter()
            .find(|b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
            .is_some_and(|b| !matches!(b, b']' | b'}'))
    }

    pub fn root(&self) -> NodeRef<'_> {
        NodeRef {
            doc: self,
            index: 0,
        }
    }
}

impl<'d> NodeRef<'d> {
    pub fn node(&self) -> &'d Node {
        &self.doc.nodes[self.index]
    }

    /// Index just past this node's subtree.
    fn end(&self) -> usize {
        match self.node() {
            Node::Array { end } | Node::Object { end } => *end as usize,
            _ => self.index + 1,
        }
    }

    /// Elements of an array (or keys and values of an object, alternating).
    pub fn children(&self) -> Children<'d> {
        let (next, end) = match self.node() {
            Node::Array { end } | Node::Object { end } => (self.index + 1, *end as usize),
            _ => (0, 0),
        };
        Children {
            doc: self.doc,
            next,
            end,
        }
    }

    /// Key–value pairs of an object, in document order.
    pub fn entries(&self) -> impl Iterator<Item = (&'d str, NodeRef<'d>)> + 'd {
        let mut children = self.children();
        std::iter::from_fn(move || {
            let key = children.next()?;
            let value = children.next()?;
            match key.node() {
                Node::String(k) => Some((&**k, value)),
                _ => None,
            }
        })
    }
}

pub struct Children<'d> {
    doc: &'d Document,
    next: usize,
    end: usize,
}

impl<'d> Iterator for Children<'d> {
    type Item = NodeRef<'d>;

    fn next(&mut self) -> Option<NodeRef<'d>> {
        if self.next >= self.end {
            return None;
        }
        let node = NodeRef {
            doc: self.doc,
            index: self.next,
        };
        self.next = node.end();
        Some(node)
    }
}

struct Parser<'a> {
    input: &'a [u8],
    pos: usize,
    nodes: Vec<Node>,
}

enum Open {
    Array(usize),
    Object(usize),
}

impl Parser<'_> {
    fn error<T>(&self, message: impl Into<String>) -> Result<T, SyntaxError> {
        Err(SyntaxError {
            offset: self.pos,
            message: message.into(),
        })
    }

    fn peek(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }

    fn skip_space(&mut self) {
        while let Some(b' ' | b'\t' | b'\r' | b'\n') = self.peek() {
            self.pos += 1;
        }
    }

    fn unexpected<T>(&self, context: &str) -> Result<T, SyntaxError> {
        match self.peek() {
            None => self.error("unexpected end of JSON input"),
            Some(c) => self.error(format!("invalid character {c:#04x} {context}")),
        }
    }

    fn parse(mut self) -> Result<Document, SyntaxError> {
        self.skip_space();
        if self.peek().is_none() {
            return self.error("EOF: no JSON value");
        }
        let mut stack: Vec<Open> = Vec::new();
        loop {
            // A value starts here.
            self.skip_space();
            match self.peek() {
                Some(b'{') => {
                    self.pos += 1;
                    stack.push(Open::Object(self.nodes.len()));
                    self.nodes.push(Node::Object { end: 0 });
                    if stack.len() > MAX_NESTING_DEPTH {
                        return self.error("exceeded max depth");
                    }
                    self.skip_space();
                    if self.peek() == Some(b'}') {
                        self.pos += 1;
                        self.close(&mut stack);
                    } else {
                        self.key()?;
                        continue;
                    }
                }
                Some(b'[') => {
                    self.pos += 1;
                    stack.push(Open::Array(self.nodes.len()));
                    self.nodes.push(Node::Array { end: 0 });
                    if stack.len() > MAX_NESTING_DEPTH {
                        return self.error("exceeded max depth");
                    }
                    self.skip_space();
                    if self.peek() == Some(b']') {
                        self.pos += 1;
                        self.close(&mut stack);
                    } else {
                        continue;
                    }
                }
                Some(b'"') => {
                    let s = self.string()?;
                    self.nodes.push(Node::String(s));
                }
                Some(b'-' | b'0'..=b'9') => {
                    let n = self.number()?;
                    self.nodes.push(Node::Number(n));
                }
                Some(b't') => self.literal(b"true", Node::Bool(true))?,
                Some(b'f') => self.literal(b"false", Node::Bool(false))?,
                Some(b'n') => self.literal(b"null", Node::Null)?,
                _ => return self.unexpected("looking for beginning of value"),
            }
            // A value ended: close every container it completes.
            loop {
                let Some(open) = stack.last() else {
                    return Ok(Document {
                        nodes: self.nodes,
                        consumed: self.pos,
                    });
                };
                self.skip_space();
                match (open, self.peek()) {
                    (_, Some(b',')) => {
                        self.pos += 1;
                        if let Open::Object(_) = open {
                            self.skip_space();
                            self.key()?;
                        }
                        break;
                    }
                    (Open::Array(_), Some(b']')) | (Open::Object(_), Some(b'}')) => {
                        self.pos += 1;
                        self.close(&mut stack);
                    }
                    (Open::Array(_), _) => {
                        return self.unexpected("after array element");
                    }
                    (Open::Object(_), _) => {
                        return self.unexpected("after object key:value pair");
                    }
                }
            }
        }
    }

    fn close(&mut self, stack: &mut Vec<Open>) {
        let end = self.nodes.len() as u32;
        match stack.pop() {
            Some(Open::Array(i)) => self.nodes[i] = Node::Array { end },
            Some(Open::Object(i)) => self.nodes[i] = Node::Object { end },
            None => {}
        }
    }

    /// An object key and its colon; the value follows.
    fn key(&mut self) -> Result<(), SyntaxError> {
        if self.peek() != Some(b'"') {
            return self.unexpected("looking for beginning of object key string");
        }
        let key = self.string()?;
        self.nodes.push(Node::String(key));
        self.skip_space();
        if self.peek() != Some(b':') {
            return self.unexpected("after object key");
        }
        self.pos += 1;
        Ok(())
    }

    fn literal(&mut self, word: &[u8], node: Node) -> Result<(), SyntaxError> {
        for &expected in word {
            if self.peek() != Some(expected) {
                return self.unexpected("in literal");
            }
            self.pos += 1;
        }
        self.nodes.push(node);
        Ok(())
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`, taken as far as it goes.
    fn number(&mut self) -> Result<Box<str>, SyntaxError> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => self.digits(),
            _ => return self.unexpected("in numeric literal"),
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return self.unexpected("after decimal point in numeric literal");
            }
            self.digits();
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return self.unexpected("in exponent of numeric literal");
            }
            self.digits();
        }
        // The grammar above admits ASCII only.
        let text = std::str::from_utf8(&self.input[start..self.pos]).unwrap_or_default();
        Ok(text.into())
    }

    fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
    }

    /// A quoted string, unquoted as encoding/json's `unquote` does.
    fn string(&mut self) -> Result<Box<str>, SyntaxError> {
        self.pos += 1; // the opening quote
        let mut out = String::new();
        loop {
            let Some(c) = self.peek() else {
                return self.error("unexpected end of JSON input");
            };
            match c {
                b'"' => {
                    self.pos += 1;
                    return Ok(out.into_boxed_str());
                }
                b'\\' => {
                    self.pos += 1;
                    let Some(e) = self.peek() else {
                        return self.error("unexpected end of JSON input");
                    };
                    self.pos += 1;
                    match e {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let first = self.hex4()?;
                            out.push(self.escaped_rune(first)?);
                        }
                        _ => {
                            self.pos -= 1;
                            return self.unexpected("in string escape code");
                        }
                    }
                }
                0..=0x1f => return self.unexpected("in string literal"),
                0x20..=0x7f => {
                    out.push(c as char);
                    self.pos += 1;
                }
                _ => {
                    let (rune, size) = decode_rune(&self.input[self.pos..]);
                    out.push(rune);
                    self.pos += size;
                }
            }
        }
    }

    fn hex4(&mut self) -> Result<u32, SyntaxError> {
        let mut value = 0u32;
        for _ in 0..4 {
            let digit = match self.peek() {
                Some(c @ b'0'..=b'9') => c - b'0',
                Some(c @ b'a'..=b'f') => c - b'a' + 10,
                Some(c @ b'A'..=b'F') => c - b'A' + 10,
                _ => return self.unexpected("in \\u hexadecimal character escape"),
            };
            value = value * 16 + u32::from(digit);
            self.pos += 1;
        }
        Ok(value)
    }

    /// `\uXXXX`: a surrogate pair only when a `\u` low surrogate follows at once; any other
    /// surrogate is U+FFFD and what follows is read on its own.
    fn escaped_rune(&mut self, first: u32) -> Result<char, SyntaxError> {
        if !(0xD800..0xE000).contains(&first) {
            return Ok(char::from_u32(first).unwrap_or('\u{FFFD}'));
        }
        if (0xD800..0xDC00).contains(&first)
            && self.input[self.pos..].starts_with(b"\\u")
            && let Some(second) = peek_hex4(&self.input[self.pos + 2..])
            && (0xDC00..0xE000).contains(&second)
        {
            self.pos += 6;
            let rune = 0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00);
            return Ok(char::from_u32(rune).unwrap_or('\u{FFFD}'));
        }
        Ok('\u{FFFD}')
    }
}

fn peek_hex4(bytes: &[u8]) -> Option<u32> {
    let digits = bytes.get(..4)?;
    let text = std::str::from_utf8(digits).ok()?;
    if !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(text, 16).ok()
}

/// Go's `utf8.DecodeRune`: one valid UTF-8 sequence, or U+FFFD consuming one byte.
pub fn decode_rune(bytes: &[u8]) -> (char, usize) {
    const INVALID: (char, usize) = ('\u{FFFD}', 1);
    let Some(&b0) = bytes.first() else {
        return INVALID;
    };
    let (size, low, high) = match b0 {
        0x00..=0x7f => return (b0 as char, 1),
        0xc2..=0xdf => (2, 0x80, 0xbf),
        0xe0 => (3, 0xa0, 0xbf),
        0xe1..=0xec | 0xee | 0xef => (3, 0x80, 0xbf),
        0xed => (3, 0x80, 0x9f),
        0xf0 => (4, 0x90, 0xbf),
        0xf1..=0xf3 => (4, 0x80, 0xbf),
        0xf4 => (4, 0x80, 0x8f),
        _ => return INVALID,
    };
    if bytes.len() < size {
        return INVALID;
    }
    if !(low..=high).contains(&bytes[1])
        || !bytes[2..size].iter().all(|b| (0x80..=0xbf).contains(b))
    {
        return INVALID;
    }
    match std::str::from_utf8(&bytes[..size])
        .ok()
        .and_then(|s| s.chars().next())
    {
        Some(c) => (c, size),
        None => INVALID,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(input: &[u8]) -> Vec<String> {
        let doc = Document::parse(input).unwrap();
        doc.root()
            .children()
            .map(|n| match n.node() {
                Node::String(s) => s.to_string(),
                other => panic!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn invalid_utf8_and_lone_surrogates_become_replacement_runes_like_go() {
        // A truncated three-byte sequence is two bad bytes to Go, one to Rust's lossy decoder.
        assert_eq!(strings(b"[\"a\xe2\x82b\"]"), ["a\u{FFFD}\u{FFFD}b"]);
        // UTF-8 encoded surrogates: three bad bytes.
        assert_eq!(strings(b"[\"\xed\xa0\x80\"]"), ["\u{FFFD}\u{FFFD}\u{FFFD}"]);
        assert_eq!(
            strings(br#"["\ud83d\ude00", "\ud800x", "\udc00", "\ud800\ud800", "\u0041"]"#),
            [
                "\u{1F600}",
                "\u{FFFD}x",
                "\u{FFFD}",
                "\u{FFFD}\u{FFFD}",
                "A"
            ]
        );
    }

    #[test]
    fn first_value_only_and_trailing_bytes_ignored() {
        let doc = Document::parse(b"  {\"a\":1} garbage {").unwrap();
        assert!(matches!(doc.root().node(), Node::Object { .. }));
        assert!(Document::parse(b"01").is_ok());
        assert!(Document::parse(b"").is_err());
        assert!(Document::parse(b" \n").is_err());
        assert!(Document::parse(b"\xef\xbb\xbf{}").is_err());
        assert!(Document::parse(b"{\"a\":01}").is_err());
        assert!(Document::parse(b"[1,]").is_err());
        assert!(Document::parse(b"{\"a\" 1}").is_err());
        assert!(Document::parse(b"[\"\t\"]").is_err());
        assert!(Document::parse(b"[\"\\x\"]").is_err());
    }

    #[test]
    fn nesting_limit_is_go_s() {
        let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert!(Document::parse(deep(MAX_NESTING_DEPTH).as_bytes()).is_ok());
        assert!(Document::parse(deep(MAX_NESTING_DEPTH + 1).as_bytes()).is_err());
    }

    #[test]
    fn entries_keep_duplicates_in_order() {
        let doc = Document::parse(br#"{"a":{"b":[1,2]},"a":null,"c":true}"#).unwrap();
        let keys: Vec<_> = doc.root().entries().map(|(k, _)| k).collect();
        assert_eq!(keys, ["a", "a", "c"]);
    }
}
