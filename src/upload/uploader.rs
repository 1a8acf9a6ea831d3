//! The HTTPUploader of MC-BUP §3.1.1.2: Create-Session, Ping, Fragments, the reply,
//! Close-Session, with the recovery rules of §3.1.5 (416 resync, 413 shrinking,
//! restart on BG_E_SESSION_NOT_FOUND, BITS-Host-Id and its fallback timer, Ping on
//! every new connection of a session, retries of transient failures).

use super::auth::{Credentials, HandshakeError, handshake};
use super::conn::{Ack, Conn, Timeouts, TransportError};
use super::journal::{Journal, SourceStamp, State};
use super::rules::{BG_E_SESSION_NOT_FOUND, Reaction, react};
use crate::raw::request::Endpoint;
use crate::run::{BITS_15_UPLOAD_PROTOCOL, TlsClient};
use bytes::Bytes;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The smallest fragment a 413 shrinks to: 5 KB, as Windows (MC-BUP <10>, <16>).
pub const MIN_FRAGMENT: u64 = 5 * 1024;
/// Restarts (BG_E_SESSION_NOT_FOUND) in one run before giving up for now.
const MAX_RESTARTS: u32 = 5;
/// Answers in a row that move nothing on (416 to the same offset) before giving up.
const MAX_STALLS: u32 = 20;
/// Longest wait between two attempts.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(60);

/// How to upload, beyond what the journal holds.
#[derive(Debug, Clone)]
pub struct Settings {
    pub tls: TlsClient,
    pub timeouts: Timeouts,
    /// Attempts after a transient failure without progress in between.
    pub retries: u32,
    /// Wait before the first retry; doubled each time.
    pub retry_delay: Duration,
    /// Basic (sent after the first 401 challenge), NTLM or Negotiate (a handshake
    /// on every new connection).
    pub credentials: Option<Credentials>,
    /// Where the upload-reply's reply goes (`--reply`).
    pub reply: Option<PathBuf>,
    /// Bytes per second, paced between fragments.
    pub limit_rate: Option<u64>,
}

/// What the uploader tells its caller as it goes; only the caller prints.
pub trait Observer {
    fn progress(&self, offset: u64);
    fn note(&self, text: &str);
}

/// How an upload ends when it does not complete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Running again will not help as things are.
    Fatal(String),
    /// Running again continues the session (the journal is kept).
    Retryable(String),
}

/// A finished upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finished {
    pub reply_url: Option<String>,
    pub session_id: Option<String>,
}

enum Step {
    Progress,
    Stalled,
    Done,
}

enum Problem {
    Transient(String),
    Restart(String),
    Fatal(String),
}

impl From<TransportError> for Problem {
    fn from(e: TransportError) -> Self {
        Problem::Transient(e.to_string())
    }
}

impl From<HandshakeError> for Problem {
    fn from(e: HandshakeError) -> Self {
        match e {
            HandshakeError::Transport(e) => e.into(),
            HandshakeError::Refused(why) => Problem::Fatal(why),
        }
    }
}

pub struct Uploader<'a> {
    settings: Settings,
    journal: Journal,
    state: State,
    origin: url::Url,
    file: Arc<std::fs::File>,
    /// The next fragment (offset, length), read while the current one is in flight.
    ahead: Option<(u64, u64, tokio::task::JoinHandle<std::io::Result<Bytes>>)>,
    content_name: String,
    conn: Option<Conn>,
    /// The request target of the connection's host.
    target: String,
    /// A new connection of an existing session: Ping first (MC-BUP §2.2.4, <9>).
    ping_pending: bool,
    send_auth: bool,
    /// HostIdFallback timer (§3.1.2.3): started on an error while on the Host-Id.
    fallback_started: Option<Instant>,
    observer: &'a dyn Observer,
    run_started: Instant,
    bytes_this_run: u64,
    /// The highest offset the server has acknowledged in this run: only going
    /// beyond it is progress (a server sending the client back and forth is not).
    high_water: u64,
}

impl<'a> Uploader<'a> {
    pub fn new(
        settings: Settings,
        journal: Journal,
        state: State,
        observer: &'a dyn Observer,
    ) -> Result<Self, String> {
        let origin = url::Url::parse(&state.url).map_err(|e| format!("invalid URL: {e}"))?;
        let file = std::fs::File::open(&state.source.path)
            .map(Arc::new)
            .map_err(|e| format!("cannot open {}: {e}", state.source.path.display()))?;
        let content_name = state
            .source
            .path
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        Ok(Uploader {
            settings,
            journal,
            // A resumed session starts with Ping on its first connection.
            ping_pending: state.session_id.is_some(),
            state,
            origin,
            file,
            ahead: None,
            content_name,
            conn: None,
            target: String::new(),
            send_auth: false,
            fallback_started: None,
            observer,
            run_started: Instant::now(),
            bytes_this_run: 0,
            high_water: 0,
        })
    }

    pub fn state(&self) -> &State {
        &self.state
    }

    /// Runs the upload to its end, or to a failure.
    pub async fn run(&mut self) -> Result<Finished, Failure> {
        let (mut failures, mut restarts, mut stalls) = (0u32, 0u32, 0u32);
        loop {
            match self.step().await {
                Ok(Step::Done) => {
                    return Ok(Finished {
                        reply_url: self.state.reply_url.clone(),
                        session_id: self.state.session_id.clone(),
                    });
                }
                Ok(Step::Progress) => (failures, stalls) = (0, 0),
                Ok(Step::Stalled) => {
                    stalls += 1;
                    if stalls > MAX_STALLS {
                        return Err(Failure::Retryable(format!(
                            "no progress after {MAX_STALLS} answers at offset {} (BG_E_NO_PROGRESS)",
                            self.state.offset
                        )));
                    }
                }
                Err(Problem::Fatal(message)) => return Err(Failure::Fatal(message)),
                Err(Problem::Restart(why)) => {
                    restarts += 1;
                    if restarts > MAX_RESTARTS {
                        return Err(Failure::Retryable(format!(
                            "{why}; {MAX_RESTARTS} restarts in this run"
                        )));
                    }
                    self.observer
                        .note(&format!("{why}: starting again with Create-Session"));
                    self.restart().map_err(Failure::Fatal)?;
                }
                Err(Problem::Transient(why)) => {
                    self.conn = None;
                    if self.state.host_id.is_some() && self.fallback_started.is_none() {
                        self.fallback_started = Some(Instant::now());
                    }
                    failures += 1;
                    if failures > self.settings.retries {
                        return Err(Failure::Retryable(why));
                    }
                    let delay = self
                        .settings
                        .retry_delay
                        .saturating_mul(1 << (failures - 1).min(16))
                        .min(MAX_RETRY_DELAY);
                    self.observer.note(&format!(
                        "{why}; attempt {} of {} in {:.1}s",
                        failures + 1,
                        self.settings.retries + 1,
                        delay.as_secs_f64()
                    ));
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }

    async fn step(&mut self) -> Result<Step, Problem> {
        if self.state.session_id.is_none() {
            self.create_session().await?;
            return Ok(Step::Progress);
        }
        if self.state.offset < self.state.source.size {
            return self.fragment().await;
        }
        if self.settings.reply.is_some() && !self.state.reply_fetched {
            self.fetch_reply().await?;
            return Ok(Step::Progress);
        }
        self.close_session().await?;
        Ok(Step::Done)
    }

    fn save(&self) -> Result<(), Problem> {
        self.journal.save(&self.state).map_err(Problem::Fatal)
    }

    fn restart(&mut self) -> Result<(), String> {
        self.conn = None;
        self.ping_pending = false;
        self.state.session_id = None;
        self.state.offset = 0;
        self.state.reply_url = None;
        self.state.reply_fetched = false;
        self.state.close_sent = false;
        self.high_water = 0;
        self.observer.progress(0);
        self.journal.save(&self.state)
    }

    /// The destination URL with the host the packets go to now.
    fn destination(&self) -> Result<url::Url, Problem> {
        let mut url = self.origin.clone();
        if let Some(host) = &self.state.host_id {
            url.set_host(Some(host)).map_err(|e| {
                Problem::Fatal(format!("BITS-Host-Id {host:?} is not a host name: {e}"))
            })?;
        }
        Ok(url)
    }

    fn endpoint(url: &url::Url) -> Result<Endpoint, Problem> {
        crate::raw::request::endpoint(url.as_str()).map_err(Problem::Fatal)
    }

    /// Reverts to the origin server when the fallback timer has run out (§3.1.6.3).
    fn check_fallback(&mut self) {
        let (Some(started), Some(secs)) = (self.fallback_started, self.state.host_fallback_secs)
        else {
            return;
        };
        if self.state.host_id.is_some() && started.elapsed() >= Duration::from_secs(secs) {
            let host = self.state.host_id.take().unwrap_or_default();
            self.fallback_started = None;
            self.conn = None;
            self.ping_pending = self.state.session_id.is_some();
            self.observer.note(&format!(
                "no progress on BITS-Host-Id {host} for {secs}s: back to the origin server"
            ));
            let _ = self.journal.save(&self.state);
        }
    }

    fn auth_header(&self, headers: &mut Vec<(&'static str, String)>) {
        if let (true, Some(value)) = (
            self.send_auth,
            self.settings
                .credentials
                .as_ref()
                .and_then(Credentials::basic),
        ) {
            headers.push(("Authorization", value));
        }
    }

    /// The NTLM or Negotiate account, when the connections must be authenticated.
    fn windows_account(&self) -> Option<&crate::auth::windows::Account> {
        match &self.settings.credentials {
            Some(Credentials::Windows(account)) => Some(account),
            _ => None,
        }
    }

    /// NTLM/Negotiate: authenticates the current connection with two Pings, which
    /// also stand for the Ping a new connection of a session begins with.
    async fn authenticate_connection(&mut self) -> Result<(), Problem> {
        let Some(account) = self.windows_account().cloned() else {
            return Ok(());
        };
        let Some(conn) = self.conn.as_mut() else {
            return Err(Problem::Transient("no connection".into()));
        };
        let ping = [("BITS-Packet-Type", "Ping".to_owned())];
        let ack = match handshake(conn, &account, "BITS_POST", &self.target, &ping, None).await {
            Ok(ack) => ack,
            Err(e) => {
                self.conn = None;
                return Err(e.into());
            }
        };
        if ack
            .header("Connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"))
        {
            self.conn = None;
        }
        match react("Ping", &ack) {
            Reaction::Proceed => {
                self.ping_pending = false;
                Ok(())
            }
            other => Err(problem(other)),
        }
    }

    /// One exchange on the current connection; a broken one is dropped.
    async fn raw(
        &mut self,
        packet: &str,
        mut headers: Vec<(&'static str, String)>,
        body: Bytes,
    ) -> Result<Ack, Problem> {
        headers.insert(0, ("BITS-Packet-Type", packet.to_owned()));
        self.auth_header(&mut headers);
        let Some(conn) = self.conn.as_mut() else {
            return Err(Problem::Transient("no connection".into()));
        };
        match conn
            .exchange("BITS_POST", &self.target, &headers, body, None)
            .await
        {
            Ok(ack) => {
                if ack
                    .header("Connection")
                    .is_some_and(|v| v.eq_ignore_ascii_case("close"))
                {
                    self.conn = None;
                }
                Ok(ack)
            }
            Err(e) => {
                self.conn = None;
                Err(e.into())
            }
        }
    }

    /// A 401 the Basic credentials may answer (once).
    fn may_authenticate(&self, ack: &Ack) -> bool {
        ack.status == 401
            && !self.send_auth
            && matches!(self.settings.credentials, Some(Credentials::Basic { .. }))
    }

    /// Sends a packet: opens a connection if needed (authenticating it for NTLM and
    /// Negotiate), Pings first on a new one of an existing session, and answers a 401
    /// challenge once with the credentials.
    async fn request(
        &mut self,
        packet: &str,
        headers: Vec<(&'static str, String)>,
        body: Bytes,
    ) -> Result<Ack, Problem> {
        let (mut handshakes, mut reauthenticated) = (0, false);
        loop {
            if self.conn.is_none() {
                self.check_fallback();
                let endpoint = Self::endpoint(&self.destination()?)?;
                self.conn =
                    Some(Conn::open(&endpoint, &self.settings.tls, self.settings.timeouts).await?);
                self.target = endpoint.target;
                self.ping_pending |= self.state.session_id.is_some();
            }
            if self.windows_account().is_some()
                && self.conn.as_ref().is_some_and(|c| !c.authenticated)
            {
                handshakes += 1;
                if handshakes > 3 {
                    return Err(Problem::Transient(
                        "the server closes every connection after authenticating it".into(),
                    ));
                }
                self.authenticate_connection().await?;
                if self.conn.is_none() {
                    continue;
                }
            }
            if self.ping_pending {
                let ack = self.raw("Ping", Vec::new(), Bytes::new()).await?;
                if self.may_authenticate(&ack) {
                    self.send_auth = true;
                    continue;
                }
                match react("Ping", &ack) {
                    Reaction::Proceed => self.ping_pending = false,
                    other => return Err(problem(other)),
                }
            }
            let ack = self.raw(packet, headers.clone(), body.clone()).await?;
            if self.may_authenticate(&ack) {
                self.send_auth = true;
                continue;
            }
            if ack.status == 401 && self.windows_account().is_some() && !reauthenticated {
                // The server forgot the connection's authentication: once more.
                reauthenticated = true;
                if let Some(conn) = self.conn.as_mut() {
                    conn.authenticated = false;
                }
                continue;
            }
            return Ok(ack);
        }
    }

    async fn create_session(&mut self) -> Result<(), Problem> {
        let headers = vec![
            (
                "BITS-Supported-Protocols",
                BITS_15_UPLOAD_PROTOCOL.to_owned(),
            ),
            ("Content-Name", self.content_name.clone()),
        ];
        let ack = self
            .request("Create-Session", headers, Bytes::new())
            .await?;
        match react("Create-Session", &ack) {
            Reaction::Proceed => {}
            other => return Err(problem(other)),
        }
        let Some(id) = ack.header("BITS-Session-Id").filter(|v| !v.is_empty()) else {
            return Err(invalid("the Create-Session Ack has no BITS-Session-Id"));
        };
        match ack.header("BITS-Protocol") {
            Some(p) if p.eq_ignore_ascii_case(BITS_15_UPLOAD_PROTOCOL) => {}
            Some(p) => {
                return Err(Problem::Fatal(format!(
                    "the server chose protocol {p}, which this client did not offer \
                     (BG_E_CLIENT_SERVER_PROTOCOL_MISMATCH)"
                )));
            }
            None => return Err(invalid("the Create-Session Ack has no BITS-Protocol")),
        }
        self.state.session_id = Some(id.to_owned());
        self.state.offset = 0;
        self.state.close_sent = false;
        if let Some(host) = ack.header("BITS-Host-Id").filter(|h| !h.is_empty()) {
            // §2.2.3.2: later packets go to this host; §3.1.5.2.2: Ping it first.
            self.state.host_id = Some(host.to_owned());
            self.state.host_fallback_secs = ack
                .header("BITS-Host-Id-Fallback-Timeout")
                .and_then(|v| v.parse::<u64>().ok())
                .filter(|s| *s < 0xFFFF_FFFF);
            self.conn = None;
            self.ping_pending = true;
            self.observer
                .note(&format!("the server sends the upload to host {host}"));
        }
        self.save()
    }

    /// Reads `len` bytes at `offset` of the source on a blocking thread.
    fn read_at(&self, offset: u64, len: u64) -> tokio::task::JoinHandle<std::io::Result<Bytes>> {
        let file = Arc::clone(&self.file);
        tokio::task::spawn_blocking(move || {
            let mut data = vec![0u8; usize::try_from(len).unwrap_or(usize::MAX)];
            file.read_exact_at(&mut data, offset)?;
            Ok(Bytes::from(data))
        })
    }

    /// The fragment at `offset`: read ahead during the previous one's exchange when
    /// the upload went on as expected, else read now. Then the read of the fragment
    /// after it starts, so the file is read while this one is on the wire.
    async fn read_fragment(&mut self, offset: u64, len: u64) -> Result<Bytes, Problem> {
        let reading = match self.ahead.take() {
            Some((at, n, reading)) if (at, n) == (offset, len) => reading,
            _ => self.read_at(offset, len),
        };
        let data = match reading.await {
            Ok(Ok(data)) => data,
            Ok(Err(e)) => {
                return Err(Problem::Fatal(format!(
                    "cannot read {}: {e} (BG_E_LOCAL_FILE_CHANGED?)",
                    self.state.source.path.display()
                )));
            }
            Err(e) => return Err(Problem::Fatal(format!("the file reader failed: {e}"))),
        };
        let next = offset + len;
        let total = self.state.source.size;
        if next < total {
            let next_len = self.state.fragment.min(total - next);
            self.ahead = Some((next, next_len, self.read_at(next, next_len)));
        }
        Ok(data)
    }

    async fn fragment(&mut self) -> Result<Step, Problem> {
        let (offset, total) = (self.state.offset, self.state.source.size);
        let len = self.state.fragment.min(total - offset);
        let data = self.read_fragment(offset, len).await?;
        let Some(session) = self.state.session_id.clone() else {
            return Err(Problem::Restart("no session".into()));
        };
        let headers = vec![
            ("BITS-Session-Id", session.clone()),
            ("Content-Name", self.content_name.clone()),
            (
                "Content-Range",
                format!("bytes {offset}-{}/{total}", offset + len - 1),
            ),
        ];
        let ack = self.request("Fragment", headers, data).await?;
        if ack.status != 416 {
            match react("Fragment", &ack) {
                Reaction::Proceed => {}
                Reaction::Shrink => return self.shrink(),
                other => return Err(problem(other)),
            }
        }
        // 200 or 416: continue from where the server says (§3.1.5.1.4, §3.1.5.2.4).
        let Some(received) = ack.received().filter(|r| *r <= total) else {
            return Err(invalid(&format!(
                "the Fragment Ack ({}) has no usable BITS-Received-Content-Range (got {:?})",
                ack.status,
                ack.header("BITS-Received-Content-Range")
            )));
        };
        if let Some(echoed) = ack.header("BITS-Session-Id")
            && echoed != session
        {
            return Err(invalid(&format!(
                "the Fragment Ack names session {echoed}, not {session}"
            )));
        }
        self.fallback_started = None;
        if ack.status == 416 {
            self.observer.note(&format!(
                "416: the server expects offset {received}, continuing from there"
            ));
        }
        let moved = received > self.high_water;
        self.high_water = self.high_water.max(received);
        self.state.offset = received;
        if received == total
            && let Some(reply) = ack.header("BITS-Reply-URL").filter(|u| !u.is_empty())
        {
            self.state.reply_url = Some(reply.to_owned());
        }
        if received == total && self.settings.reply.is_some() && self.state.reply_url.is_none() {
            // §3.1.5.2.4: upload-reply without a reply URL is an error.
            return Err(Problem::Fatal(
                "--reply: the final Fragment Ack has no BITS-Reply-URL \
                 (is the virtual directory configured for upload-reply?)"
                    .into(),
            ));
        }
        self.save()?;
        self.observer.progress(received);
        if received > offset {
            self.pace(received - offset).await;
        }
        Ok(if moved { Step::Progress } else { Step::Stalled })
    }

    /// 413: halve the fragment, never below [`MIN_FRAGMENT`].
    fn shrink(&mut self) -> Result<Step, Problem> {
        let sent = self
            .state
            .fragment
            .min(self.state.source.size - self.state.offset);
        if sent <= MIN_FRAGMENT {
            return Err(Problem::Fatal(format!(
                "413: the server refuses even {sent}-byte fragments (the client's minimum is {MIN_FRAGMENT})"
            )));
        }
        self.state.fragment = (sent / 2).max(MIN_FRAGMENT);
        self.observer.note(&format!(
            "413: fragments of {} bytes from now on",
            self.state.fragment
        ));
        self.save()?;
        Ok(Step::Progress)
    }

    /// Sleeps as long as `--limit-rate` asks.
    async fn pace(&mut self, bytes: u64) {
        self.bytes_this_run += bytes;
        if let Some(rate) = self.settings.limit_rate.filter(|r| *r > 0) {
            let due = Duration::from_secs_f64(self.bytes_this_run as f64 / rate as f64);
            if let Some(wait) = due.checked_sub(self.run_started.elapsed()) {
                tokio::time::sleep(wait).await;
            }
        }
    }

    async fn fetch_reply(&mut self) -> Result<(), Problem> {
        let (Some(path), Some(reply)) = (self.settings.reply.clone(), self.state.reply_url.clone())
        else {
            return Ok(());
        };
        let url = self
            .destination()?
            .join(&reply)
            .map_err(|e| Problem::Fatal(format!("BITS-Reply-URL {reply:?}: {e}")))?;
        let endpoint = Self::endpoint(&url)?;
        let mut conn = Conn::open(&endpoint, &self.settings.tls, self.settings.timeouts).await?;
        let mut file = tokio::fs::File::create(&path)
            .await
            .map_err(|e| Problem::Fatal(format!("--reply {}: {e}", path.display())))?;
        let mut headers = Vec::new();
        self.auth_header(&mut headers);
        let ack = match self.windows_account() {
            Some(account) => {
                let account = account.clone();
                handshake(
                    &mut conn,
                    &account,
                    "GET",
                    &endpoint.target,
                    &[],
                    Some(&mut file),
                )
                .await?
            }
            None => {
                conn.exchange(
                    "GET",
                    &endpoint.target,
                    &headers,
                    Bytes::new(),
                    Some(&mut file),
                )
                .await?
            }
        };
        match ack.status {
            200 => {}
            500..=599 | 408 => {
                return Err(Problem::Transient(format!(
                    "GET {url} answered {}",
                    ack.status
                )));
            }
            status => return Err(Problem::Fatal(format!("GET {url} answered {status}"))),
        }
        self.state.reply_fetched = true;
        self.save()
    }

    async fn close_session(&mut self) -> Result<(), Problem> {
        // A file changed under the upload must not be committed (BG_E_LOCAL_FILE_CHANGED).
        let now = SourceStamp::of(&self.state.source.path).map_err(Problem::Fatal)?;
        if now != self.state.source {
            return Err(Problem::Fatal(format!(
                "{} changed during the upload (BG_E_LOCAL_FILE_CHANGED); run with --restart",
                self.state.source.path.display()
            )));
        }
        let Some(session) = self.state.session_id.clone() else {
            return Err(Problem::Restart("no session".into()));
        };
        let earlier_close = self.state.close_sent;
        self.state.close_sent = true;
        self.save()?;
        let headers = vec![
            ("BITS-Session-Id", session),
            ("Content-Name", self.content_name.clone()),
        ];
        let ack = self.request("Close-Session", headers, Bytes::new()).await?;
        match react("Close-Session", &ack) {
            Reaction::Proceed => {}
            Reaction::Restart if earlier_close => {
                // The Ack of an earlier Close was lost and the server has since
                // forgotten the session: that Close committed it (MC-BUP's restart
                // rule and the Close retry rule disagree here; summary §4.5).
                self.observer.note(
                    "the server no longer knows the session after a Close whose Ack was lost: \
                     taking that Close as the commit",
                );
            }
            other => return Err(problem(other)),
        }
        self.journal.remove().map_err(Problem::Fatal)
    }

    /// Cancel-Session (Ctrl-C): retried on 5xx, not on 4xx nor an unknown session
    /// (ack-for-cancel-session.md); the journal goes either way.
    pub async fn cancel(&mut self) -> Result<(), String> {
        self.conn = None;
        self.ping_pending = false;
        let Some(session) = self.state.session_id.clone() else {
            return self.journal.remove();
        };
        let mut outcome = Err("not sent".to_owned());
        for attempt in 0..3u32 {
            if attempt > 0 {
                tokio::time::sleep(self.settings.retry_delay.saturating_mul(1 << attempt)).await;
            }
            let headers = vec![("BITS-Session-Id", session.clone())];
            match self.request("Cancel-Session", headers, Bytes::new()).await {
                Ok(ack) if ack.bits_error() == Some(BG_E_SESSION_NOT_FOUND) => {
                    outcome = Ok(());
                    break;
                }
                Ok(ack) => match react("Cancel-Session", &ack) {
                    Reaction::Proceed => {
                        outcome = Ok(());
                        break;
                    }
                    Reaction::Transient(why) => outcome = Err(why),
                    Reaction::Fatal(why) => {
                        outcome = Err(why);
                        break;
                    }
                    Reaction::Restart | Reaction::Shrink => break,
                },
                Err(Problem::Transient(why) | Problem::Fatal(why) | Problem::Restart(why)) => {
                    outcome = Err(why);
                }
            }
        }
        self.journal.remove()?;
        outcome
    }
}

fn problem(reaction: Reaction) -> Problem {
    match reaction {
        Reaction::Proceed => Problem::Fatal("internal: success taken for a failure".into()),
        Reaction::Restart => {
            Problem::Restart("the server does not know the session (BG_E_SESSION_NOT_FOUND)".into())
        }
        Reaction::Shrink => Problem::Fatal("413 outside a Fragment".into()),
        Reaction::Transient(why) => Problem::Transient(why),
        Reaction::Fatal(why) => Problem::Fatal(why),
    }
}

fn invalid(what: &str) -> Problem {
    Problem::Fatal(format!("{what} (BG_E_INVALID_SERVER_RESPONSE)"))
}
