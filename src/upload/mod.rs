//! `bitspec upload FILE URL`: a resumable BITS upload client (MC-BUP §3.1).
//!
//! [`uploader`] is the state machine, [`rules`] the reactions to each answer,
//! [`journal`] the state that lets a second run continue the session, [`conn`]
//! the HTTP/1.1 connection (the runner's TCP/TLS stream under hyper). This file
//! is the command: arguments, Ctrl-C, progress bar and exit code.

mod auth;
mod conn;
mod journal;
mod rules;
mod uploader;

pub use auth::{AuthScheme, Credentials};
pub use journal::{Journal, SourceStamp, State};
pub use uploader::{Failure, Finished, MIN_FRAGMENT, Observer, Settings, Uploader};

use crate::shared::exit;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Largest `--fragment`: each fragment is read into memory whole.
const MAX_FRAGMENT: u64 = 64 << 20;

/// Options of `bitspec upload`.
#[derive(Debug, Clone, clap::Args)]
pub struct UploadArgs {
    /// The file to upload.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Destination URL on the BITS server (http or https).
    #[arg(value_name = "URL")]
    pub url: String,
    /// Fragment size (K, M = KiB, MiB); a 413 halves it, down to 5K.
    #[arg(long, value_name = "BYTES", default_value = "1M", value_parser = crate::bench::parse_size)]
    pub fragment: u64,
    /// Keep the journal in DIR instead of next to FILE (`FILE.bitspec-upload`).
    #[arg(long, value_name = "DIR", env = "BITSPEC_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
    /// Forget a journal of an earlier run (cancelling its session) and start over.
    #[arg(long)]
    pub restart: bool,
    /// On Ctrl-C keep the session for a later run instead of cancelling it.
    #[arg(long)]
    pub keep_on_interrupt: bool,
    /// Upload-reply: save the server application's reply to FILE.
    #[arg(long, value_name = "FILE")]
    pub reply: Option<PathBuf>,
    /// Credentials: `[DOMAIN\]USER`, the password from BITSPEC_PASSWORD (or
    /// `USER:PASSWORD`, visible to other local users); never printed.
    #[arg(long, value_name = "[DOMAIN\\]USER[:PASSWORD]", env = "BITSPEC_USER")]
    pub user: Option<String>,
    /// How --user authenticates: Basic once challenged, or NTLM / Negotiate (NTLM in
    /// SPNEGO) handshakes on each connection, as IIS with Windows authentication.
    #[arg(long, value_enum, value_name = "SCHEME", default_value_t = AuthScheme::Basic)]
    pub auth: AuthScheme,
    /// Attempts after a transient failure (dropped connection, 5xx, timeout) before
    /// exiting 75; progress resets the count.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub retries: u32,
    /// Seconds before the first retry, doubled for each next one (at most 60).
    #[arg(long, value_name = "SECS", default_value_t = 1.0)]
    pub retry_delay: f64,
    /// Seconds to establish a connection.
    #[arg(long, value_name = "SECS", default_value_t = 10.0)]
    pub connect_timeout: f64,
    /// Seconds to send one request (MC-BUP §3.1.2.1 Upload Request Timeout).
    #[arg(long, value_name = "SECS", default_value_t = 120.0)]
    pub request_timeout: f64,
    /// Seconds to receive one answer (MC-BUP §3.1.2.2 Upload Response Timeout).
    #[arg(long, value_name = "SECS", default_value_t = 300.0)]
    pub response_timeout: f64,
    /// Pace fragments to at most this many bytes per second (K, M suffixes).
    #[arg(long, value_name = "BYTES", value_parser = crate::bench::parse_size)]
    pub limit_rate: Option<u64>,
    /// No progress bar and no notes; errors only.
    #[arg(long, short)]
    pub quiet: bool,
    #[command(flatten)]
    pub tls: crate::options::tls::TlsArgs,
}

/// Progress bar and notes, on stderr.
struct Reporter {
    bar: ProgressBar,
    quiet: bool,
}

impl Observer for Reporter {
    fn progress(&self, offset: u64) {
        self.bar.set_position(offset);
    }

    fn note(&self, text: &str) {
        if self.quiet {
            return;
        }
        if self.bar.is_hidden() {
            eprintln!("note: {text}");
        } else {
            self.bar.println(format!("note: {text}"));
        }
    }
}

fn seconds(value: f64, flag: &str) -> Result<Duration, String> {
    Duration::try_from_secs_f64(value)
        .ok()
        .filter(|d| !d.is_zero() || flag == "--retry-delay")
        .ok_or_else(|| format!("{flag}: {value} is not a positive number of seconds"))
}

fn settings(args: &UploadArgs, tls: crate::run::TlsClient) -> Result<Settings, String> {
    if !(MIN_FRAGMENT..=MAX_FRAGMENT).contains(&args.fragment) {
        return Err(format!(
            "--fragment: {} bytes is outside {MIN_FRAGMENT}..={MAX_FRAGMENT}",
            args.fragment
        ));
    }
    let credentials = match &args.user {
        Some(user) => Some(Credentials::parse(
            args.auth,
            user,
            std::env::var("BITSPEC_PASSWORD").ok(),
        )?),
        None if args.auth != AuthScheme::Basic => {
            return Err("--auth ntlm/negotiate needs --user (or BITSPEC_USER)".into());
        }
        None => None,
    };
    Ok(Settings {
        tls,
        timeouts: conn::Timeouts {
            connect: seconds(args.connect_timeout, "--connect-timeout")?,
            request: seconds(args.request_timeout, "--request-timeout")?,
            response: seconds(args.response_timeout, "--response-timeout")?,
        },
        retries: args.retries,
        retry_delay: seconds(args.retry_delay, "--retry-delay")?,
        credentials,
        reply: args.reply.clone(),
        limit_rate: args.limit_rate,
    })
}

fn progress_bar(total: u64, quiet: bool) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    if quiet || !std::io::stderr().is_terminal() {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    bar.set_style(
        ProgressStyle::with_template(
            "{bar:30} {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

/// The journal's state to continue, or a fresh one; `Err` is (exit code, message).
fn initial_state(
    args: &UploadArgs,
    journal: &Journal,
    stamp: SourceStamp,
) -> Result<(State, bool), (u8, String)> {
    let fresh = State {
        source: stamp.clone(),
        url: args.url.trim().to_owned(),
        session_id: None,
        host_id: None,
        host_fallback_secs: None,
        offset: 0,
        fragment: args.fragment,
        reply_url: None,
        reply_fetched: false,
        close_sent: false,
    };
    let saved = journal.load().map_err(|e| (exit::INVALID, e))?;
    let Some(saved) = saved else {
        return Ok((fresh, false));
    };
    if saved.url != fresh.url {
        return Err((
            exit::INVALID,
            format!(
                "{} is the journal of an upload to {}; pass --restart to upload to {} instead",
                journal.path.display(),
                saved.url,
                fresh.url
            ),
        ));
    }
    if saved.source != stamp {
        return Err((
            exit::FAILED,
            format!(
                "{} changed since the upload began (BG_E_LOCAL_FILE_CHANGED); pass --restart",
                args.file.display()
            ),
        ));
    }
    Ok((saved, true))
}

/// Runs `bitspec upload`; the value is the exit code.
pub fn run(args: &UploadArgs) -> u8 {
    let tls = match crate::options::tls::targets_and_tls(&args.tls, &[("URL", Some(&args.url))]) {
        Ok(tls) => tls,
        Err(code) => return code,
    };
    let settings = match settings(args, tls) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::INVALID;
        }
    };
    let stamp = match SourceStamp::of(&args.file) {
        Ok(s) if s.size == 0 => {
            eprintln!(
                "error: {} is empty: Content-Range cannot express a zero-byte upload",
                args.file.display()
            );
            return exit::INVALID;
        }
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::INVALID;
        }
    };
    if let Some(dir) = &args.state_dir
        && let Err(e) = std::fs::create_dir_all(dir)
    {
        eprintln!("error: --state-dir {}: {e}", dir.display());
        return exit::INVALID;
    }
    let journal = Journal::locate(&stamp.path, args.url.trim(), args.state_dir.as_deref());
    // One thread: the uploader and its connection's task hand every packet to each
    // other, a futex wake-up each way when they sit on different threads (the file
    // is read on tokio's blocking pool).
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return exit::FAILED;
        }
    };
    runtime.block_on(upload(args, settings, journal, stamp))
}

async fn upload(args: &UploadArgs, settings: Settings, journal: Journal, stamp: SourceStamp) -> u8 {
    let reporter = Reporter {
        bar: progress_bar(stamp.size, args.quiet),
        quiet: args.quiet,
    };
    if args.restart {
        discard(&journal, &settings, &reporter).await;
    }
    let (state, resumed) = match initial_state(args, &journal, stamp) {
        Ok(s) => s,
        Err((code, e)) => {
            eprintln!("error: {e}");
            return code;
        }
    };
    if let Err(e) = journal.save(&state) {
        eprintln!("error: {e}");
        return exit::INVALID;
    }
    if resumed {
        reporter.note(&format!(
            "resuming session {} at byte {} (journal {})",
            state.session_id.as_deref().unwrap_or("(none yet)"),
            state.offset,
            journal.path.display()
        ));
    }
    reporter.bar.set_position(state.offset);
    let started = Instant::now();
    let start_offset = state.offset;
    let mut uploader = match Uploader::new(settings, journal.clone(), state, &reporter) {
        Ok(u) => u,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::INVALID;
        }
    };
    let result = tokio::select! {
        result = uploader.run() => Some(result),
        _ = tokio::signal::ctrl_c() => None,
    };
    reporter.bar.finish_and_clear();
    match result {
        Some(Ok(finished)) => {
            let size = uploader.state().source.size;
            let secs = started.elapsed().as_secs_f64();
            if !args.quiet {
                println!(
                    "uploaded {} ({size} bytes) to {} in {secs:.1}s ({:.1} MB/s this run)",
                    args.file.display(),
                    args.url.trim(),
                    (size - start_offset.min(size)) as f64 / secs.max(1e-9) / 1e6,
                );
                if let Some(url) = &finished.reply_url {
                    println!("reply URL: {url}");
                }
            }
            exit::PASSED
        }
        Some(Err(Failure::Fatal(e))) => {
            eprintln!("error: {e}");
            exit::FAILED
        }
        Some(Err(Failure::Retryable(e))) => {
            eprintln!(
                "error: {e}\nthe session is kept in {}: run the same command again to resume",
                journal.path.display()
            );
            exit::UPLOAD_RETRYABLE
        }
        None if args.keep_on_interrupt => {
            eprintln!(
                "interrupted: the session is kept in {}; run again to resume",
                journal.path.display()
            );
            exit::UPLOAD_RETRYABLE
        }
        None => {
            eprintln!("interrupted: cancelling the session (Ctrl-C again to quit at once)");
            let cancelled = tokio::select! {
                result = uploader.cancel() => result,
                _ = tokio::signal::ctrl_c() => Err("not waited for".into()),
            };
            if let Err(e) = cancelled {
                eprintln!("warning: Cancel-Session: {e}");
            }
            exit::INTERRUPTED
        }
    }
}

/// `--restart`: cancel the journal's session (best effort) and remove the journal.
async fn discard(journal: &Journal, settings: &Settings, reporter: &Reporter) {
    let Ok(Some(state)) = journal.load() else {
        let _ = journal.remove();
        return;
    };
    let mut quick = settings.clone();
    quick.retries = 0;
    match Uploader::new(quick, journal.clone(), state, reporter) {
        Ok(mut old) => {
            if let Err(e) = old.cancel().await {
                reporter.note(&format!("the earlier session could not be cancelled: {e}"));
            }
        }
        Err(_) => {
            let _ = journal.remove();
        }
    }
}
