//! Conformance cases of the one-step OIDC reads and writes: the refresh rotation and the
//! bearer read behind `/userinfo`.

use super::*;

/// A rotation by client `rp` with its secret (`sample_client`'s hash).
fn rotation(presented: &str, n: u32, now: Timestamp) -> Rotation {
    Rotation {
        presented: presented.into(),
        client_id: "rp".into(),
        client_secret: Some("ab".repeat(32)),
        now,
        access_hash: format!("new-access-{n}"),
        access_expires_at: now + Duration::minutes(5),
        refresh_hash: format!("new-refresh-{n}"),
        refresh_idle_until: now + Duration::days(30),
    }
}

fn refresh(hash: &str, account: Uuid, scope: &str, issued: Timestamp) -> OidcToken {
    OidcToken {
        token_hash: hash.into(),
        kind: TokenKind::Refresh,
        client_id: "rp".into(),
        account_id: account,
        scope: scope.into(),
        code_hash: Some("code-1".into()),
        family: Uuid::new_v4(),
        expires_at: issued + Duration::days(30),
        family_expires_at: issued + Duration::days(180),
        auth_time: issued - Duration::minutes(1),
        amr: "pwd otp".into(),
        used_at: None,
        revoked_at: None,
        created_at: issued,
    }
}

/// Stores one token in a transaction of its own.
async fn store_token<S: Store>(s: &S, tok: &OidcToken) {
    let mut tx = s.write().await.unwrap();
    tx.insert_token(tok).await.unwrap();
    tx.commit().await.unwrap();
}

/// One rotation through [`Store::write_single`], committed.
async fn rotate_single<S: Store>(s: &S, r: Rotation) -> Option<Rotated> {
    let mut one = s.write_single().await.unwrap();
    let rotated = one.rotate_refresh(&r).await.unwrap();
    one.commit().await.unwrap();
    rotated
}

/// A live refresh token rotates once: it is marked used and the new tokens inherit its grant;
/// every refusal (reuse, another client, expired, revoked, an access token, a suspended account)
/// writes nothing.
pub async fn oidc_refresh_rotates_in_one_step<S: Store>(s: S) {
    let account = oidc_account(&s).await;
    let issued = t("2026-05-01T00:00:00Z");
    let now = issued + Duration::days(2);
    let live = refresh("r-live", account, "openid offline_access", issued);
    let no_offline = refresh("r-no-offline", account, "openid profile", issued);
    let mut near_end = refresh("r-near-end", account, "openid offline_access", issued);
    near_end.family_expires_at = now + Duration::days(3);
    let mut expired = refresh("r-expired", account, "openid offline_access", issued);
    expired.expires_at = now;
    let mut revoked = refresh("r-revoked", account, "openid offline_access", issued);
    revoked.revoked_at = Some(issued);
    let mut access = refresh("a-access", account, "openid offline_access", issued);
    access.kind = TokenKind::Access;
    let mut tx = s.write().await.unwrap();
    let mut other = sample_client("other", issued);
    other.first_party = true;
    tx.insert_client(&other).await.unwrap();
    for tok in [&live, &no_offline, &near_end, &expired, &revoked, &access] {
        tx.insert_token(tok).await.unwrap();
    }
    tx.commit().await.unwrap();

    let mut tx = s.write().await.unwrap();
    let r = tx
        .rotate_refresh(&rotation("r-live", 1, now))
        .await
        .unwrap();
    assert_eq!(
        r,
        Some(Rotated {
            old: live.clone(),
            refreshed: true
        })
    );
    tx.commit().await.unwrap();
    let mut tx = s.read().await.unwrap();
    assert_eq!(
        tx.token("r-live").await.unwrap().unwrap().used_at,
        Some(now)
    );
    let inherited = |hash: &str, kind, expires_at| OidcToken {
        token_hash: hash.into(),
        kind,
        code_hash: None,
        expires_at,
        used_at: None,
        revoked_at: None,
        created_at: now,
        ..live.clone()
    };
    assert_eq!(
        tx.token("new-access-1").await.unwrap().unwrap(),
        inherited(
            "new-access-1",
            TokenKind::Access,
            now + Duration::minutes(5)
        )
    );
    assert_eq!(
        tx.token("new-refresh-1").await.unwrap().unwrap(),
        inherited(
            "new-refresh-1",
            TokenKind::Refresh,
            now + Duration::days(30)
        )
    );
    tx.rollback().await.unwrap();

    // Every refusal: nothing marked used, nothing stored.
    let mut tx = s.write().await.unwrap();
    let mut other_client = rotation("new-refresh-1", 2, now);
    other_client.client_id = "other".into();
    let mut wrong_secret = rotation("new-refresh-1", 20, now);
    wrong_secret.client_secret = Some("cd".repeat(32));
    let mut no_secret = rotation("new-refresh-1", 21, now);
    no_secret.client_secret = None;
    let mut unknown_client = rotation("new-refresh-1", 22, now);
    unknown_client.client_id = "nobody".into();
    let refusals = [
        (rotation("r-live", 3, now), "a reuse"),
        (other_client, "another client's token"),
        (wrong_secret, "a wrong client secret"),
        (no_secret, "no client secret"),
        (unknown_client, "an unknown client"),
        (rotation("r-expired", 4, now), "an expired token"),
        (rotation("r-revoked", 5, now), "a revoked token"),
        (rotation("a-access", 6, now), "an access token"),
        (rotation("unknown", 7, now), "an unknown token"),
        (
            rotation("r-near-end", 8, near_end.family_expires_at),
            "a chain past its end",
        ),
    ];
    for (r, what) in &refusals {
        assert_eq!(tx.rotate_refresh(r).await.unwrap(), None, "{what}");
        assert!(tx.token(&r.access_hash).await.unwrap().is_none(), "{what}");
        assert!(tx.token(&r.refresh_hash).await.unwrap().is_none(), "{what}");
    }
    assert!(
        tx.token("new-refresh-1")
            .await
            .unwrap()
            .unwrap()
            .used_at
            .is_none()
    );
    assert!(
        tx.token("r-expired")
            .await
            .unwrap()
            .unwrap()
            .used_at
            .is_none()
    );
    tx.commit().await.unwrap();

    // A suspended account's token is refused; reactivated, it rotates again.
    let mut tx = s.write().await.unwrap();
    tx.set_account_status(account, AccountStatus::Suspended)
        .await
        .unwrap();
    assert_eq!(
        tx.rotate_refresh(&rotation("new-refresh-1", 9, now))
            .await
            .unwrap(),
        None
    );
    assert!(
        tx.token("new-refresh-1")
            .await
            .unwrap()
            .unwrap()
            .used_at
            .is_none()
    );
    tx.set_account_status(account, AccountStatus::Active)
        .await
        .unwrap();
    assert!(
        tx.rotate_refresh(&rotation("new-refresh-1", 10, now))
            .await
            .unwrap()
            .is_some()
    );

    // A disabled client's token is refused; a client without a secret (public) needs none.
    let mut rp = tx.client("rp").await.unwrap().unwrap();
    rp.disabled = true;
    tx.update_client(&rp).await.unwrap();
    assert_eq!(
        tx.rotate_refresh(&rotation("new-refresh-10", 23, now))
            .await
            .unwrap(),
        None,
        "a disabled client"
    );
    rp.disabled = false;
    rp.secret_hash = None;
    tx.update_client(&rp).await.unwrap();
    let mut public = rotation("new-refresh-10", 24, now);
    public.client_secret = None;
    assert!(tx.rotate_refresh(&public).await.unwrap().is_some());
    rp.secret_hash = Some("ab".repeat(32));
    tx.update_client(&rp).await.unwrap();

    // Without offline_access a third-party client gets no new refresh token; a first-party
    // client does. The new one never outlives its chain.
    let r = tx
        .rotate_refresh(&rotation("r-no-offline", 11, now))
        .await
        .unwrap()
        .unwrap();
    assert!(!r.refreshed);
    assert!(tx.token("new-access-11").await.unwrap().is_some());
    assert!(tx.token("new-refresh-11").await.unwrap().is_none());
    let r = tx
        .rotate_refresh(&rotation("r-near-end", 12, now))
        .await
        .unwrap()
        .unwrap();
    assert!(r.refreshed);
    assert_eq!(
        tx.token("new-refresh-12")
            .await
            .unwrap()
            .unwrap()
            .expires_at,
        near_end.family_expires_at
    );
    tx.commit().await.unwrap();

    let mut tx = s.write().await.unwrap();
    let first_party = OidcToken {
        client_id: "other".into(),
        ..refresh("r-first-party", account, "openid profile", issued)
    };
    tx.insert_token(&first_party).await.unwrap();
    let mut by_other = rotation("r-first-party", 13, now);
    by_other.client_id = "other".into();
    let r = tx.rotate_refresh(&by_other).await.unwrap().unwrap();
    assert!(r.refreshed);
    assert!(tx.token("new-refresh-13").await.unwrap().is_some());
    // rolled back: the rotation goes with its transaction
    tx.rollback().await.unwrap();
    let mut tx = s.read().await.unwrap();
    assert!(tx.token("r-first-party").await.unwrap().is_none());
    assert!(tx.token("new-access-13").await.unwrap().is_none());
    tx.rollback().await.unwrap();

    // Through `write_single` (outside any transaction on PostgreSQL) the rotation is whole and
    // committed, and of two at once on one token exactly one wins.
    let live = |hash: &str| refresh(hash, account, "openid offline_access", issued);
    store_token(&s, &live("r-single")).await;
    let r = rotate_single(&s, rotation("r-single", 14, now)).await;
    assert!(r.is_some_and(|r| r.refreshed));
    let mut tx = s.read().await.unwrap();
    assert_eq!(
        tx.token("r-single").await.unwrap().unwrap().used_at,
        Some(now)
    );
    assert!(tx.token("new-access-14").await.unwrap().is_some());
    assert!(tx.token("new-refresh-14").await.unwrap().is_some());
    tx.rollback().await.unwrap();
    for round in 0..5u32 {
        let presented = format!("r-race-{round}");
        store_token(&s, &live(&presented)).await;
        let race = |n: u32| {
            let (s, r) = (s.clone(), rotation(&presented, n, now));
            tokio::spawn(async move { rotate_single(&s, r).await.map(|_| n) })
        };
        let (a, b) = (race(100 + 2 * round), race(101 + 2 * round));
        let winners: Vec<u32> = [a.await.unwrap(), b.await.unwrap()]
            .into_iter()
            .flatten()
            .collect();
        assert_eq!(winners.len(), 1, "round {round}: {winners:?}");
        let mut tx = s.read().await.unwrap();
        for n in [100 + 2 * round, 101 + 2 * round] {
            let stored = tx.token(&format!("new-access-{n}")).await.unwrap();
            assert_eq!(stored.is_some(), winners[0] == n, "round {round}, {n}");
        }
        tx.rollback().await.unwrap();
    }
}

/// The bearer read returns the token with its client, account, bound doctor and memberships as
/// they are now, through a snapshot as through a transaction.
pub async fn oidc_bearer_reads_everything_at_once<S: Store>(s: S) {
    let account = oidc_account(&s).await;
    let now = t("2026-05-01T00:00:00Z");
    let mut access = refresh("a-1", account, "openid profile mamis", now);
    access.kind = TokenKind::Access;
    let mut tx = s.write().await.unwrap();
    tx.insert_token(&access).await.unwrap();
    tx.commit().await.unwrap();

    let mut tx = s.snapshot().await.unwrap();
    let b = tx.bearer("a-1").await.unwrap().unwrap();
    assert!(tx.bearer("nothing").await.unwrap().is_none());
    tx.rollback().await.unwrap();
    // The store's own hot read (on SQLite outside the pool) answers exactly the same.
    assert_eq!(s.bearer("a-1").await.unwrap(), Some(b.clone()));
    assert!(s.bearer("nothing").await.unwrap().is_none());
    assert_eq!(
        b.token,
        BearerToken {
            kind: TokenKind::Access,
            scope: access.scope.clone(),
            expires_at: access.expires_at,
            revoked_at: None,
        }
    );
    assert!(b.client_live);
    assert!(!b.client_allow_iseki);
    let a = b.account.unwrap();
    assert_eq!(a.id, account);
    assert_eq!(a.status, AccountStatus::Active);
    assert_eq!(a.verification, Verification::Unverified);
    assert!(b.doctor.is_none());
    assert!(b.memberships.is_empty());

    // Bound to a doctor with memberships; the client changed; the account suspended.
    let mut d = sample_doctor(77);
    d.home_prefecture = Some(AssociationCode::parse("P13").unwrap());
    let mut tx = s.write().await.unwrap();
    tx.insert_doctor(&d).await.unwrap();
    let ms = [
        membership("P13", "2021-04-01", None),
        membership("JMA", "2020-04-01", Some("2024-04-01")),
        membership("JMA", "2025-04-01", None),
    ];
    for m in &ms {
        tx.insert_membership(d.id, m).await.unwrap();
    }
    tx.set_binding(account, Some(d.id), Verification::Verified)
        .await
        .unwrap();
    let mut c = tx.client("rp").await.unwrap().unwrap();
    c.allow_iseki = true;
    c.disabled = true;
    tx.update_client(&c).await.unwrap();
    tx.set_account_status(account, AccountStatus::Suspended)
        .await
        .unwrap();
    let revoked_at = now + Duration::minutes(1);
    assert_eq!(
        tx.revoke_tokens_of(account, Some(TokenKind::Access), revoked_at)
            .await
            .unwrap(),
        1
    );
    tx.commit().await.unwrap();

    let mut tx = s.read().await.unwrap();
    let b = tx.bearer("a-1").await.unwrap().unwrap();
    assert_eq!(b.token.revoked_at, Some(revoked_at));
    let expected = tx.memberships_of(d.id).await.unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(s.bearer("a-1").await.unwrap(), Some(b.clone()));
    assert!(!b.client_live, "a disabled client");
    assert!(b.client_allow_iseki);
    let a = b.account.unwrap();
    assert_eq!(a.status, AccountStatus::Suspended);
    assert_eq!(a.verification, Verification::Verified);
    assert_eq!(b.doctor, Some(BearerDoctor::from(&d)));
    assert_eq!(
        b.doctor
            .and_then(|d| d.home_prefecture)
            .map(|p| p.to_string()),
        Some("P13".to_owned())
    );
    assert_eq!(b.memberships, expected, "as memberships_of orders them");
    assert_eq!(b.memberships.len(), 3);

    // Many reads at once (PostgreSQL gathers them into shared statements): each answers what a
    // read of its own answers, for repeated, distinct and unknown tokens alike.
    let mut tx = s.write().await.unwrap();
    for i in 0..5 {
        let mut tok = refresh(&format!("a-1{i}"), account, "openid", now);
        tok.kind = TokenKind::Access;
        tok.expires_at = now + Duration::minutes(i64::from(i) + 1);
        tx.insert_token(&tok).await.unwrap();
    }
    tx.commit().await.unwrap();
    let hashes: Vec<String> = (0..5)
        .map(|i| format!("a-1{i}"))
        .chain(["a-1".to_owned(), "nothing".to_owned()])
        .collect();
    let mut tx = s.read().await.unwrap();
    let mut alone = std::collections::HashMap::new();
    for h in &hashes {
        alone.insert(h.clone(), tx.bearer(h).await.unwrap());
    }
    tx.rollback().await.unwrap();
    let mut tasks = Vec::new();
    for k in 0..60 {
        let s = s.clone();
        let h = hashes[k % hashes.len()].clone();
        tasks.push(tokio::spawn(async move {
            let got = s.bearer(&h).await.unwrap();
            (h, got)
        }));
    }
    for task in tasks {
        let (h, got) = task.await.unwrap();
        assert_eq!(got, alone[&h], "{h}");
    }
    assert!(alone["nothing"].is_none());
    assert_eq!(
        alone["a-13"].as_ref().map(|b| b.token.expires_at),
        Some(now + Duration::minutes(4))
    );
}

/// Holders are mailed at their verified account's MAMIS_ID, else at the register's contact
/// address; doctors with neither and unknown ids are left out.
pub async fn holder_addresses_prefer_the_verified_account<S: Store>(s: S) {
    let now = t("2026-05-01T00:00:00Z");
    let verified = sample_doctor(81);
    let contact_only = sample_doctor(82);
    let mut neither = sample_doctor(83);
    neither.contact_email = None;
    let unverified = sample_doctor(84);
    let mut tx = s.write().await.unwrap();
    for d in [&verified, &contact_only, &neither, &unverified] {
        tx.insert_doctor(d).await.unwrap();
    }
    let a = Account::new(
        Uuid::new_v4(),
        "Holder@Example.JP",
        "",
        AccountKind::Doctor,
        now,
    );
    tx.insert_account(&a).await.unwrap();
    tx.set_binding(a.id, Some(verified.id), Verification::Verified)
        .await
        .unwrap();
    let b = Account::new(
        Uuid::new_v4(),
        "waiting@example.jp",
        "",
        AccountKind::Doctor,
        now,
    );
    tx.insert_account(&b).await.unwrap();
    tx.set_binding(b.id, Some(unverified.id), Verification::Review)
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let mut tx = s.read().await.unwrap();
    let ids = [
        verified.id,
        contact_only.id,
        neither.id,
        unverified.id,
        Uuid::new_v4(),
    ];
    let mut got = tx.holder_addresses(&ids).await.unwrap();
    got.sort();
    let mut want = vec![
        (verified.id, "holder@example.jp".to_owned()),
        (contact_only.id, "doctor82@example.jp".to_owned()),
        (unverified.id, "doctor84@example.jp".to_owned()),
    ];
    want.sort();
    assert_eq!(got, want);
    assert!(tx.holder_addresses(&[]).await.unwrap().is_empty());
    tx.rollback().await.unwrap();
}
