//! Kubernetes resource quantities (`128Mi`, `500m`, `1.5`, `2e3`) as integers: bytes for
//! memory, millicores for CPU. Rounded up, as the API server rounds them.

/// Parses a quantity and scales it by `scale` (1 for bytes, 1000 for millicores).
pub fn parse(text: &str, scale: u64) -> Option<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(split);
    let value: f64 = number.parse().ok()?;
    let multiplier: f64 = match suffix {
        "" => 1.0,
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024.0,
        "Mi" => 1024.0 * 1024.0,
        "Gi" => 1024.0 * 1024.0 * 1024.0,
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        exp if exp.starts_with(['e', 'E']) => 10f64.powi(exp[1..].parse().ok()?),
        _ => return None,
    };
    let scaled = value * multiplier * scale as f64;
    if !scaled.is_finite() || scaled < 0.0 {
        return None;
    }
    Some(scaled.ceil() as u64)
}

/// A JSON quantity: Kubernetes also accepts plain numbers.
pub fn from_json(value: &serde_json::Value, scale: u64) -> Option<u64> {
    match value {
        serde_json::Value::String(s) => parse(s, scale),
        serde_json::Value::Number(n) => n.as_f64().and_then(|f| parse(&f.to_string(), scale)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_and_cpu() {
        assert_eq!(parse("128Mi", 1), Some(128 << 20));
        assert_eq!(parse("1G", 1), Some(1_000_000_000));
        assert_eq!(parse("500m", 1000), Some(500));
        assert_eq!(parse("1.5", 1000), Some(1500));
        assert_eq!(parse("2", 1000), Some(2000));
        assert_eq!(parse("1e3", 1), Some(1000));
        assert_eq!(parse("lots", 1), None);
        assert_eq!(parse("-1", 1), None);
    }
}
