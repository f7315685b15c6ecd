//! Documents and tokens: the configuration (TOML and environment), the policy document, and
//! presented access tokens.

use crate::fixture::fixture;
use axum::extract::FromRequestParts as _;
use deadbolt_core::policy::{Deployment, Policy};
use deadbolt_server::config::Config;
use deadbolt_server::extract::Caller;
use deadbolt_usecases::jwt::{self, AccessClaims, JwtError, StepUpClaims};
use deadbolt_usecases::DomainError;

/// TOML, then after a NUL byte `NAME=value` lines taken as the environment.
pub fn config_toml(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (file, env) = text.split_once('\0').unwrap_or((text, ""));
    let env: Vec<(String, String)> = env
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let Ok(config) = Config::parse(Some(("fuzz.toml", file)), env) else {
        return;
    };
    let _ = config.warnings();
    let _ = (config.hash_threads(), config.hash_queue());
    let seed = config.policy_seed();
    let _ = seed.problems_in(&Deployment {
        has_geoip: false,
        login_failures_per_account: config.limits.login_failures_per_account,
    });
    // a configuration that loads can be written out and loads again the same
    let written = match toml::to_string(&config) {
        Ok(w) => w,
        Err(e) => panic!("a valid configuration does not serialise: {e}"),
    };
    match Config::parse(Some(("written.toml", &written)), Vec::new()) {
        Ok(again) => assert_eq!(
            toml::to_string(&again).ok().as_deref(),
            Some(written.as_str()),
            "the configuration changed on a round trip"
        ),
        Err(e) => panic!("a valid configuration, written out, no longer loads: {e}\n{written}"),
    }
}

/// An administrator's policy document (`PUT /v1/admin/policy`), and a stored one over the seed.
pub fn policy_document(data: &[u8]) {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    match deadbolt_usecases::policy::parse(value) {
        Ok(policy) => check_policy(&policy),
        Err(DomainError::InvalidPolicy { .. }) => {}
        Err(other) => panic!("a policy document gave {other:?}, not invalid_policy"),
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let seed = fixture().state.policy.get();
        if let Ok(policy) = deadbolt_usecases::live_policy::parse_stored(text, &seed) {
            check_policy(&policy);
        }
    }
}

fn check_policy(policy: &Policy) {
    for geoip in [false, true] {
        let _ = policy.problems_in(&Deployment {
            has_geoip: geoip,
            login_failures_per_account: 10,
        });
    }
    let _ = policy.submitter_problem(&[deadbolt_core::mfa::MethodKind::Totp]);
    for name in policy.step_up.actions.keys() {
        if let Ok(action) = deadbolt_core::stepup::Action::parse(name) {
            let _ = policy.step_up.rule_for(&action).timing();
        }
    }
    let value = match serde_json::to_value(policy) {
        Ok(v) => v,
        Err(e) => panic!("a parsed policy does not serialise: {e}"),
    };
    match deadbolt_usecases::policy::parse(value) {
        Ok(again) => assert_eq!(&again, policy, "the policy changed on a round trip"),
        Err(e) => panic!("a parsed policy does not parse again: {e:?}"),
    }
}

/// A presented access token: `jwt::verify` as every authenticated call runs it, and the
/// `Authorization: Bearer` extractor around it.
pub fn jwt(data: &[u8]) {
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    let f = fixture();
    let url = &f.state.config.server.public_url;
    let now = f.state.clock.now();
    let verified = jwt::verify(&f.state.keys, token, url, url, now);
    if let Ok(claims) = &verified {
        assert!(claims.exp > now.unix_timestamp());
        assert_eq!(&claims.iss, url);
        assert_eq!(&claims.aud, url);
    }
    // no access token serves as a step-up token's audience, nor the reverse
    let step_up_aud = jwt::step_up_audience(url);
    assert!(jwt::verify(&f.state.keys, token, url, &step_up_aud, now).is_err());
    let Ok(request) = axum::http::Request::get("/v1/me")
        .header("authorization", format!("Bearer {token}"))
        .body(())
    else {
        return;
    };
    let (mut parts, ()) = request.into_parts();
    let principal =
        f.rt.block_on(Caller::from_request_parts(&mut parts, &f.state));
    // the extractor trims what follows "Bearer ": a token it accepts verifies trimmed
    if principal.is_ok() {
        assert!(jwt::verify(&f.state.keys, token.trim(), url, url, now).is_ok());
    }
    if matches!(verified, Err(JwtError::Invalid)) {
        assert!(principal.is_err() || token.trim() != token);
    }
}

fn claims(exp_in: i64, aud: &str) -> AccessClaims {
    let f = fixture();
    let now = f.state.clock.now().unix_timestamp();
    AccessClaims {
        iss: f.state.config.server.public_url.clone(),
        sub: f.account.id,
        aud: aud.to_owned(),
        iat: now,
        exp: now + exp_in,
        jti: uuid::Uuid::from_u128(1),
        sid: f.session_id,
        auth_time: now,
        amr: vec!["pwd".into()],
        acr: "aal1".into(),
    }
}

pub fn seeds() -> Vec<(&'static str, &'static str, Vec<u8>)> {
    let f = fixture();
    let keys = &f.state.keys;
    let url = f.state.config.server.public_url.clone();
    // valid for twenty years, so that the seed keeps reaching the session lookup
    let valid = jwt::sign(keys, &claims(20 * 365 * 86_400, &url)).unwrap_or_default();
    let expired = jwt::sign(keys, &claims(-60, &url)).unwrap_or_default();
    let other_aud = jwt::sign(keys, &claims(3600, "https://elsewhere.example")).unwrap_or_default();
    let c = claims(3600, &url);
    let step_up = jwt::sign_step_up(
        keys,
        &StepUpClaims {
            iss: c.iss.clone(),
            aud: jwt::step_up_audience(&url),
            sub: c.sub,
            sid: c.sid,
            action: "password.change".into(),
            iat: c.iat,
            exp: c.exp,
            jti: c.jti,
            auth_time: c.auth_time,
            amr: c.amr.clone(),
            acr: c.acr.clone(),
            target: None,
        },
    )
    .unwrap_or_default();
    let none = format!(
        "{}.{}.",
        "eyJhbGciOiJub25lIiwidHlwIjoiYXQrand0In0",
        valid.split('.').nth(1).unwrap_or_default()
    );
    let example = include_str!("../../../deadbolt.example.toml");
    vec![
        ("jwt", "valid", valid.into_bytes()),
        ("jwt", "expired", expired.into_bytes()),
        ("jwt", "other_audience", other_aud.into_bytes()),
        ("jwt", "step_up", step_up.into_bytes()),
        ("jwt", "alg_none", none.into_bytes()),
        ("config_toml", "example", example.as_bytes().to_vec()),
        (
            "config_toml",
            "env",
            b"[server]\nbind = \"0.0.0.0:9000\"\n[mfa]\nrequired_for_roles = [\"admin\"]\n\0DEADBOLT_LIMITS__LOGIN_WINDOW_SECONDS=60\nDEADBOLT_MFA__ALLOWED_METHODS=[\"totp\",\"webauthn\"]\n".to_vec(),
        ),
        (
            "config_toml",
            "step_up",
            b"[step_up]\ndefault = { window_seconds = 300 }\n\"billing.refund\" = { window_seconds = 600, sliding = true, methods = [\"webauthn\"] }\n[locations.admin]\nnetworks = [\"10.0.0.0/8\"]\n".to_vec(),
        ),
        (
            "policy_document",
            "current",
            serde_json::to_vec(&*f.state.policy.get()).unwrap_or_default(),
        ),
        (
            "policy_document",
            "partial",
            br#"{"mfa":{"enforcement":"required","required_for_roles":["admin"],"allowed_methods":["totp"]},"risk":{"new_device":"second_factor"}}"#.to_vec(),
        ),
    ]
}
