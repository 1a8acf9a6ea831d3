//! Requests as bytes: the serialisation of a structured request, the assembly of a raw
//! one from its lines, and the reading back of what was sent for the report.

use std::fmt::Write as _;

/// Line ending used between the lines of a raw request head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Eol {
    Crlf,
    Lf,
}

impl Eol {
    pub fn bytes(self) -> &'static [u8] {
        match self {
            Eol::Crlf => b"\r\n",
            Eol::Lf => b"\n",
        }
    }
}

/// Where a URL points: what to connect to and what to put in the request line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `host:port`, for the TCP connection.
    pub address: String,
    /// `host[:port]` as in the URL, for the Host header.
    pub authority: String,
    /// Origin-form request target (`/path?query`), normalised as browsers do
    /// (`\` becomes `/`, `{` becomes `%7B`).
    pub target: String,
    /// For `https://`: the TLS server name (the host, without brackets).
    pub tls: Option<String>,
}

/// Parses an `http://` or `https://` URL.
pub fn endpoint(url: &str) -> Result<Endpoint, String> {
    let parsed = url::Url::parse(url.trim()).map_err(|e| format!("invalid URL {url:?}: {e}"))?;
    let https = match parsed.scheme() {
        "http" => false,
        "https" => true,
        _ => {
            return Err(format!(
                "URL {url:?}: only http:// and https:// are supported"
            ));
        }
    };
    let host = parsed
        .host_str()
        .ok_or_else(|| format!("URL {url:?} has no host"))?;
    // Always Some for http and https, the only schemes let through.
    let port = parsed.port_or_known_default().unwrap_or(80);
    let tls = https.then(|| {
        host.trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned()
    });
    let authority = match parsed.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_owned(),
    };
    let mut target = parsed.path().to_owned();
    if let Some(q) = parsed.query() {
        target.push('?');
        target.push_str(q);
    }
    Ok(Endpoint {
        address: format!("{host}:{port}"),
        authority,
        target,
        tls,
    })
}

/// An HTTP/1.1 request: request line, headers in order, blank line, body.
pub fn serialize(method: &str, target: &str, headers: &[(String, String)], body: &[u8]) -> Vec<u8> {
    let mut head = format!("{method} {target} HTTP/1.1\r\n");
    for (name, value) in headers {
        let _ = write!(head, "{name}: {value}\r\n");
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// A raw request: each line followed by `eol`, the empty line when `end_head`, then `body`.
pub fn assemble(lines: &[String], eol: Eol, end_head: bool, body: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::new();
    for line in lines {
        bytes.extend_from_slice(line.as_bytes());
        bytes.extend_from_slice(eol.bytes());
    }
    if end_head {
        bytes.extend_from_slice(eol.bytes());
    }
    bytes.extend_from_slice(body);
    bytes
}

/// What a request's bytes say, read leniently: method, target, headers.
pub fn describe(bytes: &[u8]) -> (String, String, Vec<(String, String)>) {
    let end = find_head_end(bytes).unwrap_or(bytes.len());
    let text = String::from_utf8_lossy(&bytes[..end]);
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let first = lines.next().unwrap_or_default();
    let mut parts = first.split(' ');
    let method = parts.next().unwrap_or_default().to_owned();
    let target = parts.next().unwrap_or_default().to_owned();
    let headers = lines
        .take_while(|l| !l.is_empty())
        .map(|l| match l.split_once(':') {
            Some((n, v)) => (n.trim().to_owned(), v.trim().to_owned()),
            None => (l.to_owned(), String::new()),
        })
        .collect();
    (method, target, headers)
}

/// Bytes up to and including the blank line ending the head, if there is one; line
/// ends may be CRLF or bare LF. Requests and responses share it.
pub fn find_head_end(bytes: &[u8]) -> Option<usize> {
    let mut i = 0;
    while let Some(pos) = bytes[i..].iter().position(|b| *b == b'\n') {
        let nl = i + pos;
        let next = &bytes[nl + 1..];
        if next.first() == Some(&b'\n') {
            return Some(nl + 2);
        }
        if next.starts_with(b"\r\n") {
            return Some(nl + 3);
        }
        i = nl + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_normalise_like_a_browser() {
        let e = endpoint("http://127.0.0.1:8080/a\\{B}/c.bin?x=1").expect("valid");
        assert_eq!(e.address, "127.0.0.1:8080");
        assert_eq!(e.authority, "127.0.0.1:8080");
        assert_eq!(e.target, "/a/%7BB%7D/c.bin?x=1");
        assert_eq!(
            endpoint("http://example.test/").expect("valid").address,
            "example.test:80"
        );
        let secure = endpoint("https://example.test/x").expect("valid");
        assert_eq!(secure.address, "example.test:443");
        assert_eq!(secure.tls.as_deref(), Some("example.test"));
        assert_eq!(endpoint("http://[::1]:8/").expect("valid").tls, None);
        assert_eq!(
            endpoint("https://[::1]:8443/")
                .expect("valid")
                .tls
                .as_deref(),
            Some("::1")
        );
        assert!(endpoint("ftp://example.test/").is_err());
    }

    #[test]
    fn raw_requests_round_trip_through_describe() {
        let lines = vec![
            "BITS_POST /x HTTP/1.0".to_owned(),
            "BITS-Packet-Type: Ping".to_owned(),
            "BITS-Packet-Type: Fragment".to_owned(),
        ];
        let bytes = assemble(&lines, Eol::Lf, true, b"abc");
        assert_eq!(
            bytes,
            b"BITS_POST /x HTTP/1.0\nBITS-Packet-Type: Ping\nBITS-Packet-Type: Fragment\n\nabc"
        );
        let (method, target, headers) = describe(&bytes);
        assert_eq!((method.as_str(), target.as_str()), ("BITS_POST", "/x"));
        assert_eq!(headers.len(), 2);
        assert_eq!(find_head_end(&bytes), Some(bytes.len() - 3));
    }
}
