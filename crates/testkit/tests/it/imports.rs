//! Issue 16 on both backends: attendee lists that accept what people type (hiragana, kana
//! without a space), refuse what contradicts itself or the register (naming the register's
//! form), sessions not begun, the session's own export uploaded back while doctors are in the
//! room, edited capture lines, unknown columns, names in the preview, and two applies to one
//! session at the same moment (PostgreSQL); the legacy import's dates, `--replace` and
//! encodings.

use std::time::Duration as StdDuration;

use mamis_app::identity::legacy;
use mamis_app::training::attendees::{self, ExportRow, ProblemKind};
use mamis_app::training::capture::{self, Captured, DeskInput};
use mamis_app::training::{self, import};
use mamis_domain::MemberId;
use mamis_store::{IdentityStore, PresenceChannel, Store, TrainingStore, Tx};
use mamis_testkit::{TestApp, app_test};
use uuid::Uuid;

use super::training::{WHOLE, at_device, chiyoda_session, job, jst, net, setup, venue, verified};

/// The session's export as the organiser's page writes it (see web `training::session::export`).
async fn export<S: Store>(t: &TestApp<S>, session: Uuid, ja: bool) -> Vec<u8> {
    let v = training::view(&t.app, &job(), session, None).await.unwrap();
    let rows: Vec<ExportRow> = v
        .attendees
        .iter()
        .flat_map(|a| {
            a.intervals.iter().map(|r| ExportRow {
                iseki: a.iseki.as_str().to_owned(),
                name: a.name.clone(),
                kana: a.kana.clone(),
                in_at: r.in_at,
                out_at: r.out_at,
                left_at_end: r.left_at_end,
                channel: r.channel.as_str(),
                device: r.device.clone(),
                client_addr: r.client_addr.clone(),
                pending: a.pending,
            })
        })
        .collect();
    attendees::export_csv(&rows, ja)
}

async fn live_presence<S: Store>(t: &TestApp<S>, session: Uuid) -> Vec<(PresenceChannel, bool)> {
    let mut tx = t.app.store.read().await.unwrap();
    let mut v: Vec<(PresenceChannel, bool)> = tx
        .presence_of(session)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.removed_at.is_none())
        .map(|r| (r.channel, r.out_at.is_some()))
        .collect();
    tx.rollback().await.unwrap();
    v.sort_by_key(|(c, o)| (c.as_str(), *o));
    v
}

async fn export_uploaded_back<S: Store>(t: TestApp<S>) {
    setup(&t).await;
    let s = chiyoda_session(&t).await;
    let (a, who_a) = verified(&t, 1).await;
    let (b, _) = verified(&t, 2).await;
    let (c, _) = verified(&t, 3).await;
    // a: venue QR in at 08:58 and out at 10:20 (talk 1 credited)
    t.clock.set(jst("2026-06-01T08:58:00"));
    venue(&t, &s, &who_a, "phone-a").await.unwrap();
    t.clock.set(jst("2026-06-01T10:20:00"));
    assert_eq!(
        venue(&t, &s, &who_a, "phone-a").await.unwrap(),
        Captured::CheckedOut
    );
    assert_eq!(net(&t, a.id).await, vec![(10, 2)]);
    // b: entered at the desk at 10:25 and still in the room
    t.clock.set(jst("2026-06-01T10:25:00"));
    capture::desk_scan(
        &t.app,
        &job(),
        s.id,
        DeskInput::Iseki(b.iseki.clone()),
        at_device("desk"),
    )
    .await
    .unwrap();
    // c: on the organiser's list for talk 1
    t.clock.set(jst("2026-06-01T10:28:00"));
    let list = format!(
        "医籍登録番号,氏名カナ,入室,退室\n{},{} {},09:00,10:10\n",
        c.iseki.as_str(),
        c.family_kana.as_str(),
        c.given_kana.as_str()
    );
    let plan = import::import(&t.app, &job(), s.id, list.as_bytes(), true, None)
        .await
        .unwrap();
    assert!(plan.applied, "{:?}", plan.list.problems);
    let before = live_presence(&t, s.id).await;
    assert_eq!(before.len(), 3, "{before:?}");

    // during the session the organiser downloads the list and uploads it back unchanged
    t.clock.set(jst("2026-06-01T10:30:00"));
    for ja in [true, false] {
        let bytes = export(&t, s.id, ja).await;
        let text = String::from_utf8_lossy(&bytes).into_owned();
        assert!(
            text.contains(if ja { "会場QR" } else { "venue QR" }),
            "channels in words: {text}"
        );
        assert!(!text.contains("venue_qr"), "{text}");
        let preview = import::import(&t.app, &job(), s.id, &bytes, false, None)
            .await
            .unwrap();
        assert!(preview.ok(), "{ja}: {:?}", preview.list.problems);
        assert!(preview.is_noop(), "preview: no change");
        assert_eq!(
            (preview.unchanged, preview.captures_unchanged),
            (1, 2),
            "the list row unchanged, the QR and desk captures matched and ignored"
        );
        let applied = import::import(&t.app, &job(), s.id, &bytes, true, None)
            .await
            .unwrap();
        assert!(applied.applied && applied.is_noop());
        assert_eq!(
            (applied.settled.written, applied.settled.reversed),
            (0, 0),
            "applying changes nothing"
        );
        assert_eq!(live_presence(&t, s.id).await, before, "no capture copied");
    }

    // b leaves after the export was downloaded: the open desk line still matches
    let exported = export(&t, s.id, true).await;
    t.clock.set(jst("2026-06-01T10:40:00"));
    capture::desk_scan(
        &t.app,
        &job(),
        s.id,
        DeskInput::Iseki(b.iseki.clone()),
        at_device("desk"),
    )
    .await
    .unwrap();
    let plan = import::import(&t.app, &job(), s.id, &exported, false, None)
        .await
        .unwrap();
    assert!(plan.ok() && plan.is_noop(), "{:?}", plan.list.problems);
    // deleting the QR line from the export does not withdraw the capture: refused, named
    let text = String::from_utf8(exported[3..].to_vec()).unwrap();
    let without_qr: String = text
        .split_inclusive("\r\n")
        .filter(|l| !l.contains("会場QR"))
        .collect();
    let plan = import::import(&t.app, &job(), s.id, without_qr.as_bytes(), true, None)
        .await
        .unwrap();
    assert!(!plan.applied);
    assert_eq!(
        plan.list.problems[0].kind,
        ProblemKind::CaptureMissing {
            iseki: a.iseki.to_string(),
            at: "2026-06-01 08:58:00".into()
        }
    );
    assert_eq!(net(&t, a.id).await, vec![(10, 2)], "still credited");

    // the QR scan was wrong: withdrawing it still reverses its credit
    let v = training::view(&t.app, &job(), s.id, None).await.unwrap();
    let qr = v
        .attendees
        .iter()
        .flat_map(|x| x.intervals.iter())
        .find(|r| r.channel == PresenceChannel::VenueQr)
        .unwrap()
        .id;
    capture::remove(&t.app, &job(), s.id, qr, Some("wrong scan"), None)
        .await
        .unwrap();
    assert!(net(&t, a.id).await.is_empty(), "credit reversed");

    // an export whose QR line was edited (or which names a withdrawn capture) is refused by line
    let mut bytes = export(&t, s.id, true).await;
    let text = String::from_utf8(bytes.split_off(3)).unwrap();
    let desk_line = text.lines().position(|l| l.contains("受付")).unwrap() + 1;
    let edited = text.replace("2026-06-01 10:25:00", "2026-06-01 10:05:00");
    let plan = import::import(&t.app, &job(), s.id, edited.as_bytes(), true, None)
        .await
        .unwrap();
    assert!(!plan.ok() && !plan.applied);
    assert_eq!(
        plan.list
            .problems
            .iter()
            .map(|p| (p.line, p.kind.clone()))
            .collect::<Vec<_>>(),
        vec![(desk_line as u64, ProblemKind::CaptureChanged)]
    );
    assert!(plan.list.problems[0].english().contains("session page"));
}
app_test!(
    the_sessions_export_uploaded_back_changes_nothing_and_captures_stay_withdrawable,
    export_uploaded_back
);

async fn what_people_type<S: Store>(t: TestApp<S>) {
    setup(&t).await;
    let s = chiyoda_session(&t).await;
    let (a, _) = verified(&t, 1).await;
    let (b, _) = verified(&t, 2).await;
    let kata =
        |d: &mamis_store::Doctor| format!("{}{}", d.family_kana.as_str(), d.given_kana.as_str());
    let hira = |k: &str| -> String {
        k.chars()
            .map(|c| match c {
                'ァ'..='ヶ' => char::from_u32(c as u32 - 0x60).unwrap(),
                _ => c,
            })
            .collect()
    };
    // hiragana, and the kana without a space, for two registered doctors; an extra column
    let list = format!(
        "医籍登録番号,氏名カナ,生年月日,備考,,\n{},{},{},遅刻,,\n{},{},{},,,\n",
        a.iseki.as_str(),
        hira(&kata(&a)),
        a.birth_date.format("%Y/%-m/%-d"),
        b.iseki.as_str(),
        kata(&b),
        b.birth_date.format("%Y年%-m月%-d日"),
    );
    let plan = import::import(&t.app, &job(), s.id, list.as_bytes(), false, None)
        .await
        .unwrap();
    assert!(plan.ok(), "{:?}", plan.list.problems);
    assert_eq!(plan.list.ignored_columns, ["備考"]);
    assert_eq!(plan.added, 2);
    let names: Vec<Option<String>> = plan.added_lines.iter().map(|l| l.name.clone()).collect();
    assert!(
        names.contains(&Some(format!("{} {}", a.family_name, a.given_name))),
        "names beside numbers: {names:?}"
    );

    // a kana the register does not have: the register's form is named
    let wrong = format!(
        "医籍登録番号,氏名カナ\n{},ヤマダ ハナコ\n",
        a.iseki.as_str()
    );
    let plan = import::import(&t.app, &job(), s.id, wrong.as_bytes(), true, None)
        .await
        .unwrap();
    assert!(!plan.ok() && !plan.applied);
    let want = format!("{} {}", a.family_kana.as_str(), a.given_kana.as_str());
    assert_eq!(
        plan.list.problems[0].kind,
        ProblemKind::RegisterMismatch {
            register: Some(want.clone())
        }
    );
    assert!(plan.list.problems[0].english().contains(&want));

    // two lines for one number that disagree: both lines named, nothing written
    let contradicting = format!(
        "医籍登録番号,氏名カナ,入室,退室\n{n},{k},09:00,10:00\n\n{n},ベツジン,10:30,11:00\n",
        n = a.iseki.as_str(),
        k = kata(&a)
    );
    let plan = import::import(&t.app, &job(), s.id, contradicting.as_bytes(), true, None)
        .await
        .unwrap();
    assert!(!plan.applied);
    assert_eq!(plan.list.problems.len(), 1, "{:?}", plan.list.problems);
    assert_eq!(plan.list.problems[0].line, 4);
    assert_eq!(
        plan.list.problems[0].kind,
        ProblemKind::Contradicts { first: 2 }
    );
    // an Excel serial in the birth date column says how to format the column
    let serial = format!("医籍登録番号,生年月日\n{},27485\n", a.iseki.as_str());
    let plan = import::import(&t.app, &job(), s.id, serial.as_bytes(), true, None)
        .await
        .unwrap();
    assert_eq!(plan.list.problems[0].kind, ProblemKind::ExcelDate);
    // an unclosed quote is named as such
    let quote = format!(
        "医籍登録番号,氏名カナ\n{},\"ヤマダ\n1,ヤマダ\n",
        a.iseki.as_str()
    );
    let plan = import::import(&t.app, &job(), s.id, quote.as_bytes(), true, None)
        .await
        .unwrap();
    assert_eq!(
        (
            plan.list.problems[0].line,
            plan.list.problems[0].kind.clone()
        ),
        (2, ProblemKind::UnclosedQuote)
    );
    let mut tx = t.app.store.read().await.unwrap();
    assert!(
        tx.presence_of(s.id).await.unwrap().is_empty(),
        "nothing written"
    );
    tx.rollback().await.unwrap();
}
app_test!(
    attendee_lists_accept_kana_as_typed_and_refuse_contradictions,
    what_people_type
);

async fn not_begun<S: Store>(t: TestApp<S>) {
    setup(&t).await;
    let s = chiyoda_session(&t).await;
    let (a, _) = verified(&t, 1).await;
    let list = format!("医籍登録番号\n{}\n", a.iseki.as_str());
    for now in ["2026-03-01T10:00:00", "2026-06-01T08:59:59"] {
        t.clock.set(jst(now));
        let plan = import::import(&t.app, &job(), s.id, list.as_bytes(), true, None)
            .await
            .unwrap();
        assert!(!plan.applied);
        assert_eq!(plan.list.problems[0].kind, ProblemKind::NotBegun, "{now}");
        assert!(net(&t, a.id).await.is_empty(), "not credited at once");
    }
    t.clock.set(jst("2026-06-01T12:30:00"));
    let plan = import::import(&t.app, &job(), s.id, list.as_bytes(), true, None)
        .await
        .unwrap();
    assert!(plan.applied, "{:?}", plan.list.problems);
    assert_eq!(net(&t, a.id).await, WHOLE.to_vec());
}
app_test!(a_list_for_a_session_not_begun_is_refused, not_begun);

/// Two applies to one session at the same moment: the second waits for the first's lock and
/// computes its difference from what the first wrote (each file is the complete list, so the
/// second withdraws the first's row), instead of both succeeding and leaving their union.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_applies_at_once_are_serialised_on_postgres() {
    if !mamis_testkit::backend_selected("postgres") {
        return;
    }
    let Some(t) = mamis_testkit::spawn_postgres().await else {
        return;
    };
    setup(&t).await;
    let s = chiyoda_session(&t).await;
    let (a, _) = verified(&t, 1).await;
    let (b, _) = verified(&t, 2).await;
    t.clock.set(jst("2026-06-01T12:30:00"));
    let file = |d: &mamis_store::Doctor| format!("医籍登録番号\n{}\n", d.iseki.as_str());
    // hold the session's lock as an apply in progress would
    let mut holder = t.app.store.write().await.unwrap();
    assert!(holder.lock_training_session(s.id).await.unwrap().is_some());
    let spawn = |bytes: String| {
        let app = t.app.clone();
        let sid = s.id;
        tokio::spawn(async move {
            import::import(&app, &job(), sid, bytes.as_bytes(), true, None)
                .await
                .unwrap()
        })
    };
    let first = spawn(file(&a));
    let second = spawn(file(&b));
    tokio::time::sleep(StdDuration::from_millis(700)).await;
    assert!(
        !first.is_finished() && !second.is_finished(),
        "both applies wait for the session's lock"
    );
    holder.commit().await.unwrap();
    let (p1, p2) = (first.await.unwrap(), second.await.unwrap());
    assert!(p1.applied && p2.applied);
    let mut removed = [p1.removed, p2.removed];
    removed.sort_unstable();
    assert_eq!(
        removed,
        [0, 1],
        "the later apply saw the earlier one's row and withdrew it"
    );
    let rows = live_presence(&t, s.id).await;
    assert_eq!(rows.len(), 1, "not the union of both files: {rows:?}");
    let credited = [net(&t, a.id).await, net(&t, b.id).await];
    assert_eq!(
        credited.iter().filter(|n| !n.is_empty()).count(),
        1,
        "only the last file's doctor keeps credits: {credited:?}"
    );
}

fn member(s: &str) -> MemberId {
    MemberId::parse(s).unwrap()
}

async fn legacy_dates_and_replace<S: Store>(t: TestApp<S>) {
    let file = "member_id,birth_date,,\n\
                0100000001,1970/5/6,,\n\
                \n\
                0100000002,S45.5.6,,\n\
                0100000003,昭和45年5月6日,,\n";
    let r = legacy::import(&t.app, &job(), file.as_bytes(), false)
        .await
        .unwrap();
    assert_eq!((r.imported, r.total_replaced), (3, 0));
    // the same file again: unchanged, nothing replaced
    let r = legacy::import(&t.app, &job(), file.as_bytes(), false)
        .await
        .unwrap();
    assert_eq!((r.imported, r.unchanged), (0, 3));
    // a different birth date for an existing member: refused without --replace
    let change = "member_id,birth_date\n0100000009,1980-01-01\n\n0100000002,1971-01-01\n";
    let r = legacy::import(&t.app, &job(), change.as_bytes(), false)
        .await
        .unwrap_err();
    assert_eq!(r.problems.len(), 1);
    assert_eq!(r.problems[0].line, 4, "the physical line");
    assert!(r.problems[0].message.contains("--replace"), "{r:?}");
    let mut tx = t.app.store.read().await.unwrap();
    assert!(
        tx.legacy_credential(&member("0100000009"))
            .await
            .unwrap()
            .is_none(),
        "all or nothing"
    );
    tx.rollback().await.unwrap();
    // with --replace it is replaced and reported
    let r = legacy::import(&t.app, &job(), change.as_bytes(), true)
        .await
        .unwrap();
    assert_eq!((r.imported, r.total_replaced), (2, 1));
    assert_eq!(
        (r.replaced[0].line, r.replaced[0].member_id.as_str()),
        (4, "0100000002")
    );
    let mut tx = t.app.store.read().await.unwrap();
    let c = tx
        .legacy_credential(&member("0100000002"))
        .await
        .unwrap()
        .unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(c.birth_date.to_string(), "1971-01-01");
    // birth dates in the future or before 1900, and UTF-16 named in the report
    let bad = "member_id,birth_date\n0100000010,2099-01-01\n0100000011,1899-12-31\n";
    let r = legacy::import(&t.app, &job(), bad.as_bytes(), false)
        .await
        .unwrap_err();
    assert!(r.problems[0].message.contains("future"), "{r:?}");
    assert!(r.problems[1].message.contains("1900"), "{r:?}");
    let utf16: Vec<u8> = [0xFF, 0xFE]
        .into_iter()
        .chain(
            "member_id,birth_date\n0100000020,1980-01-01\n"
                .encode_utf16()
                .flat_map(u16::to_le_bytes),
        )
        .collect();
    let r = legacy::import(&t.app, &job(), &utf16, false).await.unwrap();
    assert_eq!((r.imported, r.encoding), (1, "UTF-16 LE"));
}
app_test!(
    legacy_import_reads_excel_dates_and_replaces_only_when_told,
    legacy_dates_and_replace
);
