//! The Ack packet: every BITS_POST response, success or error.
//!
//! Every Ack carries `BITS-Packet-Type: Ack` and `Content-Length: 0` and has no
//! body (MC-BUP §2.2.3-2.2.11). Errors add the HRESULT, written `0x%08X`, and
//! its context. The HRESULT header name is configurable (summary §10.1).

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode};
use http_body_util::{BodyExt, Empty, combinators::BoxBody};

use crate::config::ErrorHeader;

/// Response body type of the whole server.
pub type Body = BoxBody<Bytes, std::io::Error>;

/// E_INVALIDARG: bad syntax, range, protocol list, packet type.
pub const E_INVALIDARG: u32 = 0x8007_0057;
/// E_ACCESSDENIED: forbidden path or existing destination (403).
pub const E_ACCESSDENIED: u32 = 0x8007_0005;
/// HRESULT_FROM_WIN32(ERROR_DISK_FULL) (MC-BUP misprints it `x80070112`).
pub const ERROR_DISK_FULL: u32 = 0x8007_0070;
/// HRESULT_FROM_WIN32(WAIT_TIMEOUT): the server application did not answer in time.
pub const WAIT_TIMEOUT: u32 = 0x8007_0102;
/// E_FAIL: an unexpected server-side failure.
pub const E_FAIL: u32 = 0x8000_4005;
/// BG_E_SESSION_NOT_FOUND: unknown, expired or closed session.
pub const BG_E_SESSION_NOT_FOUND: u32 = 0x8020_001F;
/// BG_E_TOO_LARGE: the upload exceeds the maximum upload size.
pub const BG_E_TOO_LARGE: u32 = 0x8020_0020;
/// BG_E_HTTP_ERROR_000: add the HTTP status to get BG_E_HTTP_ERROR_<status>.
pub const BG_E_HTTP_ERROR_BASE: u32 = 0x8019_0000;
/// BG_ERROR_CONTEXT_REMOTE_FILE: the BITS server produced the error.
pub const CONTEXT_SERVER: u32 = 0x5;
/// BG_ERROR_CONTEXT_REMOTE_APPLICATION: the server application produced it.
pub const CONTEXT_APPLICATION: u32 = 0x7;

/// An Ack under construction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    pub status: StatusCode,
    /// `(HRESULT, context)` for error Acks.
    pub error: Option<(u32, u32)>,
    pub headers: Vec<(&'static str, String)>,
}

impl Ack {
    /// A 200 Ack.
    pub fn ok() -> Self {
        Self::status(StatusCode::OK)
    }

    /// An Ack with a status and no error headers.
    pub fn status(status: StatusCode) -> Self {
        Self {
            status,
            error: None,
            headers: Vec::new(),
        }
    }

    /// An error Ack with an HRESULT and its context.
    pub fn error(status: StatusCode, code: u32, context: u32) -> Self {
        Self {
            status,
            error: Some((code, context)),
            headers: Vec::new(),
        }
    }

    /// 400 E_INVALIDARG, the answer to anything malformed.
    pub fn invalid() -> Self {
        Self::error(StatusCode::BAD_REQUEST, E_INVALIDARG, CONTEXT_SERVER)
    }

    /// 500 BG_E_SESSION_NOT_FOUND.
    pub fn session_not_found() -> Self {
        Self::error(
            StatusCode::INTERNAL_SERVER_ERROR,
            BG_E_SESSION_NOT_FOUND,
            CONTEXT_SERVER,
        )
    }

    /// Maps a storage failure: disk full gets its own HRESULT, the rest E_FAIL.
    pub fn from_io(err: &std::io::Error) -> Self {
        if crate::farm::error::is_database_error(err) {
            // The farm's database failed: nothing was acknowledged, retry later.
            return Self::error(StatusCode::SERVICE_UNAVAILABLE, E_FAIL, CONTEXT_SERVER)
                .with("Retry-After", "5");
        }
        let code = match err.kind() {
            std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded => ERROR_DISK_FULL,
            _ => E_FAIL,
        };
        Self::error(StatusCode::INTERNAL_SERVER_ERROR, code, CONTEXT_SERVER)
    }

    /// Adds a header.
    pub fn with(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// The HRESULT, for logs.
    pub fn code(&self) -> Option<u32> {
        self.error.map(|(code, _)| code)
    }

    /// Builds the HTTP response.
    pub fn into_response(self, style: ErrorHeader) -> Response<Body> {
        let mut response = Response::new(empty());
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        headers.insert("BITS-Packet-Type", HeaderValue::from_static("Ack"));
        headers.insert(http::header::CONTENT_LENGTH, HeaderValue::from_static("0"));
        if let Some((code, context)) = self.error {
            let code = HeaderValue::from_str(&format!("0x{code:08X}"));
            if let Ok(code) = code {
                if matches!(style, ErrorHeader::BitsErrorCode | ErrorHeader::Both) {
                    headers.insert("BITS-Error-Code", code.clone());
                }
                if matches!(style, ErrorHeader::BitsError | ErrorHeader::Both) {
                    headers.insert("BITS-Error", code);
                }
            }
            if let Ok(context) = HeaderValue::from_str(&format!("0x{context:X}")) {
                headers.insert("BITS-Error-Context", context);
            }
        }
        for (name, value) in self.headers {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.append(name, value);
            }
        }
        response
    }
}

/// An empty body.
pub fn empty() -> Body {
    Empty::<Bytes>::new()
        .map_err(|never| match never {})
        .boxed()
}
