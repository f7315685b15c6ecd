//! The MFA phases' untimed setup: accounts with a confirmed TOTP method, made through the API
//! as a user would (sign-up, the mailed code, a login, enrolment, confirmation). A TOTP code
//! passes once per method and time step, so every timed sign-in needs an account of its own.

use crate::api::{call, text_field};
use crate::drive::in_parallel;
use crate::totp::{decode_secret, totp_code, unix_seconds, TOTP_PERIOD};
use anyhow::{bail, ensure, Context, Result};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The password of the MFA accounts (the MFA server asks for no zxcvbn score).
pub const MFA_PASSWORD: &str = "mfa-load-password";

/// An account with TOTP enrolled and confirmed.
pub struct Enrolled {
    pub email: String,
    /// The TOTP secret (raw bytes).
    pub key: Vec<u8>,
}

/// An enrolled account logged in up to the second step.
pub struct MfaAccount {
    pub account: Enrolled,
    pub mfa_token: String,
    /// When the mfa_token was issued.
    pub issued: Instant,
}

/// `with_token + without` accounts, `tasks` at a time: the first `with_token` also logged in
/// up to the second step (for the verification phase), the rest not (the whole sign-in phase
/// logs in itself).
pub async fn setup(
    base: &str,
    mail_dir: PathBuf,
    with_token: usize,
    without: usize,
    tasks: usize,
) -> Result<(Vec<MfaAccount>, Vec<Enrolled>)> {
    let base = base.to_owned();
    let run_id = format!("{}-{}", std::process::id(), unix_seconds()?);
    let all = in_parallel(with_token + without, tasks, move |client, i| {
        let (base, email) = (base.clone(), format!("mfa-{run_id}-{i}@example.com"));
        let mail_dir = mail_dir.clone();
        async move {
            let account = enroll(&client, &base, &mail_dir, email).await?;
            if i >= with_token {
                return Ok((account, None));
            }
            let token = mfa_login(&client, &base, &account.email).await?;
            Ok((account, Some((token, Instant::now()))))
        }
    })
    .await?;
    let (mut verify, mut flow) = (Vec::with_capacity(with_token), Vec::with_capacity(without));
    for (account, token) in all {
        match token {
            Some((mfa_token, issued)) => verify.push(MfaAccount {
                account,
                mfa_token,
                issued,
            }),
            None => flow.push(account),
        }
    }
    Ok((verify, flow))
}

/// Replaces every mfa_token (the setup outlasted their life).
pub async fn renew_tokens(base: &str, accounts: &mut [MfaAccount], tasks: usize) -> Result<()> {
    let emails: Arc<Vec<String>> =
        Arc::new(accounts.iter().map(|a| a.account.email.clone()).collect());
    let base = base.to_owned();
    let fresh = in_parallel(accounts.len(), tasks, move |client, i| {
        let (base, emails) = (base.clone(), emails.clone());
        async move {
            let email = emails.get(i).context("no such account")?;
            mfa_login(&client, &base, email).await
        }
    })
    .await
    .context("renewing the mfa_tokens")?;
    for (account, token) in accounts.iter_mut().zip(fresh) {
        account.mfa_token = token;
        account.issued = Instant::now();
    }
    Ok(())
}

/// One account: created, its address proven with the mailed code, logged in, TOTP enrolled and
/// confirmed with the current step's code (which spends that step).
async fn enroll(
    client: &reqwest::Client,
    base: &str,
    mail_dir: &Path,
    email: String,
) -> Result<Enrolled> {
    let credentials = serde_json::json!({"email": email, "password": MFA_PASSWORD});
    call(
        client
            .post(format!("{base}/v1/accounts"))
            .json(&credentials),
        201,
        "POST /v1/accounts",
    )
    .await?;
    let code = mailed_code(mail_dir, &email).await?;
    call(
        client
            .post(format!("{base}/v1/accounts/verify"))
            .json(&serde_json::json!({"email": email, "channel": "email", "code": code})),
        200,
        "POST /v1/accounts/verify",
    )
    .await?;
    let login = call(
        client.post(format!("{base}/v1/login")).json(&credentials),
        200,
        "POST /v1/login",
    )
    .await?;
    let access = text_field(&login, "access_token")
        .with_context(|| format!("the first login gave no session: {login}"))?;
    let enrolment = call(
        client
            .post(format!("{base}/v1/me/mfa/totp"))
            .bearer_auth(&access),
        201,
        "POST /v1/me/mfa/totp",
    )
    .await?;
    let method_id = text_field(&enrolment, "method_id")?;
    let key = decode_secret(&text_field(&enrolment, "secret")?)?;
    let code = totp_code(&key, unix_seconds()? / TOTP_PERIOD);
    call(
        client
            .post(format!("{base}/v1/me/mfa/{method_id}/confirm"))
            .bearer_auth(&access)
            .json(&serde_json::json!({ "code": code })),
        200,
        "POST /v1/me/mfa/{id}/confirm",
    )
    .await?;
    Ok(Enrolled { email, key })
}

/// The code of the message to `email` in `dir`, which is then removed (so that the directory
/// holds only what the setup has not read yet, and each scan stays short).
async fn mailed_code(dir: &Path, email: &str) -> Result<String> {
    let to = format!("To: {email}\r\n");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(entries) = std::fs::read_dir(dir) {
            for path in entries.filter_map(|e| e.ok().map(|e| e.path())) {
                if path.extension().is_none_or(|x| x != "eml") {
                    continue;
                }
                let Ok(text) = std::fs::read_to_string(&path) else {
                    continue;
                };
                if !text.contains(&to) {
                    continue;
                }
                let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
                let code = body
                    .split(|c: char| !c.is_ascii_alphanumeric())
                    .find(|w| w.len() == 6 && w.bytes().all(|b| b.is_ascii_digit()))
                    .with_context(|| format!("no code in the mail to {email}"))?
                    .to_owned();
                let _ = std::fs::remove_file(&path);
                return Ok(code);
            }
        }
        ensure!(
            Instant::now() < deadline,
            "no mail to {email} in {} within 30 s",
            dir.display()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A login that must ask for the second factor; returns the mfa_token.
pub async fn mfa_login(client: &reqwest::Client, base: &str, email: &str) -> Result<String> {
    let answer = call(
        client
            .post(format!("{base}/v1/login"))
            .json(&serde_json::json!({"email": email, "password": MFA_PASSWORD})),
        200,
        "POST /v1/login",
    )
    .await?;
    if answer.get("mfa_required") != Some(&serde_json::Value::Bool(true)) {
        bail!("the login after enrolment asked for no second factor: {answer}");
    }
    text_field(&answer, "mfa_token")
}
