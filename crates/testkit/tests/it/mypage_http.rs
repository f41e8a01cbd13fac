//! My Page over HTTP: what the forms answer to bad input, session rotation and revocation.

use mamis_store::Store;
use mamis_testkit::{TestApp, app_test, attr, html, texts};

async fn csrf<S: Store>(t: &TestApp<S>, path: &str) -> String {
    let doc = html(&t.get(path).await.text().await.unwrap());
    attr(&doc, "input[name=csrf]", "value").unwrap()
}

async fn login<S: Store>(t: &TestApp<S>, email: &str, password: &str) -> reqwest::Response {
    let token = csrf(t, "/login").await;
    t.client
        .post(t.url("/login"))
        .header("origin", &t.base_url)
        .form(&[
            ("email", email),
            ("password", password),
            ("csrf", token.as_str()),
            ("next", ""),
        ])
        .send()
        .await
        .unwrap()
}

async fn account_id<S: Store>(t: &TestApp<S>, email: &str) -> uuid::Uuid {
    use mamis_store::{IdentityStore, Tx};
    let mut tx = t.app.store.read().await.unwrap();
    let a = tx.account_by_email(email).await.unwrap().unwrap();
    tx.rollback().await.unwrap();
    a.id
}

async fn demo_member<S: Store>(t: &TestApp<S>) -> (String, String) {
    let logins = mamis_app::demo::seed_demo(&t.app).await.unwrap().unwrap();
    let (_, email, password, _) = logins
        .accounts
        .iter()
        .find(|a| a.0 == "verified member")
        .unwrap()
        .clone();
    (email, password)
}

async fn bad_form_input<S: Store>(t: TestApp<S>) {
    // a malformed address on the registration form: a specific message, nothing sent
    let token = csrf(&t, "/register").await;
    let r = t
        .client
        .post(t.url("/register"))
        .header("origin", &t.base_url)
        .form(&[("email", "taro at example"), ("csrf", token.as_str())])
        .send()
        .await
        .unwrap();
    let doc = html(&r.text().await.unwrap());
    assert_eq!(
        texts(&doc, "#form-error"),
        ["メールアドレスを taro@example.jp の形式で入力してください。"]
    );
    assert!(t.mails().await.is_empty());

    // the same unknown or wrong login gets one message
    let (email, password) = demo_member(&t).await;
    let r = login(&t, "nobody@example.jp", "whatever-password").await;
    assert_eq!(r.status(), 401);
    let unknown = texts(&html(&r.text().await.unwrap()), "#form-error");
    let r = login(&t, &email, "wrong-password-123").await;
    assert_eq!(
        texts(&html(&r.text().await.unwrap()), "#form-error"),
        unknown
    );

    // a 1 MB password on the password form is refused with its own message, before hashing
    assert_eq!(login(&t, &email, &password).await.status(), 303);
    let calls = t.app.hasher.calls();
    let token = csrf(&t, "/mypage/password").await;
    let huge = "x".repeat(1_000_000);
    let r = t
        .client
        .post(t.url("/mypage/password"))
        .header("origin", &t.base_url)
        .form(&[
            ("current", password.as_str()),
            ("password", huge.as_str()),
            ("csrf", token.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let msg = texts(&html(&r.text().await.unwrap()), "#form-error");
    assert_eq!(msg.len(), 1);
    assert_eq!(msg, ["パスワードが長すぎます（1,024バイトまで）。"]);
    assert!(
        t.app.hasher.calls() - calls <= 1,
        "at most the current password was checked"
    );
}
app_test!(forms_explain_bad_input, bad_form_input);

async fn rotation_and_revocation<S: Store>(t: TestApp<S>) {
    let (email, password) = demo_member(&t).await;
    assert_eq!(login(&t, &email, &password).await.status(), 303);
    let first = mamis_app::identity::sessions::list(&t.app, account_id(&t, &email).await)
        .await
        .unwrap();
    assert_eq!(first.len(), 1);
    // logging in again in the same browser replaces the session instead of adding one
    assert_eq!(login(&t, &email, &password).await.status(), 303);
    let second = mamis_app::identity::sessions::list(&t.app, account_id(&t, &email).await)
        .await
        .unwrap();
    assert_eq!(second.len(), 1);
    assert_ne!(first[0].id_hash, second[0].id_hash, "a new id at login");
    // another device logs in; this one revokes it from the session list
    let other = mamis_testkit::browser();
    let (r, _) = mamis_testkit::password_login(&t, &other, &email, &password).await;
    assert_eq!(r.status(), 303);
    assert_eq!(
        other.get(t.url("/mypage")).send().await.unwrap().status(),
        200
    );
    let doc = html(&t.get("/mypage/sessions").await.text().await.unwrap());
    let id = attr(&doc, "form input[name=id]", "value").unwrap();
    let token = attr(&doc, "input[name=csrf]", "value").unwrap();
    let r = t
        .client
        .post(t.url("/mypage/sessions/revoke"))
        .header("origin", &t.base_url)
        .form(&[("id", id.as_str()), ("csrf", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let r = other.get(t.url("/mypage")).send().await.unwrap();
    assert_eq!(
        r.status(),
        303,
        "the revoked device is sent to the login page"
    );
    assert!(
        r.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("/login")
    );
    // idle timeout: 30 minutes without a request ends the remaining session
    t.clock.advance(chrono::Duration::minutes(31));
    assert_eq!(t.get("/mypage").await.status(), 303);
}
app_test!(sessions_rotate_and_can_be_revoked, rotation_and_revocation);
