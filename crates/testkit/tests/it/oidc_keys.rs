//! OpenID Provider signing keys: generated once, sealed at rest, published in the JWKS, rotated
//! with the old key still verifying its tokens until its publication window ends.

use mamis_app::oidc::keys::{self, Alg};
use mamis_app::{App, AppConfig, Secret};
use mamis_domain::Principal;
use mamis_store::{AuditStore, OidcStore, Store, Tx};
use mamis_testkit::{TestApp, app_test};
use serde_json::json;

async fn jwks_over_http<S: Store>(t: &TestApp<S>) -> serde_json::Value {
    let r = t.get("/jwks.json").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/jwk-set+json");
    r.json().await.unwrap()
}

async fn keys_lifecycle<S: Store>(t: TestApp<S>) {
    // the server made one RS256 and one ES256 key at start; another start makes none
    assert!(
        keys::ensure(&t.app).await.unwrap().is_empty(),
        "a second start makes none"
    );
    let mut tx = t.app.store.read().await.unwrap();
    let algs: Vec<String> = tx
        .signing_keys()
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.alg)
        .collect();
    tx.rollback().await.unwrap();
    assert_eq!(algs.len(), 2);
    assert!(algs.contains(&"RS256".to_owned()) && algs.contains(&"ES256".to_owned()));

    let jwks = jwks_over_http(&t).await;
    let published = jwks["keys"].as_array().unwrap();
    assert_eq!(published.len(), 2);
    for k in published {
        assert_eq!(k["use"], "sig");
        assert_eq!(k["kid"].as_str().unwrap(), keys::thumbprint(k).unwrap());
        for private in ["d", "p", "q", "dp", "dq", "qi"] {
            assert!(
                k.get(private).is_none(),
                "no private member {private} in the JWKS"
            );
        }
    }
    let rs = published.iter().find(|k| k["alg"] == "RS256").unwrap();
    assert_eq!(
        (rs["kty"].as_str(), rs["e"].as_str()),
        (Some("RSA"), Some("AQAB"))
    );
    assert!(rs["n"].as_str().unwrap().len() >= 342, "2048-bit modulus");

    // tokens signed now verify against the published keys, with either algorithm
    let old_rs = keys::signer(&t.app, Alg::Rs256).await.unwrap();
    let token = old_rs
        .sign(&json!({ "sub": "s-1", "iss": t.base_url }))
        .unwrap();
    assert_eq!(keys::verify(&jwks, &token).unwrap()["sub"], "s-1");
    let es = keys::signer(&t.app, Alg::Es256)
        .await
        .unwrap()
        .sign(&json!({ "sub": "s-2" }))
        .unwrap();
    assert_eq!(keys::verify(&jwks, &es).unwrap()["sub"], "s-2");

    // the private halves are sealed under MAMIS_SECRET_KEY: another key cannot use them
    let config = AppConfig {
        secret_key: Secret::new(b"another-secret-key-another-secret-key".to_vec()),
        ..(*t.app.config).clone()
    };
    let stranger = App::new(t.app.store.clone(), t.app.clock.clone(), config).unwrap();
    assert!(keys::signer(&stranger, Alg::Rs256).await.is_err());

    // rotation: new keys sign, the old ones stay published for the window
    let rotated = keys::rotate(
        &t.app,
        &Principal::Job {
            kind: "test".into(),
        },
    )
    .await
    .unwrap();
    assert_eq!(rotated.len(), 2);
    let new_rs = keys::signer(&t.app, Alg::Rs256).await.unwrap();
    assert_ne!(new_rs.kid(), old_rs.kid());
    let jwks = jwks_over_http(&t).await;
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 4);
    assert_eq!(
        keys::verify(&jwks, &token).unwrap()["sub"],
        "s-1",
        "a token of the old key still verifies"
    );
    let mut tx = t.app.store.read().await.unwrap();
    let rows = tx.signing_keys().await.unwrap();
    assert_eq!(rows.iter().filter(|k| k.retired_at.is_some()).count(), 2);
    assert!(
        tx.audit_rows(0, 100)
            .await
            .unwrap()
            .iter()
            .any(|r| r.action == "oidc.keys_rotate")
    );
    tx.rollback().await.unwrap();

    // after the window, only the new keys are published and the old token no longer verifies
    t.clock
        .advance(keys::PUBLISH_AFTER_RETIREMENT + chrono::Duration::seconds(1));
    let jwks = jwks_over_http(&t).await;
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids.len(), 2);
    assert!(kids.contains(&new_rs.kid()) && !kids.contains(&old_rs.kid()));
    assert!(keys::verify(&jwks, &token).is_err());
}
app_test!(signing_keys_rotate_and_publish, keys_lifecycle);
