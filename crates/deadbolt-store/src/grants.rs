//! Step-up grants: what a satisfied step-up lets a session do.

use crate::db::{Row, Stmt};
use crate::{params, parse_uuid, Result, Store, Write};
use deadbolt_core::clock::{from_millis, to_millis};
use deadbolt_core::ids::{GrantId, SessionId};
use time::OffsetDateTime;

#[derive(Debug, Clone)]
pub struct GrantRecord {
    pub id: GrantId,
    pub session_id: SessionId,
    pub action: String,
    /// The one thing the grant may be used on, when its action names one.
    pub target: Option<String>,
    pub expires_at: OffsetDateTime,
    pub one_shot: bool,
    pub sliding_seconds: Option<i64>,
    pub used_at: Option<OffsetDateTime>,
    pub auth_time: OffsetDateTime,
    pub amr: Vec<String>,
    pub acr: String,
}

impl GrantRecord {
    pub fn insert(&self) -> Write {
        Write::new(Stmt::new(
            "INSERT INTO step_up_grants (id, session_id, action, expires_at, one_shot, sliding_seconds, auth_time, amr, acr, target) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            params![
                self.id.to_string(),
                self.session_id.to_string(),
                self.action.as_str(),
                to_millis(self.expires_at),
                self.one_shot,
                self.sliding_seconds,
                to_millis(self.auth_time),
                self.amr.join(" "),
                self.acr.as_str(),
                self.target.clone(),
            ],
        ))
    }
}

/// Ends every open step-up grant of the account's sessions: when MFA turns on, grants won with
/// the password alone must not serve what now needs the second factor.
pub fn end_grants_of(account: deadbolt_core::ids::AccountId, now: OffsetDateTime) -> Write {
    Write::new(Stmt::new(
        "UPDATE step_up_grants SET used_at = $2 WHERE used_at IS NULL \
         AND session_id IN (SELECT id FROM sessions WHERE account_id = $1)",
        params![account.to_string(), to_millis(now)],
    ))
}

impl GrantRecord {
    /// The rule the grant was made under, as far as its use needs it.
    pub fn rule(&self) -> deadbolt_core::stepup::StepUpRule {
        deadbolt_core::stepup::StepUpRule {
            window_seconds: if self.one_shot {
                None
            } else {
                Some(self.sliding_seconds.unwrap_or(0))
            },
            sliding: self.sliding_seconds.is_some(),
        }
    }

    /// When the grant ends after a use at `now` (None: it is spent).
    pub fn after_use(&self, now: OffsetDateTime) -> Option<OffsetDateTime> {
        self.rule().after_use(self.expires_at, now, self.auth_time)
    }

    /// Uses the grant, as a guard in the action's own transaction: a one-shot grant is spent,
    /// a windowed one moves to `new_expiry`. Changes nothing once the grant is no longer open.
    pub fn use_write(&self, now: OffsetDateTime, new_expiry: Option<OffsetDateTime>) -> Write {
        match new_expiry {
            None => Write::new(Stmt::guard(
                "UPDATE step_up_grants SET used_at = $2 WHERE id = $1 AND used_at IS NULL AND expires_at > $2",
                params![self.id.to_string(), to_millis(now)],
            )),
            Some(until) => Write::new(Stmt::guard(
                "UPDATE step_up_grants SET expires_at = $3 WHERE id = $1 AND used_at IS NULL AND expires_at > $2",
                params![self.id.to_string(), to_millis(now), to_millis(until)],
            )),
        }
    }
}

fn grant_from_row(r: &Row) -> Result<GrantRecord> {
    Ok(GrantRecord {
        id: GrantId(parse_uuid(&r.text(0)?)?),
        session_id: SessionId(parse_uuid(&r.text(1)?)?),
        action: r.text(2)?,
        expires_at: from_millis(r.int(3)?),
        one_shot: r.bool(4)?,
        sliding_seconds: r.opt_int(5)?,
        used_at: r.opt_int(6)?.map(from_millis),
        auth_time: from_millis(r.int(7)?),
        amr: r.text(8)?.split_whitespace().map(str::to_owned).collect(),
        acr: r.text(9)?,
        target: r.opt_text(10)?,
    })
}

impl Store {
    /// The session's open grant for an action on `target` (unused and unexpired), latest
    /// first. A grant for one target never serves another, nor a request without one.
    pub async fn open_grant(
        &self,
        session: SessionId,
        action: &str,
        target: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<Option<GrantRecord>> {
        let rows = self
            .db
            .query(
                "SELECT id, session_id, action, expires_at, one_shot, sliding_seconds, used_at, auth_time, amr, acr, target \
                 FROM step_up_grants WHERE session_id = $1 AND action = $2 AND used_at IS NULL AND expires_at > $3 \
                 AND COALESCE(target, '') = $4 \
                 ORDER BY expires_at DESC LIMIT 1",
                params![session.to_string(), action, to_millis(now), target.unwrap_or_default()],
            )
            .await?;
        rows.first().map(grant_from_row).transpose()
    }

    /// When the session's latest step-up checked a factor or the password, if ever: with the
    /// sign-in's own time, the session's last proof that its user is still there.
    pub async fn last_step_up_check(&self, session: SessionId) -> Result<Option<OffsetDateTime>> {
        let rows = self
            .db
            .query(
                "SELECT MAX(auth_time) FROM step_up_grants WHERE session_id = $1",
                params![session.to_string()],
            )
            .await?;
        Ok(match rows.first() {
            Some(r) => r.opt_int(0)?.map(from_millis),
            None => None,
        })
    }

    /// Uses a grant: a one-shot grant is spent (only once, even when raced); a windowed one
    /// moves to `new_expiry`. False when the grant was no longer open.
    pub async fn use_grant(
        &self,
        grant: GrantId,
        now: OffsetDateTime,
        new_expiry: Option<OffsetDateTime>,
    ) -> Result<bool> {
        let n = match new_expiry {
            None => {
                self.db
                    .execute(
                        "UPDATE step_up_grants SET used_at = $2 WHERE id = $1 AND used_at IS NULL AND expires_at > $2",
                        params![grant.to_string(), to_millis(now)],
                    )
                    .await?
            }
            Some(until) => {
                self.db
                    .execute(
                        "UPDATE step_up_grants SET expires_at = $3 WHERE id = $1 AND used_at IS NULL AND expires_at > $2",
                        params![grant.to_string(), to_millis(now), to_millis(until)],
                    )
                    .await?
            }
        };
        Ok(n == 1)
    }
}
