//! GET and HEAD of published uploads and of upload-reply files.
//!
//! Enough of a static file server for clients and the suite to verify bytes
//! and for the Windows client to download a reply (MC-BUP §3.5.5): Content-Length,
//! Last-Modified, and a single `Range` answered with 206. Multi-range requests
//! get the whole file (200), which RFC 9110 allows. Session data is never served.

use std::io::SeekFrom;

use futures_util::TryStreamExt;
use http::{HeaderValue, Method, Response, StatusCode, header, request::Parts};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use crate::ack::{Body, empty};
use crate::paths::UrlPath;
use crate::server::Shared;
use crate::session::normalise_id;

/// Serves a GET or HEAD.
pub async fn serve(shared: &Shared, parts: &Parts) -> Response<Body> {
    if let Err(ack) = shared.auth.check_read(&parts.headers) {
        return ack.into_response(shared.config.error_header);
    }
    let Ok(path) = UrlPath::parse(parts.uri.path()) else {
        return status(StatusCode::NOT_FOUND);
    };
    let file_path = if path.is_reserved() {
        match path.reply_session().and_then(normalise_id) {
            Some(id) => shared.sessions.reply_path(&id),
            None => return status(StatusCode::NOT_FOUND),
        }
    } else {
        match path.check_links(&shared.root).await {
            Ok(Some(meta)) if meta.is_file() => path.under(&shared.root),
            _ => return status(StatusCode::NOT_FOUND),
        }
    };
    match open(&file_path, parts).await {
        Ok(response) => response,
        Err(_) => status(StatusCode::NOT_FOUND),
    }
}

async fn open(path: &std::path::Path, parts: &Parts) -> std::io::Result<Response<Body>> {
    let mut file = tokio::fs::File::open(path).await?;
    let meta = file.metadata().await?;
    if !meta.is_file() {
        return Err(std::io::ErrorKind::NotFound.into());
    }
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
    let range = parts
        .headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .map(|v| parse_range(v, size));
    let (start, len) = match range {
        Some(Err(())) => {
            *response.status_mut() = StatusCode::RANGE_NOT_SATISFIABLE;
            insert(
                &mut response,
                header::CONTENT_RANGE,
                format!("bytes */{size}"),
            );
            insert(&mut response, header::CONTENT_LENGTH, "0".to_string());
            return Ok(response);
        }
        Some(Ok(Some((first, last)))) => {
            *response.status_mut() = StatusCode::PARTIAL_CONTENT;
            let value = format!("bytes {first}-{last}/{size}");
            insert(&mut response, header::CONTENT_RANGE, value);
            (first, last - first + 1)
        }
        _ => (0, size),
    };
    insert(&mut response, header::CONTENT_LENGTH, len.to_string());
    if parts.method == Method::GET {
        file.seek(SeekFrom::Start(start)).await?;
        let stream = tokio_util::io::ReaderStream::new(file.take(len)).map_ok(Frame::data);
        *response.body_mut() = BodyExt::boxed(StreamBody::new(stream));
    }
    Ok(response)
}

fn insert(response: &mut Response<Body>, name: header::HeaderName, value: String) {
    if let Ok(value) = HeaderValue::from_str(&value) {
        response.headers_mut().insert(name, value);
    }
}

/// Parses a `Range` header. `Ok(None)`: serve everything (absent, multi-range
/// or not bytes); `Err`: unsatisfiable (416).
fn parse_range(value: &str, size: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return Ok(None);
    };
    let num = |s: &str| s.trim().parse::<u64>().ok();
    let (first, last) = match (first.trim().is_empty(), last.trim().is_empty()) {
        (true, false) => {
            let suffix = num(last).ok_or(())?;
            if suffix == 0 || size == 0 {
                return Err(());
            }
            (size.saturating_sub(suffix), size - 1)
        }
        (false, true) => (num(first).ok_or(())?, size.saturating_sub(1)),
        (false, false) => {
            let (first, last) = (num(first).ok_or(())?, num(last).ok_or(())?);
            if last < first {
                return Ok(None);
            }
            (first, last.min(size.saturating_sub(1)))
        }
        (true, true) => return Ok(None),
    };
    if first >= size {
        return Err(());
    }
    Ok(Some((first, last)))
}

/// A plain response with no body.
pub fn status(code: StatusCode) -> Response<Body> {
    let mut response = Response::new(empty());
    *response.status_mut() = code;
    insert(&mut response, header::CONTENT_LENGTH, "0".to_string());
    response
}

#[cfg(test)]
mod tests {
    use super::parse_range;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), Ok(Some((0, 9))));
        assert_eq!(parse_range("bytes=90-", 100), Ok(Some((90, 99))));
        assert_eq!(parse_range("bytes=-10", 100), Ok(Some((90, 99))));
        assert_eq!(parse_range("bytes=0-500", 100), Ok(Some((0, 99))));
        assert_eq!(parse_range("bytes=100-", 100), Err(()));
        assert_eq!(parse_range("bytes=0-1,5-6", 100), Ok(None));
    }
}
