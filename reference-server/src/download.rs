//! GET and HEAD of published uploads and of upload-reply files.
//!
//! Enough of a static file server for clients and the suite to verify bytes
//! and for the Windows client to download a reply (MC-BUP §3.5.5): Content-Length,
//! Last-Modified, a single `Range` answered with 206, and several ranges answered
//! with a 206 `multipart/byteranges` body (`byte_ranges.rs`). Session data is never
//! served.

use std::io::SeekFrom;

use bytes::Bytes;
use futures_util::TryStreamExt;
use http::{HeaderValue, Method, Response, StatusCode, header, request::Parts};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use crate::ack::{Body, empty};
use crate::byte_ranges::{self, Multipart, RangeRequest};
use crate::paths::{REPLIES_DIR, REPLY_FILE, SESSIONS_DIR, UrlPath};
use crate::session::normalise_id;
use crate::shared::Shared;

/// Serves a GET or HEAD.
pub async fn serve(shared: &Shared, parts: &Parts) -> Response<Body> {
    if let Err(ack) = shared.auth.check_read(parts) {
        return ack.into_response(shared.config.error_header);
    }
    let Ok(path) = UrlPath::parse(parts.uri.path()) else {
        return status(StatusCode::NOT_FOUND);
    };
    let relative = if path.is_reserved() {
        match path.reply_session().and_then(normalise_id) {
            Some(id) => format!("{SESSIONS_DIR}/{REPLIES_DIR}/{id}/{REPLY_FILE}"),
            None => return status(StatusCode::NOT_FOUND),
        }
    } else {
        path.relative()
    };
    // Opened through the root's handle: no symlink anywhere on the path, the
    // check and the open being one system call (`root_dir.rs`).
    let opened = shared.root_dir.open_file(&relative);
    match opened.and_then(|file| Ok((file.metadata()?, file))) {
        Ok((meta, file)) => match respond(file, meta, parts).await {
            Ok(response) => response,
            Err(_) => status(StatusCode::NOT_FOUND),
        },
        Err(_) => status(StatusCode::NOT_FOUND),
    }
}

async fn respond(
    std_file: std::fs::File,
    meta: std::fs::Metadata,
    parts: &Parts,
) -> std::io::Result<Response<Body>> {
    let file = tokio::fs::File::from_std(std_file.try_clone()?);
    let size = meta.len();
    let mut response = Response::new(empty());
    let headers = response.headers_mut();
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    if let Ok(modified) = meta.modified()
        && let Ok(value) = HeaderValue::from_str(&httpdate::fmt_http_date(modified))
    {
        headers.insert(header::LAST_MODIFIED, value);
    }
    let request = match parts
        .headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
    {
        Some(value) => byte_ranges::parse(value, size),
        None => RangeRequest::Whole,
    };
    let ranges = match request {
        RangeRequest::Unsatisfiable => {
            *response.status_mut() = StatusCode::RANGE_NOT_SATISFIABLE;
            insert(
                &mut response,
                header::CONTENT_RANGE,
                format!("bytes */{size}"),
            );
            insert(&mut response, header::CONTENT_LENGTH, "0".to_string());
            return Ok(response);
        }
        RangeRequest::Whole => {
            insert(&mut response, header::CONTENT_LENGTH, size.to_string());
            if parts.method == Method::GET {
                *response.body_mut() = file_part(file, 0, size).await?;
            }
            return Ok(response);
        }
        RangeRequest::Parts(ranges) => ranges,
    };
    *response.status_mut() = StatusCode::PARTIAL_CONTENT;
    if let [(first, last)] = ranges[..] {
        insert(
            &mut response,
            header::CONTENT_RANGE,
            format!("bytes {first}-{last}/{size}"),
        );
        insert(
            &mut response,
            header::CONTENT_LENGTH,
            (last - first + 1).to_string(),
        );
        if parts.method == Method::GET {
            *response.body_mut() = file_part(file, first, last - first + 1).await?;
        }
        return Ok(response);
    }
    let multipart = Multipart::new(&ranges, size, boundary());
    insert(
        &mut response,
        header::CONTENT_TYPE,
        format!("multipart/byteranges; boundary={}", multipart.boundary),
    );
    insert(
        &mut response,
        header::CONTENT_LENGTH,
        multipart.body_len().to_string(),
    );
    if parts.method == Method::GET {
        *response.body_mut() = multipart_body(std_file, multipart);
    }
    Ok(response)
}

/// `len` bytes of `file` from `start`, streamed.
async fn file_part(mut file: tokio::fs::File, start: u64, len: u64) -> std::io::Result<Body> {
    file.seek(SeekFrom::Start(start)).await?;
    let stream = tokio_util::io::ReaderStream::new(file.take(len)).map_ok(Frame::data);
    Ok(BodyExt::boxed(StreamBody::new(stream)))
}

/// The parts, each framed, streamed one after the other; each part reads the
/// open file (a duplicate of its descriptor) in chunks, so no part is ever
/// held in memory.
fn multipart_body(file: std::fs::File, multipart: Multipart) -> Body {
    let mut pieces = std::collections::VecDeque::new();
    for (head, first, last) in multipart.parts {
        pieces.push_back(Piece::Text(Bytes::from(head)));
        pieces.push_back(Piece::File(first, last - first + 1));
    }
    pieces.push_back(Piece::Text(Bytes::from(multipart.closing)));
    let state = PartState {
        file,
        pieces,
        current: None,
    };
    let stream = futures_util::stream::try_unfold(state, |mut state| async move {
        loop {
            if let Some(reader) = state.current.as_mut() {
                let mut buf = vec![0; 64 * 1024];
                let n = reader.read(&mut buf).await?;
                if n > 0 {
                    buf.truncate(n);
                    return Ok(Some((Frame::data(Bytes::from(buf)), state)));
                }
                state.current = None;
            }
            match state.pieces.pop_front() {
                None => return Ok(None),
                Some(Piece::Text(bytes)) => return Ok(Some((Frame::data(bytes), state))),
                Some(Piece::File(start, len)) => {
                    let mut file = tokio::fs::File::from_std(state.file.try_clone()?);
                    file.seek(SeekFrom::Start(start)).await?;
                    state.current = Some(file.take(len));
                }
            }
        }
    });
    BodyExt::boxed(StreamBody::new(stream))
}

enum Piece {
    Text(Bytes),
    /// (start, length) in the file.
    File(u64, u64),
}

struct PartState {
    file: std::fs::File,
    pieces: std::collections::VecDeque<Piece>,
    current: Option<tokio::io::Take<tokio::fs::File>>,
}

/// A boundary that cannot occur by chance in the parts' framing.
fn boundary() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("bitspec-server-{nanos:x}")
}

fn insert(response: &mut Response<Body>, name: header::HeaderName, value: String) {
    if let Ok(value) = HeaderValue::from_str(&value) {
        response.headers_mut().insert(name, value);
    }
}

/// A plain response with no body.
pub fn status(code: StatusCode) -> Response<Body> {
    let mut response = Response::new(empty());
    *response.status_mut() = code;
    insert(&mut response, header::CONTENT_LENGTH, "0".to_string());
    response
}
