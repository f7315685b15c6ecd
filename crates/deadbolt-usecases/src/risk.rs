//! Risk at sign-in, applied: where a client is (its network, and its country and position by
//! GeoIP), what the account had seen before, and what policy says to do. Places are noted only
//! when a sign-in completes, so a password alone cannot make an attacker's network familiar.

use crate::client::ClientInfo;
use crate::context::Context;
use crate::error::{DomainError, DomainResult};
use crate::events::event;
use crate::notice::Notice;
use crate::notify::notice;
use deadbolt_core::account::Account;
use deadbolt_core::event::EventKind;
use deadbolt_core::ids::MethodId;
use deadbolt_core::mfa::MethodKind;
use deadbolt_core::risk::{
    location_allows, network_of, signals, Coordinates, History, Place, PreviousSignIn,
    RiskResponse, Signal,
};
use deadbolt_store::{
    place_writes, throttle_writes, EventRecord, MethodRecord, SessionRecord, SignInPlace, Write,
};
use serde_json::json;

/// Where a client is, as far as is known.
pub fn place_of(ctx: &Context, client: &ClientInfo) -> Place {
    let Some(ip) = client.ip else {
        return Place::default();
    };
    let located = ctx.geoip.as_ref().map(|g| g.locate(ip)).unwrap_or_default();
    Place {
        network: Some(network_of(ip)),
        country: located.country,
        coordinates: located.coordinates,
    }
}

fn network_key(place: &Place) -> Option<String> {
    place.network.map(|n| format!("net:{n}"))
}

fn country_key(place: &Place) -> Option<String> {
    place.country.as_ref().map(|c| format!("country:{c}"))
}

/// Whether policy lets the account's roles be used from this client's place.
fn location_allowed(ctx: &Context, client: &ClientInfo, account: &Account, place: &Place) -> bool {
    location_allows(
        &ctx.policy.get().locations,
        &account.roles,
        client.ip,
        place.country.as_deref(),
    )
}

/// Refuses a sign-in from where policy does not let the account's roles sign in.
pub async fn ensure_location_allowed(
    ctx: &Context,
    client: &ClientInfo,
    account: &Account,
    place: &Place,
) -> DomainResult<()> {
    if location_allowed(ctx, client, account, place) {
        return Ok(());
    }
    let detail = json!({"reason": "location", "country": place.country});
    ctx.commit(refusal_writes(ctx, client, account, detail).await?)
        .await?;
    Err(DomainError::LocationNotAllowed)
}

/// Whether a session of the account may be kept going from this client's place: policy's
/// `locations` hold for sessions as they hold for sign-ins (no GeoIP lookup without rules).
pub fn session_location_allowed(ctx: &Context, client: &ClientInfo, account: &Account) -> bool {
    ctx.policy.get().locations.is_empty()
        || location_allowed(ctx, client, account, &place_of(ctx, client))
}

/// Whether nothing was counted under `key` in the last hour: what is told or recorded at most
/// once an hour (the caller counts it with [`throttle_writes::count`] when it does).
pub(crate) async fn quiet_for_an_hour(ctx: &Context, key: &str) -> DomainResult<bool> {
    let since = ctx.clock.now() - time::Duration::HOUR;
    Ok(ctx.store.failure_window(key, since).await?.count == 0)
}

/// Refuses to keep a session going (a refresh) from where policy does not let the account's
/// roles sign in. The token is not spent: it stays good from an allowed place. Recorded, and the
/// owner told, once an hour per session (a holder of the token could otherwise write an event
/// and send a mail per request).
pub async fn ensure_session_location_allowed(
    ctx: &Context,
    client: &ClientInfo,
    session: &SessionRecord,
) -> DomainResult<()> {
    if ctx.policy.get().locations.is_empty() {
        return Ok(());
    }
    let Some(account) = ctx.store.account_by_id(session.account_id).await? else {
        return Err(DomainError::InvalidToken);
    };
    if session_location_allowed(ctx, client, &account) {
        return Ok(());
    }
    let now = ctx.clock.now();
    let recorded = format!("refused:refresh:{}", session.id);
    if quiet_for_an_hour(ctx, &recorded).await? {
        let place = place_of(ctx, client);
        let refused = event(
            ctx,
            EventKind::SignInRefused,
            Some(account.id),
            client,
            json!({"reason": "location", "country": place.country, "session_id": session.id}),
        );
        // a burst of requests with the token records and tells it once, not once each
        let mut writes: Vec<Write> = ctx.store.lock_bucket(&recorded).into_iter().collect();
        // the once-an-hour count as a limit of one: of parallel requests, one alone goes on
        writes.push(throttle_writes::failure_within_limit(
            &recorded,
            now,
            now - time::Duration::HOUR,
            1,
        ));
        writes.push(refused.write());
        if account.email_verified {
            writes
                .extend(notice(ctx, &account, Notice::SessionRefused, client)?.map(|m| m.write()));
        }
        ctx.commit(writes).await?;
    }
    Err(DomainError::LocationNotAllowed)
}

/// Refuses a sign-in as risk policy says: the signals and the refusal recorded, the user told.
/// The error to answer.
pub async fn refuse(
    ctx: &Context,
    client: &ClientInfo,
    account: &Account,
    assessment: &Assessment,
) -> DomainResult<DomainError> {
    let reason = assessment.because.map_or("policy", Signal::reason);
    let detail = json!({"reason": reason, "signals": assessment.signals});
    let mut writes: Vec<Write> = assessment
        .event(ctx, client, account)
        .into_iter()
        .map(|e| e.write())
        .collect();
    writes.extend(refusal_writes(ctx, client, account, detail).await?);
    ctx.commit(writes).await?;
    ctx.metrics.login("refused");
    Ok(DomainError::SignInRefused { reason })
}

/// A refused sign-in with the right password: recorded, and the user told (whoever tried knows
/// the password) when the address is verified, at most once an hour (whoever has the password
/// could otherwise fill the mailbox).
pub async fn refusal_writes(
    ctx: &Context,
    client: &ClientInfo,
    account: &Account,
    detail: serde_json::Value,
) -> DomainResult<Vec<Write>> {
    let mut writes = vec![event(
        ctx,
        EventKind::SignInRefused,
        Some(account.id),
        client,
        detail,
    )
    .write()];
    let now = ctx.clock.now();
    let told = format!("notice:sign_in_refused:{}", account.id);
    if account.email_verified && quiet_for_an_hour(ctx, &told).await? {
        writes.extend(notice(ctx, account, Notice::SignInRefused, client)?.map(|m| m.write()));
        writes.push(throttle_writes::count(&told, now));
    }
    Ok(writes)
}

/// A sign-in's risk: the signals seen and policy's response.
pub struct Assessment {
    pub signals: Vec<Signal>,
    pub response: RiskResponse,
    /// The signal that called for the response.
    pub because: Option<Signal>,
}

impl Assessment {
    /// The `reason` a client is told when a second factor is asked for because of risk.
    pub fn reason(&self) -> Option<&'static str> {
        match self.response {
            RiskResponse::Allow => None,
            _ => self.because.map(Signal::reason),
        }
    }

    /// The event recording the signals and the decision (none when nothing was unusual).
    pub fn event(
        &self,
        ctx: &Context,
        client: &ClientInfo,
        account: &Account,
    ) -> Option<EventRecord> {
        (!self.signals.is_empty()).then(|| {
            event(
                ctx,
                EventKind::SignInRisk,
                Some(account.id),
                client,
                json!({
                    "signals": self.signals,
                    "decision": self.response,
                    "reason": self.reason(),
                }),
            )
        })
    }
}

/// The signals of a sign-in with a right password and policy's response to them.
/// `device_known`: the account signed in from this User-Agent before; `recent_failures`: wrong
/// passwords for it since its last sign-in.
pub async fn assess(
    ctx: &Context,
    account: &Account,
    place: &Place,
    device_known: bool,
    recent_failures: u32,
) -> DomainResult<Assessment> {
    let policy = ctx.policy.get();
    let previous = ctx.store.last_sign_in(account.id).await?;
    let known = match (network_key(place), country_key(place)) {
        (None, None) => vec![],
        (net, country) => {
            ctx.store
                .known_places(
                    account.id,
                    net.as_deref().unwrap_or_default(),
                    country.as_deref().unwrap_or_default(),
                )
                .await?
        }
    };
    let is_known = |key: Option<String>| key.is_some_and(|k| known.contains(&k));
    let history = History {
        signed_in_before: previous.is_some()
            || !known.is_empty()
            || ctx.store.has_known_places(account.id).await?,
        previous: previous.map(|p| PreviousSignIn {
            at: p.at,
            coordinates: Coordinates {
                latitude: p.latitude_e6 as f64 / 1e6,
                longitude: p.longitude_e6 as f64 / 1e6,
            },
        }),
        device_known,
        network_known: is_known(network_key(place)),
        country_known: is_known(country_key(place)),
        recent_failures,
    };
    let signals = signals(&policy.risk, &history, place, ctx.clock.now());
    let (response, because) = policy.risk.decide(&signals);
    Ok(Assessment {
        signals,
        response,
        because,
    })
}

/// What a completed sign-in notes about where it came from: its network and country (a row
/// changed at most once a day each) and, when GeoIP placed it, its time and position.
pub fn sign_in_writes(ctx: &Context, client: &ClientInfo, account: &Account) -> Vec<Write> {
    let now = ctx.clock.now();
    let place = place_of(ctx, client);
    let mut writes: Vec<Write> = [network_key(&place), country_key(&place)]
        .into_iter()
        .flatten()
        .map(|key| place_writes::seen(account.id, &key, now))
        .collect();
    // only a placed sign-in can be travelled from; a usual sign-in without GeoIP writes nothing
    if let Some(c) = place.coordinates {
        // microdegrees: about ten centimetres, more than GeoIP knows
        let e6 = |v: f64| (v * 1e6).round() as i64;
        writes.push(place_writes::signed_in(
            account.id,
            &SignInPlace {
                at: now,
                latitude_e6: e6(c.latitude),
                longitude_e6: e6(c.longitude),
            },
        ));
    }
    writes
}

/// The one method of an email check: the account's verified address. It is not a stored
/// method (the account has none); its id is the account's own, which no method has.
pub fn email_check_method(account: &Account) -> MethodRecord {
    MethodRecord {
        id: MethodId(account.id.0),
        account_id: account.id,
        kind: MethodKind::Email,
        label: "Email".to_owned(),
        confirmed_at: Some(account.created_at),
        is_primary: true,
        created_at: account.created_at,
        last_used_at: None,
        consecutive_failures: 0,
        last_failure_at: None,
        disabled_at: None,
        enrolled_under_step_up: false,
        destination: Some(account.email.as_str().to_owned()),
    }
}
