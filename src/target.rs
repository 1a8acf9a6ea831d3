//! The target server: a URL the user gave, or the bundled reference server started
//! in-process on 127.0.0.1 with an ephemeral port and a temporary upload directory.

use std::time::Duration;

/// A target to run against; dropping or [`Target::stop`]ping an embedded one stops it.
pub struct Target {
    pub base_url: String,
    embedded: Option<(bitspec_server::RunningServer, tempfile::TempDir)>,
}

impl Target {
    /// A server that is already running elsewhere; checked to accept connections.
    pub async fn remote(url: &str, timeout: Duration) -> Result<Target, String> {
        let base_url = crate::run::normalise_target(url);
        crate::run::probe_target(&base_url, timeout).await?;
        Ok(Target {
            base_url,
            embedded: None,
        })
    }

    /// The reference server with its default configuration, on 127.0.0.1:0.
    pub async fn embedded() -> Result<Target, String> {
        Self::embedded_with(|_| {}).await
    }

    /// The reference server, with `adjust` applied to its configuration.
    pub async fn embedded_with(
        adjust: impl FnOnce(&mut bitspec_server::Config),
    ) -> Result<Target, String> {
        let dir = tempfile::Builder::new()
            .prefix("bitspec-uploads-")
            .tempdir()
            .map_err(|e| format!("cannot create a temporary upload directory: {e}"))?;
        let mut config = bitspec_server::Config {
            listen: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
            root: dir.path().to_path_buf(),
            ..bitspec_server::Config::default()
        };
        adjust(&mut config);
        let server = bitspec_server::spawn(config)
            .await
            .map_err(|e| format!("cannot start the reference server: {e}"))?;
        Ok(Target {
            base_url: server.base_url(),
            embedded: Some((server, dir)),
        })
    }

    /// Whether this is the bundled reference server.
    pub fn is_embedded(&self) -> bool {
        self.embedded.is_some()
    }

    /// Stops an embedded server and removes its upload directory.
    pub async fn stop(self) {
        if let Some((server, dir)) = self.embedded {
            server.shutdown().await;
            drop(dir);
        }
    }
}
