//! Every setting of the server, with the IIS defaults.
//!
//! The fields mirror the IIS BITS extension properties (BITSSessionTimeout,
//! BITSMaximumUploadSize, ...; see `bits-iis-extension-properties.md`) plus the
//! points where the specifications disagree, so the suite can be run against
//! each legitimate reading. The same struct is read from TOML (unknown keys are
//! rejected by name) and overridden by command-line flags in `main.rs`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The largest BITSMaximumUploadSize IIS accepts, and its effective default.
pub const IIS_MAX_UPLOAD_SIZE: u64 = 1_844_674_407_370_955;

/// Error raised while loading or validating a configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The TOML is malformed or holds an unknown key; toml's message names it.
    #[error("invalid config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    /// A value is out of its legal range.
    #[error("invalid value for `{key}`: {message}")]
    Invalid { key: &'static str, message: String },
}

/// `BITSServerNotificationType`: who receives the upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum NotificationType {
    /// 0: the upload is written to the request URL (simple upload).
    None,
    /// 1: the application gets the paths of the upload and of the reply file.
    ByReference,
    /// 2: the application gets the upload as the request body; its body is the reply.
    ByValue,
}

/// Which header carries the HRESULT of an error Ack (summary §10.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorHeader {
    /// `BITS-Error-Code` (MSDN packet pages, every open implementation).
    BitsErrorCode,
    /// `BITS-Error` (MC-BUP §2.2.1.2).
    BitsError,
    /// Both headers with the same value.
    Both,
}

/// When a complete upload is moved to its destination (summary §4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum CommitPoint {
    /// On the fragment that completes the file (MSDN); Close then only cleans up.
    LastFragment,
    /// On Close-Session (MC-BUP §3.2.5.2.7, IIS <24>).
    Close,
}

/// What to do with a fragment that starts before the next expected byte (summary §10.9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum OverlapPolicy {
    /// Write only the new bytes and answer 200 (`fragment.md`).
    Trim,
    /// Answer 416 with the expected offset whenever `first != E` (MC-BUP §3.2.5.2.6).
    Reject,
}

/// Style of the `BITS-Reply-URL` header (summary §10.18).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum ReplyUrlStyle {
    /// `http://host/BITS-Sessions/Replies/%7B...%7D/responsefile.bin`.
    Absolute,
    /// Windows style: a backslash path relative to the upload URL's directory.
    Relative,
}

/// How clients may authenticate as the accounts in `users` (IIS: the
/// authentication methods enabled on the virtual directory).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum AuthScheme {
    /// HTTP Basic (RFC 7617): every request carries the password.
    Basic,
    /// NTLM (MS-NLMP): a handshake that authenticates the connection.
    Ntlm,
    /// Negotiate (RFC 4559) with NTLM inside SPNEGO; Kerberos is not offered.
    Negotiate,
}

/// Where session records live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Storage {
    /// `session.json` files under the root: one machine.
    Local,
    /// PostgreSQL, shared by the nodes of a farm.
    Postgres,
}

/// A Basic-auth account and the URL prefixes it may upload to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    pub name: String,
    pub password: String,
    /// URL path prefixes (e.g. `/alice/`) this user may write; empty means everywhere.
    #[serde(default)]
    pub paths: Vec<String>,
}

/// The server configuration. `Default` gives the IIS defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address to listen on (`127.0.0.1:0` picks a free port).
    pub listen: SocketAddr,
    /// Storage root: the URL path `/a/b.bin` maps to `root/a/b.bin`.
    pub root: PathBuf,
    /// BITSUploadEnabled: when false every BITS packet gets 501 E_ACCESSDENIED.
    pub uploads_enabled: bool,
    /// URL path prefixes where uploads are disabled, like IIS folders without BITSUploadEnabled.
    pub disabled_paths: Vec<String>,
    /// BITSSessionTimeout, seconds without progress before a session expires (14 days).
    pub session_timeout: u64,
    /// BITSMaximumUploadSize, bytes per upload; larger gets 500 BG_E_TOO_LARGE. The IIS
    /// default (empty) means the documented cap, 1,844,674,407,370,955.
    pub max_upload_size: u64,
    /// Largest fragment body accepted; a larger one gets 413 (IIS 7: 30,000,000).
    pub max_fragment_size: u64,
    /// BITSServerNotificationType.
    pub notification_type: NotificationType,
    /// BITSServerNotificationURL (absolute, or relative to the upload URL).
    pub notification_url: Option<String>,
    /// Seconds to wait for the server application (IIS: 300).
    pub notification_timeout: u64,
    /// BITSHostId, sent as `BITS-Host-Id` on the Create-Session Ack.
    pub host_id: Option<String>,
    /// BITSHostIdFallbackTimeout, seconds; 0 means the header is not sent.
    pub host_id_fallback_timeout: u64,
    /// BITSAllowOverwrites.
    pub allow_overwrites: bool,
    /// Status for an existing destination without overwrite: 409 (MSDN) or 403 (MC-BUP).
    pub existing_destination_status: u16,
    /// Seconds between cleanup passes (BITSCleanupCount/Units; IIS default 12 h).
    pub cleanup_interval: u64,
    /// BITSSessionLimitEnable.
    pub session_limit_enable: bool,
    /// BITSNumberOfSessionsLimit, active sessions per user (an anonymous client
    /// counts by its address): Create-Session beyond it gets 503 with
    /// `Retry-After`, and the cleanup deletes any excess.
    pub sessions_per_user_limit: u32,
    /// Create missing parent folders at publish time (IIS requires them to exist).
    pub create_directories: bool,
    /// Header carrying the HRESULT of an error.
    pub error_header: ErrorHeader,
    /// When a complete upload is published.
    pub commit_point: CommitPoint,
    /// Echo `BITS-Session-Id` on Fragment, Close and Cancel Acks (the IIS traces omit it).
    pub echo_session_id: bool,
    /// Overlapping and already-received fragments: 200 (trim) or 416 (reject).
    pub overlap: OverlapPolicy,
    /// Status for a request without Content-Length: 400 (Windows) or 411 (MC-BUP SHOULD).
    pub missing_content_length_status: u16,
    /// Longest accepted header value in bytes (Windows: 4 KB).
    pub max_header_value: usize,
    /// Seconds a client may take to send the request headers.
    pub header_read_timeout: u64,
    /// Seconds a request body may stall before the request is dropped (client: 2 min).
    pub body_idle_timeout: u64,
    /// Seconds a closed session is remembered so a retried Close gets 200; 0 forgets at once
    /// (a second Close then gets 500 BG_E_SESSION_NOT_FOUND, the literal MC-BUP reading).
    pub closed_session_retention: u64,
    /// Style of `BITS-Reply-URL`.
    pub reply_url_style: ReplyUrlStyle,
    /// Basic-auth accounts; empty means no authentication.
    pub users: Vec<User>,
    /// How the accounts may authenticate: `basic`, `ntlm`, `negotiate` (default: Basic only).
    pub auth_schemes: Vec<AuthScheme>,
    /// Threads serving connections, each with its own single-threaded runtime;
    /// 0 means one per CPU core.
    pub workers: usize,
    /// Connections served at once; more wait in the listen backlog until one
    /// closes. 0 means 1,024 per worker, at most a quarter of the open files limit.
    pub max_connections: usize,
    /// Connections one peer address may hold open at once (an IPv6 address
    /// counts by its /64); more get 503 with `Retry-After` and are closed.
    /// Like IIS Dynamic IP Restrictions' `maxConcurrentRequests`. 0: no limit.
    pub max_connections_per_address: usize,
    /// Active sessions one peer address may hold, whoever authenticated;
    /// Create-Session beyond it gets 503 with `Retry-After`. 0: no limit.
    pub max_sessions_per_address: usize,
    /// Active sessions on the server (each costs a folder and two files);
    /// Create-Session beyond it gets 503 with `Retry-After`. 0: no limit.
    pub max_sessions: usize,
    /// Bytes of the entities of active sessions, all together; a fragment
    /// that would go beyond gets 503 `0x80070070` with `Retry-After`. 0: no limit.
    pub max_temporary_storage: u64,
    /// IIS `limits/minBytesPerSecond`: a request body gets its length at this
    /// rate, plus `body_idle_timeout`, to arrive; then the request ends with
    /// 503 and `Retry-After` (the bytes received stay). 0: no rate.
    pub min_bytes_per_second: u64,
    /// PEM file of the certificate chain to serve HTTPS with (leaf first);
    /// with `tls_key`. Without both, plain HTTP.
    pub tls_certificate: Option<PathBuf>,
    /// PEM file of the certificate's private key (PKCS#8, PKCS#1 or SEC1).
    pub tls_key: Option<PathBuf>,
    /// Where session records live: `local` (files under `root`) or `postgres`
    /// (a farm: nodes share one database and one `root`; see `farm/`).
    pub storage: Storage,
    /// PostgreSQL URL for `storage = "postgres"`, e.g.
    /// `postgresql://bits@db.example/bits`; else `BITSPEC_SERVER_POSTGRES_URL`.
    pub postgres_url: Option<String>,
    /// Database connections this node keeps at most (one per packet in progress).
    pub postgres_pool_size: usize,
    /// This node's name, a field of every log line (nodes of a farm apart).
    pub node_name: Option<String>,
    /// Testing aid: deliberate protocol bugs (`fault/`, `--fault`); empty in normal use.
    /// Only with the `faults` feature: without it, `faults = [...]` is an unknown key.
    #[cfg(feature = "faults")]
    pub faults: Vec<crate::fault::catalogue::Fault>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            root: PathBuf::from("./uploads"),
            uploads_enabled: true,
            disabled_paths: Vec::new(),
            session_timeout: 1_209_600,
            max_upload_size: IIS_MAX_UPLOAD_SIZE,
            max_fragment_size: 30_000_000,
            notification_type: NotificationType::None,
            notification_url: None,
            notification_timeout: 300,
            host_id: None,
            host_id_fallback_timeout: 86_400,
            allow_overwrites: false,
            existing_destination_status: 409,
            cleanup_interval: 43_200,
            session_limit_enable: true,
            sessions_per_user_limit: 50,
            create_directories: true,
            error_header: ErrorHeader::BitsErrorCode,
            commit_point: CommitPoint::Close,
            echo_session_id: true,
            overlap: OverlapPolicy::Trim,
            missing_content_length_status: 400,
            max_header_value: 4096,
            header_read_timeout: 30,
            body_idle_timeout: 120,
            closed_session_retention: 86_400,
            reply_url_style: ReplyUrlStyle::Absolute,
            users: Vec::new(),
            auth_schemes: vec![AuthScheme::Basic],
            workers: 0,
            max_connections: 0,
            max_connections_per_address: 128,
            max_sessions_per_address: 1_000,
            max_sessions: 10_000,
            max_temporary_storage: 10 * 1024 * 1024 * 1024,
            min_bytes_per_second: 240,
            tls_certificate: None,
            tls_key: None,
            storage: Storage::Local,
            postgres_url: None,
            postgres_pool_size: 32,
            node_name: None,
            #[cfg(feature = "faults")]
            faults: Vec::new(),
        }
    }
}

impl Config {
    /// Parses a TOML document; unknown keys are an error that names them.
    pub fn from_toml(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let config: Self = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Reads and parses a TOML file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_toml(&text, path)
    }

    /// Checks the ranges IIS enforces on its properties.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key, message: &str| {
            Err(ConfigError::Invalid {
                key,
                message: message.to_string(),
            })
        };
        if !matches!(self.existing_destination_status, 403 | 409) {
            return invalid("existing_destination_status", "must be 403 or 409");
        }
        if !matches!(self.missing_content_length_status, 400 | 411) {
            return invalid("missing_content_length_status", "must be 400 or 411");
        }
        if self.notification_type != NotificationType::None && self.notification_url.is_none() {
            return invalid(
                "notification_url",
                "required when notification_type is not none",
            );
        }
        if let Some(url) = &self.notification_url {
            if url.len() > 2200 {
                return invalid("notification_url", "longer than 2,200 characters");
            }
            if url.starts_with("https://") {
                return invalid("notification_url", "only http:// is supported");
            }
            if self.tls_certificate.is_some() && !url.starts_with("http://") {
                return invalid(
                    "notification_url",
                    "must be an absolute http:// URL when serving HTTPS (a relative one would resolve to https://)",
                );
            }
        }
        if self
            .host_id
            .as_ref()
            .is_some_and(|h| h.is_empty() || h.len() > 300)
        {
            return invalid("host_id", "must be 1 to 300 characters");
        }
        if self.postgres_pool_size == 0 || self.postgres_pool_size > 1000 {
            return invalid("postgres_pool_size", "1 to 1000");
        }
        if self.max_fragment_size == 0 {
            return invalid("max_fragment_size", "must be positive");
        }
        if self.cleanup_interval == 0 {
            return invalid("cleanup_interval", "must be positive");
        }
        if self.max_connections > 1_000_000 {
            return invalid("max_connections", "at most 1,000,000");
        }
        if self.workers > 1024 {
            return invalid("workers", "at most 1024");
        }
        if self.max_header_value < 64 {
            return invalid("max_header_value", "must be at least 64");
        }
        match (&self.tls_certificate, &self.tls_key) {
            (Some(_), None) => return invalid("tls_key", "required with tls_certificate"),
            (None, Some(_)) => return invalid("tls_certificate", "required with tls_key"),
            _ => {}
        }
        if !self.users.is_empty() && self.auth_schemes.is_empty() {
            return invalid(
                "auth_schemes",
                "at least one scheme when users are configured",
            );
        }
        for user in &self.users {
            if user.name.is_empty() || user.name.contains(':') {
                return invalid("users", "a user name must be non-empty and without ':'");
            }
        }
        Ok(())
    }
}
