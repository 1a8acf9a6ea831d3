//! The target server: a URL the user gave, or the bundled reference server started
//! in-process on 127.0.0.1 with an ephemeral port and a temporary upload directory,
//! configured as the chosen profile says.

use crate::run::ProbeError;
use crate::scenario::profile::Profile;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A target to run against; [`Target::stop`] stops an embedded one.
pub struct Target {
    pub base_url: String,
    embedded: Option<(bitspec_server::RunningServer, tempfile::TempDir)>,
    example_app: Option<bitspec_server::example_app::ExampleApp>,
}

impl Target {
    /// A server that is already running elsewhere; checked to accept connections
    /// (and, for https, to present a certificate `tls` trusts).
    pub async fn remote(
        url: &str,
        tls: &crate::run::TlsClient,
        timeout: Duration,
    ) -> Result<Target, String> {
        Self::remote_probed(url, tls, timeout)
            .await
            .map_err(|e| e.to_string())
    }

    /// [`Target::remote`], telling a target that accepts connections but does not
    /// answer a Ping ([`ProbeError::Silent`]) from one that cannot be reached.
    pub async fn remote_probed(
        url: &str,
        tls: &crate::run::TlsClient,
        connect_timeout: Duration,
    ) -> Result<Target, ProbeError> {
        let base_url = crate::run::normalise_target(url);
        crate::run::probe(
            &base_url,
            tls,
            connect_timeout,
            crate::run::PING_ANSWER_TIMEOUT,
        )
        .await?;
        Ok(Target {
            base_url,
            embedded: None,
            example_app: None,
        })
    }

    /// A server elsewhere, not probed (it did not answer the probe: the run reports that).
    pub fn unprobed(url: &str) -> Target {
        Target {
            base_url: crate::run::normalise_target(url),
            embedded: None,
            example_app: None,
        }
    }

    /// The reference server with its default configuration, on 127.0.0.1:0,
    /// without the per-address bounds: its only client is this process (the
    /// bench opens a thousand sessions from 127.0.0.1), not many clients.
    pub async fn embedded() -> Result<Target, String> {
        Self::embedded_with(bitspec_server::Config {
            max_connections_per_address: 0,
            max_sessions_per_address: 0,
            session_limit_enable: false,
            ..bitspec_server::Config::default()
        })
        .await
    }

    /// The reference server configured as `profile` says (its `reference_server_config`).
    pub async fn embedded_for(profile: &Profile) -> Result<Target, String> {
        let mut config = reference_config(profile)?;
        let app = start_example_app(profile, &mut config).await?;
        let mut target = Self::embedded_with(config).await?;
        target.example_app = app;
        Ok(target)
    }

    /// The reference server with `config`, whose address and root are replaced by
    /// 127.0.0.1:0 and a fresh temporary directory.
    pub async fn embedded_with(mut config: bitspec_server::Config) -> Result<Target, String> {
        let dir = tempfile::Builder::new()
            .prefix("bitspec-uploads-")
            .tempdir()
            .map_err(|e| format!("cannot create a temporary upload directory: {e}"))?;
        config.listen = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
        config.root = dir.path().to_path_buf();
        // It shares the machine with the runner, and the self-test starts one
        // per fault: two connection threads each, not one per core.
        if config.workers == 0 {
            config.workers = 2;
        }
        let server = bitspec_server::spawn(config)
            .await
            .map_err(|e| format!("cannot start the reference server: {e}"))?;
        Ok(Target {
            base_url: server.base_url(),
            embedded: Some((server, dir)),
            example_app: None,
        })
    }

    /// Whether this is the bundled reference server.
    pub fn is_embedded(&self) -> bool {
        self.embedded.is_some()
    }

    /// Stops an embedded server and removes its upload directory.
    pub async fn stop(self) {
        if let Some(app) = self.example_app {
            app.stop();
        }
        if let Some((server, dir)) = self.embedded {
            server.shutdown().await;
            drop(dir);
        }
    }
}

/// The bundled server's configuration for `profile`: its `reference_server_config`,
/// or the defaults.
pub fn reference_config(profile: &Profile) -> Result<bitspec_server::Config, String> {
    match &profile.reference_server_config {
        Some(path) => bitspec_server::Config::load(path)
            .map_err(|e| format!("profile `{}`: {e}", profile.name)),
        None => Ok(bitspec_server::Config::default()),
    }
}

/// Starts the example server application when `profile` needs it (upload-reply)
/// and points `config` at it; it keeps no state, so servers may share it.
pub async fn start_example_app(
    profile: &Profile,
    config: &mut bitspec_server::Config,
) -> Result<Option<bitspec_server::example_app::ExampleApp>, String> {
    if !profile.reference_example_app {
        return Ok(None);
    }
    let app = bitspec_server::example_app::spawn(std::net::SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .map_err(|e| format!("cannot start the example server application: {e}"))?;
    config.notification_url = Some(app.base_url());
    Ok(Some(app))
}

/// The folder of shipped profiles: `./profiles`, or the ones the binary embeds.
pub fn profiles_dir() -> PathBuf {
    crate::scenario::shipped::profiles_dir()
}

/// The profile to use: the one named, or `reference` for the bundled server, or
/// `minimal` (no optional capability) for a target nobody described.
pub fn resolve_profile(
    explicit: Option<&Path>,
    embedded: bool,
) -> Result<Profile, crate::scenario::ScenarioError> {
    match explicit {
        Some(path) => {
            // A bare name picks a shipped profile: `--profile iis-stock`.
            let shipped = profiles_dir().join(format!("{}.yaml", path.display()));
            if !path.exists() && path.extension().is_none() && shipped.exists() {
                Profile::load(&shipped)
            } else {
                Profile::load(path)
            }
        }
        None if embedded => Profile::load(&profiles_dir().join("reference.yaml")),
        None => Ok(Profile::minimal()),
    }
}
