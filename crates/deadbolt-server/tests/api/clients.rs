//! OpenID Connect clients: registered, listed, given new secrets and deleted by administrators
//! under step-up `client.manage`; everyone else, and every bad registration, refused.

use crate::helpers::*;
use deadbolt_core::clock::Clock;
use deadbolt_core::secret::Secret;
use deadbolt_usecases::system::OsRandom;
use reqwest::Method;
use serde_json::{json, Value};
use std::sync::Arc;
use time::Duration;

const CLIENTS: &str = "/v1/admin/clients";

fn confidential() -> Value {
    json!({
        "name": "Shop",
        "redirect_uris": ["https://shop.example/callback"],
        "public": false,
        "first_party": true,
        "grants": ["authorization_code", "refresh_token"],
    })
}

fn public_app() -> Value {
    json!({
        "name": "  Phone app  ",
        "redirect_uris": ["com.example.app:/cb", "http://127.0.0.1:53682/cb"],
        "post_logout_redirect_uris": ["com.example.app:/bye"],
        "public": true,
        "first_party": false,
        "grants": ["authorization_code"],
        "scopes": ["openid", "email"],
        "id_token_signed_response_alg": "RS256",
    })
}

/// A step-up for `client.manage` with the admin's authenticator (a fresh TOTP step each time).
async fn step_up(app: &TestApp, admin: &str, secret: &str) {
    app.advance(Duration::seconds(30));
    app.step_up_totp(admin, "client.manage", secret).await;
}

async fn listed(app: &TestApp, admin: &str) -> Vec<Value> {
    let r = app.get_auth(CLIENTS, admin).await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    body["items"].as_array().unwrap().clone()
}

/// The keyed hash the store holds for a client, as the service itself would compute for
/// `secret`: equal when `secret` is the one that works.
async fn secret_works(app: &TestApp, client_id: &str, secret: &str) -> bool {
    let clock: Arc<dyn Clock> = app.clock.clone().unwrap();
    let state = deadbolt_usecases::Context::open(app.config.clone(), clock, Arc::new(OsRandom))
        .await
        .unwrap();
    let Some(stored) = state.store.client(client_id).await.unwrap() else {
        return false;
    };
    let hashing = state.keys.hashing();
    let hash = hashing.live().hasher.hash_token(&Secret::new(secret));
    stored.secret_hash.as_deref() == Some(&hash.0[..])
}

#[tokio::test]
async fn outsiders_and_admins_without_a_step_up_cannot_register_clients() {
    let app = spawn_app_with(manual(), |_| {}).await;
    let (admin, _) = admin_signed_in(&app, "root@example.com").await;
    let user = app.enrolled("user@example.com").await;

    // no token, a user's token (even with a second factor): never
    let r = app
        .client
        .post(app.url(CLIENTS))
        .json(&confidential())
        .send()
        .await
        .unwrap();
    assert_problem(r, 401, "invalid_token").await;
    for (method, path) in [
        (Method::POST, CLIENTS.to_owned()),
        (Method::POST, format!("{CLIENTS}/dbc_x/secret")),
        (Method::DELETE, format!("{CLIENTS}/dbc_x")),
    ] {
        let body = (method == Method::POST && path == CLIENTS).then(confidential);
        let r = app.send_auth(method, &path, &user.access, body).await;
        assert_problem(r, 403, "forbidden").await;
    }
    assert_problem(app.get_auth(CLIENTS, &user.access).await, 403, "forbidden").await;

    // an admin without a step-up: the RFC 9470 answer naming the action, and nothing made
    let r = app
        .send_auth(Method::POST, CLIENTS, &admin, Some(confidential()))
        .await;
    let body = assert_problem(r, 401, "insufficient_user_authentication").await;
    assert_eq!(body["action"], "client.manage");
    assert_eq!(listed(&app, &admin).await, Vec::<Value>::new());

    // unknown fields are refused like everywhere
    let mut extra = confidential();
    extra["client_secret"] = json!("chosen-by-me");
    let r = app
        .send_auth(Method::POST, CLIENTS, &admin, Some(extra))
        .await;
    assert_problem(r, 400, "invalid_request").await;
}

#[tokio::test]
async fn bad_registrations_are_refused_naming_the_field() {
    let app = spawn_app_with(manual(), |_| {}).await;
    let (admin, _) = admin_signed_in(&app, "root@example.com").await;
    let cases = [
        ("redirect_uris", json!([]), "redirect_uris"),
        (
            "redirect_uris",
            json!(["http://shop.example/cb"]),
            "redirect_uris[0]",
        ),
        (
            "redirect_uris",
            json!(["http://localhost.evil.example/cb"]),
            "redirect_uris[0]",
        ),
        (
            "redirect_uris",
            json!(["https://shop.example/cb", "https://shop.example/cb#x"]),
            "redirect_uris[1]",
        ),
        ("redirect_uris", json!(["/callback"]), "redirect_uris[0]"),
        (
            "redirect_uris",
            json!(["javascript:alert(1)"]),
            "redirect_uris[0]",
        ),
        // a private-use scheme is for public clients only
        (
            "redirect_uris",
            json!(["com.example.app:/cb"]),
            "redirect_uris[0]",
        ),
        (
            "post_logout_redirect_uris",
            json!(["https://shop.example/bye#x"]),
            "post_logout_redirect_uris[0]",
        ),
        (
            "grants",
            json!(["authorization_code", "implicit"]),
            "grants[1]",
        ),
        ("grants", json!(["refresh_token"]), "grants"),
        ("grants", json!([]), "grants"),
        ("scopes", json!(["profile", "email"]), "scopes"),
        ("scopes", json!(["openid", "admin"]), "scopes[1]"),
        ("name", json!("x".repeat(101)), "name"),
        ("name", json!("   "), "name"),
        (
            "id_token_signed_response_alg",
            json!("none"),
            "id_token_signed_response_alg",
        ),
    ];
    for (key, value, field) in cases {
        let mut body = confidential();
        body[key] = value.clone();
        let r = app
            .send_auth(Method::POST, CLIENTS, &admin, Some(body))
            .await;
        let problem = assert_problem(r, 400, "invalid_request").await;
        let detail = problem["detail"].as_str().unwrap();
        assert!(
            detail.starts_with(&format!("{field}: ")),
            "{key}={value}: {detail}"
        );
    }
    assert_eq!(listed(&app, &admin).await, Vec::<Value>::new());
}

#[tokio::test]
async fn admins_register_rotate_and_delete_clients_after_a_step_up() {
    let app = spawn_app_with(manual(), |_| {}).await;
    let (admin, totp) = admin_signed_in(&app, "root@example.com").await;

    step_up(&app, &admin, &totp).await;
    let r = app
        .send_auth(Method::POST, CLIENTS, &admin, Some(confidential()))
        .await;
    assert_eq!(r.status(), 201);
    let shop: Value = r.json().await.unwrap();
    let shop_id = shop["client_id"].as_str().unwrap().to_owned();
    let first_secret = shop["client_secret"].as_str().unwrap().to_owned();
    assert!(
        shop_id.starts_with("dbc_") && shop_id.len() >= 24,
        "{shop_id}"
    );
    assert!(first_secret.starts_with("dbcs_") && first_secret.len() >= 45);
    assert_eq!(
        shop["grants"],
        json!(["authorization_code", "refresh_token"])
    );
    assert_eq!(
        shop["scopes"],
        json!(["openid", "profile", "email", "phone", "offline_access"])
    );
    assert_eq!(shop["id_token_signed_response_alg"], "RS256");
    assert!(secret_works(&app, &shop_id, &first_secret).await);

    // the grant was one-shot: the next registration asks again
    let r = app
        .send_auth(Method::POST, CLIENTS, &admin, Some(public_app()))
        .await;
    assert_problem(r, 401, "insufficient_user_authentication").await;
    step_up(&app, &admin, &totp).await;
    let r = app
        .send_auth(Method::POST, CLIENTS, &admin, Some(public_app()))
        .await;
    assert_eq!(r.status(), 201);
    let phone: Value = r.json().await.unwrap();
    let phone_id = phone["client_id"].as_str().unwrap().to_owned();
    assert!(phone.get("client_secret").is_none(), "{phone}");
    assert_eq!(phone["name"], "Phone app");
    assert_eq!(phone["public"], true);
    assert_eq!(phone["first_party"], false);
    assert_eq!(
        phone["redirect_uris"],
        json!(["com.example.app:/cb", "http://127.0.0.1:53682/cb"])
    );
    assert_eq!(
        phone["post_logout_redirect_uris"],
        json!(["com.example.app:/bye"])
    );
    assert_eq!(phone["scopes"], json!(["openid", "email"]));
    assert_eq!(phone["id_token_signed_response_alg"], "RS256");
    assert_ne!(phone_id, shop_id);

    // the list shows both, never a secret
    let items = listed(&app, &admin).await;
    let ids: Vec<&str> = items
        .iter()
        .map(|c| c["client_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [shop_id.as_str(), phone_id.as_str()]);
    let text = serde_json::to_string(&items).unwrap();
    assert!(!text.contains(&first_secret));
    assert!(!text.contains("secret"), "{text}");

    // a new secret: shown once, the old one stops working
    let rotate = format!("{CLIENTS}/{shop_id}/secret");
    let r = app.send_auth(Method::POST, &rotate, &admin, None).await;
    let body = assert_problem(r, 401, "insufficient_user_authentication").await;
    assert_eq!(body["action"], "client.manage");
    step_up(&app, &admin, &totp).await;
    let r = app.send_auth(Method::POST, &rotate, &admin, None).await;
    assert_eq!(r.status(), 200);
    let rotated: Value = r.json().await.unwrap();
    assert_eq!(rotated["client_id"], shop_id.as_str());
    let second_secret = rotated["client_secret"].as_str().unwrap().to_owned();
    assert_ne!(second_secret, first_secret);
    assert!(secret_works(&app, &shop_id, &second_secret).await);
    assert!(!secret_works(&app, &shop_id, &first_secret).await);
    // a public client has no secret to rotate (refused before any step-up is spent)
    let r = app
        .send_auth(
            Method::POST,
            &format!("{CLIENTS}/{phone_id}/secret"),
            &admin,
            None,
        )
        .await;
    assert_problem(r, 400, "invalid_request").await;
    let r = app
        .send_auth(
            Method::POST,
            &format!("{CLIENTS}/dbc_nosuchclient/secret"),
            &admin,
            None,
        )
        .await;
    assert_problem(r, 404, "not_found").await;

    // deletion: gone from the list, its secret dead, a second delete 404
    let delete = format!("{CLIENTS}/{shop_id}");
    let r = app.send_auth(Method::DELETE, &delete, &admin, None).await;
    assert_problem(r, 401, "insufficient_user_authentication").await;
    step_up(&app, &admin, &totp).await;
    let r = app.send_auth(Method::DELETE, &delete, &admin, None).await;
    assert_eq!(r.status(), 204);
    let ids: Vec<Value> = listed(&app, &admin)
        .await
        .iter()
        .map(|c| c["client_id"].clone())
        .collect();
    assert_eq!(ids, [json!(phone_id)]);
    assert!(!secret_works(&app, &shop_id, &second_secret).await);
    let r = app.send_auth(Method::DELETE, &delete, &admin, None).await;
    assert_problem(r, 404, "not_found").await;
    let r = app.send_auth(Method::POST, &rotate, &admin, None).await;
    assert_problem(r, 404, "not_found").await;
    let r = app
        .send_auth(
            Method::DELETE,
            &format!("{CLIENTS}/not-a-client-id"),
            &admin,
            None,
        )
        .await;
    assert_problem(r, 404, "not_found").await;

    // each change is a security event of the admin
    let events: Value = app
        .get_auth("/v1/admin/events?limit=100", &admin)
        .await
        .json()
        .await
        .unwrap();
    let kinds: Vec<&str> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["kind"].as_str())
        .filter(|k| k.starts_with("client_"))
        .collect();
    assert_eq!(
        kinds,
        [
            "client_deleted",
            "client_secret_rotated",
            "client_created",
            "client_created"
        ]
    );
}

#[tokio::test]
async fn a_burst_of_registrations_makes_exactly_as_many_clients_as_201s() {
    let app = spawn_app_with(manual(), |_| {}).await;
    let (admin, totp) = admin_signed_in(&app, "root@example.com").await;
    step_up(&app, &admin, &totp).await;
    let mut set = tokio::task::JoinSet::new();
    let gate = Arc::new(tokio::sync::Barrier::new(12));
    for i in 0..12 {
        let req = app
            .client
            .post(app.url(CLIENTS))
            .bearer_auth(&admin)
            .json(&json!({
                "name": format!("burst {i}"),
                "redirect_uris": ["https://burst.example/cb"],
                "public": i % 2 == 0,
                "first_party": true,
                "grants": ["authorization_code"],
            }));
        let gate = gate.clone();
        set.spawn(async move {
            gate.wait().await;
            let r = req.send().await.unwrap();
            let status = r.status().as_u16();
            let body: Value = r.json().await.unwrap_or(Value::Null);
            (status, body)
        });
    }
    let mut made = Vec::new();
    while let Some(answer) = set.join_next().await {
        let (status, body) = answer.unwrap();
        match status {
            201 => made.push(body["client_id"].as_str().unwrap().to_owned()),
            401 => assert_eq!(body["error"], "insufficient_user_authentication", "{body}"),
            other => panic!("unexpected {other}: {body}"),
        }
    }
    // the step-up is one-shot: one registration spends it, whichever wins
    assert_eq!(made.len(), 1);
    let mut listed: Vec<String> = listed(&app, &admin)
        .await
        .iter()
        .map(|c| c["client_id"].as_str().unwrap().to_owned())
        .collect();
    listed.sort();
    made.sort();
    assert_eq!(listed, made);
}
