//! `bitspec bench`: load a BITS server with concurrent uploads and measure it.
//!
//! Each of `--sessions` tasks opens one keep-alive connection and uploads its
//! own file (Create-Session, Fragments, Close-Session) with bytes from the
//! deterministic generator ([`crate::shared::upload_data`]), so no file is ever held in
//! memory. The closing table (or `--json`) gives throughput, packets per second,
//! Ack latency and errors. `bench/run.sh` drives it for the published figures.

mod body;
mod client;
mod stats;

pub use stats::{Latency, Report};

use crate::run::TlsClient;
use crate::run::target::Target;
use crate::shared::exit;
use client::{Conn, Endpoint};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// Options of `bitspec bench`.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// Base URL of the BITS server to load (http or https). Without it, the
    /// bundled reference server is started in-process on 127.0.0.1.
    #[arg(long, value_name = "URL")]
    pub target: Option<String>,
    #[command(flatten)]
    pub tls: crate::options::tls::TlsArgs,
    /// Concurrent sessions, each on its own keep-alive connection.
    #[arg(long, value_name = "N", default_value_t = 16)]
    pub sessions: usize,
    /// Size of each session's file (suffixes K, M, G = KiB, MiB, GiB).
    #[arg(long, value_name = "BYTES", default_value = "16M", value_parser = parse_size)]
    pub size: u64,
    /// Fragment size (same suffixes).
    #[arg(long, value_name = "BYTES", default_value = "1M", value_parser = parse_size)]
    pub fragment: u64,
    /// Seed of the generated file contents.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Seconds one packet may take before the session counts as failed.
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    pub timeout: u64,
    /// Print the report as JSON on stdout (no progress bar).
    #[arg(long)]
    pub json: bool,
    /// Authenticate with this profile's credentials (Basic, NTLM or Negotiate,
    /// as its `auth` says): a YAML file or a shipped profile's name. Without
    /// --target, the bundled server is configured as the profile says.
    #[arg(long, value_name = "FILE|NAME")]
    pub profile: Option<std::path::PathBuf>,
}

/// How the bench's connections authenticate.
#[derive(Debug, Clone, Default)]
enum Credentials {
    #[default]
    None,
    Basic(String),
    Windows(crate::auth::windows::Account),
}

impl Credentials {
    fn of(profile: &crate::scenario::profile::Profile) -> Credentials {
        match (&profile.windows, &profile.credentials) {
            (Some(accounts), _) => Credentials::Windows(accounts.primary.clone()),
            (None, Some(c)) => Credentials::Basic(crate::scenario::profile::basic_authorization(c)),
            (None, None) => Credentials::None,
        }
    }
}

/// `1M` -> 1048576. Plain numbers are bytes.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let (digits, suffix) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let shift = match suffix.to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kib" => 10,
        "m" | "mib" => 20,
        "g" | "gib" => 30,
        _ => return Err(format!("unknown size unit in {text:?} (K, M or G)")),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("not a size: {text:?} (e.g. 65536, 64K, 1M, 1G)"))?;
    n.checked_mul(1 << shift)
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("size out of range: {text:?}"))
}

/// Runs the bench; the value is the exit code.
pub fn run(args: &BenchArgs) -> u8 {
    if args.sessions == 0 || args.fragment == 0 {
        eprintln!("error: --sessions and --fragment must be positive");
        return exit::INVALID;
    }
    let urls = [("--target", args.target.as_deref())];
    let tls = match crate::options::tls::targets_and_tls(&args.tls, &urls) {
        Ok(tls) => tls,
        Err(code) => return code,
    };
    let runtime = match crate::options::runtime::runtime() {
        Ok(r) => r,
        Err(code) => return code,
    };
    let profile = match &args.profile {
        Some(path) => {
            match crate::run::target::resolve_profile(Some(path), args.target.is_none()) {
                Ok(profile) => Some(profile),
                Err(e) => {
                    eprintln!("error: {e}");
                    return exit::INVALID;
                }
            }
        }
        None => None,
    };
    runtime.block_on(async {
        let target = match (&args.target, &profile) {
            (Some(url), _) => Target::remote(url, &tls, Duration::from_secs(5)).await,
            (None, Some(profile)) => Target::embedded_for(profile).await,
            (None, None) => Target::embedded().await,
        };
        let target = match target {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: target unreachable: {e}");
                return exit::UNREACHABLE;
            }
        };
        let credentials = profile.as_ref().map(Credentials::of).unwrap_or_default();
        let result = bench_as(&target.base_url, &tls, args, &credentials).await;
        target.stop().await;
        let report = match result {
            Ok(report) => report,
            Err(e) => {
                eprintln!("error: {e}");
                return exit::INVALID;
            }
        };
        if args.json {
            match serde_json::to_string_pretty(&report) {
                Ok(text) => println!("{text}"),
                Err(e) => eprintln!("error: {e}"),
            }
        } else {
            print!("{}", report.table());
        }
        if report.errors == 0 {
            exit::PASSED
        } else {
            exit::FAILED
        }
    })
}

/// What one session did.
#[derive(Default)]
struct SessionResult {
    bytes: u64,
    packets: u64,
    latencies: Vec<u32>,
    error: Option<String>,
}

/// Loads `base_url` as `args` say and measures.
pub async fn bench(base_url: &str, tls: &TlsClient, args: &BenchArgs) -> Result<Report, String> {
    bench_as(base_url, tls, args, &Credentials::None).await
}

/// [`bench`] with each connection authenticated.
async fn bench_as(
    base_url: &str,
    tls: &TlsClient,
    args: &BenchArgs,
    credentials: &Credentials,
) -> Result<Report, String> {
    let endpoint = Endpoint::parse(base_url, tls)?;
    let total = args.size.saturating_mul(args.sessions as u64);
    let progress = if !args.json && std::io::stderr().is_terminal() {
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template(
            "{bar:40} {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} eta {eta}",
        ) {
            bar.set_style(style);
        }
        bar
    } else {
        ProgressBar::hidden()
    };
    let nonce = crate::run::run_nonce();
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for index in 0..args.sessions {
        let path = format!("{}bitspec-bench-{nonce}-{index}.bin", endpoint.base_path);
        let (endpoint, args, progress) = (endpoint.clone(), args.clone(), progress.clone());
        let credentials = credentials.clone();
        tasks.spawn(async move { session(&endpoint, &path, &args, &credentials, &progress).await });
    }
    let (mut bytes, mut packets, mut latencies, mut errors) = (0, 0, Vec::new(), Vec::new());
    while let Some(joined) = tasks.join_next().await {
        let result = joined.unwrap_or_else(|e| SessionResult {
            error: Some(format!("session task failed: {e}")),
            ..SessionResult::default()
        });
        bytes += result.bytes;
        packets += result.packets;
        latencies.extend(result.latencies);
        errors.extend(result.error);
    }
    let elapsed = started.elapsed();
    progress.finish_and_clear();
    Ok(Report::new(
        base_url.to_owned(),
        (args.sessions, args.size, args.fragment),
        bytes,
        packets,
        elapsed,
        &mut latencies,
        errors,
    ))
}

/// One upload: Create-Session, the fragments in order, Close-Session.
async fn session(
    endpoint: &Endpoint,
    path: &str,
    args: &BenchArgs,
    credentials: &Credentials,
    progress: &ProgressBar,
) -> SessionResult {
    let mut result = SessionResult::default();
    let timeout = Duration::from_secs(args.timeout.max(1));
    let mut conn = match Conn::open(endpoint, timeout).await {
        Ok(conn) => conn,
        Err(e) => {
            result.error = Some(e);
            return result;
        }
    };
    let authenticated = match credentials {
        Credentials::None => Ok(()),
        Credentials::Basic(value) => {
            conn.set_authorization(value.clone());
            Ok(())
        }
        // NTLM authenticates the connection once, before the upload.
        Credentials::Windows(account) => conn.authenticate(path, account).await,
    };
    if let Err(e) = authenticated {
        result.error = Some(e);
        return result;
    }
    if let Err(e) = upload(&mut conn, path, args, progress, &mut result).await {
        result.error = Some(e);
    }
    result
}

async fn upload(
    conn: &mut Conn,
    path: &str,
    args: &BenchArgs,
    progress: &ProgressBar,
    result: &mut SessionResult,
) -> Result<(), String> {
    let mut record = |ack: &client::Ack| {
        result.packets += 1;
        let micros = ack.latency.as_micros();
        result
            .latencies
            .push(u32::try_from(micros).unwrap_or(u32::MAX));
    };
    let create = [
        ("BITS-Packet-Type", "Create-Session".to_owned()),
        (
            "BITS-Supported-Protocols",
            crate::run::BITS_15_UPLOAD_PROTOCOL.to_owned(),
        ),
    ];
    let ack = conn.packet(path, &create, None).await?;
    record(&ack);
    let id = match (ack.status.as_u16(), ack.session_id) {
        (200 | 201, Some(id)) => id,
        (status, _) => return Err(format!("Create-Session: status {status} without a session")),
    };
    let size = args.size;
    let mut offset = 0;
    while offset < size {
        let end = offset.saturating_add(args.fragment).min(size);
        let headers = [
            ("BITS-Packet-Type", "Fragment".to_owned()),
            ("BITS-Session-Id", id.clone()),
            (
                "Content-Range",
                format!("bytes {offset}-{}/{size}", end - 1),
            ),
        ];
        let ack = conn
            .packet(path, &headers, Some((args.seed, offset, end)))
            .await;
        let ack = match ack {
            Ok(ack) => ack,
            Err(e) => {
                cancel(conn, path, &id).await;
                return Err(format!("Fragment at {offset}: {e}"));
            }
        };
        record(&ack);
        // A server may omit the header (the sink does); when sent, it must agree.
        if ack.status != 200 || ack.received.is_some_and(|r| r != end) {
            cancel(conn, path, &id).await;
            return Err(format!(
                "Fragment at {offset}: status {}, received {:?} instead of {end}",
                ack.status.as_u16(),
                ack.received
            ));
        }
        result.bytes += end - offset;
        progress.inc(end - offset);
        offset = end;
    }
    let close = [
        ("BITS-Packet-Type", "Close-Session".to_owned()),
        ("BITS-Session-Id", id),
    ];
    let ack = conn.packet(path, &close, None).await?;
    record(&ack);
    match ack.status.as_u16() {
        200 => Ok(()),
        status => Err(format!("Close-Session: status {status}")),
    }
}

/// Best effort, so a failed session does not leave its data on the server.
async fn cancel(conn: &mut Conn, path: &str, id: &str) {
    let headers = [
        ("BITS-Packet-Type", "Cancel-Session".to_owned()),
        ("BITS-Session-Id", id.to_owned()),
    ];
    let _ = conn.packet(path, &headers, None).await;
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes_take_binary_suffixes() {
        assert_eq!(parse_size("65536"), Ok(65536));
        assert_eq!(parse_size("64K"), Ok(64 << 10));
        assert_eq!(parse_size("1M"), Ok(1 << 20));
        assert_eq!(parse_size("1MiB"), Ok(1 << 20));
        assert_eq!(parse_size("2G"), Ok(2 << 30));
        assert!(parse_size("0").is_err());
        assert!(parse_size("1T").is_err());
        assert!(parse_size("x").is_err());
    }
}
