use mamis_api_types as dto;
use mamis_app::tokens;
use mamis_domain::{AssociationCode, Principal, Role, RoleGrant, Scope};
use mamis_store::Store;
use mamis_testkit::{TestApp, app_test};

async fn token<S: Store>(t: &TestApp<S>, role: Role, scope: &str) -> (uuid::Uuid, String) {
    let g = RoleGrant::new(
        role,
        Scope::Association(AssociationCode::parse(scope).unwrap()),
    )
    .unwrap();
    let c = tokens::create(
        &t.app,
        &Principal::Job {
            kind: "test".into(),
        },
        "t",
        g,
    )
    .await
    .unwrap();
    (c.id, c.secret)
}

async fn problem(r: reqwest::Response, status: u16) -> dto::Problem {
    assert_eq!(r.status(), status);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    r.json().await.unwrap()
}

async fn scoped_tokens<S: Store>(t: TestApp<S>) {
    mamis_app::demo::seed_demo(&t.app).await.unwrap().unwrap();
    let (_, chiyoda) = token(&t, Role::CountyStaff, "P13-0001").await;

    let r = t
        .api_get("/api/v1/associations/P13-0001/members?limit=500", &chiyoda)
        .await;
    assert_eq!(r.status(), 200);
    let page: dto::MembersPage = r.json().await.unwrap();
    assert!(!page.members.is_empty());
    let isekis: Vec<u64> = page
        .members
        .iter()
        .map(|m| m.iseki_number.parse().unwrap())
        .collect();
    assert!(
        isekis.windows(2).all(|w| w[0] < w[1]),
        "ordered by 医籍登録番号"
    );

    // another county's data
    let p = problem(
        t.api_get("/api/v1/associations/P13-0002/members", &chiyoda)
            .await,
        403,
    )
    .await;
    assert_eq!(p.code, "forbidden");
    problem(t.api_get("/api/v1/associations/P13", &chiyoda).await, 403).await;
    // the prefecture sees both counties
    let (_, tokyo) = token(&t, Role::PrefectureStaff, "P13").await;
    assert_eq!(
        t.api_get("/api/v1/associations/P13-0002/members", &tokyo)
            .await
            .status(),
        200
    );
    let tree: Vec<dto::Association> = t
        .api_get("/api/v1/associations", &tokyo)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(tree[0].code, "P13");
    assert!(tree.iter().all(|a| a.code.starts_with("P13")));
    problem(
        t.api_get("/api/v1/associations/P27-0001/members", &tokyo)
            .await,
        403,
    )
    .await;
}
app_test!(county_token_is_scoped, scoped_tokens);

async fn unknown_and_revoked<S: Store>(t: TestApp<S>) {
    let (id, secret) = token(&t, Role::JmaAdmin, "JMA").await;
    assert_eq!(
        t.api_get("/api/v1/associations/JMA", &secret)
            .await
            .status(),
        200
    );
    let r = t
        .api_get("/api/v1/associations/JMA", "mamis_not-a-real-token")
        .await;
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    problem(r, 401).await;
    problem(
        t.client
            .get(t.url("/api/v1/associations"))
            .send()
            .await
            .unwrap(),
        401,
    )
    .await;
    tokens::revoke(
        &t.app,
        &Principal::Job {
            kind: "test".into(),
        },
        id,
    )
    .await
    .unwrap();
    let p = problem(t.api_get("/api/v1/associations/JMA", &secret).await, 401).await;
    assert_eq!(p.code, "unauthenticated");
}
app_test!(unknown_or_revoked_token_is_401, unknown_and_revoked);

async fn bad_input<S: Store>(t: TestApp<S>) {
    let (_, secret) = token(&t, Role::JmaAdmin, "JMA").await;
    let p = problem(
        t.api_get("/api/v1/associations/P99/members", &secret).await,
        400,
    )
    .await;
    assert!(
        p.detail.contains("P13-0001"),
        "explains the format: {}",
        p.detail
    );
    let r = t
        .client
        .get(t.url("/api/v1/associations/P13/members?limit=9999"))
        .bearer_auth(&secret)
        .header("accept-language", "en-GB,en;q=0.9")
        .send()
        .await
        .unwrap();
    let p = problem(r, 422).await;
    assert_eq!(
        p.detail,
        "A value is outside what is allowed: limit must be an integer from 1 to 500."
    );
    for q in ["limit=0", "limit=-3"] {
        problem(
            t.api_get(&format!("/api/v1/associations/P13/members?{q}"), &secret)
                .await,
            422,
        )
        .await;
    }
    problem(
        t.api_get("/api/v1/associations/P13/members?limit=many", &secret)
            .await,
        400,
    )
    .await;
    problem(
        t.api_get("/api/v1/associations/P13/members?offset=-1", &secret)
            .await,
        400,
    )
    .await;
    problem(
        t.api_get("/api/v1/associations/P13/members?colour=red", &secret)
            .await,
        400,
    )
    .await;
    problem(
        t.api_get("/api/v1/associations/P13-0999", &secret).await,
        404,
    )
    .await;
}
app_test!(bad_api_input_is_explained, bad_input);

async fn members_view_is_audited<S: Store>(t: TestApp<S>) {
    mamis_app::demo::seed_demo(&t.app).await.unwrap().unwrap();
    let (id, secret) = token(&t, Role::CountyStaff, "P13-0001").await;
    let before = audit_rows(&t).await.len();
    t.api_get("/api/v1/associations/P13-0001/members", &secret)
        .await;
    let rows = audit_rows(&t).await;
    assert_eq!(rows.len(), before + 1);
    let last = rows.last().unwrap();
    assert_eq!(last.action, "doctor.list_view");
    assert_eq!(last.actor, format!("api_token:{id}"));
    assert_eq!(last.client_addr.as_deref(), Some("127.0.0.1"));
    // a refused view writes nothing
    t.api_get("/api/v1/associations/P13-0002/members", &secret)
        .await;
    assert_eq!(audit_rows(&t).await.len(), before + 1);
}
app_test!(personal_data_views_are_audited, members_view_is_audited);

async fn audit_rows<S: Store>(t: &TestApp<S>) -> Vec<mamis_store::AuditRow> {
    use mamis_store::{AuditStore, Tx};
    let mut tx = t.app.store.read().await.unwrap();
    let rows = tx.audit_rows(0, 10_000).await.unwrap();
    tx.rollback().await.unwrap();
    rows
}

#[tokio::test]
async fn openapi_document_describes_the_api() {
    let t = mamis_testkit::spawn_sqlite().await;
    let doc: serde_json::Value = t.get("/api/v1/openapi.json").await.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    for p in [
        "/api/v1/associations",
        "/api/v1/associations/{code}",
        "/api/v1/associations/{code}/members",
    ] {
        assert!(doc["paths"][p]["get"].is_object(), "{p}");
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    // the committed copy in docs/ is what the code generates
    let committed: serde_json::Value =
        serde_json::from_str(include_str!("../../../../docs/openapi.json"))
            .expect("docs/openapi.json");
    assert_eq!(
        committed, doc,
        "docs/openapi.json is stale: regenerate it with `curl /api/v1/openapi.json`"
    );
}
