//! A lenient HTTP/1.x response parser with hard limits.
//!
//! Lenient where servers in the wild differ (bare LF line ends, HTTP/1.0, a missing
//! reason phrase, no Content-Length, chunked bodies, leading blank lines), strict where
//! leniency would hide garbage (a first line that is not a status line, a header line
//! without a colon), and bounded everywhere: a head larger than [`MAX_HEAD_BYTES`] is
//! an error, not a reason to keep reading.

use super::request::find_head_end;

/// Largest response head (status line and headers) the harness reads.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Longest chunk-size or trailer line accepted in a chunked body.
const MAX_CHUNK_LINE: usize = 4096;

/// A parsed status line and header block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    /// As sent, e.g. `HTTP/1.1`.
    pub version: String,
    pub status: u16,
    /// Possibly empty.
    pub reason: String,
    /// In order, names as sent; folded lines joined with a space.
    pub headers: Vec<(String, String)>,
    /// Bytes of the buffer the head used, blank line included.
    pub len: usize,
    /// Where the head breaks the message syntax of RFC 2616 section 6 (and 4.2),
    /// though it could still be read: bare LF line ends, blank lines before the
    /// status line, no space before an empty reason, folded or badly named headers.
    pub deviations: Vec<String>,
}

impl ResponseHead {
    /// Every value of a header, by case-insensitive name.
    pub fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// 1xx responses other than 101 are interim: the real one follows.
    pub fn is_interim(&self) -> bool {
        (100..200).contains(&self.status) && self.status != 101
    }

    /// The connection ends after this response (HTTP/1.0 without keep-alive, or `close`).
    pub fn closes_connection(&self) -> bool {
        let tokens: Vec<String> = self
            .values("Connection")
            .flat_map(|v| v.split(','))
            .map(|t| t.trim().to_ascii_lowercase())
            .collect();
        if tokens.iter().any(|t| t == "close") {
            return true;
        }
        self.version.eq_ignore_ascii_case("HTTP/1.0") && !tokens.iter().any(|t| t == "keep-alive")
    }
}

/// Parses the head at the start of `buf`: `Ok(None)` while it is incomplete.
pub fn parse_head(buf: &[u8]) -> Result<Option<ResponseHead>, String> {
    // Tolerate blank lines before the status line (RFC 9112 2.2).
    let start = buf
        .iter()
        .position(|b| *b != b'\r' && *b != b'\n')
        .unwrap_or(buf.len());
    let rest = &buf[start..];
    let prefix = &rest[..rest.len().min(5)];
    if !b"HTTP/".starts_with(prefix) {
        return Err(format!(
            "the response does not start with an HTTP status line: {}",
            preview(rest)
        ));
    }
    let Some(end) = find_head_end(rest) else {
        if buf.len() > MAX_HEAD_BYTES {
            return Err(format!(
                "the response head exceeds {} KiB without ending",
                MAX_HEAD_BYTES / 1024
            ));
        }
        return Ok(None);
    };
    if start + end > MAX_HEAD_BYTES {
        return Err(format!(
            "the response head is {} bytes, over the {} KiB the harness reads",
            start + end,
            MAX_HEAD_BYTES / 1024
        ));
    }
    let text = String::from_utf8_lossy(&rest[..end]);
    let mut deviations = Vec::new();
    if start > 0 {
        deviations.push("blank lines before the status line".to_owned());
    }
    if text.split('\n').rev().skip(1).any(|l| !l.ends_with('\r')) {
        deviations.push("lines end with a bare LF instead of CRLF".to_owned());
    }
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let status_line = lines.next().unwrap_or_default();
    let (version, status, reason) = status_line_parts(status_line)?;
    if status_line.splitn(3, ' ').count() < 3 {
        deviations.push("no SP between the status code and the (empty) reason phrase".to_owned());
    }
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in lines {
        if line.is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            // Obsolete line folding: part of the previous value.
            if !deviations.iter().any(|d: &String| d.starts_with("folded")) {
                deviations.push("folded header lines".to_owned());
            }
            match headers.last_mut() {
                Some((_, value)) => {
                    value.push(' ');
                    value.push_str(line.trim());
                }
                None => return Err(format!("a folded line before any header: {line:?}")),
            }
            continue;
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(format!(
                "a header line without a colon: {}",
                preview(line.as_bytes())
            ));
        };
        if name != name.trim() {
            deviations.push(format!(
                "white space around the header name {:?}",
                name.trim()
            ));
        }
        let name = name.trim();
        if name.is_empty()
            || name
                .bytes()
                .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
        {
            return Err(format!("an invalid header name: {name:?}"));
        }
        headers.push((name.to_owned(), value.trim().to_owned()));
    }
    Ok(Some(ResponseHead {
        version,
        status,
        reason,
        headers,
        len: start + end,
        deviations,
    }))
}

fn status_line_parts(line: &str) -> Result<(String, u16, String), String> {
    let bad = || format!("a malformed status line: {}", preview(line.as_bytes()));
    let mut parts = line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    let digits = version.strip_prefix("HTTP/").ok_or_else(bad)?;
    if digits.len() != 3
        || !digits.as_bytes()[0].is_ascii_digit()
        || digits.as_bytes()[1] != b'.'
        || !digits.as_bytes()[2].is_ascii_digit()
    {
        return Err(bad());
    }
    let code = parts.next().unwrap_or_default().trim();
    if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let status: u16 = code.parse().map_err(|_| bad())?;
    if status < 100 {
        return Err(bad());
    }
    let reason = parts.next().unwrap_or_default().trim().to_owned();
    Ok((version.to_owned(), status, reason))
}

/// How a response body is delimited (RFC 9112 6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body at all.
    Empty,
    Length(u64),
    Chunked,
    /// Everything until the server closes the connection.
    UntilClose,
}

/// The body framing of a response to a request with `method`.
pub fn framing(head: &ResponseHead, method: &str) -> Result<Framing, String> {
    if method.eq_ignore_ascii_case("HEAD")
        || head.status < 200
        || head.status == 204
        || head.status == 304
    {
        return Ok(Framing::Empty);
    }
    let codings: Vec<String> = head
        .values("Transfer-Encoding")
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().to_ascii_lowercase())
        .filter(|t| !t.is_empty())
        .collect();
    if let Some(last) = codings.last() {
        return Ok(if last == "chunked" {
            Framing::Chunked
        } else {
            Framing::UntilClose
        });
    }
    let mut length: Option<u64> = None;
    for value in head.values("Content-Length") {
        for item in value.split(',') {
            let item = item.trim();
            let n = if !item.is_empty() && item.bytes().all(|b| b.is_ascii_digit()) {
                item.parse::<u64>().ok()
            } else {
                None
            };
            let Some(n) = n else {
                return Err(format!("an invalid Content-Length: {value:?}"));
            };
            if length.is_some_and(|l| l != n) {
                return Err(format!(
                    "conflicting Content-Length values ({} and {n})",
                    length.unwrap_or(0)
                ));
            }
            length = Some(n);
        }
    }
    Ok(match length {
        Some(0) => Framing::Empty,
        Some(n) => Framing::Length(n),
        None => Framing::UntilClose,
    })
}

/// An incremental decoder of a chunked body.
#[derive(Debug, Default, Clone)]
pub struct ChunkedDecoder {
    state: ChunkState,
    line: Vec<u8>,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
enum ChunkState {
    #[default]
    Size,
    Data(u64),
    DataEnd,
    Trailer,
    Done,
}

impl ChunkedDecoder {
    pub fn is_done(&self) -> bool {
        self.state == ChunkState::Done
    }

    /// Decodes what it can of `input`, passing body bytes to `out`; returns the bytes used
    /// (less than `input.len()` only once the body has ended).
    pub fn feed(&mut self, input: &[u8], out: &mut dyn FnMut(&[u8])) -> Result<usize, String> {
        let mut i = 0;
        while i < input.len() {
            match self.state {
                ChunkState::Done => return Ok(i),
                ChunkState::Data(remaining) => {
                    let take = usize::try_from(remaining)
                        .unwrap_or(usize::MAX)
                        .min(input.len() - i);
                    out(&input[i..i + take]);
                    i += take;
                    let left = remaining - take as u64;
                    self.state = if left == 0 {
                        ChunkState::DataEnd
                    } else {
                        ChunkState::Data(left)
                    };
                }
                ChunkState::Size | ChunkState::DataEnd | ChunkState::Trailer => {
                    let byte = input[i];
                    i += 1;
                    if byte != b'\n' {
                        if self.line.len() >= MAX_CHUNK_LINE {
                            return Err("a chunked-body line is too long".into());
                        }
                        self.line.push(byte);
                        continue;
                    }
                    let line = std::mem::take(&mut self.line);
                    let line = line.strip_suffix(b"\r").unwrap_or(&line);
                    self.state = match self.state {
                        ChunkState::DataEnd if line.is_empty() => ChunkState::Size,
                        ChunkState::DataEnd => {
                            return Err("chunk data is longer than its size".into());
                        }
                        ChunkState::Trailer if line.is_empty() => ChunkState::Done,
                        ChunkState::Trailer => ChunkState::Trailer,
                        _ => match chunk_size(line)? {
                            0 => ChunkState::Trailer,
                            n => ChunkState::Data(n),
                        },
                    };
                }
            }
        }
        Ok(i)
    }
}

fn chunk_size(line: &[u8]) -> Result<u64, String> {
    let text = String::from_utf8_lossy(line);
    let digits = text.split(';').next().unwrap_or_default().trim();
    if digits.is_empty() || digits.len() > 15 {
        return Err(format!("an invalid chunk size: {}", preview(line)));
    }
    u64::from_str_radix(digits, 16).map_err(|_| format!("an invalid chunk size: {}", preview(line)))
}

/// The first bytes of `bytes`, quoted, for one-line error messages.
pub fn preview(bytes: &[u8]) -> String {
    const MAX: usize = 40;
    let shown = String::from_utf8_lossy(&bytes[..bytes.len().min(MAX)]).into_owned();
    if bytes.len() > MAX {
        format!("{shown:?}...")
    } else {
        format!("{shown:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(text: &str) -> ResponseHead {
        parse_head(text.as_bytes())
            .expect("valid")
            .expect("complete")
    }

    #[test]
    fn records_each_deviation_from_the_message_syntax() {
        let clean = head("HTTP/1.1 200 OK\r\nA: b\r\n\r\n");
        assert!(clean.deviations.is_empty(), "{:?}", clean.deviations);
        let empty_reason = head("HTTP/1.1 200 \r\n\r\n");
        assert!(
            empty_reason.deviations.is_empty(),
            "{:?}",
            empty_reason.deviations
        );
        let sloppy = head("\r\nHTTP/1.0 200\nName : v\n  folded\n\n");
        assert_eq!(
            sloppy.deviations,
            [
                "blank lines before the status line",
                "lines end with a bare LF instead of CRLF",
                "no SP between the status code and the (empty) reason phrase",
                "white space around the header name \"Name\"",
                "folded header lines",
            ]
        );
    }

    #[test]
    fn tolerates_bare_lf_http10_and_no_reason() {
        let h = head("\r\nHTTP/1.0 200\nBITS-Packet-Type: Ack\n  folded\n\nrest");
        assert_eq!(
            (h.version.as_str(), h.status, h.reason.as_str()),
            ("HTTP/1.0", 200, "")
        );
        assert_eq!(
            h.headers,
            [("BITS-Packet-Type".to_owned(), "Ack folded".to_owned())]
        );
        assert_eq!(
            h.len,
            "\r\nHTTP/1.0 200\nBITS-Packet-Type: Ack\n  folded\n\n".len()
        );
        assert!(h.closes_connection());
        assert_eq!(framing(&h, "BITS_POST"), Ok(Framing::UntilClose));
    }

    #[test]
    fn incomplete_garbage_and_oversize() {
        assert_eq!(parse_head(b"HTTP/1.1 200 OK\r\nA: b\r\n"), Ok(None));
        assert_eq!(parse_head(b"HTT"), Ok(None));
        assert!(parse_head(b"SSH-2.0-OpenSSH\r\n").is_err());
        assert!(parse_head(b"HTTP/1.1 2x0 OK\r\n\r\n").is_err());
        let big = format!("HTTP/1.1 200 OK\r\nX: {}", "a".repeat(MAX_HEAD_BYTES));
        assert!(parse_head(big.as_bytes()).is_err());
    }

    #[test]
    fn framing_rules() {
        let h = head("HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n");
        assert_eq!(framing(&h, "GET"), Ok(Framing::Length(5)));
        assert_eq!(framing(&h, "HEAD"), Ok(Framing::Empty));
        let h = head("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n");
        assert!(framing(&h, "GET").is_err());
        let h = head(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\nContent-Length: 5\r\n\r\n",
        );
        assert_eq!(framing(&h, "GET"), Ok(Framing::Chunked));
    }

    #[test]
    fn chunked_bodies_decode_in_any_split() {
        let wire = b"5;x=y\r\nhello\r\n6\nworld!\r\n0\r\nTrailer: t\r\n\r\nNEXT";
        for split in 0..wire.len() {
            let mut d = ChunkedDecoder::default();
            let mut body = Vec::new();
            let mut used = d
                .feed(&wire[..split], &mut |b| body.extend_from_slice(b))
                .expect("ok");
            if !d.is_done() {
                used += d
                    .feed(&wire[split..], &mut |b| body.extend_from_slice(b))
                    .expect("ok");
            }
            assert!(d.is_done());
            assert_eq!(body, b"helloworld!");
            assert_eq!(&wire[used..], b"NEXT", "split {split}");
        }
        let mut d = ChunkedDecoder::default();
        assert!(d.feed(b"zz\r\n", &mut |_| {}).is_err());
    }
}
