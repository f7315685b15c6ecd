//! OpenID Connect clients as the operator makes them (`deadbolt clients`), and who else may not.

use crate::support::*;
use deadbolt_core::event::EventKind;
use deadbolt_core::oidc_client::ClientInput;
use deadbolt_core::secret::Secret;
use deadbolt_usecases::clients;
use deadbolt_usecases::DomainError;

fn input(public: bool) -> ClientInput {
    ClientInput {
        name: "Shop".into(),
        redirect_uris: vec!["https://shop.example/cb".into()],
        public,
        first_party: true,
        ..ClientInput::default()
    }
}

fn hash_of(w: &World, secret: &Secret) -> Vec<u8> {
    w.ctx
        .keys
        .hashing()
        .live()
        .hasher
        .hash_token(secret)
        .0
        .to_vec()
}

#[tokio::test]
async fn the_operator_registers_rotates_and_deletes_and_each_is_an_event() {
    let w = world().await;
    let made = ok(clients::create_by_operator(&w.ctx, input(false)).await);
    let secret = made.secret.unwrap();
    let stored = w
        .ctx
        .store
        .client(&made.record.client_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.secret_hash, Some(hash_of(&w, &secret)));
    assert_eq!(
        stored.hash_key_id.as_deref(),
        Some(w.ctx.keys.hashing().live().id.as_str())
    );
    assert_eq!(stored.created_by, None);
    assert!(!format!("{stored:?}").contains("secret_hash"), "{stored:?}");

    let public = ok(clients::create_by_operator(&w.ctx, input(true)).await);
    assert!(public.secret.is_none());
    assert_eq!(public.record.secret_hash, None);
    match err(clients::rotate_secret_by_operator(&w.ctx, &public.record.client_id).await) {
        DomainError::InvalidRequest(why) => assert!(why.starts_with("client_id:"), "{why}"),
        other => panic!("{other:?}"),
    }

    w.advance(1);
    let rotated = ok(clients::rotate_secret_by_operator(&w.ctx, &made.record.client_id).await);
    let new_secret = rotated.secret.unwrap();
    assert_ne!(new_secret.expose(), secret.expose());
    let stored = w
        .ctx
        .store
        .client(&made.record.client_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.secret_hash, Some(hash_of(&w, &new_secret)));

    w.advance(1);
    ok(clients::delete_by_operator(&w.ctx, &made.record.client_id).await);
    assert!(w
        .ctx
        .store
        .client(&made.record.client_id)
        .await
        .unwrap()
        .is_none());
    assert!(matches!(
        err(clients::delete_by_operator(&w.ctx, &made.record.client_id).await),
        DomainError::NotFound
    ));
    assert!(matches!(
        err(clients::rotate_secret_by_operator(&w.ctx, &made.record.client_id).await),
        DomainError::NotFound
    ));
    let ids: Vec<String> = ok(clients::list_by_operator(&w.ctx).await)
        .into_iter()
        .map(|c| c.client_id)
        .collect();
    assert_eq!(ids, [public.record.client_id.as_str()]);

    let events = w.ctx.store.all_events(None, 100).await.unwrap();
    let mine: Vec<_> = events
        .iter()
        .filter(|e| e.detail["client_id"] == made.record.client_id.as_str())
        .collect();
    let kinds: Vec<EventKind> = mine.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [
            EventKind::ClientDeleted,
            EventKind::ClientSecretRotated,
            EventKind::ClientCreated
        ]
    );
    assert!(mine
        .iter()
        .all(|e| e.account_id.is_none() && e.detail["by"] == "operator"));
    // no secret in any event
    let all = serde_json::to_string(&events.iter().map(|e| &e.detail).collect::<Vec<_>>()).unwrap();
    assert!(!all.contains(secret.expose()) && !all.contains(new_secret.expose()));
}

#[tokio::test]
async fn only_admins_signed_in_with_a_second_factor_manage_clients() {
    let w = world().await;
    w.account("user@example.com").await;
    let user = w.signed_in("user@example.com").await;
    let refused = err(clients::create(&w.ctx, &client(), &user, input(false)).await);
    assert!(matches!(refused, DomainError::Forbidden(_)), "{refused:?}");
    assert!(matches!(
        err(clients::list(&w.ctx, &user).await),
        DomainError::Forbidden(_)
    ));
    // input is judged by the same rules for the operator
    match err(clients::create_by_operator(
        &w.ctx,
        ClientInput {
            redirect_uris: vec!["http://shop.example/cb".into()],
            ..input(false)
        },
    )
    .await)
    {
        DomainError::InvalidRequest(why) => assert!(why.starts_with("redirect_uris[0]:"), "{why}"),
        other => panic!("{other:?}"),
    }
    assert!(ok(clients::list_by_operator(&w.ctx).await).is_empty());
}
