//! Test support: nodes of one farm (in this process) on one PostgreSQL
//! database and one shared root.

use bitspec_server::{Config, RunningServer, Storage};

use super::postgres::Postgres;
use super::{Conn, config_in};

/// The configuration of node `index` (from 1) of a farm on `url` sharing `root`:
/// its own name (`node-N`) and BITS-Host-Id (`node-N.farm.test`).
pub fn node_config(root: &std::path::Path, url: &str, index: usize) -> Config {
    Config {
        storage: Storage::Postgres,
        postgres_url: Some(url.to_string()),
        postgres_pool_size: 8,
        node_name: Some(format!("node-{index}")),
        host_id: Some(format!("node-{index}.farm.test")),
        host_id_fallback_timeout: 60,
        workers: 1,
        ..config_in(root)
    }
}

/// Running nodes, their database and their shared root.
pub struct Farm {
    pub nodes: Vec<RunningServer>,
    pub root: tempfile::TempDir,
    pub db: Postgres,
}

impl Farm {
    /// `count` nodes, or `None` (announced) without PostgreSQL.
    pub async fn start(count: usize, edit: impl Fn(&mut Config)) -> Option<Self> {
        let db = Postgres::start()?;
        let root = tempfile::tempdir().expect("tempdir");
        let mut nodes = Vec::new();
        for index in 1..=count {
            let mut config = node_config(root.path(), db.url(), index);
            edit(&mut config);
            nodes.push(bitspec_server::spawn(config).await.expect("node starts"));
        }
        Some(Self { nodes, root, db })
    }

    /// A connection to node `index` (from 1).
    pub async fn conn(&self, index: usize) -> Conn {
        Conn::open(self.nodes[index - 1].local_addr()).await
    }

    pub fn path(&self, relative: &str) -> std::path::PathBuf {
        self.root.path().join(relative)
    }

    pub async fn shutdown(self) {
        for node in self.nodes {
            node.shutdown().await;
        }
    }
}
