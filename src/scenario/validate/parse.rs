//! Small parsers shared by validation and the runner: ranges, hexadecimal numbers,
//! delays, HTTP tokens.

use crate::scenario::plan::ByteRange;
use std::time::Duration;

/// An HTTP token (RFC 9110 `tchar`s).
pub(super) fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// A delay in seconds, from 0 to 3600.
pub fn parse_seconds(text: &str) -> Result<Duration, String> {
    match text.trim().parse::<f64>() {
        Ok(s) if s.is_finite() && (0.0..=3600.0).contains(&s) => Ok(Duration::from_secs_f64(s)),
        _ => Err(format!(
            "delay {text:?} is not a number of seconds from 0 to 3600"
        )),
    }
}

/// The largest fragment a step may send: its bytes are generated in memory.
pub const MAX_RANGE_BYTES: u64 = 64 << 20;

/// `first-last`, zero-based and inclusive.
pub fn parse_range(text: &str) -> Result<ByteRange, String> {
    let bad =
        || format!("range {text:?} must be `first-last` (zero-based, inclusive), e.g. `0-1023`");
    let (a, b) = text.trim().split_once('-').ok_or_else(bad)?;
    let first: u64 = a.trim().parse().map_err(|_| bad())?;
    let last: u64 = b.trim().parse().map_err(|_| bad())?;
    if last < first {
        return Err(format!("range {text:?} ends before it starts"));
    }
    if last - first >= MAX_RANGE_BYTES {
        return Err(format!(
            "range {text:?} is over {} MiB: a step's body is held in memory (load a server with `bitspec bench`)",
            MAX_RANGE_BYTES >> 20
        ));
    }
    Ok(ByteRange { first, last })
}

/// Splits `first-last` at the dash outside any `${...}` (variable names may hold dashes).
pub fn split_range(text: &str) -> Option<(&str, &str)> {
    let mut depth = 0usize;
    for (i, c) in text.char_indices() {
        match c {
            '{' if text[..i].ends_with('$') => depth += 1,
            '}' if depth > 0 => depth -= 1,
            '-' if depth == 0 => {
                let (a, b) = (text[..i].trim(), text[i + 1..].trim());
                return (!a.is_empty() && !b.is_empty()).then_some((a, b));
            }
            _ => {}
        }
    }
    None
}

/// A hexadecimal number with or without `0x`, any case (`0x5`, `8020001F`).
pub fn parse_hex(text: &str) -> Option<u64> {
    let t = text.trim();
    let digits = t
        .strip_prefix("0x")
        .or_else(|| t.strip_prefix("0X"))
        .unwrap_or(t);
    if digits.is_empty() || digits.len() > 16 {
        return None;
    }
    u64::from_str_radix(digits, 16).ok()
}
