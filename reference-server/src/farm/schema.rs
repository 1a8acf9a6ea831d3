//! The farm's tables, created or migrated when a node starts.
//!
//! Idempotent and safe when several nodes start at once: the statements run
//! in one transaction under a transaction-level advisory lock, so one node
//! creates and the others find. `bitspec_schema` holds the version; a
//! database written by a newer server is refused rather than misread.

use deadpool_postgres::Object;

use super::error::db_error;

/// The schema version this server reads and writes.
pub const VERSION: i32 = 1;

/// Advisory lock key of the migration (`'bitspec-schema'` as text would do; a
/// number is what the function takes).
const MIGRATION_KEY: i64 = 0x6269_7473_7065_6301;

const CREATE: &str = "
CREATE TABLE IF NOT EXISTS bitspec_schema (version integer NOT NULL);
CREATE TABLE IF NOT EXISTS bitspec_sessions (
    id          text PRIMARY KEY,
    destination text NOT NULL,
    url         text NOT NULL,
    owner       text,
    client      text,
    total       bigint CHECK (total >= 0),
    next        bigint NOT NULL DEFAULT 0
                CHECK (next >= 0 AND (total IS NULL OR next <= total)),
    state       text NOT NULL CHECK (state IN ('active', 'closed', 'cancelled')),
    published   boolean NOT NULL DEFAULT false,
    reply_url   text,
    reply_copy  boolean,
    quota_owner text NOT NULL,
    created     bigint NOT NULL,
    updated     bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS bitspec_sessions_by_age ON bitspec_sessions (state, updated);
INSERT INTO bitspec_schema (version)
    SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM bitspec_schema);
";

/// Creates the tables if needed and checks the version.
pub async fn migrate(client: &Object) -> std::io::Result<()> {
    let batch = format!("BEGIN; SELECT pg_advisory_xact_lock({MIGRATION_KEY}); {CREATE} COMMIT;");
    if let Err(e) = client.batch_execute(&batch).await {
        let _ = client.batch_execute("ROLLBACK").await;
        return Err(std::io::Error::other(e.to_string()));
    }
    let row = client
        .query_one("SELECT max(version) FROM bitspec_schema", &[])
        .await
        .map_err(db_error)?;
    let found: Option<i32> = row.try_get(0).map_err(db_error)?;
    match found {
        Some(version) if version > VERSION => Err(std::io::Error::other(format!(
            "the database holds schema version {version}; this server knows {VERSION} at most"
        ))),
        _ => Ok(()),
    }
}
