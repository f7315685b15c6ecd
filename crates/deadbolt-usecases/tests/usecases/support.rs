//! A use-case context on a fresh database of the backend under test (its files in a temporary
//! directory), with time driven by hand, and the steps every test needs: an account, a sign-in,
//! a TOTP method, the mail queued.

use deadbolt_config::Config;
use deadbolt_core::account::Account;
use deadbolt_core::clock::{Clock, ManualClock};
use deadbolt_core::ids::MethodId;
use deadbolt_core::policy::Deployment;
use deadbolt_core::secret::Secret;
use deadbolt_store::OutboxMessage;
pub use deadbolt_test_support::codes::six_digit_numbers;
use deadbolt_test_support::database::fresh_database_url;
pub use deadbolt_test_support::totp::totp_at;
use deadbolt_usecases::accounts::{self, OperatorAccount};
use deadbolt_usecases::client::{ClientInfo, Principal};
use deadbolt_usecases::factors::FactorInput;
use deadbolt_usecases::login::{self, Login, LoginOutcome};
use deadbolt_usecases::mfa::{self, Confirmation};
use deadbolt_usecases::mfa_login::{self, MfaVerify, SecondStep};
use deadbolt_usecases::system::OsRandom;
use deadbolt_usecases::{sessions, Context, DomainError, DomainResult};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use time::{Duration, OffsetDateTime};

pub const PASSWORD: &str = "correct horse battery staple";

/// Where every test's clock starts.
pub const T0: i64 = 1_800_000_000;

pub struct World {
    pub ctx: Context,
    pub clock: Arc<ManualClock>,
    _dir: tempfile::TempDir,
}

/// A context with the default configuration (cheap hashing aside).
pub async fn world() -> World {
    world_with(|_| {}).await
}

/// A context whose configuration `configure` changes first; its policy is seeded from it.
pub async fn world_with(configure: impl FnOnce(&mut Config)) -> World {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::default();
    config.server.public_url = "http://deadbolt.test".into();
    config.database.url =
        fresh_database_url(&dir.path().join("db.sqlite"), "deadbolt_usecases").await;
    config.database.pool_size = 2;
    config.secrets.master_key_file = dir.path().join("master.key");
    config.email.file_dir = dir.path().join("mail");
    // the cheapest Argon2id the config allows: the rules around hashing are the same
    config.password.memory_kib = 8;
    config.password.iterations = 1;
    config.password.parallelism = 1;
    config.password.hash_threads = 1;
    configure(&mut config);
    assert!(config.password.params().problems().is_empty());
    assert!(config.lockout.problems().is_empty());
    let here = Deployment {
        has_geoip: false,
        login_failures_per_account: config.limits.login_failures_per_account,
    };
    let problems = config.policy_seed().problems_in(&here);
    assert!(problems.is_empty(), "{problems:?}");
    let clock = Arc::new(ManualClock::new(
        OffsetDateTime::from_unix_timestamp(T0).unwrap(),
    ));
    let ctx = Context::open(config, clock.clone(), Arc::new(OsRandom))
        .await
        .unwrap();
    World {
        ctx,
        clock,
        _dir: dir,
    }
}

/// The client every test acts for, unless it says otherwise.
pub fn client() -> ClientInfo {
    client_at("203.0.113.7")
}

pub fn client_at(ip: &str) -> ClientInfo {
    ClientInfo {
        ip: Some(ip.parse().unwrap()),
        user_agent: Some("deadbolt-usecase-tests/1.0".into()),
    }
}

/// The error a call must have answered with.
pub fn err<T>(r: DomainResult<T>) -> DomainError {
    match r {
        Ok(_) => panic!("expected an error, the call succeeded"),
        Err(e) => e,
    }
}

/// The value a call must have answered with.
pub fn ok<T>(r: DomainResult<T>) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("expected success: {e:?}"),
    }
}

/// An account with TOTP confirmed, and the session it was enrolled from.
pub struct Enrolled {
    pub account: Account,
    pub who: Principal,
    pub secret: String,
    pub method_id: MethodId,
}

impl World {
    pub fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    pub fn advance(&self, seconds: i64) {
        self.clock.advance(Duration::seconds(seconds));
    }

    /// The TOTP code of `secret` now, by an independent implementation (totp-lite).
    pub fn code(&self, secret: &str) -> String {
        totp_at(secret, self.now().unix_timestamp())
    }

    /// A six-digit code that no step within the skew window accepts now.
    pub fn wrong_code(&self, secret: &str) -> String {
        let now = self.now().unix_timestamp();
        let near: Vec<String> = [-60, -30, 0, 30, 60]
            .iter()
            .map(|d| totp_at(secret, now + d))
            .collect();
        (0..10u32)
            .map(|d| d.to_string().repeat(6))
            .find(|c| !near.contains(c))
            .unwrap()
    }

    /// An account made as `deadbolt admin create` makes one: email verified, no second factor.
    pub async fn account(&self, email: &str) -> Account {
        ok(accounts::create_by_operator(
            &self.ctx,
            OperatorAccount {
                email: email.to_owned(),
                password: Secret::new(PASSWORD),
                roles: vec![],
            },
        )
        .await)
    }

    pub async fn login(&self, email: &str, password: &str) -> DomainResult<LoginOutcome> {
        self.login_from(&client(), email, password).await
    }

    pub async fn login_from(
        &self,
        from: &ClientInfo,
        email: &str,
        password: &str,
    ) -> DomainResult<LoginOutcome> {
        login::login(
            &self.ctx,
            from,
            Login {
                email: email.to_owned(),
                password: Secret::new(password),
                device_token: None,
            },
        )
        .await
    }

    /// A password sign-in that needs no second factor: the caller it makes.
    pub async fn signed_in(&self, email: &str) -> Principal {
        match ok(self.login(email, PASSWORD).await) {
            LoginOutcome::SignedIn(tokens) => {
                ok(sessions::authenticate(&self.ctx, &tokens.access_token).await)
            }
            LoginOutcome::MfaRequired { .. } => panic!("{email}: a second factor was asked for"),
        }
    }

    /// A password sign-in that must ask for the second factor: its mfa_token.
    pub async fn mfa_token(&self, email: &str) -> Secret {
        match ok(self.login(email, PASSWORD).await) {
            LoginOutcome::MfaRequired { mfa_token, .. } => mfa_token,
            LoginOutcome::SignedIn(_) => panic!("{email}: signed in without a second factor"),
        }
    }

    /// The second step of a sign-in with a TOTP code.
    pub async fn verify_totp(&self, mfa_token: &Secret, code: &str) -> DomainResult<SecondStep> {
        mfa_login::verify(
            &self.ctx,
            &client(),
            MfaVerify {
                mfa_token: mfa_token.clone(),
                answering: deadbolt_usecases::challenge::Answering::SignIn,
                factor: totp(code),
                trust_device: false,
            },
        )
        .await
    }

    /// An account, signed in, with TOTP enrolled and confirmed; the clock then moves to the
    /// next time step (the confirmation spent the current one).
    pub async fn enrolled(&self, email: &str) -> Enrolled {
        let account = self.account(email).await;
        let who = self.signed_in(email).await;
        let started = ok(mfa::enroll_totp(&self.ctx, &client(), &who, None).await);
        let secret = started.secret.expose().to_owned();
        let confirmed = ok(mfa::confirm(
            &self.ctx,
            &client(),
            &who,
            started.method_id,
            Confirmation::Code(Secret::new(self.code(&secret))),
        )
        .await);
        assert!(
            confirmed.recovery_codes.is_some(),
            "the first method turns MFA on"
        );
        self.advance(30);
        Enrolled {
            account,
            who,
            secret,
            method_id: started.method_id,
        }
    }

    /// The messages queued since the last look, with their words.
    pub async fn mail(&self) -> Vec<OutboxMessage> {
        static CLAIMS: AtomicU64 = AtomicU64::new(0);
        let claim = format!("usecase-tests-{}", CLAIMS.fetch_add(1, Ordering::Relaxed));
        let now = self.now();
        // a lease longer than any test's clock runs, so a message is seen once
        let sealed = self
            .ctx
            .store
            .claim_outbox(now, now + Duration::days(3650), 1000, &claim)
            .await
            .unwrap();
        let mut mail: Vec<OutboxMessage> = sealed
            .iter()
            .map(|m| m.open(self.ctx.outbox_keys.as_ref()).unwrap())
            .collect();
        // a claim returns its rows in no particular order
        mail.sort_by_key(|m| m.created_at);
        mail
    }
}

pub fn totp(code: &str) -> FactorInput {
    FactorInput::Totp {
        method_id: None,
        code: Secret::new(code),
    }
}
