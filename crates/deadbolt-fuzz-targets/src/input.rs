//! The JSON bodies of login, the second step and step-up, and the codes people type.

use crate::fixture::fixture;
use axum::extract::FromRequest as _;
use deadbolt_core::device_grant::UserCode;
use deadbolt_core::email::Email;
use deadbolt_core::phone::Phone;
use deadbolt_core::recovery;
use deadbolt_core::secret::Secret;
use deadbolt_core::stepup::Action;
use deadbolt_core::totp::{self, TotpAlgorithm, TotpParams, TotpSecret};
use deadbolt_server::extract::ApiJson;
use deadbolt_server::routes::login::{LoginRequest, VerifyRequest};
use deadbolt_server::routes::stepup::{StepUpChallengeRequest, StepUpRequest, StepUpVerifyRequest};
use deadbolt_usecases::factors::{clean_code, FactorInput};
use deadbolt_usecases::login::email_bucket;
use deadbolt_usecases::stepup::StepUpFactor;
use serde::de::DeserializeOwned;

/// The body through the server's own JSON extractor, as a request to any JSON endpoint.
fn api_json<T: DeserializeOwned>(data: &[u8]) -> Option<T> {
    let request = axum::http::Request::post("/")
        .header("content-type", "application/json")
        .body(axum::body::Body::from(data.to_vec()))
        .ok()?;
    let parsed = fixture()
        .rt
        .block_on(ApiJson::<T>::from_request(request, &()))
        .ok()
        .map(|ApiJson(v)| v);
    // the extractor is serde_json: what one accepts the other does
    assert_eq!(
        parsed.is_some(),
        serde_json::from_slice::<T>(data).is_ok(),
        "ApiJson and serde_json disagree"
    );
    parsed
}

pub fn login_body(data: &[u8]) {
    let Some(body) = api_json::<LoginRequest>(data) else {
        return;
    };
    let login = body.into_input();
    let state = &fixture().state;
    let bucket = email_bucket(state, &login.email);
    if let Ok(email) = Email::parse(&login.email) {
        check_email(&email);
        // however the address was typed, its failures count in one bucket
        assert_eq!(bucket, email_bucket(state, email.as_str()));
    }
}

fn check_email(email: &Email) {
    let s = email.as_str();
    assert!(s.len() <= 254 && !s.is_empty());
    assert_eq!(s, s.trim());
    assert_eq!(s, s.to_lowercase());
    assert_eq!(Email::parse(s).ok().as_ref(), Some(email), "not idempotent");
    assert!(email.masked().contains("***@"));
}

pub fn mfa_verify_body(data: &[u8]) {
    let Some(body) = api_json::<VerifyRequest>(data) else {
        return;
    };
    if let Ok(verify) = body.into_input() {
        assert!(verify.mfa_token.expose().len() <= data.len());
        check_factor(verify.factor);
    }
}

pub fn step_up_body(data: &[u8]) {
    if let Some(body) = api_json::<StepUpRequest>(data) {
        if let Ok((action, target)) = body.into_parts() {
            assert_eq!(Action::parse(action.as_str()).ok().as_ref(), Some(&action));
            if let Some(t) = target {
                assert!(!t.is_empty());
                // canonical ids stay canonical (a grant is looked up by this string)
                if let Ok(id) = uuid::Uuid::parse_str(&t) {
                    assert_eq!(t, id.to_string());
                }
            }
        }
    }
    let _ = api_json::<StepUpChallengeRequest>(data);
    if let Some(body) = api_json::<StepUpVerifyRequest>(data) {
        if let Ok((_, answer)) = body.into_answer() {
            match answer {
                StepUpFactor::Factor(f) => check_factor(f),
                StepUpFactor::Password(_) => {}
            }
        }
    }
}

/// What the services do first with a submitted factor, before any database read.
fn check_factor(factor: FactorInput) {
    match factor {
        FactorInput::Totp { code, .. } => check_totp(&code, &TotpParams::default()),
        FactorInput::RecoveryCode { code } => check_recovery(code.expose()),
        FactorInput::SentCode { code, .. } => {
            let clean = check_clean(&code);
            let _ = deadbolt_core::code::is_well_formed(clean.expose());
        }
        FactorInput::WebAuthn { credential, .. } => {
            let _ = crate::webauthn::check_assertion(&credential);
        }
        // a typed id, parsed at the edge: nothing more to check before the store
        FactorInput::Push { .. } => {}
    }
}

/// Whitespace removal is idempotent and removes only whitespace.
fn check_clean(code: &Secret) -> Secret {
    let clean = clean_code(code);
    assert_eq!(clean_code(&clean).expose(), clean.expose());
    assert!(!clean.expose().chars().any(char::is_whitespace));
    assert_eq!(
        clean.expose().chars().count(),
        code.expose().chars().filter(|c| !c.is_whitespace()).count()
    );
    clean
}

fn check_totp(code: &Secret, params: &TotpParams) {
    let clean = check_clean(code);
    let secret = TotpSecret::from_bytes(b"12345678901234567890".to_vec());
    let now = fixture().state.clock.now();
    let step = totp::step_at(params, now);
    if let Some(accepted) = totp::verify(&secret, params, clean.expose(), now, Some(step - 3)) {
        assert!(clean.expose().bytes().all(|b| b.is_ascii_digit()));
        assert!((accepted - step).abs() <= params.skew_steps.clamp(0, 2));
        // the step it accepted is spent
        assert_eq!(
            totp::verify(&secret, params, clean.expose(), now, Some(accepted)),
            None
        );
    }
}

fn check_recovery(input: &str) {
    if let Some(n) = recovery::normalize(input) {
        assert_eq!(n.len(), 16);
        assert!(n
            .bytes()
            .all(|b| b"0123456789abcdefghjkmnpqrstvwxyz".contains(&b)));
        assert_eq!(recovery::normalize(&n).as_deref(), Some(n.as_str()));
    }
}

/// Free text through every normaliser of typed input: recovery and TOTP codes, sent codes,
/// emails, phone numbers, action names, device user codes. The first byte picks TOTP parameters.
pub fn codes(data: &[u8]) {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    check_recovery(text);
    let params = TotpParams {
        algorithm: [
            TotpAlgorithm::Sha1,
            TotpAlgorithm::Sha256,
            TotpAlgorithm::Sha512,
        ][usize::from(first % 3)],
        digits: 5 + u32::from(first / 3 % 5),
        period_seconds: [0, 15, 30, 60, 301][usize::from(first / 15 % 5)],
        skew_steps: i64::from(first >> 6) - 1,
    };
    check_totp(&Secret::new(text), &params);
    let _ = deadbolt_core::code::is_well_formed(text);
    if let Ok(email) = Email::parse(text) {
        check_email(&email);
    }
    if let Ok(phone) = Phone::parse(text) {
        assert_eq!(
            Phone::parse(phone.as_str())
                .ok()
                .as_ref()
                .map(Phone::as_str),
            Some(phone.as_str())
        );
        let _ = phone.masked();
    }
    if let Ok(action) = Action::parse(text) {
        assert_eq!(action.as_str(), text);
    }
    let _ = TotpAlgorithm::parse(text);
    if let Some(code) = UserCode::parse(text) {
        // a device's user code: however it was typed, it reads back as itself
        let shown = code.display();
        assert_eq!(shown.len(), 9);
        assert_eq!(UserCode::parse(&shown).as_ref(), Some(&code));
        assert_eq!(UserCode::parse(code.normalized()).as_ref(), Some(&code));
    }
}

pub fn seeds() -> Vec<(&'static str, &'static str, Vec<u8>)> {
    let credential = crate::webauthn::sample_assertion_json();
    let mut out: Vec<(&'static str, &'static str, Vec<u8>)> = vec![
        (
            "login_body",
            "password",
            br#"{"email":"Fuzz@Example.com ","password":"correct horse battery staple 42"}"#
                .to_vec(),
        ),
        (
            "login_body",
            "device_token",
            br#"{"email":"a.b+c@sub.example.org","password":"x","device_token":"dt_abc"}"#
                .to_vec(),
        ),
        ("login_body", "unknown_field", br#"{"email":"a@b.co","password":"p","x":1}"#.to_vec()),
        (
            "mfa_verify_body",
            "totp",
            br#"{"mfa_token":"mt_x","type":"totp","code":"123 456","trust_device":true}"#.to_vec(),
        ),
        (
            "mfa_verify_body",
            "recovery",
            br#"{"mfa_token":"mt_x","type":"recovery_code","code":"0123-4567-89ab-cdef"}"#
                .to_vec(),
        ),
        (
            "mfa_verify_body",
            "email",
            br#"{"mfa_token":"mt_x","type":"email","method_id":"7b0c5c1e-7a8f-4f38-9a57-0b1c9b0f2a11","code":"012345"}"#.to_vec(),
        ),
        (
            "step_up_body",
            "begin",
            br#"{"action":"password.change","target":"7B0C5C1E7A8F4F389A570B1C9B0F2A11"}"#.to_vec(),
        ),
        (
            "step_up_body",
            "challenge",
            br#"{"challenge_token":"ct_x","method_id":"7b0c5c1e-7a8f-4f38-9a57-0b1c9b0f2a11"}"#
                .to_vec(),
        ),
        (
            "step_up_body",
            "password",
            br#"{"challenge_token":"ct_x","type":"password","password":"pw"}"#.to_vec(),
        ),
        (
            "step_up_body",
            "sms",
            br#"{"challenge_token":"ct_x","type":"sms","code":" 98 76 54 "}"#.to_vec(),
        ),
        ("codes", "recovery", b"\x01oIL3-4567-89AB-cdef".to_vec()),
        ("codes", "totp", b"\x00287 082".to_vec()),
        ("codes", "totp8", b"\x0994287082".to_vec()),
        ("codes", "user-code", b"\x00bcdf ghjk".to_vec()),
        ("codes", "email", b"\x02 Someone@Example.COM".to_vec()),
        ("codes", "phone", b"\x03+14155550123".to_vec()),
        ("codes", "action", b"\x04api_key.revoke".to_vec()),
    ];
    let mut verify = serde_json::json!({"mfa_token": "mt_x", "type": "webauthn"});
    verify["credential"] = credential.clone();
    out.push((
        "mfa_verify_body",
        "webauthn",
        serde_json::to_vec(&verify).unwrap_or_default(),
    ));
    let mut step_up = serde_json::json!({"challenge_token": "ct_x", "type": "webauthn"});
    step_up["credential"] = credential;
    out.push((
        "step_up_body",
        "webauthn",
        serde_json::to_vec(&step_up).unwrap_or_default(),
    ));
    out
}
