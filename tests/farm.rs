//! A farm of three bitspec-server processes on 127.0.0.1, on one PostgreSQL
//! database and one shared root (issue 17): the whole suite passes against the farm
//! profile, farm scenarios included, and a node killed with SIGKILL in the middle of
//! 20 concurrent uploads loses no acknowledged byte, five times in a row.
//!
//! PostgreSQL is a throwaway cluster of the test's own, or `BITSPEC_POSTGRES_URL`
//! (`.ci/run`); without one the tests say NOT CHECKED on the terminal (a failure
//! under `BITSPEC_REQUIRE_TOOLS=1`). Each node is this test binary re-run as
//! `farm_node_process`, so SIGKILL kills a real process.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../reference-server/tests/common/postgres.rs"]
mod postgres;
mod support;

use bitspec::run::{Connection, OutgoingRequest, TlsClient, WatchClose};
use bitspec::scenario::plan::UploadFile;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Set for a node process: its configuration file.
const NODE_CONFIG: &str = "BITSPEC_FARM_NODE_CONFIG";
/// A node process ends on its own after this long, should the test that started it die.
const NODE_LIFETIME: Duration = Duration::from_secs(900);

/// Not a test: the body of one farm node, started by the tests below with
/// `BITSPEC_FARM_NODE_CONFIG` set. It writes its URL to `<config>.ready` once it listens.
#[test]
#[ignore = "the body of a farm node process, which the farm tests start"]
fn farm_node_process() {
    let Some(config_path) = std::env::var_os(NODE_CONFIG).map(PathBuf::from) else {
        return;
    };
    let config = bitspec_server::Config::load(&config_path).expect("node configuration");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let server = bitspec_server::spawn(config)
            .await
            .expect("the node starts");
        let ready = config_path.with_extension("ready");
        let partial = config_path.with_extension("ready.partial");
        std::fs::write(&partial, server.base_url()).expect("ready file");
        std::fs::rename(&partial, &ready).expect("ready file");
        tokio::time::sleep(NODE_LIFETIME).await;
    });
}

/// One node process: its files live in `dir`.
struct Node {
    dir: PathBuf,
    url: String,
}

impl Node {
    fn config(&self) -> PathBuf {
        self.dir.join("node.toml")
    }
    fn pid_file(&self) -> PathBuf {
        self.dir.join("node.pid")
    }
    fn start_script(&self) -> PathBuf {
        self.dir.join("start.sh")
    }
    /// The shell command that kills the node with SIGKILL (the profile's `stop`).
    fn stop_command(&self) -> String {
        format!("kill -9 \"$(cat '{}')\"", self.pid_file().display())
    }
    /// The shell command that starts it again on the same port (the profile's `start`).
    fn start_command(&self) -> String {
        format!("sh '{}'", self.start_script().display())
    }

    fn kill(&self) {
        let status = Command::new("sh")
            .arg("-c")
            .arg(self.stop_command())
            .status()
            .expect("sh runs");
        assert!(status.success(), "kill -9 of node {}", self.dir.display());
    }

    fn start(&mut self) {
        let status = Command::new("sh")
            .arg(self.start_script())
            .status()
            .expect("sh runs");
        let log = std::fs::read_to_string(self.dir.join("node.log")).unwrap_or_default();
        assert!(
            status.success(),
            "node {} did not start:\n{log}",
            self.dir.display()
        );
        let ready = std::fs::read_to_string(self.config().with_extension("ready")).expect("ready");
        self.url = ready.trim().to_owned();
    }
}

/// Three (or `count`) nodes on one database and one shared root.
struct Farm {
    nodes: Vec<Node>,
    _dir: tempfile::TempDir,
}

impl Farm {
    /// Starts the nodes; `host_ids` gives node N the BITS-Host-Id `node-N.farm.test`.
    fn start(db: &postgres::Postgres, count: usize, host_ids: bool) -> Farm {
        let dir = tempfile::Builder::new()
            .prefix("bitspec-farm-")
            .tempdir()
            .expect("tempdir");
        let shared = dir.path().join("shared");
        std::fs::create_dir_all(&shared).expect("shared root");
        let exe = std::env::current_exe().expect("test binary");
        let mut farm = Farm {
            nodes: Vec::new(),
            _dir: dir,
        };
        for n in 1..=count {
            let node_dir = farm._dir.path().join(format!("node-{n}"));
            std::fs::create_dir_all(&node_dir).expect("node dir");
            let mut node = Node {
                dir: node_dir,
                url: String::new(),
            };
            let host_id = if host_ids {
                format!("host_id = \"node-{n}.farm.test\"\nhost_id_fallback_timeout = 60\n")
            } else {
                String::new()
            };
            let config = |port: u16| {
                format!(
                    "listen = \"127.0.0.1:{port}\"\nroot = \"{}\"\nstorage = \"postgres\"\npostgres_url = \"{}\"\npostgres_pool_size = 8\nnode_name = \"node-{n}\"\nworkers = 2\nmax_connections_per_address = 0\nmax_sessions_per_address = 0\nsession_limit_enable = false\n{host_id}",
                    shared.display(),
                    db.url()
                )
            };
            std::fs::write(node.config(), config(0)).expect("config");
            let ready = node.config().with_extension("ready");
            let script = format!(
                "rm -f '{ready}'\n{NODE_CONFIG}='{config}' '{exe}' --exact farm_node_process --ignored --nocapture --test-threads=1 >/dev/null 2>>'{log}' &\necho $! > '{pid}'\ni=0\nwhile [ ! -f '{ready}' ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done\n[ -f '{ready}' ]\n",
                ready = ready.display(),
                config = node.config().display(),
                exe = exe.display(),
                log = node.dir.join("node.log").display(),
                pid = node.pid_file().display(),
            );
            std::fs::write(node.start_script(), script).expect("start script");
            node.start();
            // Restarts listen on the same port, so the profile's URL stays right.
            let port = node
                .url
                .trim_end_matches('/')
                .rsplit(':')
                .next()
                .and_then(|p| p.parse::<u16>().ok())
                .expect("port in the node's URL");
            std::fs::write(node.config(), config(port)).expect("config");
            farm.nodes.push(node);
        }
        farm
    }

    /// A profile for the farm: `reference`'s capabilities, the nodes, node 2 stoppable.
    fn profile(&self, path: &Path) {
        let mut yaml = String::from(
            "name: farm-test\ndescription: three bitspec-servers on one PostgreSQL\nget_uploads: true\noverwrite: deny\nhost_id: node-1.farm.test\nhost_id_fallback_timeout: 60\nnodes:\n",
        );
        for (i, node) in self.nodes.iter().enumerate() {
            yaml.push_str(&format!(
                "  - url: \"{}\"\n    host_id: node-{}.farm.test\n",
                node.url,
                i + 1
            ));
            if i == 1 {
                yaml.push_str(&format!(
                    "    stop: {:?}\n    start: {:?}\n",
                    node.stop_command(),
                    node.start_command()
                ));
            }
        }
        std::fs::write(path, yaml).expect("profile");
    }
}

impl Drop for Farm {
    fn drop(&mut self) {
        for node in &self.nodes {
            let _ = Command::new("sh")
                .arg("-c")
                .arg(node.stop_command())
                .stderr(std::process::Stdio::null())
                .status();
        }
    }
}

/// (a) The whole suite, farm scenarios included, passes against the 3-node farm, and the
/// farm scenarios pass for real (sessions shared), not as skipped.
#[test]
fn the_whole_suite_passes_against_a_three_node_farm() {
    let Some(db) = postgres::Postgres::start() else {
        return;
    };
    let farm = Farm::start(&db, 3, true);
    let work = tempfile::tempdir().expect("tempdir");
    let profile = work.path().join("farm.yaml");
    farm.profile(&profile);
    let reports = work.path().join("reports");
    let started = Instant::now();
    let out = support::bitspec(
        &["run", "--profile", profile.to_str().unwrap(), "--quiet"],
        &reports,
    );
    let text = support::text(&out);
    assert!(out.status.success(), "the suite against the farm:\n{text}");
    assert!(
        started.elapsed() < Duration::from_secs(600),
        "the suite took {:?}",
        started.elapsed()
    );
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(reports.join("results.json")).unwrap())
            .unwrap();
    let scenarios = results["scenarios"].as_array().expect("scenarios");
    let farm_scenarios: Vec<&serde_json::Value> =
        scenarios.iter().filter(|s| s["group"] == "farm").collect();
    assert_eq!(farm_scenarios.len(), 5, "the five farm scenarios ran");
    for s in &farm_scenarios {
        assert_eq!(s["verdict"], "pass", "{}: {}", s["id"], s["reason"]);
        let readings: Vec<&str> = s["steps"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|step| step["readings"].as_array().unwrap().iter())
            .filter_map(|r| r["reading"].as_str())
            .collect();
        assert!(
            !readings.contains(&"session-pinned") && !readings.contains(&"state-differs"),
            "{}: the farm shares sessions, it followed {readings:?}",
            s["id"]
        );
    }
    let stopped = farm_scenarios
        .iter()
        .find(|s| s["id"] == "farm-node-stopped-mid-upload")
        .expect("the node-stop scenario");
    let labels: Vec<&str> = stopped["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["label"].as_str())
        .collect();
    assert!(
        labels.contains(&"stop node 2"),
        "node 2 was stopped: {labels:?}"
    );
    let cleanup = stopped["cleanup"].as_array().unwrap();
    assert!(
        cleanup
            .iter()
            .any(|c| c["label"] == "cleanup: start node 2" && c["error"].is_null()),
        "node 2 was started again: {cleanup:?}"
    );
}

/// What one upload of the kill test saw.
#[derive(Debug, Default)]
struct UploadReport {
    /// Transport failures (the killed node), each followed by a move to another node.
    moves: u32,
    /// Where an Ack put the next byte below what an earlier Ack acknowledged.
    lost: Vec<String>,
}

const UPLOADS: usize = 20;
const FILE_SIZE: u64 = 1_500_000;
const FRAGMENT: u64 = 48 * 1024;

/// (b) SIGKILL of one node in the middle of 20 concurrent uploads, five rounds: no Ack
/// ever reports less than an earlier Ack acknowledged, and every upload finishes
/// byte-identical through the other nodes.
#[test]
fn a_node_killed_mid_upload_loses_no_acknowledged_byte_five_times() {
    let Some(db) = postgres::Postgres::start() else {
        return;
    };
    let mut farm = Farm::start(&db, 3, false);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let deadline = Instant::now() + Duration::from_secs(300);
    for round in 0..5u64 {
        assert!(
            Instant::now() < deadline,
            "round {round} would start past the time bound"
        );
        let victim = (round as usize) % farm.nodes.len();
        let urls: Vec<String> = farm.nodes.iter().map(|n| n.url.clone()).collect();
        let progress = Arc::new(AtomicU64::new(0));
        let killed = Arc::new(AtomicBool::new(false));
        let reports = runtime.block_on(async {
            let mut set = tokio::task::JoinSet::new();
            for i in 0..UPLOADS {
                let urls = urls.clone();
                let progress = Arc::clone(&progress);
                let killed = Arc::clone(&killed);
                set.spawn(async move {
                    let name = format!("kill-r{round}-u{i}.bin");
                    let seed = round * 1000 + i as u64;
                    let report = upload(&urls, i % urls.len(), &name, seed, &progress).await;
                    (i, report, killed.load(Ordering::SeqCst))
                });
            }
            // The kill: once a third of all bytes are acknowledged.
            let total = UPLOADS as u64 * FILE_SIZE;
            let waited = Instant::now();
            while progress.load(Ordering::SeqCst) < total / 3
                && waited.elapsed() < Duration::from_secs(60)
            {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            let at = progress.load(Ordering::SeqCst);
            farm.nodes[victim].kill();
            killed.store(true, Ordering::SeqCst);
            let mut reports = Vec::new();
            while let Some(joined) = set.join_next().await {
                reports.push(joined.expect("upload task"));
            }
            assert!(
                at < total,
                "round {round}: the kill came after every upload had finished"
            );
            reports
        });
        let mut moved = 0;
        for (i, report, _) in &reports {
            let report = report
                .as_ref()
                .unwrap_or_else(|e| panic!("round {round}, upload {i}: {e}"));
            assert!(
                report.lost.is_empty(),
                "round {round}, upload {i}: acknowledged bytes lost: {:?}",
                report.lost
            );
            moved += report.moves;
        }
        assert!(
            moved > 0,
            "round {round}: no upload was cut by the kill of node {}",
            victim + 1
        );
        eprintln!(
            "round {}: node {} killed, {moved} uploads moved to other nodes, all {UPLOADS} byte-identical",
            round + 1,
            victim + 1
        );
        farm.nodes[victim].start();
    }
}

/// One upload of `size` bytes from `seed`, starting on node `first`, moving to the next
/// node whenever the current one stops answering; Close, then GET compared byte for
/// byte from a node that answers.
async fn upload(
    urls: &[String],
    first: usize,
    name: &str,
    seed: u64,
    progress: &AtomicU64,
) -> Result<UploadReport, String> {
    let mut report = UploadReport::default();
    let mut node = first;
    let mut conn = Connection::new(Duration::from_secs(5), TlsClient::default());
    let url = |node: usize| format!("{}{name}", urls[node]);
    let started = Instant::now();
    // Create-Session, on the first node that answers.
    let session = loop {
        let ack = send(&mut conn, &url(node), "Create-Session", None, None).await;
        match ack {
            Some(ack) if ack.status == 200 || ack.status == 201 => {
                break ack
                    .header("BITS-Session-Id")
                    .ok_or("Create-Session Ack without a session id")?
                    .to_owned();
            }
            Some(ack) => return Err(format!("Create-Session: {}", ack.status)),
            None => node = moved(&mut conn, node, urls.len(), &mut report, started)?,
        }
    };
    let mut acked = 0u64;
    let mut next = 0u64;
    while next < FILE_SIZE {
        let last = (next + FRAGMENT).min(FILE_SIZE) - 1;
        let body = bitspec::shared::upload_data::range(seed, next, last);
        let range = format!("bytes {next}-{last}/{FILE_SIZE}");
        let ack = send(
            &mut conn,
            &url(node),
            "Fragment",
            Some(&session),
            Some((range, body)),
        )
        .await;
        let Some(ack) = ack else {
            node = moved(&mut conn, node, urls.len(), &mut report, started)?;
            continue;
        };
        if ack.status == 503 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        }
        let received = ack
            .header("BITS-Received-Content-Range")
            .and_then(|v| v.trim().parse::<u64>().ok());
        let Some(received) = received.filter(|_| ack.status == 200 || ack.status == 416) else {
            return Err(format!(
                "Fragment {next}-{last} on node {}: {} {:?}",
                node + 1,
                ack.status,
                ack.header("BITS-Error-Code")
            ));
        };
        if received < acked {
            report.lost.push(format!(
                "node {} says {received} after {acked} was acknowledged",
                node + 1
            ));
        }
        if ack.status == 200 {
            progress.fetch_add(received.saturating_sub(acked), Ordering::SeqCst);
            acked = acked.max(received);
        }
        next = received;
    }
    loop {
        match send(&mut conn, &url(node), "Close-Session", Some(&session), None).await {
            Some(ack) if ack.status == 200 => break,
            Some(ack) if ack.status == 503 => tokio::time::sleep(Duration::from_millis(50)).await,
            Some(ack) => {
                return Err(format!(
                    "Close-Session on node {}: {}",
                    node + 1,
                    ack.status
                ));
            }
            None => node = moved(&mut conn, node, urls.len(), &mut report, started)?,
        }
    }
    // The published file, read back from a node that answers.
    loop {
        let wire = OutgoingRequest {
            method: "GET".into(),
            url: url(node),
            headers: vec![("Content-Length".into(), "0".into())],
            body: Vec::new(),
        }
        .to_wire(&[])?;
        let file = UploadFile {
            size: FILE_SIZE,
            seed,
        };
        let got = conn
            .exchange(
                &wire,
                Duration::from_secs(30),
                Some(file),
                None,
                WatchClose::No,
            )
            .await;
        match got.response {
            Some(r) if r.status == 200 => {
                return match got.body.matches_file {
                    Some(Ok(())) => Ok(report),
                    Some(Err(e)) => Err(format!("the published file differs: {e}")),
                    None => Err("the GET body was not compared".into()),
                };
            }
            Some(r) => return Err(format!("GET on node {}: {}", node + 1, r.status)),
            None => node = moved(&mut conn, node, urls.len(), &mut report, started)?,
        }
    }
}

/// The next node after a transport failure on `node`, within the upload's time bound.
fn moved(
    conn: &mut Connection,
    node: usize,
    nodes: usize,
    report: &mut UploadReport,
    started: Instant,
) -> Result<usize, String> {
    conn.close();
    report.moves += 1;
    if started.elapsed() > Duration::from_secs(120) || report.moves > 50 {
        return Err(format!("gave up after {} moves", report.moves));
    }
    Ok((node + 1) % nodes)
}

/// One BITS packet; `None` when the exchange failed (no answer).
async fn send(
    conn: &mut Connection,
    url: &str,
    packet: &str,
    session: Option<&str>,
    fragment: Option<(String, Vec<u8>)>,
) -> Option<bitspec::shared::outcome::RecordedResponse> {
    let mut headers = vec![("BITS-Packet-Type".to_owned(), packet.to_owned())];
    if packet == "Create-Session" {
        headers.push((
            "BITS-Supported-Protocols".into(),
            bitspec::run::BITS_15_UPLOAD_PROTOCOL.into(),
        ));
    }
    if let Some(session) = session {
        headers.push(("BITS-Session-Id".into(), session.to_owned()));
    }
    let body = match fragment {
        Some((range, body)) => {
            headers.push(("Content-Range".into(), range));
            body
        }
        None => Vec::new(),
    };
    headers.push(("Content-Length".into(), body.len().to_string()));
    let wire = OutgoingRequest {
        method: "BITS_POST".into(),
        url: url.to_owned(),
        headers,
        body,
    }
    .to_wire(&[])
    .ok()?;
    conn.exchange(&wire, Duration::from_secs(15), None, None, WatchClose::No)
        .await
        .response
}

/// Without PostgreSQL: a `node:` beyond the farm profile's nodes is an error at its
/// `file:line:column` before anything is sent, and `stop_node` beside a request is refused.
#[test]
fn node_steps_are_validated_where_they_are_written() {
    let work = tempfile::tempdir().expect("tempdir");
    let farm = work.path().join("scenarios/farm");
    std::fs::create_dir_all(&farm).expect("dir");
    std::fs::write(
        farm.join("001-third-node.yaml"),
        "id: third-node\ntitle: t\nspec: s\nlevel: may\nsteps:\n  - packet: Ping\n    node: 3\n    expect: { status: 200 }\n",
    )
    .expect("scenario");
    let profile = work.path().join("two.yaml");
    std::fs::write(
        &profile,
        "name: two-nodes\nnodes:\n  - url: http://127.0.0.1:9/\n  - url: http://127.0.0.1:10/\n",
    )
    .expect("profile");
    let scenarios = work.path().join("scenarios");
    let out = support::bitspec(
        &[
            "run",
            "--scenarios",
            scenarios.to_str().unwrap(),
            "--profile",
            profile.to_str().unwrap(),
        ],
        &work.path().join("reports"),
    );
    let text = support::text(&out);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(
        text.contains("001-third-node.yaml:7:11")
            && text.contains("node 3 is out of range: profile `two-nodes` names 2 farm nodes"),
        "{text}"
    );

    std::fs::write(
        farm.join("001-third-node.yaml"),
        "id: stop-and-ping\ntitle: t\nspec: s\nlevel: may\nsteps:\n  - stop_node: 1\n    packet: Ping\n",
    )
    .expect("scenario");
    let file = farm.join("001-third-node.yaml");
    let out = support::bitspec(&["check", file.to_str().unwrap()], work.path());
    let text = support::text(&out);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(
        text.contains("001-third-node.yaml:6:5") && text.contains("drop `packet`"),
        "{text}"
    );
}
