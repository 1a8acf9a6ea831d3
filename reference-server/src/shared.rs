//! What every connection shares: the configuration, the storage root, the
//! session table, the accounts, the limits, and the packet layer the server
//! was built with (the one seam around the BITS_POST handling, see
//! [`PacketLayer`]).

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use http::request::Parts;
use http::{Response, StatusCode};
use hyper::body::Incoming;

use crate::ack::{Ack, Body};
use crate::auth::Auth;
use crate::body_permits::BodyPermits;
use crate::config::Config;
use crate::quotas::Connections;
use crate::root_dir::Dir;
use crate::session::Sessions;
use crate::wide_reads::WideLicences;
use crate::windows_auth::WindowsAuth;

/// Something the server is built with around its BITS_POST handling: it sees
/// each packet instead of `packets.rs`, and hands it on (rewritten or not) to
/// [`crate::packets::handle`], or answers it itself, and may edit the answer.
/// The server consults it at one place (`server.rs`, `dispatch`); `packets.rs`
/// knows nothing of it. The only one is the fault catalogue of the `faults`
/// feature (`fault/`), a testing aid; a normal server has none.
pub trait PacketLayer: std::fmt::Debug + Send + Sync {
    /// Answers one BITS_POST from `peer`.
    fn bits_post<'a>(
        &'a self,
        shared: &'a Shared,
        parts: Parts,
        body: Incoming,
        peer: SocketAddr,
    ) -> Pin<Box<dyn Future<Output = Response<Body>> + Send + 'a>>;
}

/// Fragment bodies read at once, server-wide, each with a 64 KiB write buffer
/// (1 MiB in all); beyond a dozen the disk gains nothing (writes go to the
/// page cache at memory speed), so with a thousand concurrent uploads the
/// others wait, their bytes in the kernel's socket buffers rather than in the
/// server's memory. A body that sends nothing for 100 ms gives its permit back
/// (`storage::RELEASE_AFTER`), so slow clients do not hold them.
pub const BODIES_IN_FLIGHT: usize = 16;

/// State shared by every connection.
#[derive(Debug)]
pub struct Shared {
    pub config: Config,
    /// The storage root, open: every access under it is made through this
    /// handle, never following a symlink (`root_dir.rs`).
    pub root_dir: Dir,
    pub sessions: Sessions,
    pub auth: Auth,
    /// NTLM and Negotiate handshakes, when `auth_schemes` has them.
    pub windows: WindowsAuth,
    /// Client for upload-reply notifications.
    pub http: reqwest::Client,
    /// Fragment bodies being received at once (see [`BODIES_IN_FLIGHT`]),
    /// each with a write buffer.
    pub bodies: BodyPermits,
    /// Connections allowed a wide read buffer (see `wide_reads.rs`).
    pub wide: WideLicences,
    /// The TLS handshake, when serving HTTPS (`tls.rs`).
    pub tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
    /// Connections open per peer address (`max_connections_per_address`).
    pub connections: Connections,
    /// What the server was built with around its BITS_POST handling; `None`
    /// in a normal server (see [`PacketLayer`]).
    pub layer: Option<Box<dyn PacketLayer>>,
}

impl Shared {
    /// Opens the storage root and the session table.
    pub fn new(config: Config) -> std::io::Result<Self> {
        std::fs::create_dir_all(&config.root)?;
        let root = std::fs::canonicalize(&config.root)?;
        let root_dir = Dir::open_ambient(&root)?;
        let sessions = Sessions::open(&root)?;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(std::io::Error::other)?;
        Ok(Self {
            auth: Auth::new(config.users.clone(), &config.auth_schemes),
            windows: WindowsAuth::new(config.users.clone(), &config.auth_schemes),
            config,
            root_dir,
            sessions,
            http,
            bodies: BodyPermits::new(BODIES_IN_FLIGHT),
            wide: WideLicences::default(),
            tls: None,
            connections: Connections::default(),
            layer: None,
        })
    }

    /// `https` when serving TLS, else `http`: for the URLs the server gives out.
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() { "https" } else { "http" }
    }

    pub fn session_timeout(&self) -> Duration {
        Duration::from_secs(self.config.session_timeout)
    }

    /// How long a request head (or, with HTTPS, the handshake) may take.
    pub fn header_timeout(&self) -> Duration {
        Duration::from_secs(self.config.header_read_timeout.max(1))
    }

    pub fn body_idle(&self) -> Duration {
        Duration::from_secs(self.config.body_idle_timeout.max(1))
    }

    /// How long a body of `length` bytes may take to arrive: its length at
    /// `min_bytes_per_second`, plus `body_idle_timeout` for the start.
    pub fn body_time(&self, length: u64) -> Duration {
        let rate = self.config.min_bytes_per_second;
        if rate == 0 {
            return Duration::MAX / 4;
        }
        self.body_idle() + Duration::from_secs(length / rate)
    }

    pub fn notification_timeout(&self) -> Duration {
        Duration::from_secs(self.config.notification_timeout.max(1))
    }

    /// False when BITS uploads are disabled for this URL path.
    pub fn uploads_enabled(&self, path: &str) -> bool {
        self.config.uploads_enabled
            && !self
                .config
                .disabled_paths
                .iter()
                .any(|prefix| path.starts_with(prefix.as_str()))
    }

    /// 409 or 403 for a destination that exists (summary §10.8).
    pub fn existing_destination(&self) -> Ack {
        let status = StatusCode::from_u16(self.config.existing_destination_status)
            .unwrap_or(StatusCode::CONFLICT);
        Ack::error(
            status,
            crate::ack::E_ACCESSDENIED,
            crate::ack::CONTEXT_SERVER,
        )
    }
}
