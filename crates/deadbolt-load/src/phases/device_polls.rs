//! Devices waiting for their person (RFC 8628): `POST /oauth2/token` with the device-code
//! grant while nobody has answered yet, answered 400 `authorization_pending` or `slow_down`
//! (each is a lookup by the device code's keyed hash and one write recording the poll). A
//! fleet of TVs polls like this all day, so this is the grant's steady cost. Polls per second,
//! closed loop, against the same run's `/healthz` rate; no target.
//!
//! It runs on the server with the default costs, after the OpenID Connect phase. The setup
//! (untimed) registers a public client allowed only the device grant with the server's own
//! command, and starts one device request per worker (`POST /oauth2/device_authorization`);
//! one poll is made before timing, to check it is answered `authorization_pending`. A closed
//! loop polls faster than the interval, so most answers are `slow_down`: the same work.
//!
//! Any answer other than 400 fails the run, after the figures.

use super::oidc::create_client;
use super::PhaseFigures;
use crate::api::{call, text_field};
use crate::ceilings::{Healthz, HEALTHZ_WORKERS};
use crate::cli::Cli;
use crate::cpu::CpuMeter;
use crate::drive::{closed_loop_with, in_parallel};
use crate::report::{ms, noise_text};
use crate::spawn::Spawned;
use crate::tally::send;
use anyhow::{ensure, Result};
use std::sync::Arc;
use std::time::Duration;

const GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// The phase's figures, and what answered wrongly if anything did.
pub struct DeviceFigures {
    pub figures: PhaseFigures,
    pub broken: Option<String>,
}

fn skipped(why: &str) -> DeviceFigures {
    println!("[device] skipped ({why})");
    DeviceFigures {
        figures: PhaseFigures {
            noise: None,
            summary: vec![format!("device poll      skipped ({why})")],
        },
        broken: None,
    }
}

/// One waiting device: its poll's form.
#[derive(Clone)]
struct Device {
    form: Arc<Vec<(&'static str, String)>>,
}

pub async fn device_phase(
    cli: &Cli,
    base: &str,
    server: Option<&Spawned>,
    healthz: &Healthz,
) -> Result<DeviceFigures> {
    let common = &cli.common;
    if cli.phases.skip_device {
        return Ok(skipped("--skip-device"));
    }
    let Some(server) = server else {
        return Ok(skipped(
            "--url: the harness registers a client only on a server it started",
        ));
    };
    let workers = common.concurrency.unwrap_or(HEALTHZ_WORKERS);
    let devices = match setup(base, server, workers).await {
        Ok(devices) => devices,
        Err(e) => {
            let why = format!("{e:#}");
            println!("[device] setup failed: {why}");
            return Ok(DeviceFigures {
                figures: PhaseFigures {
                    noise: None,
                    summary: vec![format!(
                        "device poll      not measured: the setup failed: {why}"
                    )],
                },
                broken: Some(format!("the device grant's setup failed: {why}")),
            });
        }
    };
    let seconds = common.seconds;
    println!(
        "[device] POST /oauth2/token (device code, pending), {workers} devices, {seconds} s ..."
    );
    let window = Duration::from_secs(seconds);
    let token_url = format!("{base}/oauth2/token");
    let cpu = CpuMeter::start(server.pid());
    let tally = closed_loop_with(devices, window, move |client, device| {
        let request = client.post(&token_url).form(device.form.as_ref());
        async move {
            let answer = send(request).await;
            (device, answer)
        }
    })
    .await?;
    let noise = cpu.others_share();
    let polls = tally.count(400);
    let rate = polls as f64 / window.as_secs_f64();
    let ratio = rate / healthz.rate;
    let (p50, p99) = (
        ms(tally.percentile(400, 0.50)),
        ms(tally.percentile(400, 0.99)),
    );
    let others = tally.others(&[400]);
    println!(
        "[device] {rate:.0} polls/s, p50 {p50}, p99 {p99}, other: {others}; {}",
        noise_text(noise)
    );
    let broken = (others != "none")
        .then(|| format!("device polls answered other than 400 pending or slow_down: {others}"));
    Ok(DeviceFigures {
        figures: PhaseFigures {
            noise,
            summary: vec![
                format!(
                    "device poll      {rate:.0} polls/s, p50 {p50}, p99 {p99} ({workers} waiting \
                     devices, {seconds} s; other: {others})"
                ),
                format!("device/healthz = {ratio:.3} (no target: measured)"),
            ],
        },
        broken,
    })
}

/// The client, then one waiting device request per worker, each polled once and found pending.
async fn setup(base: &str, server: &Spawned, workers: usize) -> Result<Vec<Device>> {
    let made = create_client(server, &["--public", "--grant", "device_code"]).await?;
    let client_id = text_field(&made, "client_id")?;
    let shared = Arc::new((base.to_owned(), client_id));
    in_parallel(workers, 4, move |client, _| {
        let shared = shared.clone();
        async move {
            let (base, client_id) = (&shared.0, &shared.1);
            let started = call(
                client
                    .post(format!("{base}/oauth2/device_authorization"))
                    .form(&[("client_id", client_id.as_str())]),
                200,
                "POST /oauth2/device_authorization",
            )
            .await?;
            let form = Arc::new(vec![
                ("grant_type", GRANT.to_owned()),
                ("device_code", text_field(&started, "device_code")?),
                ("client_id", client_id.clone()),
            ]);
            let first = call(
                client
                    .post(format!("{base}/oauth2/token"))
                    .form(form.as_ref()),
                400,
                "the first device poll",
            )
            .await?;
            ensure!(
                first["error"] == "authorization_pending",
                "the first device poll was answered {first}, not authorization_pending"
            );
            Ok(Device { form })
        }
    })
    .await
}
