//! Text made safe inside HTML or XML, as element content or a quoted attribute: the HTML
//! audit report and JUnit results both write what policies and users said.

/// Escapes `& < > " '`; control characters XML 1.0 cannot hold (all but tab, newline and
/// carriage return) become `?`.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' | '\t' | '\r' => out.push(c),
            c if (c as u32) < 0x20 => out.push('?'),
            c => out.push(c),
        }
    }
    out
}
