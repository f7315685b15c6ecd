use crate::helpers::*;
use serde_json::{json, Value};

#[tokio::test]
async fn health_and_readiness() {
    let app = spawn_app().await;
    let r = app.get("/healthz").await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        serde_json::json!({"status": "ok"})
    );
    let r = app.get("/readyz").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "ready");
}

#[tokio::test]
async fn jwks_publishes_the_signing_keys() {
    let app = spawn_app().await;
    let jwks: Value = app
        .get("/.well-known/jwks.json")
        .await
        .json()
        .await
        .unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[0]["kty"], "OKP");
    assert_eq!(keys[0]["crv"], "Ed25519");
    assert_eq!(keys[0]["alg"], "EdDSA");
    // the RS256 key of OpenID Connect clients that ask for it
    assert_eq!(keys[1]["kty"], "RSA");
    assert_eq!(keys[1]["alg"], "RS256");
    assert_eq!(keys[1]["e"], "AQAB");
    assert!(keys[1]["n"].as_str().is_some_and(|n| n.len() == 342));
    assert_ne!(keys[0]["kid"], keys[1]["kid"]);
    for key in keys {
        assert_eq!(key["use"], "sig");
        assert!(key["kid"].as_str().is_some_and(|k| !k.is_empty()));
        for private in ["d", "p", "q", "dp", "dq", "qi"] {
            assert!(
                key.get(private).is_none(),
                "private part must never be published"
            );
        }
    }
}

#[tokio::test]
async fn keys_survive_a_restart() {
    let mut app = spawn_app().await;
    let tokens = app.signed_in("restart@example.com").await;
    let before: Value = app
        .get("/.well-known/jwks.json")
        .await
        .json()
        .await
        .unwrap();
    app.restart().await;
    let after: Value = app
        .get("/.well-known/jwks.json")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(before, after);
    let r = app
        .get_auth("/v1/me", tokens["access_token"].as_str().unwrap())
        .await;
    assert_eq!(
        r.status(),
        200,
        "a token from before the restart still works"
    );
}

#[tokio::test]
async fn metrics_are_not_served_to_anyone_unless_asked_for() {
    let app = spawn_app_with(Options::default(), |c| c.metrics.public = false).await;
    assert_problem(app.get("/metrics").await, 404, "not_found").await;
}

#[tokio::test]
async fn metrics_count_requests_and_logins() {
    let app = spawn_app().await;
    app.signed_in("metrics@example.com").await;
    assert_eq!(
        app.login("metrics@example.com", "wrong password here")
            .await
            .status(),
        401
    );
    let text = app.get("/metrics").await.text().await.unwrap();
    assert!(text.contains("# TYPE deadbolt_http_request_duration_seconds histogram"));
    assert_eq!(
        app.metric(
            "deadbolt_http_requests_total",
            &["route=\"/v1/login\"", "status=\"200\""]
        )
        .await,
        1.0
    );
    assert_eq!(
        app.metric(
            "deadbolt_http_requests_total",
            &["route=\"/v1/login\"", "status=\"401\""]
        )
        .await,
        1.0
    );
    assert_eq!(
        app.metric("deadbolt_logins_total", &["outcome=\"success\""])
            .await,
        1.0
    );
    assert_eq!(
        app.metric("deadbolt_logins_total", &["outcome=\"failure\""])
            .await,
        1.0
    );
    assert!(
        app.metric(
            "deadbolt_http_request_duration_seconds_count",
            &["route=\"/v1/accounts\""]
        )
        .await
            >= 1.0
    );
}

#[tokio::test]
async fn openapi_documents_every_endpoint() {
    let app = spawn_app().await;
    let doc: Value = app.get("/openapi.json").await.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    let expected = [
        ("get", "/healthz"),
        ("get", "/readyz"),
        ("get", "/.well-known/jwks.json"),
        ("get", "/openapi.json"),
        ("get", "/metrics"),
        ("post", "/v1/accounts"),
        ("post", "/v1/accounts/verify"),
        ("post", "/v1/login"),
        ("post", "/v1/token/refresh"),
        ("post", "/v1/logout"),
        ("get", "/v1/me"),
        ("get", "/v1/me/sessions"),
        ("delete", "/v1/me/sessions/{id}"),
        ("get", "/v1/me/consents"),
        ("delete", "/v1/me/consents/{client_id}"),
        ("get", "/v1/me/events"),
        ("delete", "/v1/me"),
        ("post", "/v1/me/password"),
        ("get", "/v1/me/devices"),
        ("delete", "/v1/me/devices/{id}"),
        ("post", "/v1/login/mfa/challenge"),
        ("post", "/v1/login/mfa/verify"),
        ("get", "/v1/me/mfa"),
        ("post", "/v1/me/mfa/totp"),
        ("post", "/v1/me/mfa/{method_id}/confirm"),
        ("put", "/v1/me/mfa/primary"),
        ("delete", "/v1/me/mfa/{method_id}"),
        ("post", "/v1/me/mfa/recovery-codes"),
        ("post", "/v1/me/mfa/disable"),
        ("post", "/v1/step-up"),
        ("post", "/v1/step-up/challenge"),
        ("post", "/v1/step-up/verify"),
        ("post", "/v1/accounts/verify/resend"),
        ("post", "/v1/password-reset"),
        ("post", "/v1/password-reset/verify"),
        ("post", "/v1/password-reset/challenge"),
        ("post", "/v1/password-reset/complete"),
        ("post", "/v1/me/mfa/email"),
        ("post", "/v1/me/mfa/sms"),
        ("post", "/v1/me/mfa/voice"),
        ("post", "/v1/me/mfa/{method_id}/resend"),
        ("post", "/v1/me/email"),
        ("post", "/v1/me/email/verify"),
        ("post", "/v1/me/phone"),
        ("post", "/v1/me/phone/verify"),
        ("get", "/v1/admin/outbox/dead"),
        ("post", "/v1/admin/outbox/{message_id}/retry"),
        ("post", "/v1/me/api-keys"),
        ("get", "/v1/me/api-keys"),
        ("delete", "/v1/me/api-keys/{id}"),
        ("post", "/v1/api-keys/introspect"),
        ("post", "/v1/teams"),
        ("get", "/v1/teams"),
        ("get", "/v1/teams/{id}"),
        ("post", "/v1/teams/{id}/members"),
        ("patch", "/v1/teams/{id}/members/{account_id}"),
        ("delete", "/v1/teams/{id}/members/{account_id}"),
        ("delete", "/v1/teams/{id}/invitations/{invitation_id}"),
        ("get", "/v1/me/invitations"),
        ("post", "/v1/me/invitations/{id}/accept"),
        ("post", "/v1/me/invitations/{id}/decline"),
        ("post", "/v1/admin/accounts"),
        ("get", "/v1/admin/accounts"),
        ("post", "/v1/admin/accounts/{id}/mfa/reset"),
        ("post", "/v1/admin/accounts/{id}/unlock"),
        ("get", "/v1/admin/events"),
        ("post", "/v1/admin/clients"),
        ("get", "/v1/admin/clients"),
        ("post", "/v1/admin/clients/{client_id}/secret"),
        ("delete", "/v1/admin/clients/{client_id}"),
        ("get", "/v1/admin/policy"),
        ("put", "/v1/admin/policy"),
        ("post", "/v1/me/mfa/webauthn"),
        ("post", "/v1/login/passkey/start"),
        ("post", "/v1/login/passkey/finish"),
        ("put", "/v1/subjects/{external_id}"),
        ("get", "/v1/subjects/{external_id}"),
        ("delete", "/v1/subjects/{external_id}"),
        ("get", "/v1/subjects/{external_id}/mfa"),
        ("post", "/v1/subjects/{external_id}/mfa/totp"),
        ("post", "/v1/subjects/{external_id}/mfa/email"),
        ("post", "/v1/subjects/{external_id}/mfa/sms"),
        ("post", "/v1/subjects/{external_id}/mfa/voice"),
        ("post", "/v1/subjects/{external_id}/mfa/webauthn"),
        ("post", "/v1/subjects/{external_id}/mfa/{method_id}/resend"),
        ("post", "/v1/subjects/{external_id}/mfa/{method_id}/confirm"),
        ("put", "/v1/subjects/{external_id}/mfa/primary"),
        ("delete", "/v1/subjects/{external_id}/mfa/{method_id}"),
        ("post", "/v1/subjects/{external_id}/mfa/recovery-codes"),
        ("post", "/v1/subjects/{external_id}/challenges"),
        (
            "post",
            "/v1/subjects/{external_id}/challenges/{challenge_id}/send",
        ),
        (
            "post",
            "/v1/subjects/{external_id}/challenges/{challenge_id}/verify",
        ),
        ("post", "/v1/me/mfa/push"),
        ("get", "/v1/me/approvals"),
        ("post", "/v1/me/approvals/{id}"),
    ];
    let paths = doc["paths"].as_object().unwrap();
    let documented: usize = paths.values().map(|p| p.as_object().unwrap().len()).sum();
    assert_eq!(
        documented,
        expected.len(),
        "documented operations: {:?}",
        paths.keys().collect::<Vec<_>>()
    );
    for (method, path) in expected {
        let op = &doc["paths"][path][method];
        assert!(op.is_object(), "{method} {path} is not documented");
        assert!(
            op["responses"].as_object().is_some_and(|r| !r.is_empty()),
            "{method} {path} has no responses"
        );
    }
    // every error a body endpoint can give is documented as problem+json
    let login = &doc["paths"]["/v1/login"]["post"]["responses"];
    for status in ["400", "401", "413", "429", "503"] {
        assert!(
            login[status]["content"]["application/problem+json"].is_object(),
            "login {status}"
        );
    }
}

#[tokio::test]
async fn unknown_routes_and_methods_are_problems() {
    let app = spawn_app().await;
    assert_problem(app.get("/v1/nothing-here").await, 404, "not_found").await;
    let r = app.client.put(app.url("/v1/login")).send().await.unwrap();
    assert_problem(r, 405, "method_not_allowed").await;
}

#[tokio::test]
async fn readyz_answers_503_while_the_database_is_gone() {
    if backend() != Backend::Postgres {
        eprintln!("skipped on SQLite: an embedded database cannot be taken away from a running server; runs with DEADBOLT_TEST_DATABASE=postgres");
        return;
    }
    let app = spawn_app().await;
    let name = app
        .config
        .database
        .url
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    let admin = deadbolt_test_support::database::postgres_admin().await;
    assert_eq!(app.get("/readyz").await.status(), 200);
    // refuse new connections and end the open ones
    admin
        .batch_execute(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false"))
        .await
        .unwrap();
    admin
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
            &[&name],
        )
        .await
        .unwrap();
    let r = app.get("/readyz").await;
    assert_eq!(r.headers()["retry-after"], "1");
    assert_problem(r, 503, "unavailable").await;
    assert_eq!(
        app.get("/healthz").await.status(),
        200,
        "the process itself is still up"
    );
    admin
        .batch_execute(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true"))
        .await
        .unwrap();
    assert_eq!(
        app.get("/readyz").await.status(),
        200,
        "ready again once the database is back"
    );
}

#[tokio::test]
#[allow(
    clippy::disallowed_methods,
    reason = "the server runs on the wall clock here"
)]
async fn housekeeping_removes_what_expired_and_keeps_the_rest() {
    let app = spawn_app().await;
    let gone = app.signed_in("old@example.com").await;
    let r = app
        .client
        .post(app.url("/v1/logout"))
        .bearer_auth(gone["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let store = deadbolt_store::Store::open(&app.config.database.url, 2).unwrap();
    let purge = |at: time::OffsetDateTime| {
        let store = store.clone();
        async move {
            store
                .purge_expired(at, time::Duration::hours(24), time::Duration::hours(1))
                .await
                .unwrap()
        }
    };
    let now = time::OffsetDateTime::now_utc();
    assert_eq!(purge(now).await, 0, "nothing has been over for a day yet");
    let removed = purge(now + time::Duration::days(2)).await;
    assert!(
        removed >= 2,
        "the revoked session and the expired sign-up code went: {removed}"
    );
    // the refresh token went with its session; the events stay
    let r = app
        .post(
            "/v1/token/refresh",
            json!({"refresh_token": gone["refresh_token"]}),
        )
        .await;
    assert_problem(r, 401, "invalid_token").await;
    let fresh: Value = app
        .login("old@example.com", PASSWORD)
        .await
        .json()
        .await
        .unwrap();
    let events: Value = app
        .get_auth(
            "/v1/me/events?limit=100",
            fresh["access_token"].as_str().unwrap(),
        )
        .await
        .json()
        .await
        .unwrap();
    assert!(events["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["kind"] == "logged_out"));
}

/// The `kid`s the JWKS lists, in its order.
async fn published_kids(app: &TestApp) -> Vec<String> {
    let jwks: Value = app
        .get("/.well-known/jwks.json")
        .await
        .json()
        .await
        .unwrap();
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

/// Rotates the signing key as `deadbolt keys rotate --signing` does, from outside the running
/// server (its own connection to the database), then waits for the server to publish `kid`.
async fn rotate_signing_key(
    app: &TestApp,
    immediately: bool,
) -> deadbolt_usecases::rotation::SigningRotation {
    let store = deadbolt_usecases::context::open_store(&app.config)
        .await
        .unwrap();
    let clock = app.clock.clone().expect("spawn with manual_clock");
    let rotated = deadbolt_usecases::rotation::rotate_signing(
        &store,
        &app.config,
        clock.as_ref(),
        &deadbolt_usecases::system::OsRandom,
        immediately,
    )
    .await
    .unwrap();
    for _ in 0..100 {
        if published_kids(app).await.first() == Some(&rotated.new_kid) {
            return rotated;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the server did not take up the new signing key within 10 s");
}

#[tokio::test]
async fn signing_keys_rotate_and_the_old_one_verifies_until_its_tokens_have_expired() {
    let app = spawn_app_with(
        Options {
            manual_clock: true,
            ..Options::default()
        },
        |_| {},
    )
    .await;
    let old = app.access_token("rotate@example.com").await;
    let old_kid = kid_of(&old);
    let published = published_kids(&app).await;
    assert_eq!(published.len(), 2, "{published:?}");
    assert_eq!(published[0], old_kid);
    let old_rsa_kid = published[1].clone();

    let rotated = rotate_signing_key(&app, false).await;
    assert_eq!(rotated.old_kid.as_deref(), Some(old_kid.as_str()));
    assert_eq!(rotated.old_rs256_kid.as_deref(), Some(old_rsa_kid.as_str()));
    let new_kid = rotated.new_kid.clone();
    let new_rsa_kid = rotated.new_rs256_kid.clone();
    assert_ne!(new_kid, old_kid);
    // the longest-lived token the old key signed: an access token (900 s by default, longer
    // than any step-up window of the default policy), plus a minute for instances to follow
    assert_eq!(
        rotated.old_verifies_until.unix_timestamp(),
        app.now_unix() + 900 + 60
    );
    assert_eq!(
        published_kids(&app).await,
        [
            new_kid.clone(),
            new_rsa_kid.clone(),
            old_kid.clone(),
            old_rsa_kid.clone()
        ],
        "old and new keys are published, the live ones first"
    );
    // a token signed before still verifies, here and with the JWKS
    assert_eq!(app.get_auth("/v1/me", &old).await.status(), 200);
    assert!(verified_claims(&app, &old).await["sub"].is_string());
    // a new token carries the new kid
    let r = app.login("rotate@example.com", PASSWORD).await;
    let new = r.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(kid_of(&new), new_kid);
    verified_claims(&app, &new).await;
    assert_eq!(app.get_auth("/v1/me", &new).await.status(), 200);

    app.advance(time::Duration::seconds(959));
    assert_eq!(published_kids(&app).await.len(), 4, "not yet");
    app.advance(time::Duration::seconds(2));
    assert_eq!(
        published_kids(&app).await,
        [new_kid.as_str(), new_rsa_kid.as_str()]
    );
    assert_problem(app.get_auth("/v1/me", &old).await, 401, "invalid_token").await;
    let r = app.login("rotate@example.com", PASSWORD).await;
    let later = r.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(kid_of(&later), new_kid);
    assert_eq!(app.get_auth("/v1/me", &later).await.status(), 200);
}

#[tokio::test]
async fn leaked_signing_keys_stop_verifying_at_once_and_sessions_carry_on() {
    let app = spawn_app_with(
        Options {
            manual_clock: true,
            ..Options::default()
        },
        |_| {},
    )
    .await;
    let tokens = app.signed_in("leak@example.com").await;
    let old = tokens["access_token"].as_str().unwrap();
    let old_kid = kid_of(old);
    let rotated = rotate_signing_key(&app, true).await;
    assert_eq!(
        published_kids(&app).await,
        [rotated.new_kid.as_str(), rotated.new_rs256_kid.as_str()]
    );
    assert!(!published_kids(&app).await.contains(&old_kid));
    // unexpired, but signed with the leaked key
    assert_problem(app.get_auth("/v1/me", old).await, 401, "invalid_token").await;
    let r = app
        .post(
            "/v1/token/refresh",
            json!({"refresh_token": tokens["refresh_token"]}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let fresh = r.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(kid_of(&fresh), rotated.new_kid);
    assert_eq!(app.get_auth("/v1/me", &fresh).await.status(), 200);
}

#[tokio::test]
async fn openapi_links_lead_from_a_creation_to_what_uses_its_id() {
    let app = spawn_app().await;
    let doc: Value = app.get("/openapi.json").await.json().await.unwrap();
    let mut links = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let Some(responses) = op["responses"].as_object() else {
                continue;
            };
            for response in responses.values() {
                let Some(found) = response["links"].as_object() else {
                    continue;
                };
                for link in found.values() {
                    // "#/paths/~1v1~1teams~1{id}/get" names an operation of this document
                    let target = link["operationRef"]
                        .as_str()
                        .unwrap_or_else(|| panic!("{method} {path}: {link}"));
                    let (to_path, to_method) = target
                        .strip_prefix("#/paths/")
                        .and_then(|t| t.rsplit_once('/'))
                        .unwrap();
                    let to_path = to_path.replace("~1", "/");
                    assert!(
                        doc["paths"][&to_path][to_method].is_object(),
                        "{method} {path} links to a missing {to_method} {to_path}"
                    );
                    for (parameter, value) in link["parameters"].as_object().unwrap() {
                        assert!(to_path.contains(&format!("{{{parameter}}}")), "{target}");
                        // the new id from the answer, or (the server API's subject) a path
                        // parameter of the request that made it
                        let value = value.as_str().unwrap();
                        assert!(
                            value.starts_with("$response.body#/")
                                || value.starts_with("$request.path."),
                            "{target}: {value}"
                        );
                    }
                    links += 1;
                }
            }
        }
    }
    assert!(links >= 8, "{links} links");
    assert!(doc["paths"]["/v1/teams"]["post"]["responses"]["201"]["links"].is_object());
}
