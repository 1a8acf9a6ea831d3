//! The HTTP edge: sends one rendered request with reqwest and records the exchange.
//!
//! One [`Connection`] is one reqwest client with a single-connection pool, so the
//! steps of a scenario share one keep-alive TCP connection; a step that asks for a
//! new connection gets a new client.

use crate::check::BodyObservation;
use crate::outcome::{RecordedRequest, RecordedResponse};
use crate::scenario::plan::UploadFile;
use crate::upload_data::StreamComparer;
use std::time::Duration;

/// Bodies up to this size are kept as text for `body: { equals }` and reports.
const KEPT_BODY_BYTES: usize = 64 * 1024;
/// Shown in reports.
const PREVIEW_BYTES: usize = 512;

/// A request ready to send.
#[derive(Debug, Clone)]
pub struct OutgoingRequest {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl OutgoingRequest {
    pub fn record(&self) -> RecordedRequest {
        RecordedRequest {
            method: self.method.clone(),
            url: self.url.clone(),
            headers: self.headers.clone(),
            body_len: self.body.len() as u64,
        }
    }
}

/// A keep-alive connection to the target.
#[derive(Debug, Clone)]
pub struct Connection {
    client: reqwest::Client,
}

impl Connection {
    pub fn open(connect_timeout: Duration) -> Result<Connection, String> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .http1_only()
            .http1_title_case_headers()
            .pool_max_idle_per_host(1)
            .connect_timeout(connect_timeout)
            .no_proxy()
            .user_agent(concat!("bitspec/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot create the HTTP client: {e}"))?;
        Ok(Connection { client })
    }

    /// Sends `request` and reads the whole response within `timeout`. When
    /// `compare_with` is given, the body is compared with that upload file as it streams.
    pub async fn exchange(
        &self,
        request: &OutgoingRequest,
        timeout: Duration,
        compare_with: Option<UploadFile>,
    ) -> Result<(RecordedResponse, BodyObservation), String> {
        match tokio::time::timeout(timeout, self.exchange_inner(request, compare_with)).await {
            Ok(result) => result,
            Err(_) => Err(format!(
                "no complete response within {:.1}s",
                timeout.as_secs_f64()
            )),
        }
    }

    async fn exchange_inner(
        &self,
        request: &OutgoingRequest,
        compare_with: Option<UploadFile>,
    ) -> Result<(RecordedResponse, BodyObservation), String> {
        let method = reqwest::Method::from_bytes(request.method.as_bytes())
            .map_err(|e| format!("invalid method {:?}: {e}", request.method))?;
        let mut headers = reqwest::header::HeaderMap::new();
        for (name, value) in &request.headers {
            let name = reqwest::header::HeaderName::from_bytes(name.as_bytes())
                .map_err(|e| format!("invalid header name {name:?}: {e}"))?;
            let value = reqwest::header::HeaderValue::from_str(value)
                .map_err(|e| format!("invalid value for header {name}: {e}"))?;
            headers.append(name, value);
        }
        let mut response = self
            .client
            .request(method, &request.url)
            .headers(headers)
            .body(request.body.clone())
            .send()
            .await
            .map_err(describe_error)?;

        let status = response.status();
        let version = match response.version() {
            reqwest::Version::HTTP_09 => "HTTP/0.9",
            reqwest::Version::HTTP_10 => "HTTP/1.0",
            reqwest::Version::HTTP_2 => "HTTP/2",
            _ => "HTTP/1.1",
        };
        let recorded_headers = response
            .headers()
            .iter()
            .map(|(n, v)| {
                (
                    canonical_header_name(n.as_str()),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();

        let mut comparer = compare_with.map(|f| StreamComparer::new(f.seed, f.size));
        let mut kept = Vec::new();
        let mut len = 0u64;
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| format!("the response body broke off: {}", describe_error(e)))?
        {
            len += chunk.len() as u64;
            if kept.len() < KEPT_BODY_BYTES {
                let room = KEPT_BODY_BYTES - kept.len();
                kept.extend_from_slice(&chunk[..chunk.len().min(room)]);
            }
            if let Some(c) = comparer.as_mut() {
                c.update(&chunk);
            }
        }
        let text = (len as usize <= KEPT_BODY_BYTES)
            .then(|| String::from_utf8(kept.clone()).ok())
            .flatten();
        let preview = String::from_utf8_lossy(&kept[..kept.len().min(PREVIEW_BYTES)]).into_owned();
        let recorded = RecordedResponse {
            version: version.to_owned(),
            status: status.as_u16(),
            reason: status.canonical_reason().unwrap_or("").to_owned(),
            headers: recorded_headers,
            body_len: len,
            body_preview: preview,
        };
        let body = BodyObservation {
            len,
            text,
            matches_file: comparer.map(StreamComparer::finish),
        };
        Ok((recorded, body))
    }
}

/// One line saying why the exchange failed, with the underlying cause.
fn describe_error(e: reqwest::Error) -> String {
    let mut message = if e.is_connect() {
        "cannot connect to the target".to_owned()
    } else if e.is_timeout() {
        "timed out".to_owned()
    } else if e.is_request() {
        "the request failed".to_owned()
    } else {
        "the exchange failed".to_owned()
    };
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

/// `bits-received-content-range` -> `BITS-Received-Content-Range`, for readable reports.
pub fn canonical_header_name(name: &str) -> String {
    name.split('-')
        .map(|part| {
            if part.eq_ignore_ascii_case("bits") {
                "BITS".to_owned()
            } else {
                let mut chars = part.chars();
                match chars.next() {
                    Some(first) => {
                        first.to_ascii_uppercase().to_string()
                            + &chars.as_str().to_ascii_lowercase()
                    }
                    None => String::new(),
                }
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}

#[cfg(test)]
mod tests {
    use super::canonical_header_name;

    #[test]
    fn header_names_are_shown_in_the_usual_case() {
        assert_eq!(
            canonical_header_name("bits-received-content-range"),
            "BITS-Received-Content-Range"
        );
        assert_eq!(canonical_header_name("content-length"), "Content-Length");
    }
}
