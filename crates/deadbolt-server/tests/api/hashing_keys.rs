//! The key that hashes tokens and codes rotates: what it hashed keeps working until its end,
//! and what is used meanwhile is hashed anew under the new key and so outlives the old one; a
//! rotation at once (a leak) ends all it hashed. A client secret keeps its key until it is
//! replaced, and a leak ends it too.

use crate::helpers::*;
use deadbolt_store::Store;
use deadbolt_usecases::keyring::KeyRing;
use deadbolt_usecases::master_key::MasterKeys;
use deadbolt_usecases::system::OsRandom;
use serde_json::{json, Value};
use time::Duration;

async fn new_api_key(app: &TestApp, access: &str) -> String {
    app.api_key(access, "bot").await["key"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn api_key_active(app: &TestApp, key: &str) -> bool {
    let r = app
        .post("/v1/api-keys/introspect", json!({"key": key}))
        .await;
    assert_eq!(r.status(), 200);
    r.json::<Value>().await.unwrap()["active"] == true
}

/// The new refresh token, or the status a refresh answered.
async fn refresh(app: &TestApp, token: &str) -> Result<String, u16> {
    let r = app
        .post("/v1/token/refresh", json!({"refresh_token": token}))
        .await;
    if r.status() != 200 {
        return Err(r.status().as_u16());
    }
    Ok(r.json::<Value>().await.unwrap()["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned())
}

/// A second factor skipped thanks to the device token.
async fn device_trusted(app: &TestApp, email: &str, device: &str) -> bool {
    let r = app
        .post(
            "/v1/login",
            json!({"email": email, "password": PASSWORD, "device_token": device}),
        )
        .await;
    assert_eq!(r.status(), 200);
    r.json::<Value>().await.unwrap()["mfa_required"] == false
}

async fn trusted_device(app: &TestApp, user: &Enrolled) -> String {
    let t = app.mfa_token(&user.email).await;
    let r = app
        .post(
            "/v1/login/mfa/verify",
            json!({"mfa_token": t, "type": "totp", "code": app.code(&user.secret), "trust_device": true}),
        )
        .await;
    assert_eq!(r.status(), 200);
    app.advance(Duration::seconds(30));
    r.json::<Value>().await.unwrap()["device_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn recovery_code_works(app: &TestApp, email: &str, code: &str) -> bool {
    let t = app.mfa_token(email).await;
    let r = app
        .post(
            "/v1/login/mfa/verify",
            json!({"mfa_token": t, "type": "recovery_code", "code": code}),
        )
        .await;
    r.status() == 200
}

/// A store of its own, as `deadbolt keys rotate` has.
async fn outside_store(app: &TestApp) -> Store {
    deadbolt_usecases::context::open_store(&app.config)
        .await
        .unwrap()
}

/// The stored hashing keys' ids, the live one first.
/// A confidential client registered by the operator, through a context of its own on the
/// server's database: its id.
async fn new_client(app: &TestApp) -> String {
    let ctx = operator(app).await;
    let input = deadbolt_core::oidc_client::ClientInput {
        name: "Reports".into(),
        redirect_uris: vec!["https://reports.example.com/cb".into()],
        post_logout_redirect_uris: vec![],
        public: false,
        first_party: true,
        grants: None,
        scopes: None,
        id_token_signed_response_alg: None,
        jwks: None,
    };
    let made = deadbolt_usecases::clients::create_by_operator(&ctx, input)
        .await
        .unwrap();
    made.record.client_id
}

async fn operator(app: &TestApp) -> deadbolt_usecases::Context {
    let clock: std::sync::Arc<dyn deadbolt_core::clock::Clock> = app.clock.clone().unwrap();
    deadbolt_usecases::Context::open(app.config.clone(), clock, std::sync::Arc::new(OsRandom))
        .await
        .unwrap()
}

async fn hashing_key_ids(store: &Store) -> Vec<String> {
    store
        .keys("token_hmac")
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.id)
        .collect()
}

/// Waits until the server hashes new refresh tokens under the live stored key.
async fn wait_for_the_server(app: &TestApp, store: &Store, email: &str) {
    let master =
        MasterKeys::load_or_create(&app.config.secrets.master_key_file, &OsRandom).unwrap();
    let clock = app.clock.clone().expect("spawn with manual_clock");
    let ring = KeyRing::load_or_create(store, &master, clock.as_ref(), &OsRandom)
        .await
        .unwrap();
    for _ in 0..100 {
        let r = app.login(email, PASSWORD).await;
        let body: Value = r.json().await.unwrap();
        let token = deadbolt_core::secret::Secret::new(body["refresh_token"].as_str().unwrap());
        let hash = ring.hashing().live().hasher.hash_token(&token);
        if store.refresh_token(&hash.0).await.unwrap().is_some() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the server did not take up the new hashing key within 10 s");
}

#[tokio::test]
async fn hashing_key_rotation_keeps_what_is_used_and_ends_what_is_not_with_the_old_key() {
    let mut app = spawn_app_with(manual(), |_| {}).await;
    let tokens = verified_account(&mut app, "keys@example.com").await;
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let used_refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    let unused_refresh = app
        .login("keys@example.com", PASSWORD)
        .await
        .json::<Value>()
        .await
        .unwrap()["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let used_key = new_api_key(&app, &access).await;
    let unused_key = new_api_key(&app, &access).await;
    let user = app.enrolled("device@example.com").await;
    let used_device = trusted_device(&app, &user).await;
    let unused_device = trusted_device(&app, &user).await;
    let client_id = new_client(&app).await;

    let store = outside_store(&app).await;
    let old_id = hashing_key_ids(&store).await[0].clone();
    // an old key that ends within the refresh tokens' life (the command would keep it for the
    // session lifetime at least), to show that what was used meanwhile outlives it
    let master =
        MasterKeys::load_or_create(&app.config.secrets.master_key_file, &OsRandom).unwrap();
    let now = time::OffsetDateTime::from_unix_timestamp(app.now_unix()).unwrap();
    let new_id = deadbolt_usecases::keyring::rotate_hashing(
        &store,
        &master,
        &OsRandom,
        now,
        Some(now + Duration::minutes(10)),
    )
    .await
    .unwrap();
    wait_for_the_server(&app, &store, "keys@example.com").await;
    assert_eq!(
        hashing_key_ids(&store).await,
        [new_id.clone(), old_id.clone()]
    );

    // all of it still works, and what is used is hashed anew
    let next_refresh = refresh(&app, &used_refresh).await.unwrap();
    assert!(device_trusted(&app, &user.email, &used_device).await);
    assert!(api_key_active(&app, &used_key).await);
    assert!(recovery_code_works(&app, &user.email, &user.recovery_codes[0]).await);

    app.advance(Duration::minutes(10) + Duration::seconds(1));
    assert!(
        refresh(&app, &next_refresh).await.is_ok(),
        "hashed anew under the new key"
    );
    assert_eq!(
        refresh(&app, &unused_refresh).await,
        Err(401),
        "unused, it ended with the key"
    );
    assert!(device_trusted(&app, &user.email, &used_device).await);
    assert!(!device_trusted(&app, &user.email, &unused_device).await);
    // API keys and recovery codes have no end: each keeps its key until used once
    assert!(api_key_active(&app, &used_key).await);
    let purge = || async {
        store
            .purge_expired(
                deadbolt_core::clock::Clock::now(app.clock.clone().unwrap().as_ref()),
                Duration::hours(24),
                Duration::hours(1),
            )
            .await
            .unwrap()
    };
    purge().await;
    assert!(
        hashing_key_ids(&store).await.contains(&old_id),
        "an unused API key and unused recovery codes still need the old key"
    );
    assert!(api_key_active(&app, &unused_key).await);
    assert!(recovery_code_works(&app, &user.email, &user.recovery_codes[1]).await);
    purge().await;
    assert!(
        hashing_key_ids(&store).await.contains(&old_id),
        "eight recovery codes are still unused"
    );
    for code in &user.recovery_codes[2..] {
        assert!(recovery_code_works(&app, &user.email, code).await);
    }
    purge().await;
    assert!(
        hashing_key_ids(&store).await.contains(&old_id),
        "the client's secret still needs the old key"
    );
    let ctx = operator(&app).await;
    deadbolt_usecases::clients::rotate_secret_by_operator(&ctx, &client_id)
        .await
        .unwrap();
    purge().await;
    assert_eq!(hashing_key_ids(&store).await, [new_id]);
    assert!(api_key_active(&app, &used_key).await);
    assert!(api_key_active(&app, &unused_key).await);
    let r = app.login("keys@example.com", PASSWORD).await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn hashing_key_rotation_at_once_ends_everything_the_old_keys_hashed() {
    let mut app = spawn_app_with(manual(), |_| {}).await;
    let tokens = verified_account(&mut app, "leak@example.com").await;
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let refresh_token = tokens["refresh_token"].as_str().unwrap().to_owned();
    let key = new_api_key(&app, &access).await;
    let user = app.enrolled("leak-device@example.com").await;
    let device = trusted_device(&app, &user).await;
    let client_id = new_client(&app).await;
    let clock = app.clock.clone().unwrap();
    let store = outside_store(&app).await;

    // a routine rotation first: the command keeps the old key until the last trusted device
    // it may have hashed has ended (made 30 s ago, for 30 days), and a minute for instances
    let routine = deadbolt_usecases::rotation::rotate_hashing(
        &store,
        &app.config,
        clock.as_ref(),
        &OsRandom,
        false,
    )
    .await
    .unwrap();
    assert_eq!(
        routine.old_verifies_until.unwrap().unix_timestamp(),
        app.now_unix() - 30 + 30 * 86_400 + 60
    );
    assert_eq!((routine.api_keys, routine.recovery_accounts), (1, 1));
    wait_for_the_server(&app, &store, "leak@example.com").await;

    // then the key leaks: this key and every older one end at once
    let leaked = deadbolt_usecases::rotation::rotate_hashing(
        &store,
        &app.config,
        clock.as_ref(),
        &OsRandom,
        true,
    )
    .await
    .unwrap();
    assert_eq!(leaked.old_verifies_until, None);
    assert_eq!(leaked.old_id.as_deref(), Some(routine.new_id.as_str()));
    assert_eq!(hashing_key_ids(&store).await, [leaked.new_id.as_str()]);
    wait_for_the_server(&app, &store, "leak@example.com").await;

    assert_eq!(refresh(&app, &refresh_token).await, Err(401));
    assert!(!device_trusted(&app, &user.email, &device).await);
    assert!(!api_key_active(&app, &key).await);
    let listed: Value = app
        .get_auth("/v1/me/api-keys", &access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        listed["items"],
        json!([]),
        "the key is revoked, not left dangling"
    );
    assert!(!recovery_code_works(&app, &user.email, &user.recovery_codes[0]).await);
    let client = store.client(&client_id).await.unwrap().unwrap();
    assert_eq!(
        (client.secret_hash, client.hash_key_id),
        (None, None),
        "the client's secret proves nothing any more: the operator gives it a new one"
    );

    // what is made now works
    let fresh: Value = app
        .login("leak@example.com", PASSWORD)
        .await
        .json()
        .await
        .unwrap();
    let fresh_refresh = fresh["refresh_token"].as_str().unwrap();
    assert!(refresh(&app, fresh_refresh).await.is_ok());
    let new_key = new_api_key(&app, fresh["access_token"].as_str().unwrap()).await;
    assert!(api_key_active(&app, &new_key).await);
    let new_device = trusted_device(&app, &user).await;
    assert!(device_trusted(&app, &user.email, &new_device).await);
}
