//! Upload-reply: notifying the server application when an upload completes.
//!
//! The notification is an HTTP POST (summary §6.2): by reference it names the
//! upload file and the reply file; by value it carries the upload as the body
//! (streamed from disk) and takes the response body as the reply (streamed to
//! disk). The application's errors are relayed to the client with context
//! 0x7 (MC-BUP §3.2.5.1.3).

use futures_util::StreamExt;
use http::StatusCode;
use tokio::io::AsyncWriteExt;

use crate::ack::{Ack, BG_E_HTTP_ERROR_BASE, CONTEXT_APPLICATION, WAIT_TIMEOUT};
use crate::config::{NotificationType, ReplyUrlStyle};
use crate::paths::{REPLIES_DIR, REPLY_FILE, SESSIONS_DIR};
use crate::root_dir::{Dir, Writing};
use crate::session::{Record, Reply};
use crate::shared::Shared;
use crate::storage::DATA;

/// Longest URL the client accepts as a reply (MC-BUP §2.2.1.2 table).
const MAX_REPLY_URL: usize = 2200;

/// Notifies the application about a complete upload and stores its reply.
pub async fn notify(shared: &Shared, record: &Record, host: &str) -> Result<Reply, Ack> {
    let config = &shared.config;
    let job_url = format!("{}://{host}{}", shared.scheme(), record.url);
    let target = notification_url(config.notification_url.as_deref().unwrap_or(""), &job_url)
        .ok_or_else(|| app_error(StatusCode::BAD_GATEWAY))?;
    let data = shared.sessions.data_path(&record.id);
    let reply_path = shared.sessions.reply_path(&record.id);
    // Made and written through the root's handle, no symlink followed.
    let reply_dir = shared
        .root_dir
        .create_dirs(&format!("{SESSIONS_DIR}/{REPLIES_DIR}/{}", record.id))
        .map_err(|e| Ack::from_io(&e))?;
    let mut request = shared
        .http
        .post(target)
        .timeout(shared.notification_timeout())
        .header("BITS-Original-Request-URL", &job_url);
    if config.notification_type == NotificationType::ByValue {
        let file = shared
            .root_dir
            .open_file(&format!("{SESSIONS_DIR}/{}/{}", record.id, DATA))
            .map(tokio::fs::File::from_std)
            .map_err(|e| Ack::from_io(&e))?;
        let len = file.metadata().await.map_err(|e| Ack::from_io(&e))?.len();
        let stream = tokio_util::io::ReaderStream::new(file);
        request = request
            .header(http::header::CONTENT_LENGTH, len)
            .body(reqwest::Body::wrap_stream(stream));
    } else {
        request = request
            .header("BITS-Request-DataFile-Name", data.display().to_string())
            .header(
                "BITS-Response-DataFile-Name",
                reply_path.display().to_string(),
            )
            .header(http::header::CONTENT_LENGTH, 0);
    }
    let response = request.send().await.map_err(|e| {
        if e.is_timeout() {
            Ack::error(
                StatusCode::REQUEST_TIMEOUT,
                WAIT_TIMEOUT,
                CONTEXT_APPLICATION,
            )
        } else {
            app_error(StatusCode::BAD_GATEWAY)
        }
    })?;
    let status = response.status();
    if !status.is_success() {
        return Err(app_error(status));
    }
    let copy_to_destination = response
        .headers()
        .contains_key("BITS-Copy-File-To-Destination");
    let static_url = response
        .headers()
        .get("BITS-Static-Response-URL")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let url = match static_url {
        Some(url) => url,
        None => {
            if config.notification_type == NotificationType::ByValue {
                save_body(response, &reply_dir).await?;
            } else if !matches!(reply_dir.stat_name(REPLY_FILE), Ok(Some(_))) {
                // An empty reply is legal ("the application did not return a reply").
                reply_dir
                    .open_write(REPLY_FILE, Writing::Create)
                    .map_err(|e| Ack::from_io(&e))?;
            }
            reply_url(config.reply_url_style, shared.scheme(), host, record)
        }
    };
    if url.len() > MAX_REPLY_URL {
        return Err(Ack::invalid());
    }
    Ok(Reply {
        url,
        copy_to_destination,
    })
}

/// Streams the application's response body into the reply file of `dir`.
async fn save_body(response: reqwest::Response, dir: &Dir) -> Result<(), Ack> {
    const TMP: &str = "responsefile.tmp";
    let mut file = dir
        .open_write(TMP, Writing::Create)
        .map(tokio::fs::File::from_std)
        .map_err(|e| Ack::from_io(&e))?;
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| app_error(StatusCode::BAD_GATEWAY))?;
        file.write_all(&chunk).await.map_err(|e| Ack::from_io(&e))?;
    }
    file.flush().await.map_err(|e| Ack::from_io(&e))?;
    dir.rename(TMP, dir, REPLY_FILE)
        .map_err(|e| Ack::from_io(&e))
}

/// The application's status relayed as BG_E_HTTP_ERROR_<status> with context 0x7.
fn app_error(status: StatusCode) -> Ack {
    Ack::error(
        status,
        BG_E_HTTP_ERROR_BASE + u32::from(status.as_u16()),
        CONTEXT_APPLICATION,
    )
}

/// Resolves the configured URL against the job URL and appends the job's query.
fn notification_url(configured: &str, job_url: &str) -> Option<reqwest::Url> {
    let job = reqwest::Url::parse(job_url).ok()?;
    let mut url = job.join(configured).ok()?;
    if let Some(query) = job.query() {
        let joined = match url.query() {
            Some(existing) => format!("{existing}&{query}"),
            None => query.to_string(),
        };
        url.set_query(Some(&joined));
    }
    Some(url)
}

/// `BITS-Reply-URL` for a reply stored by this server (`scheme` is `http` or `https`).
pub fn reply_url(style: ReplyUrlStyle, scheme: &str, host: &str, record: &Record) -> String {
    let id = &record.id;
    match style {
        ReplyUrlStyle::Absolute => {
            let id = id.replace('{', "%7B").replace('}', "%7D");
            format!("{scheme}://{host}/{SESSIONS_DIR}/{REPLIES_DIR}/{id}/{REPLY_FILE}")
        }
        ReplyUrlStyle::Relative => {
            let depth = record.destination.matches('/').count();
            format!(
                "{}{SESSIONS_DIR}\\{REPLIES_DIR}\\{id}\\{REPLY_FILE}",
                "..\\".repeat(depth)
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notification_url_keeps_the_job_query() {
        let url = notification_url("/app?x=1", "http://h:1/a/b.bin?user=7").map(String::from);
        assert_eq!(url.as_deref(), Some("http://h:1/app?x=1&user=7"));
        let url = notification_url("notify", "http://h:1/a/b.bin").map(String::from);
        assert_eq!(url.as_deref(), Some("http://h:1/a/notify"));
    }
}
