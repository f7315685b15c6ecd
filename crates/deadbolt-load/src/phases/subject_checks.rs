//! The server API's second-factor check for a product that keeps its own accounts:
//! `POST /v1/subjects/{external_id}/challenges/{challenge_id}/verify` with a TOTP code,
//! authenticated as the client (HTTP Basic), answered 200 with `verified`, `amr`, `acr` and a
//! signed assertion. Verifications per second against the same run's `/healthz` rate; no target.
//!
//! It runs on the MFA phases' server (cheap Argon2: a first factor's confirmation hashes its
//! recovery codes), after the whole sign-ins; the timed check hashes no password (the client's
//! secret is checked by a keyed hash). The setup (untimed) registers a
//! confidential client with the server's own command, then for each subject: `PUT` it, enrol
//! TOTP and confirm it (with the current step's code), and open a challenge. The timed part
//! answers every challenge once, with the code of the step after the one the confirmation
//! spent, from as many workers as `/healthz` had. A TOTP code passes once per method and step,
//! so each check needs a subject of its own.
//!
//! Any answer other than 200 with `verified: true` fails the run, after the figures.

use super::oidc::register_client;
use crate::api::{call, text_field};
use crate::ceilings::{Healthz, HEALTHZ_WORKERS};
use crate::cli::Cli;
use crate::cpu::CpuMeter;
use crate::drive::{each_once, in_parallel};
use crate::report::{ms, noise_text};
use crate::spawn::Spawned;
use crate::tally::send;
use crate::totp::{decode_secret, next_step_code, totp_code, unix_seconds, TOTP_PERIOD};
use anyhow::{Context, Result};
use std::sync::Arc;
use std::time::Duration;

/// The algorithm of the client's ID tokens, which its checks' assertions are signed with too:
/// EdDSA, the cheaper signature (an RS256 client pays about 1 ms of a core more per check).
const ASSERTION_ALG: &str = "EdDSA";

/// The phase's figures; `broken` when a check answered wrongly (the run then fails).
pub struct SubjectFigures {
    pub noise: Option<f64>,
    pub summary: Vec<String>,
    pub broken: Option<String>,
}

impl SubjectFigures {
    fn skipped(why: &str) -> Self {
        println!("[subjects] skipped ({why})");
        Self {
            noise: None,
            summary: vec![format!("subject check    skipped ({why})")],
            broken: None,
        }
    }
}

/// A subject with TOTP and an open challenge.
struct Ready {
    path: String,
    method_id: String,
    challenge_id: String,
    key: Vec<u8>,
}

/// The client's credentials, as every call of the server API carries them.
#[derive(Clone)]
struct Credentials {
    id: String,
    secret: String,
}

impl Credentials {
    fn on(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        request.basic_auth(&self.id, Some(&self.secret))
    }
}

pub async fn subject_phase(
    cli: &Cli,
    base: &str,
    server: Option<&Spawned>,
    healthz: &Healthz,
) -> Result<SubjectFigures> {
    let (common, p) = (&cli.common, &cli.phases);
    if p.skip_subjects {
        return Ok(SubjectFigures::skipped("--skip-subjects"));
    }
    let Some(server) = server else {
        return Ok(SubjectFigures::skipped(
            "--url: the harness registers a client only on a server it started",
        ));
    };
    let n = p.subject_checks;
    println!(
        "[subjects] setup: a client, {n} subjects with TOTP confirmed and a challenge open ({} at once) ...",
        p.mfa_setup_concurrency
    );
    let ready = match setup(base, server, n, p.mfa_setup_concurrency).await {
        Ok(ready) => ready,
        Err(e) => {
            let why = format!("{e:#}");
            println!("[subjects] setup failed: {why}");
            return Ok(SubjectFigures {
                noise: None,
                summary: vec![format!(
                    "subject check    not measured: the setup failed: {why}"
                )],
                broken: Some(format!("the subjects' setup failed: {why}")),
            });
        }
    };
    let (credentials, subjects) = ready;
    // as many as the MFA verification's, so that both sides of the ratio have as many clients
    let workers = p
        .mfa_concurrency
        .or(common.concurrency)
        .unwrap_or(HEALTHZ_WORKERS)
        .min(n);
    println!(
        "[subjects] POST /v1/subjects/{{id}}/challenges/{{id}}/verify (TOTP), {n} challenges, {workers} workers ..."
    );
    let base_url = base.to_owned();
    let cpu = CpuMeter::start(server.pid());
    let (tally, elapsed) = each_once(base, subjects, workers, move |client, jobs, i| {
        let (base, credentials) = (base_url.clone(), credentials.clone());
        async move {
            let s = jobs.get(i).context("no such subject")?;
            let url = format!("{base}{}/challenges/{}/verify", s.path, s.challenge_id);
            let body =
                serde_json::json!({"method_id": s.method_id, "code": next_step_code(&s.key)?});
            Ok(send(credentials.on(client.post(url)).json(&body)).await)
        }
    })
    .await?;
    let noise = cpu.others_share();
    let verified = tally.count(200);
    let rate = verified as f64 / elapsed.as_secs_f64();
    let ratio = rate / healthz.rate;
    let short = if elapsed < Duration::from_secs(1) {
        " (WARNING: under 1 s; raise --subject-checks)"
    } else {
        ""
    };
    let (p50, p99) = (
        ms(tally.percentile(200, 0.50)),
        ms(tally.percentile(200, 0.99)),
    );
    println!(
        "[subjects] {verified} of {n} verified in {:.2} s{short}, other: {}; {}",
        elapsed.as_secs_f64(),
        tally.others(&[200]),
        noise_text(noise)
    );
    let broken = (verified < n).then(|| {
        format!(
            "{} of {n} subject checks were not answered 200: {}",
            n - verified,
            tally.others(&[200])
        )
    });
    Ok(SubjectFigures {
        noise,
        summary: vec![
            format!(
                "subject check    {rate:.0} verifications/s, p50 {p50}, p99 {p99} ({verified} of {n} in {:.2} s, \
                 {workers} workers; other: {}){short}",
                elapsed.as_secs_f64(),
                tally.others(&[200]),
            ),
            format!(
                "subject/healthz = {ratio:.3} (no target; assertions signed {ASSERTION_ALG}, the client's ID-token algorithm)"
            ),
        ],
        broken,
    })
}

/// The client, then `n` subjects made ready, `tasks` at a time.
async fn setup(
    base: &str,
    server: &Spawned,
    n: usize,
    tasks: usize,
) -> Result<(Credentials, Vec<Ready>)> {
    let rp = register_client(server, Some(ASSERTION_ALG)).await?;
    let credentials = Credentials {
        id: rp.id,
        secret: rp.secret,
    };
    let run_id = format!("{}-{}", std::process::id(), unix_seconds()?);
    let shared = Arc::new((base.to_owned(), credentials.clone()));
    let subjects = in_parallel(n, tasks, move |client, i| {
        let shared = shared.clone();
        let external_id = format!("load-{run_id}-{i}");
        async move {
            let (base, credentials) = (&shared.0, &shared.1);
            ready_subject(&client, base, credentials, &external_id).await
        }
    })
    .await?;
    Ok((credentials, subjects))
}

/// One subject: created, TOTP enrolled and confirmed (spending the current step), a challenge
/// opened with it.
async fn ready_subject(
    client: &reqwest::Client,
    base: &str,
    credentials: &Credentials,
    external_id: &str,
) -> Result<Ready> {
    let path = format!("/v1/subjects/{external_id}");
    let url = |rest: &str| format!("{base}{path}{rest}");
    let body =
        serde_json::json!({"email": format!("{external_id}@example.com"), "email_verified": true});
    call(
        credentials.on(client.put(url(""))).json(&body),
        201,
        "PUT /v1/subjects/{id}",
    )
    .await?;
    let enrol = call(
        credentials
            .on(client.post(url("/mfa/totp")))
            .json(&serde_json::json!({})),
        201,
        "POST /v1/subjects/{id}/mfa/totp",
    )
    .await?;
    let method_id = text_field(&enrol, "method_id")?;
    let key = decode_secret(&text_field(&enrol, "secret")?)?;
    let code = totp_code(&key, unix_seconds()? / TOTP_PERIOD);
    call(
        credentials
            .on(client.post(url(&format!("/mfa/{method_id}/confirm"))))
            .json(&serde_json::json!({"code": code})),
        200,
        "POST /v1/subjects/{id}/mfa/{method_id}/confirm",
    )
    .await?;
    let opened = call(
        credentials
            .on(client.post(url("/challenges")))
            .json(&serde_json::json!({"method_id": method_id})),
        201,
        "POST /v1/subjects/{id}/challenges",
    )
    .await?;
    Ok(Ready {
        path,
        method_id,
        challenge_id: text_field(&opened, "challenge_id")?,
        key,
    })
}
