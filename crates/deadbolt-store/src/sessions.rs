//! Sessions and their rotating refresh tokens.

use crate::db::{BatchOutcome, Row, Stmt};
use crate::events::EventRecord;
use crate::{params, parse_uuid, Result, Store};
use deadbolt_core::clock::{from_millis, to_millis};
use deadbolt_core::ids::{AccountId, SessionId};
use deadbolt_core::session::SessionTimes;
use time::OffsetDateTime;

#[derive(Debug, Clone)]
pub struct SessionRecord {
    pub id: SessionId,
    pub account_id: AccountId,
    pub created_at: OffsetDateTime,
    pub last_active_at: OffsetDateTime,
    pub revoked_at: Option<OffsetDateTime>,
    pub auth_time: OffsetDateTime,
    pub amr: Vec<String>,
    pub acr: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// Policy requires a second factor this account lacks: the session may only enroll one.
    pub enrollment_only: bool,
}

impl SessionRecord {
    pub fn times(&self) -> SessionTimes {
        SessionTimes {
            created_at: self.created_at,
            last_active_at: self.last_active_at,
            revoked_at: self.revoked_at,
        }
    }

    /// The writes that start this session with its first refresh token.
    pub fn writes(&self, refresh_hash: &[u8]) -> Vec<crate::Write> {
        session_stmts(self, refresh_hash)
            .into_iter()
            .map(crate::Write::new)
            .collect()
    }
}

/// Gives a live session a new id and ends the old one, carrying over everything that hangs on
/// it (its refresh tokens, step-up grants, challenges, OpenID Connect grants, the push method
/// it approves for, the device sign-ins it approved): what a session identifier the
/// browser held before a privilege change was worth ends with the change (OWASP ASVS 5.0,
/// session renewal). The first write is a guard: nothing happens to a session already ended.
pub fn renew_session(old: SessionId, new: SessionId, now: OffsetDateTime) -> Vec<crate::Write> {
    let (old, new) = (old.to_string(), new.to_string());
    [
        // first, so that of two renewals of one session one alone goes on (on PostgreSQL the
        // second waits for the first's row lock, then finds the session ended)
        Stmt::guard(
            "UPDATE sessions SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
            params![old.clone(), to_millis(now)],
        ),
        Stmt::new(
            "INSERT INTO sessions (id, account_id, created_at, last_active_at, revoked_at, auth_time, amr, acr, ip, user_agent, enrollment_only) \
             SELECT $2, account_id, created_at, last_active_at, NULL, auth_time, amr, acr, ip, user_agent, enrollment_only \
             FROM sessions WHERE id = $1",
            params![old.clone(), new.clone()],
        ),
        Stmt::new(
            "UPDATE refresh_tokens SET session_id = $2 WHERE session_id = $1",
            params![old.clone(), new.clone()],
        ),
        Stmt::new(
            "UPDATE step_up_grants SET session_id = $2 WHERE session_id = $1",
            params![old.clone(), new.clone()],
        ),
        Stmt::new(
            "UPDATE mfa_challenges SET session_id = $2 WHERE session_id = $1",
            params![old.clone(), new.clone()],
        ),
        // what OpenID Connect clients were given from this session ends with it, and goes on
        // with its renewal
        Stmt::new(
            "UPDATE oidc_grants SET session_id = $2 WHERE session_id = $1",
            params![old.clone(), new.clone()],
        ),
        Stmt::new(
            "UPDATE oidc_codes SET session_id = $2 WHERE session_id = $1",
            params![old.clone(), new.clone()],
        ),
        // the browser (or app) that approves pushes is the session, whatever its id becomes
        Stmt::new(
            "UPDATE push_methods SET session_id = $2 WHERE session_id = $1",
            params![old.clone(), new.clone()],
        ),
        // a device approved from this session collects its tokens while the session lives on
        Stmt::new(
            "UPDATE device_authorizations SET session_id = $2 WHERE session_id = $1",
            params![old, new],
        ),
    ]
    .into_iter()
    .map(crate::Write::new)
    .collect()
}

/// What the store found when asked to rotate a refresh token.
#[derive(Debug, Clone)]
pub enum RefreshOutcome {
    /// The old token is now spent and the new one stored.
    Rotated,
    /// Someone spent the token first (a concurrent refresh or a replay).
    AlreadyUsed,
}

const SESSION_SELECT: &str = "SELECT id, account_id, created_at, last_active_at, revoked_at, auth_time, amr, acr, ip, user_agent, enrollment_only FROM sessions";

fn session_from_row(r: &Row) -> Result<SessionRecord> {
    Ok(SessionRecord {
        id: SessionId(parse_uuid(&r.text(0)?)?),
        account_id: AccountId(parse_uuid(&r.text(1)?)?),
        created_at: from_millis(r.int(2)?),
        last_active_at: from_millis(r.int(3)?),
        revoked_at: r.opt_int(4)?.map(from_millis),
        auth_time: from_millis(r.int(5)?),
        amr: r.text(6)?.split_whitespace().map(str::to_owned).collect(),
        acr: r.text(7)?,
        ip: r.opt_text(8)?,
        user_agent: r.opt_text(9)?,
        enrollment_only: r.bool(10)?,
    })
}

fn insert_refresh(hash: &[u8], session: SessionId, now: OffsetDateTime) -> Stmt {
    Stmt::new(
        "INSERT INTO refresh_tokens (hash, session_id, created_at) VALUES ($1, $2, $3)",
        params![hash.to_vec(), session.to_string(), to_millis(now)],
    )
}

fn session_stmts(s: &SessionRecord, refresh_hash: &[u8]) -> Vec<Stmt> {
    vec![
            Stmt::new(
                "INSERT INTO sessions (id, account_id, created_at, last_active_at, revoked_at, auth_time, amr, acr, ip, user_agent, enrollment_only) \
                 VALUES ($1, $2, $3, $4, NULL, $5, $6, $7, $8, $9, $10)",
                params![
                    s.id.to_string(),
                    s.account_id.to_string(),
                    to_millis(s.created_at),
                    to_millis(s.last_active_at),
                    to_millis(s.auth_time),
                    s.amr.join(" "),
                    s.acr.as_str(),
                    s.ip.clone(),
                    s.user_agent.clone(),
                    s.enrollment_only,
                ],
            ),
        insert_refresh(refresh_hash, s.id, s.created_at),
    ]
}

impl Store {
    pub async fn session(&self, id: SessionId) -> Result<Option<SessionRecord>> {
        const SQL: &str = "SELECT id, account_id, created_at, last_active_at, revoked_at, auth_time, amr, acr, ip, user_agent, enrollment_only FROM sessions WHERE id = $1";
        debug_assert!(SQL.starts_with(SESSION_SELECT));
        let rows = self.db.query(SQL, params![id.to_string()]).await?;
        rows.first().map(session_from_row).transpose()
    }

    /// Sessions of an account not revoked, newest first (the caller applies lifetime rules).
    pub async fn unrevoked_sessions(&self, account: AccountId) -> Result<Vec<SessionRecord>> {
        const SQL: &str = "SELECT id, account_id, created_at, last_active_at, revoked_at, auth_time, amr, acr, ip, user_agent, enrollment_only FROM sessions \
                           WHERE account_id = $1 AND revoked_at IS NULL ORDER BY created_at DESC, id";
        let rows = self.db.query(SQL, params![account.to_string()]).await?;
        rows.iter().map(session_from_row).collect()
    }

    /// The session a refresh token belongs to, and whether the token was already exchanged.
    pub async fn refresh_token(&self, hash: &[u8]) -> Result<Option<(SessionId, bool)>> {
        let rows = self
            .db
            .query(
                "SELECT session_id, used_at FROM refresh_tokens WHERE hash = $1",
                params![hash.to_vec()],
            )
            .await?;
        rows.first()
            .map(|r| Ok((SessionId(parse_uuid(&r.text(0)?)?), r.opt_int(1)?.is_some())))
            .transpose()
    }

    /// Spends `old` and stores `new` in one step; only one of two racing refreshes wins.
    pub async fn rotate_refresh(
        &self,
        session: SessionId,
        old: &[u8],
        new: &[u8],
        now: OffsetDateTime,
        event: EventRecord,
    ) -> Result<RefreshOutcome> {
        let outcome = self
            .db
            .batch(vec![
                Stmt::guard(
                    "UPDATE refresh_tokens SET used_at = $2 WHERE hash = $1 AND used_at IS NULL",
                    params![old.to_vec(), to_millis(now)],
                ),
                insert_refresh(new, session, now),
                Stmt::new(
                    "UPDATE sessions SET last_active_at = $2 WHERE id = $1",
                    params![session.to_string(), to_millis(now)],
                ),
                event.insert(),
            ])
            .await?;
        Ok(match outcome {
            BatchOutcome::Committed => RefreshOutcome::Rotated,
            BatchOutcome::GuardFailed(_) => RefreshOutcome::AlreadyUsed,
        })
    }

    /// Revokes a session of `account`; false when there was no such live session.
    pub async fn revoke_session(
        &self,
        account: AccountId,
        session: SessionId,
        now: OffsetDateTime,
        event: EventRecord,
    ) -> Result<bool> {
        let outcome = self
            .db
            .batch(vec![
                Stmt::guard(
                    "UPDATE sessions SET revoked_at = $3 WHERE id = $1 AND account_id = $2 AND revoked_at IS NULL",
                    params![session.to_string(), account.to_string(), to_millis(now)],
                ),
                event.insert(),
            ])
            .await?;
        Ok(outcome == BatchOutcome::Committed)
    }
}

/// Revokes every session of an account except `keep` (after a password change).
pub fn revoke_other_sessions(
    account: AccountId,
    keep: Option<SessionId>,
    now: OffsetDateTime,
) -> crate::Write {
    crate::Write::new(Stmt::new(
        "UPDATE sessions SET revoked_at = $3 WHERE account_id = $1 AND revoked_at IS NULL AND id <> $2",
        params![account.to_string(), keep.map_or_else(String::new, |s| s.to_string()), to_millis(now)],
    ))
}

/// Marks a live session active now: the hosted pages' cookie has no refresh token exchange to
/// keep the idle limit at bay, so a page visit does it.
pub fn touch_session(session: SessionId, now: OffsetDateTime) -> crate::Write {
    crate::Write::new(Stmt::new(
        "UPDATE sessions SET last_active_at = $2 WHERE id = $1 AND revoked_at IS NULL",
        params![session.to_string(), to_millis(now)],
    ))
}
