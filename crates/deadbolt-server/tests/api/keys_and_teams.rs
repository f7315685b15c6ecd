//! API keys (made, listed, introspected, revoked under step-up) and teams (members managed
//! under the `team.manage` window; roles; the last owner stays).

use crate::helpers::*;
use reqwest::Method;
use serde_json::{json, Value};

/// Steps up `action` with the password (these accounts have no MFA).
async fn step_up_password(app: &TestApp, access: &str, action: &str) {
    let begin: Value = app
        .send_auth(
            Method::POST,
            "/v1/step-up",
            access,
            Some(json!({"action": action})),
        )
        .await
        .json()
        .await
        .unwrap();
    if begin["satisfied"] == true {
        return;
    }
    let r = app
        .send_auth(
            Method::POST,
            "/v1/step-up/verify",
            access,
            Some(json!({"challenge_token": begin["challenge_token"], "type": "password", "password": PASSWORD})),
        )
        .await;
    assert_eq!(r.status(), 200, "step-up: {}", r.text().await.unwrap());
}

async fn introspect(app: &TestApp, key: &str) -> reqwest::Response {
    app.post("/v1/api-keys/introspect", json!({"key": key}))
        .await
}

#[tokio::test]
async fn api_keys_are_shown_once_introspected_and_revoked_under_step_up() {
    let app = spawn_app().await;
    let access = app.access_token("keys@example.com").await;
    let r = app
        .send_auth(
            Method::POST,
            "/v1/me/api-keys",
            &access,
            Some(json!({"name": "  deploy bot "})),
        )
        .await;
    assert_eq!(r.status(), 201);
    let made: Value = r.json().await.unwrap();
    let key = made["key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("dbk_") && key.len() >= 40, "{key}");
    assert_eq!(made["name"], "deploy bot");
    assert!(key.starts_with(made["prefix"].as_str().unwrap()));
    let listed: Value = app
        .get_auth("/v1/me/api-keys", &access)
        .await
        .json()
        .await
        .unwrap();
    let items = listed["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["id"], made["id"]);
    assert!(
        !listed.to_string().contains(&key),
        "the list never holds the key"
    );

    let r = introspect(&app, &key).await;
    assert_eq!(r.status(), 200);
    let seen: Value = r.json().await.unwrap();
    let me: Value = app.get_auth("/v1/me", &access).await.json().await.unwrap();
    assert_eq!(
        seen,
        json!({"active": true, "account_id": me["id"], "key_id": made["id"], "name": "deploy bot"})
    );
    let listed: Value = app
        .get_auth("/v1/me/api-keys", &access)
        .await
        .json()
        .await
        .unwrap();
    assert!(listed["items"][0]["last_used_at"].is_string());

    let path = format!("/v1/me/api-keys/{}", made["id"].as_str().unwrap());
    let r = app.send_auth(Method::DELETE, &path, &access, None).await;
    let body = assert_problem(r, 401, "insufficient_user_authentication").await;
    assert_eq!(body["action"], "api_key.revoke");
    assert_eq!(
        introspect(&app, &key).await.json::<Value>().await.unwrap()["active"],
        true
    );
    step_up_password(&app, &access, "api_key.revoke").await;
    let r = app.send_auth(Method::DELETE, &path, &access, None).await;
    assert_eq!(r.status(), 204);
    assert_eq!(
        introspect(&app, &key).await.json::<Value>().await.unwrap(),
        json!({"active": false})
    );
    let listed: Value = app
        .get_auth("/v1/me/api-keys", &access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["items"], json!([]));
    assert_problem(
        app.send_auth(Method::DELETE, &path, &access, None).await,
        404,
        "not_found",
    )
    .await;
    // someone else's key is not ours to revoke
    let other = app.access_token("other@example.com").await;
    let theirs: Value = app
        .send_auth(
            Method::POST,
            "/v1/me/api-keys",
            &other,
            Some(json!({"name": "theirs"})),
        )
        .await
        .json()
        .await
        .unwrap();
    let path = format!("/v1/me/api-keys/{}", theirs["id"].as_str().unwrap());
    assert_problem(
        app.send_auth(Method::DELETE, &path, &access, None).await,
        404,
        "not_found",
    )
    .await;
    let r = app
        .send_auth(
            Method::POST,
            "/v1/me/api-keys",
            &access,
            Some(json!({"name": " "})),
        )
        .await;
    assert_problem(r, 400, "invalid_request").await;
}

#[tokio::test]
async fn guessing_keys_is_throttled_per_client_address_but_live_keys_still_answer() {
    let mut app = spawn_app().await;
    let access = app.access_token("relay@example.com").await;
    let made: Value = app
        .send_auth(
            Method::POST,
            "/v1/me/api-keys",
            &access,
            Some(json!({"name": "relay"})),
        )
        .await
        .json()
        .await
        .unwrap();
    let live = made["key"].as_str().unwrap();
    let mail = loop {
        let m = app.next_mail().await;
        if m.subject != "Verify your email address" {
            break m;
        }
    };
    assert_eq!(
        mail.subject, "A new API key was made",
        "the owner hears of every new key"
    );
    for i in 0..30 {
        let r = introspect(&app, &format!("dbk_{i:0>40}")).await;
        assert_eq!(r.json::<Value>().await.unwrap(), json!({"active": false}));
    }
    let r = introspect(&app, "dbk_0000000000000000000000000000000000000000").await;
    assert!(r.headers().contains_key("retry-after"));
    assert_problem(r, 429, "too_many_attempts").await;
    // an app relaying its users' keys is not shut out by one user's junk
    let r = introspect(&app, live).await;
    assert_eq!(r.json::<Value>().await.unwrap()["active"], true);
}

async fn team_view(app: &TestApp, access: &str, id: &str) -> reqwest::Response {
    app.get_auth(&format!("/v1/teams/{id}"), access).await
}

async fn add(
    app: &TestApp,
    access: &str,
    team: &str,
    email: &str,
    role: &str,
) -> reqwest::Response {
    app.send_auth(
        Method::POST,
        &format!("/v1/teams/{team}/members"),
        access,
        Some(json!({"email": email, "role": role})),
    )
    .await
}

#[tokio::test]
async fn teams_members_roles_and_the_last_owner() {
    let app = spawn_app().await;
    let owner = app.access_token("owner@example.com").await;
    let admin = app.access_token("admin@example.com").await;
    let member = app.access_token("member@example.com").await;
    let r = app
        .send_auth(
            Method::POST,
            "/v1/teams",
            &owner,
            Some(json!({"name": "Platform"})),
        )
        .await;
    assert_eq!(r.status(), 201);
    let team: Value = r.json().await.unwrap();
    let id = team["id"].as_str().unwrap().to_owned();
    assert_eq!(team["name"], "Platform");
    let listed: Value = app
        .get_auth("/v1/teams", &owner)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["items"][0]["members"][0]["role"], "owner");
    assert_eq!(
        listed["items"][0]["members"][0]["email"],
        "owner@example.com"
    );
    // outsiders do not see it
    assert_problem(team_view(&app, &admin, &id).await, 404, "not_found").await;

    // managing members needs the team.manage step-up, which stays open for a sliding window
    let body = assert_problem(
        add(&app, &owner, &id, "admin@example.com", "admin").await,
        401,
        "insufficient_user_authentication",
    )
    .await;
    assert_eq!(body["action"], "team.manage");
    step_up_password(&app, &owner, "team.manage").await;
    assert_eq!(
        add(&app, &owner, &id, "admin@example.com", "admin")
            .await
            .status(),
        201
    );
    let r = add(&app, &owner, &id, "member@example.com", "member").await;
    assert_eq!(r.status(), 201, "the window is still open");
    let added: Value = r.json().await.unwrap();
    assert_eq!(added["role"], "member");
    assert_problem(
        add(&app, &owner, &id, "member@example.com", "member").await,
        409,
        "already_member",
    )
    .await;
    assert_problem(
        add(&app, &owner, &id, "nobody@example.com", "member").await,
        404,
        "not_found",
    )
    .await;
    assert_problem(
        add(&app, &owner, &id, "x@example.com", "boss").await,
        400,
        "invalid_request",
    )
    .await;

    // admins manage members and admins, never owners
    step_up_password(&app, &admin, "team.manage").await;
    app.signed_in("third@example.com").await;
    assert_problem(
        add(&app, &admin, &id, "third@example.com", "owner").await,
        403,
        "forbidden",
    )
    .await;
    assert_eq!(
        add(&app, &admin, &id, "third@example.com", "member")
            .await
            .status(),
        201
    );
    let view: Value = team_view(&app, &owner, &id).await.json().await.unwrap();
    let account_of = |email: &str| {
        view["members"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["email"] == email)
            .unwrap()["account_id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let owner_id = account_of("owner@example.com");
    let admin_id = account_of("admin@example.com");
    let member_id = account_of("member@example.com");
    let member_path = |account: &str| format!("/v1/teams/{id}/members/{account}");
    assert_problem(
        app.send_auth(Method::DELETE, &member_path(&owner_id), &admin, None)
            .await,
        403,
        "forbidden",
    )
    .await;
    // members manage nobody, but may leave
    step_up_password(&app, &member, "team.manage").await;
    assert_problem(
        add(&app, &member, &id, "x@example.com", "member").await,
        403,
        "forbidden",
    )
    .await;
    let r = app
        .send_auth(Method::DELETE, &member_path(&member_id), &member, None)
        .await;
    assert_eq!(r.status(), 204);
    assert_problem(team_view(&app, &member, &id).await, 404, "not_found").await;

    // the last owner can be neither demoted nor removed
    let demote = json!({"role": "admin"});
    assert_problem(
        app.send_auth(
            Method::PATCH,
            &member_path(&owner_id),
            &owner,
            Some(demote.clone()),
        )
        .await,
        409,
        "last_owner",
    )
    .await;
    assert_problem(
        app.send_auth(Method::DELETE, &member_path(&owner_id), &owner, None)
            .await,
        409,
        "last_owner",
    )
    .await;
    // with a second owner, the first may step down
    let r = app
        .send_auth(
            Method::PATCH,
            &member_path(&admin_id),
            &owner,
            Some(json!({"role": "owner"})),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["role"], "owner");
    let r = app
        .send_auth(Method::PATCH, &member_path(&owner_id), &owner, Some(demote))
        .await;
    assert_eq!(r.status(), 200);
    let view: Value = team_view(&app, &owner, &id).await.json().await.unwrap();
    let owners = view["members"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "owner")
        .count();
    assert_eq!(owners, 1);
}

#[tokio::test]
async fn deleting_an_account_takes_its_keys_and_memberships_but_not_a_team_it_owns_with_others() {
    let app = spawn_app().await;
    let alice = app.access_token("alice@example.com").await;
    let bob = app.access_token("bob@example.com").await;
    let key: Value = app
        .send_auth(
            Method::POST,
            "/v1/me/api-keys",
            &alice,
            Some(json!({"name": "ci"})),
        )
        .await
        .json()
        .await
        .unwrap();
    app.send_auth(
        Method::POST,
        "/v1/teams",
        &alice,
        Some(json!({"name": "Solo"})),
    )
    .await;
    let shared: Value = app
        .send_auth(
            Method::POST,
            "/v1/teams",
            &bob,
            Some(json!({"name": "Shared"})),
        )
        .await
        .json()
        .await
        .unwrap();
    let shared_id = shared["id"].as_str().unwrap();
    step_up_password(&app, &bob, "team.manage").await;
    assert_eq!(
        add(&app, &bob, shared_id, "alice@example.com", "member")
            .await
            .status(),
        201
    );

    step_up_password(&app, &alice, "account.delete").await;
    assert_eq!(
        app.send_auth(Method::DELETE, "/v1/me", &alice, None)
            .await
            .status(),
        204
    );
    assert_eq!(
        introspect(&app, key["key"].as_str().unwrap())
            .await
            .json::<Value>()
            .await
            .unwrap(),
        json!({"active": false})
    );
    let view: Value = team_view(&app, &bob, shared_id).await.json().await.unwrap();
    assert_eq!(view["members"].as_array().unwrap().len(), 1, "{view}");

    // the last owner of a team with other members must hand it over first
    app.signed_in("carol@example.com").await;
    assert_eq!(
        add(&app, &bob, shared_id, "carol@example.com", "member")
            .await
            .status(),
        201
    );
    step_up_password(&app, &bob, "account.delete").await;
    assert_problem(
        app.send_auth(Method::DELETE, "/v1/me", &bob, None).await,
        409,
        "last_owner",
    )
    .await;
    assert_eq!(app.get_auth("/v1/me", &bob).await.status(), 200);
}
