//! The recording relay: an HTTP/1.1 proxy (plain towards the client, plain or TLS
//! towards the server) that forwards each client connection to
//! its own upstream connection (NTLM authenticates connections, so the pairing is kept),
//! passes the bytes through unchanged but for the request target and `Host`, and reports
//! every completed exchange, parsed, to the recorder.

use crate::raw::request::{Endpoint, describe, find_head_end, serialize};
use crate::raw::response::{MAX_HEAD_BYTES, ResponseHead, parse_head};
use crate::raw::{ChunkedDecoder, Framing, framing};
use crate::run::{Stream, TlsClient};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc::UnboundedSender;

/// Largest request or response body the relay holds (fragments are held whole, as the
/// runner holds them).
pub const MAX_BODY_BYTES: u64 = 256 << 20;
/// How long a connection may stay silent (a client between fragments, a slow server)
/// before the relay gives up on it.
const IDLE: Duration = Duration::from_secs(120);

/// One request and its answer, as the client and the server saw them.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// Which client connection it came on (numbered from 0 in accept order).
    pub connection: u64,
    pub method: String,
    /// The request target as the client sent it (relative to the proxy).
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// `None` when the server closed or broke the connection without answering.
    pub response: Option<Answer>,
}

/// A response: status, headers in order, decoded body.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Exchange {
    /// The first request header called `name`, ignoring case.
    pub fn header(&self, name: &str) -> Option<&str> {
        find(&self.headers, name)
    }
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        find(&self.headers, name)
    }
}

fn find<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Relays one client connection until either side closes it; every exchange goes to
/// `exchanges`. Errors end the connection and are returned for the log.
pub async fn relay(
    connection: u64,
    mut client: TcpStream,
    upstream: &Endpoint,
    tls: &TlsClient,
    exchanges: UnboundedSender<Exchange>,
) -> Result<(), String> {
    let mut server: Option<Stream> = None;
    let mut pending = Vec::new();
    loop {
        let Some(head_len) = read_head(&mut client, &mut pending, find_head_end).await? else {
            return Ok(()); // the client closed between requests
        };
        let (method, target, headers) = describe(&pending[..head_len]);
        let length = request_length(&headers)?;
        // The relay reads whole bodies before forwarding, so it answers an
        // `Expect: 100-continue` itself and does not pass the expectation on.
        let expects_continue =
            find(&headers, "Expect").is_some_and(|v| v.eq_ignore_ascii_case("100-continue"));
        if expects_continue && length > 0 && pending.len() == head_len {
            client
                .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
                .await
                .map_err(|e| format!("write failed: {e}"))?;
        }
        let mut body = pending.split_off(head_len);
        pending.clear();
        if body.len() as u64 > length {
            pending = body.split_off(length as usize); // pipelined bytes of the next request
        }
        read_exact_more(&mut client, &mut body, length).await?;

        let forwarded: Vec<(String, String)> = headers
            .iter()
            .filter(|(n, _)| !(expects_continue && n.eq_ignore_ascii_case("Expect")))
            .map(|(n, v)| {
                if n.eq_ignore_ascii_case("Host") {
                    (n.clone(), upstream.authority.clone())
                } else {
                    (n.clone(), v.clone())
                }
            })
            .collect();
        let bytes = serialize(
            &method,
            &upstream_target(&upstream.target, &target),
            &forwarded,
            &body,
        );
        if server.is_none() {
            let name = upstream.tls.as_deref();
            let stream = Stream::open(&upstream.address, name.map(|n| (tls, n)), IDLE).await?;
            server = Some(stream);
        }
        let Some(stream) = server.as_mut() else {
            return Ok(());
        };
        let mut exchange = Exchange {
            connection,
            method: method.clone(),
            target,
            headers,
            body,
            response: None,
        };
        if stream.write_all(&bytes).await.is_err() {
            let _ = exchanges.send(exchange);
            return Ok(());
        }
        let answer = read_response(stream, &method).await;
        let Ok((raw, answer, closes)) = answer else {
            let _ = exchanges.send(exchange);
            return Ok(()); // the client sees the connection close, as the server did
        };
        let written = client.write_all(&raw).await;
        exchange.response = Some(answer);
        let _ = exchanges.send(exchange);
        if written.is_err() || closes {
            return Ok(());
        }
    }
}

/// The upstream target: the upstream URL's path joined with the client's target.
pub fn upstream_target(base: &str, target: &str) -> String {
    let base = base.trim_end_matches('/');
    let target = target.trim_start_matches('/');
    format!("{base}/{target}")
}

/// A request's Content-Length (BITS requests always carry one); 0 when absent.
fn request_length(headers: &[(String, String)]) -> Result<u64, String> {
    if find(headers, "Transfer-Encoding").is_some() {
        return Err("a chunked request body: BITS clients send Content-Length".into());
    }
    let length = match find(headers, "Content-Length") {
        Some(v) => v
            .trim()
            .parse::<u64>()
            .map_err(|_| format!("an invalid request Content-Length: {v:?}"))?,
        None => 0,
    };
    if length > MAX_BODY_BYTES {
        return Err(format!(
            "a request body of {length} bytes is over the relay's {} MiB",
            MAX_BODY_BYTES >> 20
        ));
    }
    Ok(length)
}

/// Reads into `buf` until `end` finds the end of a head; `None` when the peer closed
/// before sending anything.
async fn read_head(
    stream: &mut (impl AsyncRead + Unpin),
    buf: &mut Vec<u8>,
    end: fn(&[u8]) -> Option<usize>,
) -> Result<Option<usize>, String> {
    let mut chunk = [0u8; 16 * 1024];
    loop {
        if let Some(n) = end(buf) {
            return Ok(Some(n));
        }
        if buf.len() > MAX_HEAD_BYTES {
            return Err(format!("a head over {MAX_HEAD_BYTES} bytes"));
        }
        let n = read_some(stream, &mut chunk).await?;
        if n == 0 {
            return if buf.iter().all(u8::is_ascii_whitespace) {
                Ok(None)
            } else {
                Err("the connection closed in the middle of a head".into())
            };
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

async fn read_some(
    stream: &mut (impl AsyncRead + Unpin),
    chunk: &mut [u8],
) -> Result<usize, String> {
    tokio::time::timeout(IDLE, stream.read(chunk))
        .await
        .map_err(|_| format!("no data for {} s", IDLE.as_secs()))?
        .map_err(|e| format!("read failed: {e}"))
}

/// Reads until `buf` holds `length` bytes.
async fn read_exact_more(
    stream: &mut (impl AsyncRead + Unpin),
    buf: &mut Vec<u8>,
    length: u64,
) -> Result<(), String> {
    let mut chunk = vec![0u8; 64 * 1024];
    while (buf.len() as u64) < length {
        let want = ((length - buf.len() as u64) as usize).min(chunk.len());
        let n = read_some(stream, &mut chunk[..want]).await?;
        if n == 0 {
            return Err("the connection closed in the middle of a body".into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Ok(())
}

/// One final response (interim 1xx ones are forwarded with it): the raw bytes to
/// forward, the parsed answer, and whether the connection ends after it.
async fn read_response(
    stream: &mut (impl AsyncRead + Unpin),
    method: &str,
) -> Result<(Vec<u8>, Answer, bool), String> {
    let mut raw = Vec::new();
    let mut buf = Vec::new();
    let head: ResponseHead = loop {
        let parsed = parse_head(&buf)?;
        match parsed {
            Some(head) if head.is_interim() => {
                raw.extend(buf.drain(..head.len));
            }
            Some(head) => break head,
            None => {
                if buf.len() > MAX_HEAD_BYTES {
                    return Err("a response head over the limit".into());
                }
                let mut chunk = [0u8; 16 * 1024];
                let n = read_some(stream, &mut chunk).await?;
                if n == 0 {
                    return Err("the server closed without answering".into());
                }
                buf.extend_from_slice(&chunk[..n]);
            }
        }
    };
    raw.extend_from_slice(&buf[..head.len]);
    let mut rest = buf.split_off(head.len);
    let mut body = Vec::new();
    let mut closes = head.closes_connection();
    match framing(&head, method)? {
        Framing::Empty => {}
        Framing::Length(n) => {
            if n > MAX_BODY_BYTES {
                return Err(format!("a response body of {n} bytes is over the limit"));
            }
            rest.truncate(n as usize);
            read_exact_more(stream, &mut rest, n).await?;
            raw.extend_from_slice(&rest);
            body = rest;
        }
        Framing::Chunked => {
            let mut decoder = ChunkedDecoder::default();
            let mut input = rest;
            loop {
                let used = decoder.feed(&input, &mut |b| body.extend_from_slice(b))?;
                raw.extend_from_slice(&input[..used]);
                if decoder.is_done() {
                    break;
                }
                if body.len() as u64 > MAX_BODY_BYTES {
                    return Err("a chunked response body over the limit".into());
                }
                let mut chunk = [0u8; 16 * 1024];
                let n = read_some(stream, &mut chunk).await?;
                if n == 0 {
                    return Err("the server closed in the middle of a chunked body".into());
                }
                input = chunk[..n].to_vec();
            }
        }
        Framing::UntilClose => {
            closes = true;
            let mut chunk = [0u8; 16 * 1024];
            body = rest;
            loop {
                let n = read_some(stream, &mut chunk).await?;
                if n == 0 {
                    break;
                }
                body.extend_from_slice(&chunk[..n]);
                if body.len() as u64 > MAX_BODY_BYTES {
                    return Err("a response body over the limit".into());
                }
            }
            raw.extend_from_slice(&body);
        }
    }
    let answer = Answer {
        status: head.status,
        headers: head.headers.clone(),
        body,
    };
    Ok((raw, answer, closes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_upstream_path_prefixes_the_client_target() {
        assert_eq!(upstream_target("/", "/a/b"), "/a/b");
        assert_eq!(upstream_target("/uploads/", "/x.bin"), "/uploads/x.bin");
        assert_eq!(upstream_target("/uploads", "x"), "/uploads/x");
    }

    #[test]
    fn chunked_or_oversized_requests_are_refused_with_a_reason() {
        let te = vec![("Transfer-Encoding".to_owned(), "chunked".to_owned())];
        assert!(request_length(&te).unwrap_err().contains("chunked"));
        let big = vec![(
            "Content-Length".to_owned(),
            (MAX_BODY_BYTES + 1).to_string(),
        )];
        assert!(request_length(&big).unwrap_err().contains("MiB"));
        assert_eq!(request_length(&[]), Ok(0));
    }
}
