//! Removing what has expired: spent or dead challenges and codes, old failure counts, ended
//! sessions (their refresh tokens go with them), expired grants, devices and team invitations,
//! delivered mail.
//! Security events are kept.

use crate::db::Stmt;
use crate::{params, Result, Store};
use deadbolt_core::clock::to_millis;
use time::{Duration, OffsetDateTime};

/// How long anything stays after it stopped mattering: long enough to answer "why was I signed
/// out" from the session list, short enough that tables do not grow without bound.
pub const GRACE: Duration = Duration::DAY;

impl Store {
    /// Deletes what ended before `now - GRACE`; sessions end at their absolute or idle limit.
    /// Returns how many rows went.
    pub async fn purge_expired(
        &self,
        now: OffsetDateTime,
        session_absolute: Duration,
        session_idle: Duration,
    ) -> Result<u64> {
        let cutoff = to_millis(now - GRACE);
        let created_cutoff = to_millis(now - GRACE - session_absolute);
        let idle_cutoff = to_millis(now - GRACE - session_idle);
        let mail_cutoff = to_millis(now - Duration::days(7));
        // long enough for an operator to notice and retry; their bodies may hold codes
        let dead_cutoff = to_millis(now - Duration::days(30));
        // a device unseen for over a year is new again
        let device_cutoff = to_millis(now - Duration::days(400));
        let statements = [
            // a retired service key's secret goes as soon as nothing it made is still good; API
            // keys, recovery codes and client secrets have no end, so a hashing key waits for
            // the last of theirs to be re-hashed, spent, revoked or replaced (a row from before
            // keys were named holds every key)
            Stmt::new(
                "DELETE FROM service_keys WHERE verify_until < $1 \
                 AND NOT EXISTS (SELECT 1 FROM api_keys WHERE revoked_at IS NULL \
                     AND (hash_key_id = service_keys.id OR (hash_key_id IS NULL AND service_keys.kind = 'token_hmac'))) \
                 AND NOT EXISTS (SELECT 1 FROM recovery_codes WHERE used_at IS NULL \
                     AND (hash_key_id = service_keys.id OR (hash_key_id IS NULL AND service_keys.kind = 'token_hmac'))) \
                 AND NOT EXISTS (SELECT 1 FROM oidc_clients WHERE secret_hash IS NOT NULL \
                     AND hash_key_id = service_keys.id)",
                params![to_millis(now)],
            ),
            Stmt::new("DELETE FROM mfa_challenges WHERE expires_at < $1", params![cutoff]),
            // a denial counts toward the pause and the rate of requests: kept a day as well
            Stmt::new("DELETE FROM push_approvals WHERE expires_at < $1", params![cutoff]),
            Stmt::new("DELETE FROM webauthn_ceremonies WHERE expires_at < $1", params![cutoff]),
            Stmt::new("DELETE FROM verification_codes WHERE expires_at < $1", params![cutoff]),
            Stmt::new("DELETE FROM auth_failures WHERE at < $1", params![cutoff]),
            Stmt::new("DELETE FROM step_up_grants WHERE expires_at < $1", params![cutoff]),
            Stmt::new("DELETE FROM oidc_requests WHERE expires_at < $1", params![cutoff]),
            Stmt::new("DELETE FROM oidc_codes WHERE expires_at < $1", params![cutoff]),
            Stmt::new(
                "DELETE FROM device_authorizations WHERE expires_at < $1",
                params![cutoff],
            ),
            Stmt::new(
                "DELETE FROM oidc_request_objects WHERE expires_at < $1",
                params![cutoff],
            ),
            // a grant is worth nothing once its session has gone (its refresh tokens go with it)
            Stmt::new(
                "DELETE FROM oidc_grants WHERE revoked_at < $1 \
                 OR NOT EXISTS (SELECT 1 FROM sessions WHERE sessions.id = oidc_grants.session_id)",
                params![cutoff],
            ),
            Stmt::new("DELETE FROM team_invitations WHERE expires_at < $1", params![cutoff]),
            Stmt::new(
                "DELETE FROM sessions WHERE revoked_at < $1 OR created_at < $2 OR last_active_at < $3",
                params![cutoff, created_cutoff, idle_cutoff],
            ),
            Stmt::new("DELETE FROM trusted_devices WHERE expires_at < $1 OR revoked_at < $1", params![cutoff]),
            Stmt::new("DELETE FROM outbox WHERE status = 'sent' AND sent_at < $1", params![mail_cutoff]),
            Stmt::new("DELETE FROM outbox WHERE status = 'dead' AND created_at < $1", params![dead_cutoff]),
            Stmt::new("DELETE FROM known_devices WHERE last_seen_at < $1", params![device_cutoff]),
            Stmt::new("DELETE FROM known_places WHERE last_seen_at < $1", params![device_cutoff]),
        ];
        let mut removed = 0;
        // one statement at a time: a purge never holds the write lock for long
        for s in statements {
            removed += self.db.execute(s.sql, s.params).await?;
        }
        Ok(removed)
    }
}
