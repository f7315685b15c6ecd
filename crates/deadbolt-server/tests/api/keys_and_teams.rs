//! API keys (made, listed, introspected, revoked under step-up) and teams (members managed
//! under the `team.manage` window; roles; the last owner stays; nobody joins without accepting
//! an invitation, and inviting tells nothing about who has an account).

use crate::helpers::*;
use reqwest::Method;
use serde_json::{json, Value};

/// Steps up `action` with the password (these accounts have no MFA).
async fn introspect(app: &TestApp, key: &str) -> reqwest::Response {
    app.post("/v1/api-keys/introspect", json!({"key": key}))
        .await
}

#[tokio::test]
async fn api_keys_are_shown_once_introspected_and_revoked_under_step_up() {
    let mut app = spawn_app().await;
    let access = verified(&mut app, "keys@example.com").await;
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
    app.step_up_password(&access, "api_key.revoke").await;
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
    let other = verified(&mut app, "other@example.com").await;
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
    let access = verified(&mut app, "relay@example.com").await;
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

async fn invite(
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

/// Signs up, verifies the address with the mailed code and signs in: the access token.
async fn verified(app: &mut TestApp, email: &str) -> String {
    verified_account(app, email).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn new_team(app: &TestApp, access: &str, name: &str) -> String {
    let r = app
        .send_auth(
            Method::POST,
            "/v1/teams",
            access,
            Some(json!({"name": name})),
        )
        .await;
    assert_eq!(r.status(), 201);
    r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn my_invitations(app: &TestApp, access: &str) -> reqwest::Response {
    app.get_auth("/v1/me/invitations", access).await
}

async fn answer(app: &TestApp, access: &str, invitation: &str, how: &str) -> reqwest::Response {
    app.send_auth(
        Method::POST,
        &format!("/v1/me/invitations/{invitation}/{how}"),
        access,
        None,
    )
    .await
}

/// The entry of `email` in a team's member list.
fn entry<'a>(view: &'a Value, email: &str) -> Option<&'a Value> {
    view["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["email"] == email)
}

/// Invites `email` (step-up already open) and accepts as its holder.
async fn join(app: &TestApp, by: &str, team: &str, access: &str, email: &str, role: &str) {
    let r = invite(app, by, team, email, role).await;
    assert_eq!(r.status(), 201, "invite: {}", r.text().await.unwrap());
    let sent: Value = r.json().await.unwrap();
    let r = answer(app, access, sent["id"].as_str().unwrap(), "accept").await;
    assert_eq!(r.status(), 200, "accept: {}", r.text().await.unwrap());
}

async fn kinds_of_events(app: &TestApp, access: &str) -> Vec<String> {
    let events: Value = app
        .get_auth("/v1/me/events?limit=100", access)
        .await
        .json()
        .await
        .unwrap();
    events["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn teams_members_roles_and_the_last_owner() {
    let mut app = spawn_app().await;
    let owner = verified(&mut app, "owner@example.com").await;
    let admin = verified(&mut app, "admin@example.com").await;
    let member = verified(&mut app, "member@example.com").await;
    let third = verified(&mut app, "third@example.com").await;
    let id = new_team(&app, &owner, "Platform").await;
    let listed: Value = app
        .get_auth("/v1/teams", &owner)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["items"][0]["name"], "Platform");
    assert_eq!(listed["items"][0]["members"][0]["role"], "owner");
    assert_eq!(listed["items"][0]["members"][0]["status"], "active");
    assert_eq!(
        listed["items"][0]["members"][0]["email"],
        "owner@example.com"
    );
    // outsiders do not see it
    assert_problem(team_view(&app, &admin, &id).await, 404, "not_found").await;

    // managing members needs the team.manage step-up, which stays open for a sliding window
    let body = assert_problem(
        invite(&app, &owner, &id, "admin@example.com", "admin").await,
        401,
        "insufficient_user_authentication",
    )
    .await;
    assert_eq!(body["action"], "team.manage");
    app.step_up_password(&owner, "team.manage").await;
    join(&app, &owner, &id, &admin, "admin@example.com", "admin").await;
    let r = invite(&app, &owner, &id, "member@example.com", "admin").await;
    assert_eq!(r.status(), 201, "the window is still open");
    // inviting again renews the invitation, with the new role
    let r = invite(&app, &owner, &id, "member@example.com", "member").await;
    assert_eq!(r.status(), 201);
    let sent: Value = r.json().await.unwrap();
    assert_eq!(sent["role"], "member");
    let mine: Value = my_invitations(&app, &member).await.json().await.unwrap();
    assert_eq!(mine["items"].as_array().unwrap().len(), 1, "{mine}");
    assert_eq!(mine["items"][0]["role"], "member");
    let r = answer(&app, &member, sent["id"].as_str().unwrap(), "accept").await;
    assert_eq!(r.status(), 200);
    let joined: Value = r.json().await.unwrap();
    assert_eq!(joined["id"], id.as_str());
    assert_eq!(
        entry(&joined, "member@example.com").unwrap()["role"],
        "member"
    );
    assert_problem(
        invite(&app, &owner, &id, "member@example.com", "member").await,
        409,
        "already_member",
    )
    .await;
    assert_problem(
        invite(&app, &owner, &id, "x@example.com", "boss").await,
        400,
        "invalid_request",
    )
    .await;

    // admins manage members and admins, never owners
    app.step_up_password(&admin, "team.manage").await;
    assert_problem(
        invite(&app, &admin, &id, "third@example.com", "owner").await,
        403,
        "forbidden",
    )
    .await;
    join(&app, &admin, &id, &third, "third@example.com", "member").await;
    let view: Value = team_view(&app, &owner, &id).await.json().await.unwrap();
    let account_of = |email: &str| {
        let m = entry(&view, email).unwrap();
        assert_eq!(m["status"], "active");
        m["account_id"].as_str().unwrap().to_owned()
    };
    let owner_id = account_of("owner@example.com");
    let admin_id = account_of("admin@example.com");
    let member_id = account_of("member@example.com");
    account_of("third@example.com");
    let member_path = |account: &str| format!("/v1/teams/{id}/members/{account}");
    assert_problem(
        app.send_auth(Method::DELETE, &member_path(&owner_id), &admin, None)
            .await,
        403,
        "forbidden",
    )
    .await;
    // members manage nobody, but may leave
    app.step_up_password(&member, "team.manage").await;
    assert_problem(
        invite(&app, &member, &id, "x@example.com", "member").await,
        403,
        "forbidden",
    )
    .await;
    let r = app
        .send_auth(Method::DELETE, &member_path(&member_id), &member, None)
        .await;
    assert_eq!(r.status(), 204);
    assert_problem(team_view(&app, &member, &id).await, 404, "not_found").await;

    // an invitation stands only while its inviter may grant it
    let r = invite(&app, &admin, &id, "member@example.com", "member").await;
    assert_eq!(r.status(), 201);
    let r = app
        .send_auth(
            Method::PATCH,
            &member_path(&admin_id),
            &owner,
            Some(json!({"role": "member"})),
        )
        .await;
    assert_eq!(r.status(), 200);
    let mine: Value = my_invitations(&app, &member).await.json().await.unwrap();
    assert_eq!(
        mine["items"],
        json!([]),
        "the demoted admin's invitation lapsed"
    );
    let r = app
        .send_auth(
            Method::PATCH,
            &member_path(&admin_id),
            &owner,
            Some(json!({"role": "admin"})),
        )
        .await;
    assert_eq!(r.status(), 200);

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
async fn an_invitation_makes_nobody_a_member_until_accepted() {
    let mut app = spawn_app().await;
    let owner = verified(&mut app, "lead@example.com").await;
    let bob = verified(&mut app, "bob@example.com").await;
    let id = new_team(&app, &owner, "Ops").await;
    app.step_up_password(&owner, "team.manage").await;
    let r = invite(&app, &owner, &id, "  Bob@Example.com ", "admin").await;
    assert_eq!(r.status(), 201);
    let sent: Value = r.json().await.unwrap();
    assert_eq!(sent["email"], "bob@example.com");
    assert_eq!(sent["role"], "admin");
    assert_eq!(sent["status"], "invited");

    // invited, not a member: the team lists the address as invited, without an account
    let view: Value = team_view(&app, &owner, &id).await.json().await.unwrap();
    let bob_entry = entry(&view, "bob@example.com").unwrap();
    assert_eq!(bob_entry["status"], "invited");
    assert_eq!(bob_entry["role"], "admin");
    assert_eq!(bob_entry["account_id"], Value::Null);
    assert_eq!(bob_entry["invitation_id"], sent["id"]);
    assert_problem(team_view(&app, &bob, &id).await, 404, "not_found").await;
    let teams: Value = app.get_auth("/v1/teams", &bob).await.json().await.unwrap();
    assert_eq!(teams["items"], json!([]));
    app.step_up_password(&bob, "team.manage").await;
    assert_problem(
        invite(&app, &bob, &id, "eve@example.com", "member").await,
        404,
        "not_found",
    )
    .await;

    // the invitee hears of it, without the team's name (the inviter chose those words)
    let mail = loop {
        let m = app.next_mail_to("bob@example.com").await;
        if m.subject != "Verify your email address" {
            break m;
        }
    };
    assert_eq!(mail.subject, "You were invited to join a team");
    assert!(!mail.text.contains("Ops"), "{}", mail.text);

    let r = my_invitations(&app, &bob).await;
    assert_eq!(r.status(), 200);
    let mine: Value = r.json().await.unwrap();
    let items = mine["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["id"], sent["id"]);
    assert_eq!(items[0]["team_id"], id.as_str());
    assert_eq!(items[0]["team_name"], "Ops");
    assert_eq!(items[0]["role"], "admin");
    assert_eq!(items[0]["invited_by"], "lead@example.com");
    assert!(items[0]["invited_at"].is_string());

    let r = answer(&app, &bob, sent["id"].as_str().unwrap(), "accept").await;
    assert_eq!(r.status(), 200);
    let view: Value = team_view(&app, &bob, &id).await.json().await.unwrap();
    let bob_entry = entry(&view, "bob@example.com").unwrap();
    assert_eq!(bob_entry["status"], "active");
    assert_eq!(bob_entry["role"], "admin");
    assert!(bob_entry["account_id"].is_string());
    assert_eq!(view["members"].as_array().unwrap().len(), 2, "{view}");
    let mine: Value = my_invitations(&app, &bob).await.json().await.unwrap();
    assert_eq!(mine["items"], json!([]));
    assert_problem(
        answer(&app, &bob, sent["id"].as_str().unwrap(), "accept").await,
        404,
        "not_found",
    )
    .await;
    assert!(kinds_of_events(&app, &owner)
        .await
        .contains(&"team_member_invited".to_owned()));
    assert!(kinds_of_events(&app, &bob)
        .await
        .contains(&"team_invitation_accepted".to_owned()));
}

#[tokio::test]
async fn inviting_answers_alike_whether_or_not_the_address_has_an_account() {
    let mut app = spawn_app().await;
    let owner = verified(&mut app, "host@example.com").await;
    verified(&mut app, "known@example.com").await;
    app.signed_in_unverified("unverified@example.com").await;
    let id = new_team(&app, &owner, "Guests").await;
    app.step_up_password(&owner, "team.manage").await;
    let mut answers = Vec::new();
    for email in [
        "known@example.com",
        "nobody@example.com",
        "unverified@example.com",
    ] {
        let r = invite(&app, &owner, &id, email, "member").await;
        let status = r.status();
        let content_type = r.headers()["content-type"].to_str().unwrap().to_owned();
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["email"], email);
        assert!(body["id"].is_string() && body["invited_at"].is_string());
        // what is left once the address and the per-call values are set aside
        let mut shape = body.clone();
        for key in ["email", "id", "invited_at", "expires_at"] {
            shape[key] = Value::Null;
        }
        answers.push((status, content_type, shape));
    }
    assert_eq!(answers[0].0, 201);
    assert_eq!(answers[0].2["status"], "invited");
    assert!(
        answers.iter().all(|a| *a == answers[0]),
        "answers differ: {answers:?}"
    );
    let view: Value = team_view(&app, &owner, &id).await.json().await.unwrap();
    for email in [
        "known@example.com",
        "nobody@example.com",
        "unverified@example.com",
    ] {
        let e = entry(&view, email).unwrap();
        assert_eq!(e["status"], "invited");
        assert_eq!(e["account_id"], Value::Null, "{e}");
    }
    // only the account that proved it holds its address is mailed
    let told = app.next_mail_to("known@example.com").await;
    assert_eq!(told.subject, "You were invited to join a team");
    while let Some(m) = app.next_mail_within(2).await {
        assert_ne!(
            m.subject, "You were invited to join a team",
            "mailed to {:?}",
            m.to
        );
    }
}

#[tokio::test]
async fn an_unverified_account_can_neither_see_nor_answer_invitations_to_its_address() {
    let mut app = spawn_app().await;
    let owner = verified(&mut app, "founder@example.com").await;
    // whoever signed up with this address has not shown they hold it
    let pre = app.signed_in_unverified("claimed@example.com").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let id = new_team(&app, &owner, "Core").await;
    app.step_up_password(&owner, "team.manage").await;
    let sent: Value = invite(&app, &owner, &id, "claimed@example.com", "owner")
        .await
        .json()
        .await
        .unwrap();
    let invitation = sent["id"].as_str().unwrap();
    assert_problem(my_invitations(&app, &pre).await, 403, "email_unverified").await;
    assert_problem(
        answer(&app, &pre, invitation, "accept").await,
        403,
        "email_unverified",
    )
    .await;
    assert_problem(
        answer(&app, &pre, invitation, "decline").await,
        403,
        "email_unverified",
    )
    .await;
    let view: Value = team_view(&app, &owner, &id).await.json().await.unwrap();
    assert_eq!(
        entry(&view, "claimed@example.com").unwrap()["status"],
        "invited"
    );

    // the holder of the address verifies it: the invitation is theirs to accept
    let code = loop {
        let mail = app.next_mail_to("claimed@example.com").await;
        if mail.subject == "Verify your email address" {
            break mail.code();
        }
    };
    let r = app
        .post(
            "/v1/accounts/verify",
            json!({"email": "claimed@example.com", "channel": "email", "code": code}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let mine: Value = my_invitations(&app, &pre).await.json().await.unwrap();
    assert_eq!(mine["items"][0]["id"], invitation);
    let r = answer(&app, &pre, invitation, "accept").await;
    assert_eq!(r.status(), 200);
    let view: Value = r.json().await.unwrap();
    let e = entry(&view, "claimed@example.com").unwrap();
    assert_eq!(
        (&e["status"], &e["role"]),
        (&json!("active"), &json!("owner"))
    );
}

#[tokio::test]
async fn nobody_else_can_answer_an_invitation() {
    let mut app = spawn_app().await;
    let owner = verified(&mut app, "chief@example.com").await;
    let bob = verified(&mut app, "robert@example.com").await;
    let carol = verified(&mut app, "carol@example.com").await;
    let id = new_team(&app, &owner, "Core").await;
    app.step_up_password(&owner, "team.manage").await;
    let sent: Value = invite(&app, &owner, &id, "robert@example.com", "member")
        .await
        .json()
        .await
        .unwrap();
    let invitation = sent["id"].as_str().unwrap();
    let mine: Value = my_invitations(&app, &carol).await.json().await.unwrap();
    assert_eq!(mine["items"], json!([]));
    for how in ["accept", "decline"] {
        assert_problem(
            answer(&app, &carol, invitation, how).await,
            404,
            "not_found",
        )
        .await;
        assert_problem(
            answer(&app, &bob, &uuid::Uuid::new_v4().to_string(), how).await,
            404,
            "not_found",
        )
        .await;
        assert_problem(
            answer(&app, &bob, "not-an-id", how).await,
            400,
            "invalid_request",
        )
        .await;
    }
    assert_problem(team_view(&app, &carol, &id).await, 404, "not_found").await;
    let r = answer(&app, &bob, invitation, "accept").await;
    assert_eq!(r.status(), 200, "still Bob's to accept");
}

#[tokio::test]
async fn declining_or_withdrawing_drops_the_invitation() {
    let mut app = spawn_app().await;
    let owner = verified(&mut app, "boss@example.com").await;
    let dan = verified(&mut app, "dan@example.com").await;
    let id = new_team(&app, &owner, "Sales").await;
    app.step_up_password(&owner, "team.manage").await;
    let sent: Value = invite(&app, &owner, &id, "dan@example.com", "admin")
        .await
        .json()
        .await
        .unwrap();
    let invitation = sent["id"].as_str().unwrap();
    let r = answer(&app, &dan, invitation, "decline").await;
    assert_eq!(r.status(), 204);
    let mine: Value = my_invitations(&app, &dan).await.json().await.unwrap();
    assert_eq!(mine["items"], json!([]));
    let view: Value = team_view(&app, &owner, &id).await.json().await.unwrap();
    assert!(entry(&view, "dan@example.com").is_none(), "{view}");
    assert_problem(
        answer(&app, &dan, invitation, "accept").await,
        404,
        "not_found",
    )
    .await;
    assert!(kinds_of_events(&app, &dan)
        .await
        .contains(&"team_invitation_declined".to_owned()));

    // the team can take back an invitation it sent
    let sent: Value = invite(&app, &owner, &id, "dan@example.com", "member")
        .await
        .json()
        .await
        .unwrap();
    let path = format!(
        "/v1/teams/{id}/invitations/{}",
        sent["id"].as_str().unwrap()
    );
    let r = app.send_auth(Method::DELETE, &path, &owner, None).await;
    assert_eq!(r.status(), 204);
    assert_problem(
        app.send_auth(Method::DELETE, &path, &owner, None).await,
        404,
        "not_found",
    )
    .await;
    let mine: Value = my_invitations(&app, &dan).await.json().await.unwrap();
    assert_eq!(mine["items"], json!([]));
    assert_problem(
        answer(&app, &dan, sent["id"].as_str().unwrap(), "accept").await,
        404,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn an_invitation_cannot_make_anyone_the_last_owner_without_their_consent() {
    let mut app = spawn_app().await;
    let alice = verified(&mut app, "alice@example.com").await;
    let bob = verified(&mut app, "bob@example.com").await;
    let id = new_team(&app, &alice, "Handover").await;
    app.step_up_password(&alice, "team.manage").await;
    let r = invite(&app, &alice, &id, "bob@example.com", "owner").await;
    assert_eq!(r.status(), 201);
    let view: Value = team_view(&app, &alice, &id).await.json().await.unwrap();
    let alice_id = entry(&view, "alice@example.com").unwrap()["account_id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Bob owns nothing yet, so Alice is still the last owner ...
    assert_problem(
        app.send_auth(
            Method::DELETE,
            &format!("/v1/teams/{id}/members/{alice_id}"),
            &alice,
            None,
        )
        .await,
        409,
        "last_owner",
    )
    .await;
    // ... and Bob's account is his to delete
    app.step_up_password(&bob, "account.delete").await;
    assert_eq!(
        app.send_auth(Method::DELETE, "/v1/me", &bob, None)
            .await
            .status(),
        204
    );
    let view: Value = team_view(&app, &alice, &id).await.json().await.unwrap();
    assert_eq!(entry(&view, "alice@example.com").unwrap()["role"], "owner");
}

#[tokio::test]
async fn invitations_are_capped_per_hour() {
    let app = spawn_app_with(
        Options {
            manual_clock: true,
            ..Options::default()
        },
        |_| {},
    )
    .await;
    let owner = app.access_token("busy@example.com").await;
    let id = new_team(&app, &owner, "Big").await;
    app.step_up_password(&owner, "team.manage").await;
    for i in 0..50 {
        let r = invite(&app, &owner, &id, &format!("p{i}@example.com"), "member").await;
        assert_eq!(r.status(), 201);
    }
    let r = invite(&app, &owner, &id, "p50@example.com", "member").await;
    assert!(r.headers().contains_key("retry-after"));
    assert_problem(r, 429, "too_many_attempts").await;
    app.advance(time::Duration::minutes(61));
    let r = app.login("busy@example.com", PASSWORD).await;
    let owner = r.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    app.step_up_password(&owner, "team.manage").await;
    let r = invite(&app, &owner, &id, "p50@example.com", "member").await;
    assert_eq!(r.status(), 201);
}

#[tokio::test]
async fn deleting_an_account_takes_its_keys_and_memberships_but_not_a_team_it_owns_with_others() {
    let mut app = spawn_app().await;
    let alice = verified(&mut app, "alice@example.com").await;
    let bob = verified(&mut app, "bob@example.com").await;
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
    new_team(&app, &alice, "Solo").await;
    let shared_id = new_team(&app, &bob, "Shared").await;
    app.step_up_password(&bob, "team.manage").await;
    join(
        &app,
        &bob,
        &shared_id,
        &alice,
        "alice@example.com",
        "member",
    )
    .await;

    app.step_up_password(&alice, "account.delete").await;
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
    let view: Value = team_view(&app, &bob, &shared_id)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(view["members"].as_array().unwrap().len(), 1, "{view}");

    // the last owner of a team with other members must hand it over first
    let carol = verified(&mut app, "carol@example.com").await;
    join(
        &app,
        &bob,
        &shared_id,
        &carol,
        "carol@example.com",
        "member",
    )
    .await;
    app.step_up_password(&bob, "account.delete").await;
    assert_problem(
        app.send_auth(Method::DELETE, "/v1/me", &bob, None).await,
        409,
        "last_owner",
    )
    .await;
    assert_eq!(app.get_auth("/v1/me", &bob).await.status(), 200);
}
