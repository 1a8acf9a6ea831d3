//! `dist/`: the systemd unit and the hardened example configuration load, say what
//! they promise, and fit together (the unit hands over the files the config names);
//! and `--help` says how to filter the logs the unit sends to the journal.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use bitspec_server::Config;
use std::path::{Path, PathBuf};
use std::process::Command;

fn dist(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("dist")
        .join(name)
}

/// The `[Service]` settings of the unit, as (key, value), in order.
fn service_settings() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(dist("bitspec-server.service")).expect("unit");
    let mut section = String::new();
    let mut settings = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            section = line.to_string();
        } else if section == "[Service]"
            && !line.starts_with('#')
            && let Some((key, value)) = line.split_once('=')
        {
            settings.push((key.to_string(), value.to_string()));
        }
    }
    settings
}

fn values<'a>(settings: &'a [(String, String)], key: &str) -> Vec<&'a str> {
    settings
        .iter()
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .collect()
}

#[test]
fn the_example_configuration_loads_and_is_hardened() {
    let config = Config::load(&dist("bitspec-server.toml")).expect("a valid configuration");
    let default = Config::default();
    assert!(
        config.tls_certificate.is_some() && config.tls_key.is_some(),
        "HTTPS only"
    );
    assert!(!config.users.is_empty(), "authentication on");
    assert!(
        config.users.iter().all(|u| !u.paths.is_empty()),
        "each account confined to its prefixes"
    );
    assert!(!config.allow_overwrites);
    assert!(config.root.is_absolute());
    assert!(config.max_upload_size < default.max_upload_size);
    assert!(config.max_fragment_size <= default.max_fragment_size);
    assert!(config.header_read_timeout <= default.header_read_timeout);
    assert!(config.body_idle_timeout <= default.body_idle_timeout);
    #[cfg(feature = "faults")]
    assert!(config.faults.is_empty());
    let per_address = config.max_connections_per_address;
    assert!(per_address > 0 && per_address <= default.max_connections_per_address);
    let sessions = config.max_sessions_per_address;
    assert!(sessions > 0 && sessions <= default.max_sessions_per_address);
    assert!(config.max_sessions > 0 && config.max_sessions <= default.max_sessions);
    let storage = config.max_temporary_storage;
    assert!(storage > 0 && storage <= default.max_temporary_storage);
    assert!(config.min_bytes_per_second > 0);
}

#[test]
fn the_unit_is_sandboxed_and_hands_over_what_the_configuration_names() {
    let settings = service_settings();
    for (key, value) in [
        ("DynamicUser", "yes"),
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("PrivateDevices", "yes"),
        ("ProtectKernelTunables", "yes"),
        ("ProtectKernelModules", "yes"),
        ("ProtectControlGroups", "yes"),
        ("RestrictNamespaces", "yes"),
        ("RestrictSUIDSGID", "yes"),
        ("MemoryDenyWriteExecute", "yes"),
        ("LockPersonality", "yes"),
        ("SystemCallArchitectures", "native"),
        ("StateDirectory", "bitspec-server"),
        ("CapabilityBoundingSet", "CAP_NET_BIND_SERVICE"),
        ("UMask", "0077"),
    ] {
        assert_eq!(values(&settings, key), [value], "{key}");
    }
    assert!(values(&settings, "SystemCallFilter").contains(&"@system-service"));

    let exec = values(&settings, "ExecStart");
    assert_eq!(exec.len(), 1);
    assert_eq!(
        exec[0],
        "/usr/local/bin/bitspec-server --config ${CREDENTIALS_DIRECTORY}/bitspec-server.toml"
    );
    // Every file the configuration reads is a credential of the unit.
    let credentials: Vec<&str> = values(&settings, "LoadCredential")
        .into_iter()
        .filter_map(|v| v.split_once(':').map(|(name, _)| name))
        .collect();
    let config = Config::load(&dist("bitspec-server.toml")).expect("config");
    let dir = Path::new("/run/credentials/bitspec-server.service");
    for file in [&config.tls_certificate, &config.tls_key] {
        let file = file.as_deref().expect("set");
        let name = file
            .strip_prefix(dir)
            .expect("in the credentials directory");
        assert!(
            credentials.contains(&name.to_str().expect("utf-8")),
            "{} is not handed over: {credentials:?}",
            file.display()
        );
    }
    assert!(credentials.contains(&"bitspec-server.toml"));
    assert!(
        config.root.starts_with("/var/lib/bitspec-server"),
        "uploads go to the StateDirectory, the only place it may write"
    );
}

/// systemd's own parser reads the unit without a complaint (with the built binary
/// in ExecStart, which it checks). Without systemd-analyze the check is announced as
/// not run, and fails under BITSPEC_REQUIRE_TOOLS=1 (CI).
#[test]
fn systemd_accepts_the_unit() {
    let found = Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        let message = "systemd-analyze verify of dist/bitspec-server.service: NOT CHECKED, \
                       systemd-analyze not found (Debian: apt-get install -y systemd)";
        if std::env::var_os("BITSPEC_REQUIRE_TOOLS").is_some_and(|v| !v.is_empty() && v != "0") {
            panic!("{message}; BITSPEC_REQUIRE_TOOLS is set");
        }
        use std::io::Write;
        let _ = writeln!(std::io::stderr().lock(), "\nwarning: {message}");
        return;
    }
    let text = std::fs::read_to_string(dist("bitspec-server.service")).expect("unit");
    let text = text.replace(
        "/usr/local/bin/bitspec-server",
        env!("CARGO_BIN_EXE_bitspec-server"),
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let unit = dir.path().join("bitspec-server.service");
    std::fs::write(&unit, text).expect("write");
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&unit)
        .output()
        .expect("systemd-analyze runs");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{said}");
    // It only warns about unknown keys and bad values: any output is a problem.
    assert!(said.trim().is_empty(), "systemd-analyze verify:\n{said}");
}

#[test]
fn help_says_how_to_filter_the_logs() {
    let out = Command::new(env!("CARGO_BIN_EXE_bitspec-server"))
        .arg("--help")
        .output()
        .expect("runs");
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("RUST_LOG"), "{help}");
}
