use super::*;
use crate::master_key::MasterKey;
use crate::system::{OsRandom, SystemClock};

async fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&format!("sqlite://{}/k.db", dir.path().display()), 1).unwrap();
    store.migrate().await.unwrap();
    (dir, store)
}

fn master_keys(byte: u8) -> MasterKeys {
    MasterKeys::from_keys(vec![MasterKey::from_bytes(&[byte; 32])]).unwrap()
}

#[tokio::test]
async fn keys_are_made_once_and_only_open_under_their_master_key() {
    let (_dir, store) = store().await;
    let master = master_keys(1);
    let a = KeyRing::load_or_create(&store, &master, &SystemClock, &OsRandom)
        .await
        .unwrap();
    let b = KeyRing::load_or_create(&store, &master, &SystemClock, &OsRandom)
        .await
        .unwrap();
    assert_eq!(
        a.signing().kid,
        b.signing().kid,
        "a second instance reuses the stored key"
    );
    assert_eq!(a.signing().rsa.kid, b.signing().rsa.kid);
    assert_eq!(store.keys(SIGNING_RS256).await.unwrap().len(), 1);
    let now = SystemClock.now();
    assert_eq!(a.jwks(now), b.jwks(now));
    let err = KeyRing::load_or_create(&store, &master_keys(2), &SystemClock, &OsRandom)
        .await
        .err()
        .unwrap();
    assert!(err.to_string().contains("sealed by master key"), "{err}");
}

#[tokio::test]
async fn the_jwks_lists_the_ed25519_key_then_the_rsa_key() {
    let (_dir, store) = store().await;
    let ring = KeyRing::load_or_create(&store, &master_keys(1), &SystemClock, &OsRandom)
        .await
        .unwrap();
    let jwks = ring.jwks(SystemClock.now());
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[0]["kty"], "OKP");
    assert_eq!(keys[0]["kid"], ring.signing().kid.as_str());
    let rsa = &keys[1];
    assert_eq!(rsa["kty"], "RSA");
    assert_eq!(rsa["alg"], "RS256");
    assert_eq!(rsa["use"], "sig");
    assert_eq!(rsa["kid"], ring.signing().rsa.kid.as_str());
    assert_ne!(keys[0]["kid"], rsa["kid"]);
    assert_eq!(rsa["e"], "AQAB", "65537");
    let n = URL_SAFE_NO_PAD.decode(rsa["n"].as_str().unwrap()).unwrap();
    assert_eq!(n.len(), 256, "2048 bits, no leading zero byte");
    assert!(n[0] >= 0x80);
    let mut members: Vec<&str> = rsa
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    members.sort_unstable();
    assert_eq!(
        members,
        ["alg", "e", "kid", "kty", "n", "use"],
        "nothing private"
    );
}

#[tokio::test]
async fn the_rsa_key_is_stored_sealed_as_pkcs1_der() {
    let (_dir, store) = store().await;
    let master = master_keys(1);
    KeyRing::load_or_create(&store, &master, &SystemClock, &OsRandom)
        .await
        .unwrap();
    let stored = store.keys(SIGNING_RS256).await.unwrap();
    let [record] = stored.as_slice() else {
        panic!("one RSA key: {stored:?}");
    };
    assert_eq!(record.master_key_id, master.current().id());
    let der = open_sealed(&master, record).unwrap();
    // the rsa crate reads what ring signs with: the PKCS#1 RSAPrivateKey
    let key =
        <rsa::RsaPrivateKey as rsa::pkcs1::DecodeRsaPrivateKey>::from_pkcs1_der(&der).unwrap();
    assert_eq!(rsa::traits::PublicKeyParts::size(&key), 256);
    assert!(
        !record
            .ciphertext
            .windows(16)
            .any(|w| der.windows(16).any(|d| d == w)),
        "no part of the key is stored in the clear"
    );
    // bound to its row: the same ciphertext under another id does not open
    let mut moved = record.clone();
    moved.id = "another".to_owned();
    assert!(open_sealed(&master, &moved).is_err());
}

#[tokio::test]
async fn racing_instances_keep_the_first_rsa_key() {
    let (_dir, store) = store().await;
    let master = master_keys(1);
    let (a, b) = tokio::join!(
        KeyRing::load_or_create(&store, &master, &SystemClock, &OsRandom),
        KeyRing::load_or_create(&store, &master, &SystemClock, &OsRandom),
    );
    assert_eq!(a.unwrap().signing().rsa.kid, b.unwrap().signing().rsa.kid);
    assert_eq!(store.keys(SIGNING_RS256).await.unwrap().len(), 1);
}
