//! `bitspec record`: a proxy between any BITS client and any server that writes each
//! session it observes as a scenario, so a real exchange (a Windows client and IIS,
//! say) becomes a regression scenario in one command.
//!
//! The relay ([`relay`]) forwards bytes and reports parsed exchanges; [`session`]
//! groups them into sessions; [`write`] turns a finished session into YAML, which is
//! then put in canonical form by `bitspec fmt`'s formatter and validated before it is
//! written, so a recording that could not be replayed is reported, not saved silently.

pub mod relay;
pub mod session;
pub mod write;

use crate::raw::request::endpoint;
use clap::Args;
use relay::Exchange;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// `bitspec record` options.
#[derive(Debug, Clone, Args)]
pub struct RecordArgs {
    /// Where the proxy listens (give the client `http://ADDRESS/...` as its upload URL).
    #[arg(long, value_name = "ADDRESS", default_value = "127.0.0.1:8088")]
    pub listen: String,
    /// The server the requests go to (`http://` or `https://`); a client's `/path` is sent to
    /// this URL's path joined with `path`.
    #[arg(long, value_name = "URL")]
    pub upstream: String,
    /// Folder the scenarios (and their data files) are written to.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Stop after this many sessions were closed or cancelled (default: until Ctrl-C).
    #[arg(long, value_name = "N")]
    pub sessions: Option<usize>,
    /// Seeds tried to recognise a fragment as a range of a generated upload file.
    #[arg(long, value_name = "MAX", default_value_t = 1024)]
    pub max_seed: u64,
    #[command(flatten)]
    pub tls: crate::options::tls::TlsArgs,
}

/// Runs the command; the value is the exit code.
pub fn run(args: &RecordArgs) -> u8 {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return crate::shared::exit::INVALID;
        }
    };
    match runtime.block_on(record(args)) {
        Ok(written) => {
            eprintln!(
                "{} scenario(s) written to {}",
                written.len(),
                args.out.display()
            );
            crate::shared::exit::PASSED
        }
        Err(e) => {
            eprintln!("error: {e}");
            crate::shared::exit::INVALID
        }
    }
}

/// A bound recording proxy, not yet accepting.
pub struct Recorder {
    args: RecordArgs,
    listener: TcpListener,
    upstream: crate::raw::request::Endpoint,
    tls: crate::run::TlsClient,
}

impl Recorder {
    /// Checks the options, creates `--out` and binds `--listen` (port 0 picks one).
    pub async fn bind(args: RecordArgs) -> Result<Recorder, String> {
        let upstream = endpoint(&args.upstream)?;
        let tls = args.tls.client()?;
        std::fs::create_dir_all(&args.out)
            .map_err(|e| format!("cannot create {}: {e}", args.out.display()))?;
        let listener = TcpListener::bind(&args.listen)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
        Ok(Recorder {
            args,
            listener,
            upstream,
            tls,
        })
    }

    /// The address the proxy listens on.
    pub fn address(&self) -> Result<std::net::SocketAddr, String> {
        self.listener
            .local_addr()
            .map_err(|e| format!("no local address: {e}"))
    }

    /// Records until `--sessions` sessions ended or Ctrl-C; returns the scenario files written.
    pub async fn record(self) -> Result<Vec<PathBuf>, String> {
        let Recorder {
            args,
            listener,
            upstream,
            tls,
        } = self;
        let address = listener
            .local_addr()
            .map_err(|e| format!("no local address: {e}"))?;
        eprintln!(
            "recording: point the client at http://{address}/ (forwarded to {}); Ctrl-C stops",
            args.upstream
        );
        serve(&args, listener, upstream, tls).await
    }
}

/// Binds and records (the command).
pub async fn record(args: &RecordArgs) -> Result<Vec<PathBuf>, String> {
    Recorder::bind(args.clone()).await?.record().await
}

async fn serve(
    args: &RecordArgs,
    listener: TcpListener,
    upstream: crate::raw::request::Endpoint,
    tls: crate::run::TlsClient,
) -> Result<Vec<PathBuf>, String> {
    let (sender, mut exchanges) = mpsc::unbounded_channel::<Exchange>();
    let accept = tokio::spawn(async move {
        let mut connection = 0u64;
        while let Ok((client, _)) = listener.accept().await {
            let upstream = upstream.clone();
            let tls = tls.clone();
            let sender = sender.clone();
            let id = connection;
            connection += 1;
            tokio::spawn(async move {
                if let Err(e) = relay::relay(id, client, &upstream, &tls, sender).await {
                    eprintln!("connection {id}: {e}");
                }
            });
        }
    });

    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let seeds = 0..=args.max_seed;
    let mut sessions = session::Sessions::default();
    let mut written = Vec::new();
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let outcome = loop {
        if args.sessions.is_some_and(|n| written.len() >= n) {
            break Ok(());
        }
        tokio::select! {
            _ = &mut ctrl_c => break Ok(()),
            next = exchanges.recv() => {
                let Some(exchange) = next else { break Ok(()) };
                eprintln!(
                    "connection {}: {} {} -> {}",
                    exchange.connection,
                    exchange.header("BITS-Packet-Type").unwrap_or(&exchange.method),
                    exchange.target,
                    exchange.response.as_ref().map_or("no answer".into(), |r| r.status.to_string())
                );
                let Some(done) = sessions.observe(exchange) else { continue };
                match save(&done, &args.out, stamp, &seeds, &args.upstream) {
                    Ok(path) => {
                        eprintln!("wrote {}", path.display());
                        written.push(path);
                    }
                    Err(e) => break Err(e),
                }
            }
        }
    };
    accept.abort();
    // Sessions the client left open (killed, or still uploading at Ctrl-C) are worth a
    // scenario too: replayed, they end with the runner's cleanup Cancel-Session.
    for unfinished in sessions.take_open() {
        match save(&unfinished, &args.out, stamp, &seeds, &args.upstream) {
            Ok(path) => {
                eprintln!(
                    "wrote {} (a session never closed or cancelled)",
                    path.display()
                );
                written.push(path);
            }
            Err(e) => eprintln!("error: {e}"),
        }
    }
    outcome.map(|()| written)
}

/// The schema path `bitspec fmt` puts in a scenario of `out`, when `out` lies in a tree
/// with a `schema/` folder (a suite's `scenarios/recorded`, say), so a recording is
/// already in canonical form there.
fn schema_line(out: &Path) -> Option<String> {
    let out = std::fs::canonicalize(out).ok()?;
    out.ancestors()
        .enumerate()
        .find(|(_, dir)| dir.join("schema/scenario.schema.json").is_file())
        .map(|(depth, _)| format!("{}schema/scenario.schema.json", "../".repeat(depth)))
}

/// Writes one session as the next free `recorded-NNN.yaml` of `out`, checked first.
fn save(
    done: &session::Session,
    out: &Path,
    stamp: u64,
    seeds: &RangeInclusive<u64>,
    upstream: &str,
) -> Result<PathBuf, String> {
    let index = (1..)
        .find(|n| !out.join(format!("recorded-{n:03}.yaml")).exists())
        .unwrap_or(1);
    let stem = format!("recorded-{index:03}");
    let id = format!("recorded-{stamp}-{index:03}");
    let written = write::scenario(done, &id, &stem, seeds, upstream);
    let yaml = crate::scenario::fmt::format_scenario(&written.yaml, schema_line(out).as_deref())
        .map_err(|e| format!("the recorded scenario {stem} is not valid YAML (a bug): {e}"))?;
    for (name, bytes) in &written.data_files {
        let path = out.join(name);
        std::fs::write(&path, bytes)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    let path = out.join(format!("{stem}.yaml"));
    std::fs::write(&path, yaml).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    let suite = crate::scenario::load_files(vec![(path.clone(), "recorded".into(), stem.clone())]);
    if !suite.errors.is_empty() {
        let text: Vec<String> = suite.errors.iter().map(|e| e.render(false)).collect();
        return Err(format!(
            "the recorded scenario {} does not validate (a bug of bitspec record):\n{}",
            path.display(),
            text.join("\n")
        ));
    }
    Ok(path)
}
