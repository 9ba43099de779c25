//! Go 1.19's case-insensitive match of an object key against a struct field name
//! (encoding/json's fold.go). It is not Unicode case folding: which comparison a name gets
//! depends on its letters, and only two non-ASCII code points ever match an ASCII name —
//! U+017F `ſ` for `s` and U+212A (Kelvin) for `k`.

use super::schema::Fold;

const CASE_MASK: u8 = !0x20;
const LONG_S: char = '\u{017F}';
const KELVIN: char = '\u{212A}';

/// Whether `key` matches field `name`, whose comparison is `fold`.
pub fn matches(fold: Fold, name: &[u8], key: &[u8]) -> bool {
    match fold {
        Fold::Letters => simple_letter_equal_fold(name, key),
        Fold::Ascii => ascii_equal_fold(name, key),
        Fold::Special => equal_fold_right(name, key),
    }
}

fn simple_letter_equal_fold(s: &[u8], t: &[u8]) -> bool {
    s.len() == t.len() && s.iter().zip(t).all(|(a, b)| a & CASE_MASK == b & CASE_MASK)
}

fn ascii_equal_fold(s: &[u8], t: &[u8]) -> bool {
    s.len() == t.len()
        && s.iter().zip(t).all(|(&sb, &tb)| {
            sb == tb || (sb.is_ascii_alphabetic() && sb & CASE_MASK == tb & CASE_MASK)
        })
}

fn equal_fold_right(s: &[u8], mut t: &[u8]) -> bool {
    for &sb in s {
        let Some(&tb) = t.first() else {
            return false;
        };
        if tb < 0x80 {
            if sb != tb {
                let upper = sb & CASE_MASK;
                if !upper.is_ascii_uppercase() || upper != tb & CASE_MASK {
                    return false;
                }
            }
            t = &t[1..];
            continue;
        }
        let (rune, size) = super::scan::decode_rune(t);
        let ok = match sb {
            b's' | b'S' => rune == LONG_S,
            b'k' | b'K' => rune == KELVIN,
            _ => false,
        };
        if !ok {
            return false;
        }
        t = &t[size..];
    }
    t.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_s_three_comparisons() {
        assert!(matches(Fold::Letters, b"Image", b"iMAGE"));
        assert!(!matches(Fold::Letters, b"Image", b"Imag"));
        assert!(matches(
            Fold::Special,
            b"SecurityOpt",
            "\u{17F}ECURITYOPT".as_bytes()
        ));
        assert!(matches(Fold::Special, b"Links", "lin\u{212A}s".as_bytes()));
        // Other look-alikes never match: dotless i, Latin capital I with dot.
        assert!(!matches(Fold::Special, b"Links", "l\u{131}nks".as_bytes()));
        assert!(!matches(Fold::Letters, b"Image", "\u{130}mage".as_bytes()));
        // A long s where the name has no s.
        assert!(!matches(Fold::Special, b"Tmpfs", "tmpf\u{212A}".as_bytes()));
        assert!(matches(Fold::Ascii, b"IPv4Address", b"ipV4ADDRESS"));
        assert!(!matches(Fold::Ascii, b"IPv4Address", b"IPv5Address"));
    }
}
