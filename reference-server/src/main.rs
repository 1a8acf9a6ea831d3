//! `bitspec-server`: run the BITS upload server standalone.
//!
//! Settings come from the defaults (as IIS has them), then `--config FILE.toml`,
//! then the flags. Logs go to stderr; `RUST_LOG` filters them (default `info`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

#[cfg(feature = "faults")]
use bitspec_server::Fault;
use bitspec_server::{
    CommitPoint, Config, ErrorHeader, NotificationType, OverlapPolicy, ReplyUrlStyle, Storage, User,
};
use clap::Parser;

/// A BITS upload server (HTTP `BITS_POST`, the BITS 1.5 upload protocol).
#[derive(Debug, Parser)]
#[command(
    version,
    about,
    after_help = "Logs go to stderr, one line per packet; RUST_LOG filters them \
                  (default info; e.g. RUST_LOG=bitspec_server=debug, or warn)."
)]
struct Cli {
    /// TOML file with any of the settings below (keys use snake_case).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Storage root; /a/b.bin is stored as ROOT/a/b.bin [default: ./uploads].
    #[arg(long)]
    root: Option<PathBuf>,
    /// BITSUploadEnabled: false answers every BITS packet with 501 [default: true].
    #[arg(long, value_name = "BOOL")]
    uploads_enabled: Option<bool>,
    /// URL path prefix where uploads are disabled (501), like a folder without BITSUploadEnabled (repeatable).
    #[arg(long = "disabled-path", value_name = "PREFIX")]
    disabled_paths: Vec<String>,
    /// BITSSessionTimeout: seconds without progress before a session expires [default: 1209600].
    #[arg(long, value_name = "SECS")]
    session_timeout: Option<u64>,
    /// BITSMaximumUploadSize: largest upload in bytes; larger gets 500 BG_E_TOO_LARGE [default: 1844674407370955].
    #[arg(long, value_name = "BYTES")]
    max_upload_size: Option<u64>,
    /// Largest fragment body in bytes; larger gets 413 [default: 30000000].
    #[arg(long, value_name = "BYTES")]
    max_fragment_size: Option<u64>,
    /// BITSServerNotificationType [default: none].
    #[arg(long, value_enum)]
    notification_type: Option<NotificationType>,
    /// BITSServerNotificationURL: the server application (http only; may be relative).
    #[arg(long, value_name = "URL")]
    notification_url: Option<String>,
    /// Seconds to wait for the server application [default: 300].
    #[arg(long, value_name = "SECS")]
    notification_timeout: Option<u64>,
    /// BITSHostId: sent as BITS-Host-Id on the Create-Session Ack [default: none].
    #[arg(long)]
    host_id: Option<String>,
    /// BITSHostIdFallbackTimeout in seconds; 0 omits the header [default: 86400].
    #[arg(long, value_name = "SECS")]
    host_id_fallback_timeout: Option<u64>,
    /// BITSAllowOverwrites: an upload may replace an existing file [default: false].
    #[arg(long, value_name = "BOOL")]
    allow_overwrites: Option<bool>,
    /// Status for an existing destination: 409 (MSDN) or 403 (MC-BUP) [default: 409].
    #[arg(long, value_name = "STATUS")]
    existing_destination_status: Option<u16>,
    /// BITSCleanupCount/Units: seconds between cleanup passes [default: 43200].
    #[arg(long, value_name = "SECS")]
    cleanup_interval: Option<u64>,
    /// BITSSessionLimitEnable [default: true].
    #[arg(long, value_name = "BOOL")]
    session_limit_enable: Option<bool>,
    /// BITSNumberOfSessionsLimit: active sessions kept per user [default: 50].
    #[arg(long, value_name = "N")]
    sessions_per_user_limit: Option<u32>,
    /// Create missing folders on publish (IIS needs them to exist) [default: true].
    #[arg(long, value_name = "BOOL")]
    create_directories: Option<bool>,
    /// Header carrying the HRESULT of an error Ack [default: bits-error-code].
    #[arg(long, value_enum)]
    error_header: Option<ErrorHeader>,
    /// When a complete upload is published [default: close].
    #[arg(long, value_enum)]
    commit_point: Option<CommitPoint>,
    /// Echo BITS-Session-Id on Fragment/Close/Cancel Acks [default: true].
    #[arg(long, value_name = "BOOL")]
    echo_session_id: Option<bool>,
    /// Overlapping or already-received fragment: trim (200) or reject (416) [default: trim].
    #[arg(long, value_enum)]
    overlap: Option<OverlapPolicy>,
    /// Status for a request without Content-Length: 400 or 411 [default: 400].
    #[arg(long, value_name = "STATUS")]
    missing_content_length_status: Option<u16>,
    /// Longest header value in bytes; longer gets 400 [default: 4096].
    #[arg(long, value_name = "BYTES")]
    max_header_value: Option<usize>,
    /// Seconds a client may take to send its request headers [default: 30].
    #[arg(long, value_name = "SECS")]
    header_read_timeout: Option<u64>,
    /// Seconds a request body may stall [default: 120].
    #[arg(long, value_name = "SECS")]
    body_idle_timeout: Option<u64>,
    /// Seconds a closed session is remembered for a retried Close [default: 86400].
    #[arg(long, value_name = "SECS")]
    closed_session_retention: Option<u64>,
    /// Style of BITS-Reply-URL [default: absolute].
    #[arg(long, value_enum)]
    reply_url_style: Option<ReplyUrlStyle>,
    /// Threads serving connections; 0 means one per CPU core [default: 0].
    #[arg(long, value_name = "N")]
    workers: Option<usize>,
    /// Connections served at once, more wait in the backlog; 0 means 1024 per worker, at most a quarter of the open files limit [default: 0].
    #[arg(long, value_name = "N")]
    max_connections: Option<usize>,
    /// Connections one address may hold (IPv6: per /64); more get 503; 0: no limit [default: 128].
    #[arg(long, value_name = "N")]
    max_connections_per_address: Option<usize>,
    /// Active sessions one address may hold; more get 503; 0: no limit [default: 1000].
    #[arg(long, value_name = "N")]
    max_sessions_per_address: Option<usize>,
    /// Active sessions on the server; more get 503; 0: no limit [default: 10000].
    #[arg(long, value_name = "N")]
    max_sessions: Option<usize>,
    /// Bytes of unfinished uploads, all together; beyond gets 503 0x80070070; 0: no limit [default: 10737418240].
    #[arg(long, value_name = "BYTES")]
    max_temporary_storage: Option<u64>,
    /// IIS minBytesPerSecond: slowest body rate before the request ends with 503; 0: none [default: 240].
    #[arg(long, value_name = "N")]
    min_bytes_per_second: Option<u64>,
    /// Serve HTTPS with this PEM certificate chain (with --tls-key).
    #[arg(long = "tls-cert", value_name = "PEM")]
    tls_certificate: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, value_name = "PEM")]
    tls_key: Option<PathBuf>,
    /// Where session records live: local files, or PostgreSQL for a farm [default: local].
    #[arg(long, value_enum)]
    storage: Option<Storage>,
    /// PostgreSQL URL with --storage postgres (else BITSPEC_SERVER_POSTGRES_URL).
    #[arg(long, value_name = "URL")]
    postgres_url: Option<String>,
    /// Database connections this node keeps at most [default: 32].
    #[arg(long, value_name = "N")]
    postgres_pool_size: Option<usize>,
    /// This node's name in every log line (farm nodes apart).
    #[arg(long, value_name = "NAME")]
    node_name: Option<String>,
    /// Basic-auth account NAME:PASSWORD[:PREFIX,PREFIX...] (repeatable); enables authentication.
    #[arg(long = "user", value_name = "SPEC")]
    users: Vec<String>,
    /// TESTING AID: inject a deliberate protocol bug (repeatable; see --list-faults).
    /// Never use it for real uploads.
    #[cfg(feature = "faults")]
    #[arg(
        long = "fault",
        value_name = "NAME",
        value_enum,
        hide_possible_values = true
    )]
    faults: Vec<Fault>,
    /// Print the fault names, what each breaks and the bug it imitates, and exit.
    #[cfg(feature = "faults")]
    #[arg(long)]
    list_faults: bool,
    /// Without the `faults` feature: refused with an error that says so.
    #[cfg(not(feature = "faults"))]
    #[arg(long = "fault", value_name = "NAME", hide = true)]
    faults: Vec<String>,
    /// Without the `faults` feature: refused with an error that says so.
    #[cfg(not(feature = "faults"))]
    #[arg(long, hide = true)]
    list_faults: bool,
}

/// What `--fault` and `--list-faults` answer on a server built without them.
#[cfg(not(feature = "faults"))]
const NO_FAULTS: &str = "this bitspec-server was built without the `faults` feature \
     (deliberate protocol bugs for bitspec's self-test): --fault and --list-faults \
     are not available; build it with `--features faults`";

macro_rules! override_fields {
    ($cli:expr, $config:expr, [$($plain:ident),*], [$($optional:ident),*]) => {
        $(if let Some(value) = $cli.$plain.take() { $config.$plain = value; })*
        $(if let Some(value) = $cli.$optional.take() { $config.$optional = Some(value); })*
    };
}

impl Cli {
    fn into_config(mut self) -> Result<Config, String> {
        let mut config = match &self.config {
            Some(path) => Config::load(path).map_err(|e| e.to_string())?,
            None => Config::default(),
        };
        override_fields!(
            self,
            config,
            [
                listen,
                root,
                uploads_enabled,
                session_timeout,
                max_upload_size,
                max_fragment_size,
                notification_type,
                notification_timeout,
                host_id_fallback_timeout,
                allow_overwrites,
                existing_destination_status,
                cleanup_interval,
                session_limit_enable,
                sessions_per_user_limit,
                create_directories,
                error_header,
                commit_point,
                echo_session_id,
                overlap,
                missing_content_length_status,
                max_header_value,
                header_read_timeout,
                body_idle_timeout,
                closed_session_retention,
                reply_url_style,
                workers,
                max_connections,
                max_connections_per_address,
                max_sessions_per_address,
                max_sessions,
                max_temporary_storage,
                min_bytes_per_second,
                storage,
                postgres_pool_size
            ],
            [
                notification_url,
                host_id,
                tls_certificate,
                tls_key,
                postgres_url,
                node_name
            ]
        );
        config.disabled_paths.append(&mut self.disabled_paths);
        #[cfg(feature = "faults")]
        config.faults.append(&mut self.faults);
        #[cfg(not(feature = "faults"))]
        if !self.faults.is_empty() {
            return Err(NO_FAULTS.to_string());
        }
        for spec in &self.users {
            config.users.push(parse_user(spec)?);
        }
        config.validate().map_err(|e| e.to_string())?;
        Ok(config)
    }
}

fn parse_user(spec: &str) -> Result<User, String> {
    let mut parts = spec.splitn(3, ':');
    let (Some(name), Some(password)) = (parts.next(), parts.next()) else {
        return Err(format!(
            "--user {spec:?}: expected NAME:PASSWORD[:PREFIXES]"
        ));
    };
    let paths = parts
        .next()
        .map(|p| {
            p.split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    Ok(User {
        name: name.to_string(),
        password: password.to_string(),
        paths,
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    if cli.list_faults {
        return list_faults();
    }
    let config = match cli.into_config() {
        Ok(config) => config,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    #[cfg(feature = "faults")]
    let config_faults: Vec<&str> = config.faults.iter().map(|f| f.name()).collect();
    // Each connection can hold a few files: take what the hard limit allows,
    // as nginx's worker_rlimit_nofile does (the default max_connections follows it).
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(files) => tracing::debug!(files, "open files limit"),
        Err(e) => tracing::warn!(error = %e, "cannot raise the open files limit"),
    }
    let server = match bitspec_server::spawn(config).await {
        Ok(server) => server,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    #[cfg(feature = "faults")]
    if !config_faults.is_empty() {
        eprintln!("warning: faults injected on purpose (testing aid): {config_faults:?}");
    }
    println!("bitspec-server listening on {}", server.base_url());
    wait_for_signal().await;
    server.shutdown().await;
    ExitCode::SUCCESS
}

/// Prints the fault catalogue; a reader that stops early (`| head`) ends the
/// listing quietly.
#[cfg(feature = "faults")]
fn list_faults() -> ExitCode {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    for fault in Fault::ALL {
        let line = writeln!(
            out,
            "{:<32} {:<28} {}",
            fault.name(),
            fault.breaks(),
            fault.description()
        );
        match line {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: cannot write the fault list: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    match out.flush() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: cannot write the fault list: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(not(feature = "faults"))]
fn list_faults() -> ExitCode {
    eprintln!("error: {NO_FAULTS}");
    ExitCode::from(2)
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
