//! OpenID Connect sign-ins: authorization requests waiting for a sign-in, authorization codes,
//! the grants their exchange makes with their rotating refresh tokens, and consents.

use crate::db::{Row, Stmt};
use crate::{params, parse_uuid, Result, Store, Write};
use deadbolt_core::clock::{from_millis, to_millis};
use deadbolt_core::ids::{AccountId, SessionId};
use time::OffsetDateTime;

/// An authorization request, checked, waiting while the person signs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationRecord {
    pub id: String,
    pub client_id: String,
    pub redirect_uri: String,
    /// Space-separated, as OAuth writes scopes.
    pub scope: String,
    pub state: Option<String>,
    pub nonce: Option<String>,
    /// The S256 challenge, base64url.
    pub code_challenge: Option<String>,
    /// Space-separated prompt values (`login`, `consent`), empty when none.
    pub prompt: String,
    pub max_age: Option<i64>,
    /// The assurance level asked for (`aal1`, `aal2`).
    pub acr: String,
    pub login_hint: Option<String>,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    /// The client's subject its signed request object named: only that subject may answer it.
    pub subject: Option<AccountId>,
    /// When that subject's sign-in for this request was begun (it is begun once).
    pub subject_started_at: Option<OffsetDateTime>,
}

impl AuthorizationRecord {
    pub fn insert(&self) -> Write {
        Write::new(Stmt::new(
            "INSERT INTO oidc_requests (id, client_id, redirect_uri, scope, state, nonce, code_challenge, prompt, \
             max_age, acr, login_hint, created_at, expires_at, subject_account_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
            params![
                self.id.as_str(),
                self.client_id.as_str(),
                self.redirect_uri.as_str(),
                self.scope.as_str(),
                self.state.clone(),
                self.nonce.clone(),
                self.code_challenge.clone(),
                self.prompt.as_str(),
                self.max_age,
                self.acr.as_str(),
                self.login_hint.clone(),
                to_millis(self.created_at),
                to_millis(self.expires_at),
                self.subject.map(|a| a.to_string()),
            ],
        ))
    }

    /// The person answered the consent page for this request: `prompt=consent` is satisfied.
    pub fn consent_given(id: &str, prompt_left: &str) -> Write {
        Write::new(Stmt::new(
            "UPDATE oidc_requests SET prompt = $2 WHERE id = $1",
            params![id, prompt_left],
        ))
    }

    /// Begins the sign-in of the subject the request names: a guard, so that it is begun once,
    /// in one browser (whoever else learns the request's id cannot begin it again).
    pub fn start_subject_sign_in(id: &str, now: OffsetDateTime) -> Write {
        Write::new(Stmt::guard(
            "UPDATE oidc_requests SET subject_started_at = $2 \
             WHERE id = $1 AND subject_account_id IS NOT NULL AND subject_started_at IS NULL",
            params![id, to_millis(now)],
        ))
    }

    /// Ends the request: a guard, so that of two tabs finishing one request one alone goes on.
    pub fn finish(id: &str) -> Write {
        Write::new(Stmt::guard(
            "DELETE FROM oidc_requests WHERE id = $1",
            params![id],
        ))
    }
}

/// An authorization code, by its keyed hash.
#[derive(Debug, Clone)]
pub struct AuthorizationCodeRecord {
    pub hash: Vec<u8>,
    pub client_id: String,
    pub account_id: AccountId,
    pub session_id: SessionId,
    pub redirect_uri: String,
    pub scope: String,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub auth_time: OffsetDateTime,
    pub amr: Vec<String>,
    pub acr: String,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub used_at: Option<OffsetDateTime>,
    /// What its first exchange made.
    pub grant_id: Option<String>,
}

impl AuthorizationCodeRecord {
    pub fn insert(&self) -> Write {
        Write::new(Stmt::new(
            "INSERT INTO oidc_codes (hash, client_id, account_id, session_id, redirect_uri, scope, nonce, \
             code_challenge, auth_time, amr, acr, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
            params![
                self.hash.clone(),
                self.client_id.as_str(),
                self.account_id.to_string(),
                self.session_id.to_string(),
                self.redirect_uri.as_str(),
                self.scope.as_str(),
                self.nonce.clone(),
                self.code_challenge.clone(),
                to_millis(self.auth_time),
                self.amr.join(" "),
                self.acr.as_str(),
                to_millis(self.created_at),
                to_millis(self.expires_at),
            ],
        ))
    }

    /// Spends the code on the grant its exchange makes: a guard, so that of two exchanges
    /// racing one alone issues tokens.
    pub fn spend(hash: &[u8], grant_id: &str, now: OffsetDateTime) -> Write {
        Write::new(Stmt::guard(
            "UPDATE oidc_codes SET used_at = $2, grant_id = $3 WHERE hash = $1 AND used_at IS NULL",
            params![hash.to_vec(), to_millis(now), grant_id],
        ))
    }
}

/// What a client holds for an account: the authentication it was given, bound to the browser
/// session it came from.
#[derive(Debug, Clone)]
pub struct OidcGrantRecord {
    pub id: String,
    pub client_id: String,
    pub account_id: AccountId,
    pub session_id: SessionId,
    pub scope: String,
    pub auth_time: OffsetDateTime,
    pub amr: Vec<String>,
    pub acr: String,
    pub created_at: OffsetDateTime,
    pub revoked_at: Option<OffsetDateTime>,
}

impl OidcGrantRecord {
    /// The grant with its first refresh token (when it has one).
    pub fn insert(&self, refresh_hash: Option<&[u8]>) -> Vec<Write> {
        let mut writes = vec![Write::new(Stmt::new(
            "INSERT INTO oidc_grants (id, client_id, account_id, session_id, scope, auth_time, amr, acr, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            params![
                self.id.as_str(),
                self.client_id.as_str(),
                self.account_id.to_string(),
                self.session_id.to_string(),
                self.scope.as_str(),
                to_millis(self.auth_time),
                self.amr.join(" "),
                self.acr.as_str(),
                to_millis(self.created_at),
            ],
        ))];
        if let Some(hash) = refresh_hash {
            writes.push(insert_refresh(hash, &self.id, self.created_at));
        }
        writes
    }

    /// Ends a grant (its refresh tokens stop working; its access tokens no longer introspect
    /// as active).
    pub fn revoke(id: &str, now: OffsetDateTime) -> Write {
        Write::new(Stmt::new(
            "UPDATE oidc_grants SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
            params![id, to_millis(now)],
        ))
    }

    /// Ends every grant of `account` to `client` (a consent taken back), and the codes not
    /// yet exchanged, which would otherwise make new ones.
    pub fn revoke_client(account: AccountId, client_id: &str, now: OffsetDateTime) -> Vec<Write> {
        vec![
            Write::new(Stmt::new(
                "UPDATE oidc_grants SET revoked_at = $3 WHERE account_id = $1 AND client_id = $2 AND revoked_at IS NULL",
                params![account.to_string(), client_id, to_millis(now)],
            )),
            Write::new(Stmt::new(
                "UPDATE oidc_codes SET used_at = $3 WHERE account_id = $1 AND client_id = $2 AND used_at IS NULL",
                params![account.to_string(), client_id, to_millis(now)],
            )),
        ]
    }

    /// Ends every grant of `account` to every client, and its codes not yet exchanged (a new
    /// password: what a thief's session got from applications must not outlive it).
    pub fn revoke_account(account: AccountId, now: OffsetDateTime) -> Vec<Write> {
        vec![
            Write::new(Stmt::new(
                "UPDATE oidc_grants SET revoked_at = $2 WHERE account_id = $1 AND revoked_at IS NULL",
                params![account.to_string(), to_millis(now)],
            )),
            Write::new(Stmt::new(
                "UPDATE oidc_codes SET used_at = $2 WHERE account_id = $1 AND used_at IS NULL",
                params![account.to_string(), to_millis(now)],
            )),
        ]
    }

    /// Spends refresh token `old` and stores `new` for the grant: a guard, so that of two
    /// presentations of one token one alone is honoured.
    pub fn rotate_refresh(
        grant_id: &str,
        old: &[u8],
        new: &[u8],
        now: OffsetDateTime,
    ) -> Vec<Write> {
        vec![
            Write::new(Stmt::guard(
                "UPDATE oidc_refresh_tokens SET used_at = $2 WHERE hash = $1 AND used_at IS NULL",
                params![old.to_vec(), to_millis(now)],
            )),
            // the grant must still be live when the new token is stored (on PostgreSQL this
            // also waits for a revocation under way)
            Write::new(Stmt::guard(
                "UPDATE oidc_grants SET revoked_at = NULL WHERE id = $1 AND revoked_at IS NULL",
                params![grant_id],
            )),
            insert_refresh(new, grant_id, now),
        ]
    }
}

fn insert_refresh(hash: &[u8], grant_id: &str, now: OffsetDateTime) -> Write {
    Write::new(Stmt::new(
        "INSERT INTO oidc_refresh_tokens (hash, grant_id, created_at) VALUES ($1, $2, $3)",
        params![hash.to_vec(), grant_id, to_millis(now)],
    ))
}

/// A third-party client a person allowed, with the scopes they allowed it.
#[derive(Debug, Clone)]
pub struct ConsentRecord {
    pub account_id: AccountId,
    pub client_id: String,
    pub scope: String,
    pub granted_at: OffsetDateTime,
}

impl ConsentRecord {
    /// Records the consent, in place of an earlier one to the same client.
    pub fn upsert(&self) -> Vec<Write> {
        // one statement: two answers racing (a double click) both land, the later one last
        vec![Write::new(Stmt::new(
            "INSERT INTO oidc_consents (account_id, client_id, scope, granted_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (account_id, client_id) DO UPDATE SET scope = excluded.scope, granted_at = excluded.granted_at",
            params![
                self.account_id.to_string(),
                self.client_id.as_str(),
                self.scope.as_str(),
                to_millis(self.granted_at),
            ],
        ))]
    }

    /// Takes a consent back: a guard (nothing to take back is a failed guard).
    pub fn delete(account: AccountId, client_id: &str) -> Write {
        Write::new(Stmt::guard(
            "DELETE FROM oidc_consents WHERE account_id = $1 AND client_id = $2",
            params![account.to_string(), client_id],
        ))
    }
}

const REQUEST_COLUMNS: &str =
    "id, client_id, redirect_uri, scope, state, nonce, code_challenge, prompt, max_age, acr, \
     login_hint, created_at, expires_at, subject_account_id, subject_started_at";
const CODE_COLUMNS: &str =
    "hash, client_id, account_id, session_id, redirect_uri, scope, nonce, code_challenge, \
     auth_time, amr, acr, created_at, expires_at, used_at, grant_id";
const GRANT_COLUMNS: &str =
    "id, client_id, account_id, session_id, scope, auth_time, amr, acr, created_at, revoked_at";

fn words(raw: &str) -> Vec<String> {
    raw.split_whitespace().map(str::to_owned).collect()
}

fn request_from_row(r: &Row) -> Result<AuthorizationRecord> {
    Ok(AuthorizationRecord {
        id: r.text(0)?,
        client_id: r.text(1)?,
        redirect_uri: r.text(2)?,
        scope: r.text(3)?,
        state: r.opt_text(4)?,
        nonce: r.opt_text(5)?,
        code_challenge: r.opt_text(6)?,
        prompt: r.text(7)?,
        max_age: r.opt_int(8)?,
        acr: r.text(9)?,
        login_hint: r.opt_text(10)?,
        created_at: from_millis(r.int(11)?),
        expires_at: from_millis(r.int(12)?),
        subject: r
            .opt_text(13)?
            .map(|a| parse_uuid(&a).map(AccountId))
            .transpose()?,
        subject_started_at: r.opt_int(14)?.map(from_millis),
    })
}

fn code_from_row(r: &Row) -> Result<AuthorizationCodeRecord> {
    Ok(AuthorizationCodeRecord {
        hash: r.bytes(0)?,
        client_id: r.text(1)?,
        account_id: AccountId(parse_uuid(&r.text(2)?)?),
        session_id: SessionId(parse_uuid(&r.text(3)?)?),
        redirect_uri: r.text(4)?,
        scope: r.text(5)?,
        nonce: r.opt_text(6)?,
        code_challenge: r.opt_text(7)?,
        auth_time: from_millis(r.int(8)?),
        amr: words(&r.text(9)?),
        acr: r.text(10)?,
        created_at: from_millis(r.int(11)?),
        expires_at: from_millis(r.int(12)?),
        used_at: r.opt_int(13)?.map(from_millis),
        grant_id: r.opt_text(14)?,
    })
}

fn grant_from_row(r: &Row) -> Result<OidcGrantRecord> {
    Ok(OidcGrantRecord {
        id: r.text(0)?,
        client_id: r.text(1)?,
        account_id: AccountId(parse_uuid(&r.text(2)?)?),
        session_id: SessionId(parse_uuid(&r.text(3)?)?),
        scope: r.text(4)?,
        auth_time: from_millis(r.int(5)?),
        amr: words(&r.text(6)?),
        acr: r.text(7)?,
        created_at: from_millis(r.int(8)?),
        revoked_at: r.opt_int(9)?.map(from_millis),
    })
}

/// Spends a request object's `jti`: a guard, so that a request object is used once. Kept
/// until the object expires (after that it is refused for its age anyway).
pub fn spend_request_object(client_id: &str, jti: &str, expires_at: OffsetDateTime) -> Write {
    Write::new(Stmt::guard(
        "INSERT INTO oidc_request_objects (client_id, jti, expires_at) VALUES ($1, $2, $3) \
         ON CONFLICT DO NOTHING",
        params![client_id, jti, to_millis(expires_at)],
    ))
}

impl Store {
    /// The waiting authorization request with this id, expired or not.
    pub async fn oidc_request(&self, id: &str) -> Result<Option<AuthorizationRecord>> {
        const SQL: &str = "SELECT id, client_id, redirect_uri, scope, state, nonce, code_challenge, prompt, max_age, acr, \
     login_hint, created_at, expires_at, subject_account_id, subject_started_at FROM oidc_requests WHERE id = $1";
        debug_assert!(SQL.contains(REQUEST_COLUMNS));
        let rows = self.db.query(SQL, params![id]).await?;
        rows.first().map(request_from_row).transpose()
    }

    /// The authorization code with this hash, spent or not.
    pub async fn oidc_code(&self, hash: &[u8]) -> Result<Option<AuthorizationCodeRecord>> {
        const SQL: &str = "SELECT hash, client_id, account_id, session_id, redirect_uri, scope, nonce, code_challenge, \
     auth_time, amr, acr, created_at, expires_at, used_at, grant_id FROM oidc_codes WHERE hash = $1";
        debug_assert!(SQL.contains(CODE_COLUMNS));
        let rows = self.db.query(SQL, params![hash.to_vec()]).await?;
        rows.first().map(code_from_row).transpose()
    }

    pub async fn oidc_grant(&self, id: &str) -> Result<Option<OidcGrantRecord>> {
        const SQL: &str = "SELECT id, client_id, account_id, session_id, scope, auth_time, amr, acr, created_at, revoked_at \
             FROM oidc_grants WHERE id = $1";
        debug_assert!(SQL.contains(GRANT_COLUMNS));
        let rows = self.db.query(SQL, params![id]).await?;
        rows.first().map(grant_from_row).transpose()
    }

    /// The grant a refresh token belongs to, and whether the token was already exchanged.
    pub async fn oidc_refresh_token(&self, hash: &[u8]) -> Result<Option<(String, bool)>> {
        let rows = self
            .db
            .query(
                "SELECT grant_id, used_at FROM oidc_refresh_tokens WHERE hash = $1",
                params![hash.to_vec()],
            )
            .await?;
        rows.first()
            .map(|r| Ok((r.text(0)?, r.opt_int(1)?.is_some())))
            .transpose()
    }

    /// What `account` allowed `client_id`, when it did.
    pub async fn oidc_consent(
        &self,
        account: AccountId,
        client_id: &str,
    ) -> Result<Option<ConsentRecord>> {
        let rows = self
            .db
            .query(
                "SELECT scope, granted_at FROM oidc_consents WHERE account_id = $1 AND client_id = $2",
                params![account.to_string(), client_id],
            )
            .await?;
        rows.first()
            .map(|r| {
                Ok(ConsentRecord {
                    account_id: account,
                    client_id: client_id.to_owned(),
                    scope: r.text(0)?,
                    granted_at: from_millis(r.int(1)?),
                })
            })
            .transpose()
    }

    /// Every consent of `account`, newest first.
    pub async fn oidc_consents(&self, account: AccountId) -> Result<Vec<ConsentRecord>> {
        let rows = self
            .db
            .query(
                "SELECT client_id, scope, granted_at FROM oidc_consents WHERE account_id = $1 \
                 ORDER BY granted_at DESC, client_id",
                params![account.to_string()],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(ConsentRecord {
                    account_id: account,
                    client_id: r.text(0)?,
                    scope: r.text(1)?,
                    granted_at: from_millis(r.int(2)?),
                })
            })
            .collect()
    }
}
