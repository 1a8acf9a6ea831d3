//! A farm of bitspec-servers on one PostgreSQL database and one shared root
//! (issue 17): any node continues any session, Close on any node publishes,
//! every node serves the result. Real PostgreSQL (a throwaway cluster, or
//! `BITSPEC_POSTGRES_URL`); announced as NOT CHECKED without one.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::data;
use common::farm::Farm;

/// Create on node 1, fragments on node 2, Close on node 3, GET from every node.
#[tokio::test]
async fn a_session_continues_on_any_node_and_every_node_serves_the_file() {
    let Some(farm) = Farm::start(3, |_| {}).await else {
        return;
    };
    let bytes = data(1_000_000, 3);
    let path = "/farm.bin";
    let created = farm
        .conn(1)
        .await
        .bits(
            path,
            "Create-Session",
            &[("BITS-Supported-Protocols", common::PROTOCOL)],
            b"",
        )
        .await;
    created.assert_ack(200);
    assert_eq!(created.header("BITS-Host-Id"), Some("node-1.farm.test"));
    assert_eq!(created.header("BITS-Host-Id-Fallback-Timeout"), Some("60"));
    let id = created.header("BITS-Session-Id").unwrap().to_string();
    let mut two = farm.conn(2).await;
    two.fragment(path, &id, &bytes, 0, 399_999)
        .await
        .assert_received(200, 400_000);
    // The next one through node 3, the last through node 1.
    farm.conn(3)
        .await
        .fragment(path, &id, &bytes, 400_000, 799_999)
        .await
        .assert_received(200, 800_000);
    // A replayed, already-received fragment on another node: the database's offset.
    two.fragment(path, &id, &bytes, 0, 99)
        .await
        .assert_received(200, 800_000);
    farm.conn(1)
        .await
        .fragment(path, &id, &bytes, 800_000, 999_999)
        .await
        .assert_received(200, 1_000_000);
    assert!(!farm.path("farm.bin").exists(), "published at Close");
    farm.conn(3).await.close(path, &id).await.assert_ack(200);
    // A retried Close on another node: the tombstone is shared.
    farm.conn(2).await.close(path, &id).await.assert_ack(200);
    for node in 1..=3 {
        let got = farm.conn(node).await.get(path, &[]).await;
        assert_eq!(got.status, 200, "GET from node {node}");
        assert!(
            got.body == bytes,
            "node {node} serves the upload byte-identical"
        );
    }
    farm.shutdown().await;
}
