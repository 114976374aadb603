//! Versioned schema migrations, one script per dialect per version, embedded in the binary.
//! A landed migration is never edited: the database records each script's SHA-256 and
//! the store refuses to open if a landed script changed.

use sha2::{Digest, Sha256};

use crate::sql::{Connection, Dialect};
use crate::{StoreError, Value};

pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    sqlite: &'static str,
    postgres: &'static str,
}

impl Migration {
    fn script(&self, dialect: Dialect) -> &'static str {
        match dialect {
            Dialect::Sqlite => self.sqlite,
            Dialect::Postgres => self.postgres,
        }
    }

    fn checksum(&self, dialect: Dialect) -> String {
        Sha256::digest(self.script(dialect).as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

macro_rules! migration {
    ($version:literal, $name:literal) => {
        Migration {
            version: $version,
            name: $name,
            sqlite: include_str!(concat!("../migrations/sqlite/", $name, ".sql")),
            postgres: include_str!(concat!("../migrations/postgres/", $name, ".sql")),
        }
    };
}

/// Every migration, in order. Append only.
pub const MIGRATIONS: &[Migration] = &[
    migration!(1, "0001_ledger"),
    migration!(2, "0002_gateway"),
    migration!(3, "0003_webhooks"),
    migration!(4, "0004_access"),
    migration!(5, "0005_usage"),
    migration!(6, "0006_observability"),
    migration!(7, "0007_vault"),
    migration!(8, "0008_webhook_secrets"),
    migration!(9, "0009_approval_policies"),
    migration!(10, "0010_approval_requests"),
    migration!(11, "0011_velocity_limits"),
    migration!(12, "0012_recoveries"),
    migration!(13, "0013_channel_closes"),
    migration!(14, "0014_identities"),
    migration!(15, "0015_stuck_payments"),
    migration!(16, "0016_node_registry"),
    migration!(17, "0017_inbound_holds"),
    migration!(18, "0018_api_key_notices"),
    migration!(19, "0019_screening_lists"),
    migration!(20, "0020_customers"),
    migration!(21, "0021_aml_alerts"),
    migration!(22, "0022_aml_cases"),
    migration!(23, "0023_rescreening"),
    migration!(24, "0024_payer_data"),
    migration!(25, "0025_aml_rule_sets"),
    migration!(26, "0026_customer_retention"),
    migration!(27, "0027_history_indexes"),
    migration!(28, "0028_payer_history"),
];

/// The schema version this binary needs.
pub fn latest_version() -> i64 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (
    version BIGINT PRIMARY KEY,
    name TEXT NOT NULL,
    checksum TEXT NOT NULL,
    applied_at_ms BIGINT NOT NULL
)";

/// Applied versions, each checked against this binary's script.
pub(crate) fn applied(conn: &mut dyn Connection) -> Result<i64, StoreError> {
    conn.batch(CREATE_TABLE)?;
    let dialect = conn.dialect();
    let rows = conn.query(
        "SELECT version, name, checksum FROM schema_migrations ORDER BY version",
        &[],
    )?;
    let mut current = 0;
    for row in rows {
        let version = row.i64(0)?;
        let Some(known) = MIGRATIONS.iter().find(|m| m.version == version) else {
            return Err(StoreError::SchemaNewer {
                found: version,
                known: latest_version(),
            });
        };
        if row.text(2)? != known.checksum(dialect) {
            return Err(StoreError::MigrationEdited {
                version,
                name: known.name.to_string(),
            });
        }
        current = version;
    }
    Ok(current)
}

/// Applies pending migrations, each in its own transaction; returns the names applied.
/// On PostgreSQL an advisory lock keeps two replicas from migrating at once.
pub(crate) fn run(conn: &mut dyn Connection, now_ms: i64) -> Result<Vec<&'static str>, StoreError> {
    let dialect = conn.dialect();
    if dialect == Dialect::Postgres {
        conn.batch("SELECT pg_advisory_lock(7046710958471620117)")?;
    }
    let outcome = apply_pending(conn, now_ms);
    if dialect == Dialect::Postgres {
        conn.batch("SELECT pg_advisory_unlock(7046710958471620117)")?;
    }
    outcome
}

fn apply_pending(conn: &mut dyn Connection, now_ms: i64) -> Result<Vec<&'static str>, StoreError> {
    let dialect = conn.dialect();
    let current = applied(conn)?;
    let mut done = Vec::new();
    for migration in MIGRATIONS.iter().filter(|m| m.version > current) {
        conn.begin_write()?;
        let step = conn.batch(migration.script(dialect)).and_then(|()| {
            conn.execute(
                "INSERT INTO schema_migrations (version, name, checksum, applied_at_ms) \
                 VALUES ($1, $2, $3, $4)",
                &[
                    Value::Int(migration.version),
                    migration.name.into(),
                    migration.checksum(dialect).into(),
                    Value::Int(now_ms),
                ],
            )
        });
        match step {
            Ok(_) => conn.commit()?,
            Err(e) => {
                let _ = conn.batch("ROLLBACK");
                return Err(e);
            }
        }
        tracing::info!(
            version = migration.version,
            name = migration.name,
            "migration applied"
        );
        done.push(migration.name);
    }
    Ok(done)
}
