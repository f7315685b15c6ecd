//! Deadbolt's storage. [`db::Db`] is the one trait boundary, implemented by SQLite
//! ([`sqlite::SqliteDb`], rusqlite) and PostgreSQL ([`postgres::PostgresDb`], tokio-postgres);
//! [`Store`] holds every query, written once for both, grouped by concept.
//!
//! Drivers were chosen by measurement: the second-factor check makes one or two small writes,
//! and a conditional single-row UPDATE runs an order of magnitude faster through rusqlite than
//! through sqlx's SQLite driver (see `benches/store_write.rs`).

pub mod db;
pub mod files;
pub mod postgres;
pub mod sqlite;

mod accounts;
mod api_keys;
mod challenges;
mod clients;
mod codes;
mod device_grants;
mod devices;
mod events;
mod grants;
pub mod housekeeping;
mod keys;
mod known_devices;
mod methods;
mod oidc;
mod outbox;
mod places;
mod policy;
mod push;
pub mod read;
mod sessions;
mod subjects;
mod teams;
mod throttle;
mod webauthn;

pub use accounts::NewAccount;
pub use api_keys::ApiKeyRecord;
pub use challenges::{end_challenges, end_resets, ChallengeRecord};
pub use clients::ClientRecord;
pub use codes::{spend_email_codes, CodeRecord, NewCode};
pub use db::{BatchOutcome, Write};
pub use device_grants::{DeviceAuthorizationRecord, DeviceDecision};
pub use devices::{revoke_all_devices, DeviceRecord};
pub use events::{EventCursor, EventRecord};
pub use grants::{end_grants_of, GrantRecord};
pub use keys::KeyRecord;
pub use known_devices::{add_device, device_reads, rekey_device, touch_device};
pub use methods::reads as method_reads;
pub use methods::writes as method_writes;
pub use methods::{MethodRecord, RecoveryCodeRecord, TotpRecord};
pub use oidc::{
    spend_request_object, AuthorizationCodeRecord, AuthorizationRecord, ConsentRecord,
    OidcGrantRecord,
};
pub use outbox::{BodyKeys, DeadLetter, OutboxMessage, SealedBody, SealedMessage};
pub use places::{place_writes, SignInPlace};
pub use policy::StoredPolicy;
pub use push::{push_writes, ApprovalRecord, ApprovalState, PushMethodRecord};
pub use read::Read;
pub use sessions::{
    renew_session, revoke_other_sessions, touch_session, RefreshOutcome, SessionRecord,
};
pub use subjects::{delete_subjects_of, insert_subject, set_subject_contact};
pub use teams::{invitation_writes, team_writes, InvitationRecord, MemberRecord, TeamRecord};
pub use throttle::reads as throttle_reads;
pub use throttle::writes as throttle_writes;
pub use webauthn::{CeremonyRecord, WebauthnCredentialRecord};

use db::{Db, Dialect, Migration};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule was broken (an email already taken, say).
    #[error("conflict with an existing record")]
    Conflict,
    /// A row refers to one that is gone (an account deleted while a change to it was made).
    #[error("a referenced record no longer exists")]
    MissingReference,
    /// The database cannot be reached or is overloaded; worth retrying later.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A stored value does not parse: a bug or tampering, never user input.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("database configuration: {0}")]
    Config(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

pub type Result<T> = std::result::Result<T, StoreError>;

pub static MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "init",
        sql: include_str!("../migrations/0001_init.sql"),
    },
    Migration {
        version: 2,
        name: "second_factors",
        sql: include_str!("../migrations/0002_second_factors.sql"),
    },
    Migration {
        version: 3,
        name: "code_destinations",
        sql: include_str!("../migrations/0003_code_destinations.sql"),
    },
    Migration {
        version: 4,
        name: "enrolled_under_step_up",
        sql: include_str!("../migrations/0004_enrolled_under_step_up.sql"),
    },
    Migration {
        version: 5,
        name: "sent_code_methods",
        sql: include_str!("../migrations/0005_sent_code_methods.sql"),
    },
    Migration {
        version: 6,
        name: "api_keys_and_teams",
        sql: include_str!("../migrations/0006_api_keys_and_teams.sql"),
    },
    Migration {
        version: 7,
        name: "sso_accounts",
        sql: include_str!("../migrations/0007_sso_accounts.sql"),
    },
    Migration {
        version: 8,
        name: "enrollment_sessions",
        sql: include_str!("../migrations/0008_enrollment_sessions.sql"),
    },
    Migration {
        version: 9,
        name: "policy_and_places",
        sql: include_str!("../migrations/0009_policy_and_places.sql"),
    },
    Migration {
        version: 10,
        name: "webauthn",
        sql: include_str!("../migrations/0010_webauthn.sql"),
    },
    // versions need not be contiguous: each is applied once, by its number, in this order
    Migration {
        version: 12,
        name: "team_invitations",
        sql: include_str!("../migrations/0012_team_invitations.sql"),
    },
    Migration {
        version: 13,
        name: "service_key_rotation",
        sql: include_str!("../migrations/0013_service_key_rotation.sql"),
    },
    Migration {
        version: 14,
        name: "step_up_targets",
        sql: include_str!("../migrations/0014_step_up_targets.sql"),
    },
    Migration {
        version: 15,
        name: "hashing_key_rotation",
        sql: include_str!("../migrations/0015_hashing_key_rotation.sql"),
    },
    Migration {
        version: 16,
        name: "outbox_claims",
        sql: include_str!("../migrations/0016_outbox_claims.sql"),
    },
    Migration {
        version: 17,
        name: "sealed_outbox_bodies",
        sql: include_str!("../migrations/0017_sealed_outbox_bodies.sql"),
    },
    Migration {
        version: 18,
        name: "oidc_clients",
        sql: include_str!("../migrations/0018_oidc_clients.sql"),
    },
    Migration {
        version: 19,
        name: "oidc_flows",
        sql: include_str!("../migrations/0019_oidc_flows.sql"),
    },
    Migration {
        version: 20,
        name: "subjects",
        sql: include_str!("../migrations/0020_subjects.sql"),
    },
    Migration {
        version: 21,
        name: "device_grant",
        sql: include_str!("../migrations/0021_device_grant.sql"),
    },
    Migration {
        version: 22,
        name: "push_approvals",
        sql: include_str!("../migrations/0022_push_approvals.sql"),
    },
];

/// Every query the service makes, over either backend.
#[derive(Clone)]
pub struct Store {
    db: Arc<dyn Db>,
}

impl Store {
    pub fn new(db: Arc<dyn Db>) -> Self {
        Self { db }
    }

    /// Opens the database a URL names: `sqlite://PATH` (created if missing) or `postgres://…`.
    pub fn open(url: &str, pool_size: usize) -> Result<Self> {
        if let Some(path) = url.strip_prefix("sqlite://") {
            let path = std::path::Path::new(path);
            private_database_files(path)?;
            Ok(Self::new(Arc::new(sqlite::SqliteDb::open(path)?)))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::new(Arc::new(postgres::PostgresDb::connect(
                url, pool_size,
            )?)))
        } else {
            Err(StoreError::Config(
                "database url must start with sqlite:// or postgres://".to_owned(),
            ))
        }
    }

    pub fn dialect(&self) -> Dialect {
        self.db.dialect()
    }

    /// Brings the schema up to date; returns how many migrations ran.
    pub async fn migrate(&self) -> Result<usize> {
        self.db.migrate(MIGRATIONS).await
    }

    /// Commits writes from several concepts as one transaction. `GuardFailed(i)` when write `i`
    /// (a conditional update) found nothing to change: then nothing was written.
    pub async fn commit(&self, writes: Vec<Write>) -> Result<BatchOutcome> {
        self.db
            .batch(writes.into_iter().map(|w| w.stmt).collect())
            .await
    }

    /// True when the database answers a trivial query.
    pub async fn ping(&self) -> Result<()> {
        self.db.ping().await
    }
}

/// Makes the SQLite file's directory and the file itself private before SQLite opens it: SQLite
/// gives its WAL and shared-memory files the database file's mode, so a database created 0600
/// keeps all three from other local users. Files left looser by older versions are tightened.
fn private_database_files(path: &std::path::Path) -> Result<()> {
    let config = |e: std::io::Error, what: &std::path::Path| {
        StoreError::Config(format!("cannot make {} private: {e}", what.display()))
    };
    if let Some(dir) = path.parent() {
        files::private_dir(dir).map_err(|e| config(e, dir))?;
    }
    files::private_file(path).map_err(|e| config(e, path))?;
    for suffix in ["-wal", "-shm"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        let side = std::path::PathBuf::from(name);
        files::tighten_file(&side).map_err(|e| config(e, &side))?;
    }
    Ok(())
}

/// For bookkeeping columns only (when a migration ran); rules get time from the core's clock.
#[allow(clippy::disallowed_methods, reason = "bookkeeping only, not a rule")]
pub(crate) fn unix_millis_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

pub(crate) fn parse_uuid(s: &str) -> Result<uuid::Uuid> {
    uuid::Uuid::parse_str(s).map_err(|e| StoreError::Corrupt(format!("bad uuid {s:?}: {e}")))
}
