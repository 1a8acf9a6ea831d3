//! `Range: bytes=...` for downloads (MC-BUP §3.5.5): single ranges MUST be served
//! with 206; several ranges SHOULD be, as `multipart/byteranges` with the parts in
//! the order requested and never merged (§3.5.5.1). Overlapping ranges are
//! ignored (the whole file, 200), so a response is never larger than the file
//! and its framing.

/// What a `Range` header asks of a file of `size` bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangeRequest {
    /// Serve the whole file with 200: no header, another unit, or a malformed
    /// value (RFC 9110 §14.2: a recipient ignores a Range it cannot parse).
    Whole,
    /// Inclusive (first, last) pairs, in request order; never empty.
    Parts(Vec<(u64, u64)>),
    /// Syntactically valid, but no range overlaps the file: 416.
    Unsatisfiable,
}

/// More ranges than this are served as the whole file, so one request cannot
/// make the server seek thousands of times.
const MAX_PARTS: usize = 64;

/// Parses a `Range` header value against a file of `size` bytes.
pub fn parse(value: &str, size: u64) -> RangeRequest {
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return RangeRequest::Whole;
    };
    let specs: Vec<&str> = spec
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if specs.is_empty() || specs.len() > MAX_PARTS {
        return RangeRequest::Whole;
    }
    let mut parts = Vec::new();
    for one in specs {
        match parse_one(one, size) {
            Some(Some(part)) => parts.push(part),
            Some(None) => {}
            None => return RangeRequest::Whole,
        }
    }
    if parts.is_empty() {
        RangeRequest::Unsatisfiable
    } else if overlap(&parts) {
        // MC-BUP §3.5.5.1 forbids merging the parts, and RFC 7233 §6.1 says a
        // server ought to ignore, coalesce or reject overlapping ranges (a
        // 197-byte `bytes=0-,0-,...` once got 64 copies of the file): ignored,
        // the whole file once with 200, as RFC 7233 §3.1 allows.
        RangeRequest::Whole
    } else {
        RangeRequest::Parts(parts)
    }
}

/// True when two of the (inclusive) ranges share a byte.
fn overlap(parts: &[(u64, u64)]) -> bool {
    let mut sorted = parts.to_vec();
    sorted.sort_unstable();
    sorted.windows(2).any(|pair| pair[1].0 <= pair[0].1)
}

/// `None`: malformed; `Some(None)`: valid but outside the file.
fn parse_one(spec: &str, size: u64) -> Option<Option<(u64, u64)>> {
    let (first, last) = spec.split_once('-')?;
    let num = |s: &str| s.trim().parse::<u64>().ok();
    match (first.trim().is_empty(), last.trim().is_empty()) {
        (true, false) => {
            let suffix = num(last)?;
            Some((suffix > 0 && size > 0).then(|| (size.saturating_sub(suffix), size - 1)))
        }
        (false, true) => {
            let first = num(first)?;
            Some((first < size).then(|| (first, size - 1)))
        }
        (false, false) => {
            let (first, last) = (num(first)?, num(last)?);
            if last < first {
                return None;
            }
            Some((first < size).then(|| (first, last.min(size - 1))))
        }
        (true, true) => None,
    }
}

/// The framing of a multipart/byteranges body: the text before each part and
/// after the last, so the body can be streamed and its length known in advance.
#[derive(Debug)]
pub struct Multipart {
    pub boundary: String,
    /// (text before the part, first, last) for each part.
    pub parts: Vec<(String, u64, u64)>,
    pub closing: String,
}

impl Multipart {
    pub fn new(parts: &[(u64, u64)], size: u64, boundary: String) -> Multipart {
        let parts = parts
            .iter()
            .enumerate()
            .map(|(i, &(first, last))| {
                // No preamble: the body starts with the first boundary (at most two
                // CR/LFs may precede it, http-requirements-for-bits-downloads.md).
                let lead = if i == 0 { "" } else { "\r\n" };
                let head = format!(
                    "{lead}--{boundary}\r\nContent-Type: application/octet-stream\r\nContent-Range: bytes {first}-{last}/{size}\r\n\r\n"
                );
                (head, first, last)
            })
            .collect();
        let closing = format!("\r\n--{boundary}--\r\n");
        Multipart {
            boundary,
            parts,
            closing,
        }
    }

    /// The exact body length.
    pub fn body_len(&self) -> u64 {
        let framing: u64 = self.parts.iter().map(|(h, _, _)| h.len() as u64).sum();
        let data: u64 = self.parts.iter().map(|(_, f, l)| l - f + 1).sum();
        framing + data + self.closing.len() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_multiple_and_invalid_ranges() {
        assert_eq!(parse("bytes=0-9", 100), RangeRequest::Parts(vec![(0, 9)]));
        assert_eq!(parse("bytes=90-", 100), RangeRequest::Parts(vec![(90, 99)]));
        assert_eq!(parse("bytes=-10", 100), RangeRequest::Parts(vec![(90, 99)]));
        assert_eq!(
            parse("bytes=0-500", 100),
            RangeRequest::Parts(vec![(0, 99)])
        );
        assert_eq!(parse("bytes=100-", 100), RangeRequest::Unsatisfiable);
        assert_eq!(
            parse("bytes=5-6, 0-1", 100),
            RangeRequest::Parts(vec![(5, 6), (0, 1)])
        );
        assert_eq!(
            parse("bytes=0-1,200-300", 100),
            RangeRequest::Parts(vec![(0, 1)])
        );
        assert_eq!(parse("bytes=1-0", 100), RangeRequest::Whole);
        assert_eq!(parse("bytes=0-,0-", 100), RangeRequest::Whole);
        assert_eq!(parse("bytes=0-10,10-20", 100), RangeRequest::Whole);
        assert_eq!(
            parse("bytes=-10,85-89", 100),
            RangeRequest::Parts(vec![(90, 99), (85, 89)])
        );
        assert_eq!(parse("items=0-0", 100), RangeRequest::Whole);
        assert_eq!(parse("bytes=x-1", 100), RangeRequest::Whole);
    }

    #[test]
    fn multipart_length_matches_its_framing() {
        let m = Multipart::new(&[(0, 0), (1, 1)], 10, "B".into());
        let text_len: usize =
            m.parts.iter().map(|(h, _, _)| h.len()).sum::<usize>() + m.closing.len();
        assert_eq!(m.body_len(), text_len as u64 + 2);
        assert!(m.parts[0].0.starts_with("--B\r\n"));
        assert!(m.parts[1].0.starts_with("\r\n--B\r\n"));
        assert!(m.parts[1].0.contains("Content-Range: bytes 1-1/10"));
    }
}
