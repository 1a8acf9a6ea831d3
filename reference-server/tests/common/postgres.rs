//! A PostgreSQL database for one test, std only (shared by the bitspec crate's
//! tests through `#[path]`, so nothing server-specific here).
//!
//! [`Postgres::start`] gives a fresh, empty database and its URL:
//! * with `BITSPEC_POSTGRES_URL` set (`.ci/run` sets it), a new database on
//!   that server, dropped again on `Drop`;
//! * otherwise a throwaway cluster: `initdb` in a temporary folder, started
//!   with `pg_ctl` on 127.0.0.1 (a free port) and a Unix socket in that
//!   folder, stopped and deleted on `Drop`. As root it runs as the `postgres`
//!   user (or `nobody`), since PostgreSQL refuses to run as root.
//!
//! The binaries are looked for on `PATH` and in `/usr/lib/postgresql/*/bin`
//! (Debian's `postgresql` package). When none can run, the test's check is
//! announced as NOT CHECKED on the terminal and `start` gives `None`; under
//! `BITSPEC_REQUIRE_TOOLS=1` (CI) that is a panic instead.

#![allow(dead_code, clippy::expect_used, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// An existing server to create test databases on (`postgresql://...`).
pub const URL_VARIABLE: &str = "BITSPEC_POSTGRES_URL";
/// Set by `.ci/run`: a test that cannot get a database fails.
const REQUIRE_TOOLS: &str = "BITSPEC_REQUIRE_TOOLS";

/// One test's database; gone (or its cluster stopped and deleted) on drop.
#[derive(Debug)]
pub struct Postgres {
    url: String,
    psql: PathBuf,
    owner: Owner,
}

#[derive(Debug)]
enum Owner {
    /// A database made on the server of `admin_url`.
    Database { admin_url: String, name: String },
    /// A cluster of our own in `dir`.
    Cluster {
        dir: PathBuf,
        bin: PathBuf,
        user: Option<(u32, u32)>,
    },
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

impl Postgres {
    /// A fresh database, or `None` (announced) when PostgreSQL cannot run here.
    pub fn start() -> Option<Self> {
        let started = match std::env::var(URL_VARIABLE) {
            Ok(url) if !url.is_empty() => Self::on_server(&url),
            _ => Self::throwaway(),
        };
        match started {
            Ok(postgres) => Some(postgres),
            Err(why) => {
                not_checked(&why);
                None
            }
        }
    }

    /// `postgresql://USER@127.0.0.1:PORT/DATABASE`, for tokio-postgres or psql.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Runs SQL through `psql` and returns its unaligned, tuples-only output
    /// (`-At`: one row a line, columns separated by `|`).
    pub fn query(&self, sql: &str) -> Result<String, String> {
        let output = Command::new(&self.psql)
            .args([
                "-X",
                "-At",
                "-v",
                "ON_ERROR_STOP=1",
                "-d",
                &self.url,
                "-c",
                sql,
            ])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("psql: {e}"))?;
        checked("psql", output).map(|out| out.trim_end().to_string())
    }

    fn on_server(admin_url: &str) -> Result<Self, String> {
        let bin = binaries()?;
        let psql = bin.join("psql");
        let name = format!(
            "bitspec_test_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let create = Command::new(&psql)
            .args(["-X", "-At", "-v", "ON_ERROR_STOP=1", "-d", admin_url])
            .arg("-c")
            .arg(format!("DROP DATABASE IF EXISTS {name}"))
            .arg("-c")
            .arg(format!("CREATE DATABASE {name}"))
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("psql: {e}"))?;
        checked("CREATE DATABASE", create)
            .map_err(|e| format!("{URL_VARIABLE}={admin_url}: {e}"))?;
        Ok(Self {
            url: with_database(admin_url, &name),
            psql,
            owner: Owner::Database {
                admin_url: admin_url.to_string(),
                name,
            },
        })
    }

    fn throwaway() -> Result<Self, String> {
        let bin = binaries()?;
        let dir = std::env::temp_dir().join(format!(
            "bitspec-pg-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let user = unprivileged_user()?;
        if let Some((uid, gid)) = user {
            std::os::unix::fs::chown(&dir, Some(uid), Some(gid))
                .map_err(|e| format!("chown {}: {e}", dir.display()))?;
        }
        let mut postgres = Self {
            url: String::new(),
            psql: bin.join("psql"),
            owner: Owner::Cluster {
                dir: dir.clone(),
                bin: bin.clone(),
                user,
            },
        };
        // From here, `postgres`'s Drop stops and deletes whatever was made.
        let data = dir.join("data");
        let initdb = run_as(user, &bin.join("initdb"), &dir)
            .arg("-D")
            .arg(&data)
            .args(["-U", "bitspec", "--auth=trust", "-E", "UTF8", "--no-sync"])
            .output()
            .map_err(|e| format!("initdb: {e}"))?;
        checked("initdb", initdb)?;
        let port = free_port()?;
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {port} -k {} -c max_connections=400",
            dir.display()
        );
        let start = run_as(user, &bin.join("pg_ctl"), &dir)
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(dir.join("log"))
            .args(["-w", "-t", "60", "-o", &options, "start"])
            .output()
            .map_err(|e| format!("pg_ctl start: {e}"))?;
        if let Err(e) = checked("pg_ctl start", start) {
            let log = std::fs::read_to_string(dir.join("log")).unwrap_or_default();
            return Err(format!("{e}\n{log}"));
        }
        postgres.url = format!("postgresql://bitspec@127.0.0.1:{port}/postgres");
        Ok(postgres)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        match &self.owner {
            Owner::Database { admin_url, name } => {
                let _ = Command::new(&self.psql)
                    .args(["-X", "-q", "-d", admin_url, "-c"])
                    .arg(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .stdin(Stdio::null())
                    .output();
            }
            Owner::Cluster { dir, bin, user } => {
                if dir.join("data/postmaster.pid").exists() {
                    let _ = run_as(*user, &bin.join("pg_ctl"), dir)
                        .arg("-D")
                        .arg(dir.join("data"))
                        .args(["-m", "immediate", "-w", "-t", "30", "stop"])
                        .output();
                }
                let _ = std::fs::remove_dir_all(dir);
            }
        }
    }
}

/// The folder holding initdb, pg_ctl and psql.
fn binaries() -> Result<PathBuf, String> {
    let mut candidates: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect())
        .unwrap_or_default();
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path().join("bin"))
                .collect()
        })
        .unwrap_or_default();
    // Newest first: "16" before "15" (numeric, not text, order).
    versions.sort_by_key(|p| {
        std::cmp::Reverse(
            p.parent()
                .and_then(Path::file_name)
                .and_then(|n| n.to_str())
                .and_then(|n| n.parse::<u32>().ok())
                .unwrap_or(0),
        )
    });
    candidates.extend(versions);
    candidates
        .into_iter()
        .find(|dir| {
            ["initdb", "pg_ctl", "psql"]
                .iter()
                .all(|b| dir.join(b).is_file())
        })
        .ok_or_else(|| {
            "initdb, pg_ctl and psql not found on PATH or in /usr/lib/postgresql/*/bin \
             (Debian: apt-get install -y postgresql; `.ci/run` installs it)"
                .to_string()
        })
}

/// As root: the `postgres` user's (or `nobody`'s) uid and gid, PostgreSQL
/// refusing to run as root. Otherwise `None`: run as ourselves.
fn unprivileged_user() -> Result<Option<(u32, u32)>, String> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let root = status
        .lines()
        .find_map(|line| line.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1))
        .is_some_and(|euid| euid == "0");
    if !root {
        return Ok(None);
    }
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    for wanted in ["postgres", "nobody"] {
        for line in passwd.lines() {
            let fields: Vec<&str> = line.split(':').collect();
            if fields.len() > 3
                && fields[0] == wanted
                && let (Ok(uid), Ok(gid)) = (fields[2].parse(), fields[3].parse())
            {
                return Ok(Some((uid, gid)));
            }
        }
    }
    Err("running as root and no `postgres` or `nobody` user to run PostgreSQL as".into())
}

/// `program` run as `user` (or ourselves), from `dir`, without our stdin.
fn run_as(user: Option<(u32, u32)>, program: &Path, dir: &Path) -> Command {
    use std::os::unix::process::CommandExt;
    let mut command = Command::new(program);
    command.current_dir(dir).stdin(Stdio::null());
    if let Some((uid, gid)) = user {
        command.uid(uid).gid(gid).env("HOME", dir);
    }
    command
}

fn free_port() -> Result<u16, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| format!("bind: {e}"))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("bind: {e}"))
}

fn checked(what: &str, output: Output) -> Result<String, String> {
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(format!(
            "{what} failed ({}): {}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

/// `url` naming database `name` instead of its own.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[authority_start..]
        .find('/')
        .map_or(base.len(), |i| authority_start + i);
    let mut out = format!("{}/{name}", &base[..path_start]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

/// Announces, past libtest's capture, that a check could not run; a panic
/// under `BITSPEC_REQUIRE_TOOLS=1`.
fn not_checked(why: &str) {
    use std::io::Write;
    if std::env::var_os(REQUIRE_TOOLS).is_some_and(|v| !v.is_empty() && v != "0") {
        panic!("PostgreSQL unavailable: {why}; {REQUIRE_TOOLS} is set, so this test must run");
    }
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("a test");
    let _ = writeln!(
        std::io::stderr().lock(),
        "\nwarning: {test}: NOT CHECKED, PostgreSQL unavailable: {why}"
    );
}

/// Waits up to `limit` for `ready`, polling every 50 ms.
pub fn wait_until(limit: Duration, mut ready: impl FnMut() -> bool) -> bool {
    let end = std::time::Instant::now() + limit;
    while std::time::Instant::now() < end {
        if ready() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    ready()
}

#[cfg(test)]
mod tests {
    #[test]
    fn database_names_replace_the_url_s_own() {
        use super::with_database;
        assert_eq!(
            with_database(
                "postgresql://u:p@127.0.0.1:5432/postgres?sslmode=disable",
                "t"
            ),
            "postgresql://u:p@127.0.0.1:5432/t?sslmode=disable"
        );
        assert_eq!(
            with_database("postgresql://127.0.0.1", "t"),
            "postgresql://127.0.0.1/t"
        );
        assert_eq!(with_database("postgres://h:1/", "t"), "postgres://h:1/t");
    }
}
