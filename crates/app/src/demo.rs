//! Demo and synthetic data: a small deterministic set for `serve --demo`, and a national data
//! set of any size for `mamis demo` (load tests, benchmarks). Same seed, same content.

use chrono::{Datelike, NaiveDate};
use mamis_domain::association::PREFECTURES;
use mamis_domain::identity::totp as rfc6238;
use mamis_domain::{
    Association, AssociationCode, IsekiNumber, KanaName, MemberClass, MemberId, Membership,
    Organisation, Principal, Role, RoleGrant, Scope, Sex, Timestamp,
};
use mamis_store::{
    AccessStore, Account, AccountKind, CertificateStore, Doctor, IdentityClaim, IdentityStore,
    LedgerStore, LegacyCredential, RegistryStore, Store, Tx, Verification,
};

use crate::identity::totp;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::{App, AppError, tokens};

/// SplitMix64: tiny, fast, and its output for a seed never changes between releases — which is
/// the whole point of a reproducible data set (library RNGs do not promise that).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed ^ 0x4d41_4d49_535f_4944)
    }
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// A number in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n.max(1))) >> 64) as u64
    }
    /// True with probability `per_mille / 1000`.
    pub fn chance(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }
    /// A random version-4 UUID.
    pub fn uuid(&mut self) -> Uuid {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.next_u64().to_le_bytes());
        b[8..].copy_from_slice(&self.next_u64().to_le_bytes());
        uuid::Builder::from_random_bytes(b).into_uuid()
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        let i = usize::try_from(self.below(items.len() as u64)).unwrap_or(0);
        &items[i.min(items.len().saturating_sub(1))]
    }
}

const FAMILY: [(&str, &str); 40] = [
    ("佐藤", "サトウ"),
    ("鈴木", "スズキ"),
    ("高橋", "タカハシ"),
    ("田中", "タナカ"),
    ("伊藤", "イトウ"),
    ("渡辺", "ワタナベ"),
    ("山本", "ヤマモト"),
    ("中村", "ナカムラ"),
    ("小林", "コバヤシ"),
    ("加藤", "カトウ"),
    ("吉田", "ヨシダ"),
    ("山田", "ヤマダ"),
    ("佐々木", "ササキ"),
    ("山口", "ヤマグチ"),
    ("松本", "マツモト"),
    ("井上", "イノウエ"),
    ("木村", "キムラ"),
    ("林", "ハヤシ"),
    ("斎藤", "サイトウ"),
    ("清水", "シミズ"),
    ("山崎", "ヤマザキ"),
    ("森", "モリ"),
    ("池田", "イケダ"),
    ("橋本", "ハシモト"),
    ("阿部", "アベ"),
    ("石川", "イシカワ"),
    ("山下", "ヤマシタ"),
    ("中島", "ナカジマ"),
    ("石井", "イシイ"),
    ("小川", "オガワ"),
    ("前田", "マエダ"),
    ("岡田", "オカダ"),
    ("長谷川", "ハセガワ"),
    ("藤田", "フジタ"),
    ("後藤", "ゴトウ"),
    ("近藤", "コンドウ"),
    ("村上", "ムラカミ"),
    ("遠藤", "エンドウ"),
    ("青木", "アオキ"),
    ("坂本", "サカモト"),
];
const GIVEN_MALE: [(&str, &str); 16] = [
    ("太郎", "タロウ"),
    ("健一", "ケンイチ"),
    ("大輔", "ダイスケ"),
    ("翔太", "ショウタ"),
    ("誠", "マコト"),
    ("拓也", "タクヤ"),
    ("直樹", "ナオキ"),
    ("浩", "ヒロシ"),
    ("隆", "タカシ"),
    ("修", "オサム"),
    ("亮", "リョウ"),
    ("健太", "ケンタ"),
    ("和也", "カズヤ"),
    ("大樹", "ダイキ"),
    ("悠斗", "ユウト"),
    ("正人", "マサト"),
];
const GIVEN_FEMALE: [(&str, &str); 16] = [
    ("花子", "ハナコ"),
    ("陽子", "ヨウコ"),
    ("恵子", "ケイコ"),
    ("美咲", "ミサキ"),
    ("愛", "アイ"),
    ("由美", "ユミ"),
    ("真由美", "マユミ"),
    ("智子", "トモコ"),
    ("彩", "アヤ"),
    ("さくら", "サクラ"),
    ("優子", "ユウコ"),
    ("直美", "ナオミ"),
    ("舞", "マイ"),
    ("結衣", "ユイ"),
    ("麻衣", "マイ"),
    ("香織", "カオリ"),
];
const DISTRICTS: [&str; 24] = [
    "中央", "東", "西", "南", "北", "第一", "第二", "第三", "臨海", "北部", "南部", "東部", "西部",
    "山手", "港", "城北", "城南", "湖東", "湖西", "河北", "河南", "市", "郡", "大学",
];
/// Relative size of each prefecture's medical community (population in 10,000s, 2020 census,
/// rounded): places doctors and counties where they plausibly are.
const WEIGHTS: [u64; 47] = [
    522, 124, 121, 230, 96, 107, 183, 287, 193, 194, 734, 628, 1405, 924, 220, 103, 113, 77, 81,
    205, 198, 363, 754, 177, 141, 258, 884, 547, 133, 92, 55, 67, 189, 280, 134, 72, 95, 133, 69,
    514, 81, 131, 174, 112, 107, 159, 147,
];

/// The instant every synthetic row is stamped with, so content does not depend on the clock.
fn fixed_created_at() -> Timestamp {
    chrono::DateTime::from_timestamp(1_743_433_200, 0).unwrap_or_default() // 2025-04-01 00:00 JST
}

fn county_name(pref: usize, k: usize) -> String {
    let stem = PREFECTURES[pref].0.trim_end_matches(['都', '府', '県']);
    let d = DISTRICTS[k % DISTRICTS.len()];
    let round = k / DISTRICTS.len();
    if round == 0 {
        format!("{stem}{d}医師会")
    } else {
        format!("{stem}{d}第{}医師会", round + 1)
    }
}

/// How many of `total` counties each prefecture gets: largest-remainder apportionment by
/// weight, at least one each.
fn apportion(total: u64) -> [u64; 47] {
    let sum: u64 = WEIGHTS.iter().sum();
    let mut n = [0u64; 47];
    let mut rem: Vec<(u64, usize)> = Vec::with_capacity(47);
    for (p, w) in WEIGHTS.iter().enumerate() {
        n[p] = (total * w / sum).max(1);
        rem.push(((total * w) % sum, p));
    }
    rem.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let given: u64 = n.iter().sum();
    for (_, p) in rem
        .into_iter()
        .take(usize::try_from(total.saturating_sub(given)).unwrap_or(0))
    {
        n[p] += 1;
    }
    n
}

/// County associations spread over the prefectures by weight (`total` in all, ≥ 1 each).
pub fn counties(total: usize) -> Vec<Association> {
    let mut out = Vec::with_capacity(total);
    for (p, n) in apportion(total as u64).into_iter().enumerate() {
        for k in 0..usize::try_from(n).unwrap_or(1) {
            let pref_no = u8::try_from(p + 1).unwrap_or(1);
            let Ok(code) = AssociationCode::county(pref_no, u16::try_from(k + 1).unwrap_or(1))
            else {
                continue;
            };
            out.push(Association {
                code,
                name_ja: county_name(p, k),
                name_en: format!(
                    "{} district {} Medical Association",
                    PREFECTURES[p].1,
                    k + 1
                ),
            });
        }
    }
    out
}

/// One synthetic doctor and their memberships.
fn make_doctor(
    rng: &mut Rng,
    i: u64,
    offset: u64,
    county: &AssociationCode,
) -> Result<(Doctor, Vec<Membership>), AppError> {
    let female = rng.chance(230);
    let (family, family_kana) = *rng.pick(&FAMILY);
    let (given, given_kana) = *rng.pick(if female { &GIVEN_FEMALE } else { &GIVEN_MALE });
    // A bijection on 1..=9,999,999 keeps 医籍登録番号 unique without a lookup.
    let iseki = 1 + (i.wrapping_mul(1_000_003) + offset) % 9_999_999;
    let birth_year = 1940 + i32::try_from(rng.below(60)).unwrap_or(0);
    let birth = NaiveDate::from_yo_opt(birth_year, 1 + u32::try_from(rng.below(365)).unwrap_or(0))
        .unwrap_or_default();
    let prefecture = county
        .prefecture_code()
        .ok_or(AppError::Internal("county without prefecture".into()))?;
    let member = rng.chance(613);
    let jma = member && rng.chance(843);
    let class = match rng.below(1000) {
        0..=496 => MemberClass::A1,
        497..=724 => MemberClass::A2B,
        725..=731 => MemberClass::A2C,
        732..=986 => MemberClass::B,
        _ => MemberClass::C,
    };
    let joined_year = (birth_year + 27 + i32::try_from(rng.below(30)).unwrap_or(0)).min(2025);
    let joined = NaiveDate::from_ymd_opt(joined_year, 4, 1).unwrap_or_default();
    let mut memberships = Vec::new();
    if member {
        memberships.push(Membership {
            association: county.clone(),
            class: class.into(),
            joined_on: joined,
            left_on: None,
        });
        memberships.push(Membership {
            association: prefecture.clone(),
            class: class.into(),
            joined_on: joined,
            left_on: None,
        });
        if jma {
            memberships.push(Membership {
                association: AssociationCode::jma(),
                class: class.into(),
                joined_on: joined,
                left_on: None,
            });
        } else if rng.chance(80) && joined.year() < 2024 {
            // a former JMA member who left but stayed in the local associations
            let left = NaiveDate::from_ymd_opt(joined.year() + 1, 3, 31).unwrap_or(joined);
            memberships.push(Membership {
                association: AssociationCode::jma(),
                class: class.into(),
                joined_on: joined,
                left_on: Some(left),
            });
        }
    }
    let member_id = if jma || memberships.len() > 2 {
        let n = (i.wrapping_mul(10_000_019) + offset) % 100_000_000;
        Some(MemberId::parse(&format!(
            "{:02}{n:08}",
            &county.as_str()[1..3]
        ))?)
    } else {
        None
    };
    let doctor = Doctor {
        id: rng.uuid(),
        iseki: IsekiNumber::parse(&iseki.to_string())?,
        family_name: family.into(),
        given_name: given.into(),
        family_kana: KanaName::normalise(family_kana)?,
        given_kana: KanaName::normalise(given_kana)?,
        birth_date: birth,
        sex: if female { Sex::Female } else { Sex::Male },
        contact_email: Some(format!("d{iseki}@example.jp")),
        member_id,
        home_prefecture: if member { None } else { Some(prefecture) },
        created_at: fixed_created_at(),
    };
    Ok((doctor, memberships))
}

/// Generates `doctors` synthetic doctors into an empty registry, in transactions of 20,000.
/// `progress` is called with the number written so far.
pub async fn generate_national<S: Store>(
    store: &S,
    doctors: u64,
    seed: u64,
    mut progress: impl FnMut(u64),
) -> Result<(), AppError> {
    let mut tx = store.write().await?;
    let existing = tx.count_doctors().await?;
    if existing > 0 {
        return Err(AppError::Conflict(format!(
            "the database already holds {existing} doctors; use an empty database"
        )));
    }
    let counties = counties(900);
    for c in &counties {
        tx.upsert_association(c).await?;
    }
    tx.commit().await?;

    let mut by_pref: Vec<Vec<&AssociationCode>> = vec![Vec::new(); 47];
    for c in &counties {
        let p = usize::from(c.code.as_str()[1..3].parse::<u8>().unwrap_or(1)) - 1;
        by_pref[p].push(&c.code);
    }
    let sum: u64 = WEIGHTS.iter().sum();
    let mut rng = Rng::new(seed);
    let offset = rng.below(9_999_999);
    const BATCH: u64 = 20_000;
    let mut i = 0;
    while i < doctors {
        let end = (i + BATCH).min(doctors);
        let mut ds = Vec::with_capacity(usize::try_from(end - i).unwrap_or(0));
        let mut ms = Vec::new();
        for n in i..end {
            let mut r = rng.below(sum);
            let mut p = 0;
            while r >= WEIGHTS[p] {
                r -= WEIGHTS[p];
                p += 1;
            }
            let county = *rng.pick(&by_pref[p]);
            let (d, m) = make_doctor(&mut rng, n, offset, county)?;
            ms.extend(m.into_iter().map(|m| (d.id, m)));
            ds.push(d);
        }
        let mut tx = store.write().await?;
        tx.insert_doctors(&ds).await?;
        tx.insert_memberships(&ms).await?;
        tx.commit().await?;
        i = end;
        progress(i);
    }
    Ok(())
}

/// Adds `per_doctor` synthetic CME ledger entries (FY2020–FY2026; prior-system before FY2025,
/// training, e-learning and journal quiz after) to every doctor of the registry, for load tests
/// and the My Page benchmark. Same seed and registry, same entries. `progress` gets the doctors
/// done so far.
pub async fn generate_ledger<S: Store>(
    store: &S,
    per_doctor: u32,
    seed: u64,
    mut progress: impl FnMut(u64),
) -> Result<u64, AppError> {
    use mamis_domain::{FiscalYear, HalfUnits, LedgerEntry, Programme, Source};
    const PAGE: u32 = 5_000;
    let rules = mamis_domain::rules::Rules::embedded(Programme::JmaCme);
    let mut rng = Rng::new(seed ^ 0x5EED_1ED6);
    let created_at = fixed_created_at();
    let (mut after, mut done, mut written) = (None, 0u64, 0u64);
    loop {
        let mut tx = store.read().await?;
        let page = tx.doctors_page(after, PAGE).await?;
        tx.rollback().await?;
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        let mut entries = Vec::with_capacity(page.len() * per_doctor as usize);
        for d in &page {
            for k in 0..per_doctor {
                let fy = FiscalYear::of_date(
                    NaiveDate::from_ymd_opt(2020 + rng.below(7) as i32, 4, 1).unwrap_or_default(),
                );
                let date = fy.first_day() + chrono::Days::new(rng.below(365));
                let source = if fy < rules.mamis_start {
                    Source::PriorSystem
                } else {
                    *rng.pick(&[
                        Source::Training,
                        Source::Training,
                        Source::Training,
                        Source::ELearning,
                        Source::ELearning,
                        Source::JournalQuiz,
                    ])
                };
                entries.push(LedgerEntry {
                    id: rng.uuid(),
                    doctor: d.id,
                    programme: Programme::JmaCme,
                    fiscal_year: fy,
                    date,
                    source,
                    catalogue_version: rules.catalogue_version.clone(),
                    code: rng.below(84) as u16,
                    half_units: HalfUnits::new(1 + rng.below(4) as i64),
                    origin_key: format!("gen{k}:{}", d.id.simple()),
                    generation: 0,
                    reverses: None,
                    rules_version: rules.version.clone(),
                    created_by: "job:demo".into(),
                    created_at,
                    note: None,
                });
            }
        }
        let mut tx = store.write().await?;
        tx.insert_ledger_entries(&entries).await?;
        tx.commit().await?;
        done += page.len() as u64;
        written += entries.len() as u64;
        progress(done);
    }
    Ok(written)
}

/// SHA-256 over the registry's content in a canonical order: two databases with the same hash
/// hold the same associations, doctors and memberships, whatever the backend.
pub async fn content_hash<S: Store>(store: &S) -> Result<String, AppError> {
    let mut h = Sha256::new();
    let mut tx = store.read().await?;
    for a in tx.associations_under(&AssociationCode::jma()).await? {
        h.update(format!("A\t{}\t{}\t{}\n", a.code, a.name_ja, a.name_en));
    }
    let mut after = None;
    loop {
        let page = tx.doctors_page(after, 5_000).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        for d in &page {
            h.update(b"D\t");
            h.update(serde_json::to_vec(d).map_err(|e| AppError::Internal(e.to_string()))?);
            h.update(b"\n");
        }
    }
    let mut after = None;
    loop {
        let page = tx.memberships_page(after.clone(), 5_000).await?;
        let Some((d, m)) = page.last() else { break };
        after = Some((*d, m.association.to_string(), m.joined_on));
        for (d, m) in &page {
            h.update(format!(
                "M\t{d}\t{}\t{}\t{}\t{:?}\n",
                m.association,
                m.class.as_str(),
                m.joined_on,
                m.left_on
            ));
        }
    }
    tx.rollback().await?;
    Ok(hex::encode(h.finalize()))
}

/// What `serve --demo` tells the visitor.
#[derive(Debug, Clone)]
pub struct DemoLogins {
    /// (description, API token secret) pairs.
    pub api_tokens: Vec<(String, String)>,
    /// Web logins: (who, MAMIS_ID, password, TOTP secret in base32 when enrolled).
    pub accounts: Vec<(String, String, String, Option<String>)>,
    /// Legacy CME logins until the cut-over: (who, member ID, password).
    pub legacy: Vec<(String, String, String)>,
    /// OpenID clients to try the provider with: (what, client_id, secret if confidential, redirect URI).
    pub clients: Vec<(String, String, Option<String>, String)>,
    /// Certificates to check on the public verification page: (what, verification URL).
    pub certificates: Vec<(String, String)>,
    /// Training to look at: (what, where).
    pub training: Vec<(String, String)>,
    /// Membership procedures to look at: (what, where it waits or when it takes effect).
    pub membership: Vec<(String, String)>,
    /// The member back office to look at: (what, where).
    pub members: Vec<(String, String)>,
    /// The CME portal's learning and the session calendar: (what, where).
    pub learning: Vec<(String, String)>,
}

/// A TOTP seed fixed for the demo (printed, so a visitor can add it to an authenticator app).
fn demo_totp(name: &str) -> Vec<u8> {
    Sha256::digest(format!("mamis demo totp {name}"))[..20].to_vec()
}

/// A token secret fixed for the demo, so the README and the console agree across runs.
fn demo_secret(name: &str) -> String {
    let h = hex::encode(Sha256::digest(format!("mamis demo token {name}")));
    format!("{}demo_{name}_{}", tokens::PREFIX, &h[..24])
}

const DEMO_COUNTIES: [(&str, &str, &str); 6] = [
    ("P13-0001", "千代田区医師会", "Chiyoda Medical Association"),
    ("P13-0002", "中央区医師会", "Chuo Medical Association"),
    ("P13-0003", "港区医師会", "Minato Medical Association"),
    (
        "P27-0001",
        "大阪市北区医師会",
        "Osaka Kita Medical Association",
    ),
    ("P01-0001", "札幌市医師会", "Sapporo Medical Association"),
    (
        "P13-0101",
        "東京大学医師会",
        "University of Tokyo Medical Association",
    ),
];

/// Seeds the small demo set when the registry is empty; returns the logins to print, or `None`
/// when the database already had data (then nothing is touched).
pub async fn seed_demo<S: Store>(app: &App<S>) -> Result<Option<DemoLogins>, AppError> {
    let system = Principal::Job {
        kind: "demo".into(),
    };
    let mut tx = app.store.write().await?;
    if tx.count_doctors().await? > 0 {
        tx.rollback().await?;
        return Ok(None);
    }
    let mut codes = Vec::new();
    for (code, ja, en) in DEMO_COUNTIES {
        let code = AssociationCode::parse(code)?;
        tx.upsert_association(&Association {
            code: code.clone(),
            name_ja: ja.into(),
            name_en: en.into(),
        })
        .await?;
        codes.push(code);
    }
    let tokyo = AssociationCode::parse("P13")?;
    tx.insert_organisation(
        &Organisation {
            id: Uuid::from_u128(0xD0_0001),
            name: "東京内科学会".into(),
            prefecture: tokyo.clone(),
        },
        fixed_created_at(),
    )
    .await?;
    let mut rng = Rng::new(2026);
    let mut ds = Vec::new();
    let mut ms = Vec::new();
    for n in 0..48u64 {
        let county = &codes[usize::try_from(n).unwrap_or(0) % codes.len()];
        let (d, m) = make_doctor(&mut rng, n, 4_200, county)?;
        ms.extend(m.into_iter().map(|m| (d.id, m)));
        ds.push(d);
    }
    tx.insert_doctors(&ds).await?;
    tx.insert_memberships(&ms).await?;

    let now = app.now();
    let staff = [
        (
            "jma-admin@demo.mamis.jp",
            "日医 管理者",
            Role::JmaAdmin,
            "JMA",
        ),
        (
            "tokyo@demo.mamis.jp",
            "東京都医師会 事務局",
            Role::PrefectureStaff,
            "P13",
        ),
        (
            "chiyoda@demo.mamis.jp",
            "千代田区医師会 事務局",
            Role::CountyStaff,
            "P13-0001",
        ),
        (
            "jma-staff@demo.mamis.jp",
            "日医 事務局",
            Role::JmaStaff,
            "JMA",
        ),
        (
            "organiser@demo.mamis.jp",
            "東京内科学会 担当",
            Role::Organiser,
            "org",
        ),
    ];
    let mut grants = Vec::new();
    let mut accounts = Vec::new();
    for (i, (email, name, role, scope)) in staff.iter().enumerate() {
        let id = Uuid::from_u128(0xD0_1000 + i as u128);
        let password = format!("mamis-demo-{}", role.as_str().replace('_', "-"));
        let seed = demo_totp(role.as_str());
        let mut acc = Account::new(id, email, name, AccountKind::Staff, now);
        acc.password_hash = Some(app.hasher.hash(password.clone()).await?);
        acc.totp_secret =
            Some(totp::seal_seed(app, &seed).map_err(|e| AppError::Internal(e.to_string()))?);
        tx.insert_account(&acc).await?;
        let target = if *role == Role::Organiser {
            Scope::Organisation(Uuid::from_u128(0xD0_0001))
        } else {
            Scope::Association(AssociationCode::parse(scope)?)
        };
        let grant = RoleGrant::new(*role, target)?;
        tx.insert_role_grant(id, &grant, now).await?;
        accounts.push((
            format!("{} ({scope})", role.as_str()),
            (*email).to_owned(),
            password,
            Some(rfc6238::base32(&seed)),
        ));
        if i < 3 {
            grants.push((*scope, grant));
        }
    }

    // Doctors: a verified member, a verified non-member, an unverified account waiting for staff,
    // and a member who still has only the legacy CME login.
    let member = ds
        .iter()
        .find(|d| d.member_id.is_some())
        .ok_or(AppError::Internal("no demo member".into()))?;
    let non_member = ds
        .iter()
        .find(|d| d.home_prefecture.is_some())
        .ok_or(AppError::Internal("no demo non-member".into()))?;
    let legacy_only = ds
        .iter()
        .filter(|d| d.member_id.is_some())
        .nth(1)
        .ok_or(AppError::Internal("no second demo member".into()))?;
    let with_history = ds
        .iter()
        .filter(|d| d.member_id.is_some())
        .nth(2)
        .ok_or(AppError::Internal("no third demo member".into()))?;
    let doctors = [
        (
            "verified member",
            "member@demo.mamis.jp",
            Some(member),
            Verification::Verified,
        ),
        (
            "verified non-member",
            "nonmember@demo.mamis.jp",
            Some(non_member),
            Verification::Verified,
        ),
        (
            "unverified (waiting for staff)",
            "unverified@demo.mamis.jp",
            None,
            Verification::Review,
        ),
        (
            "verified member with prior-system CME history",
            "history@demo.mamis.jp",
            Some(with_history),
            Verification::Verified,
        ),
    ];
    for (i, (who, email, doctor, v)) in doctors.iter().enumerate() {
        let id = Uuid::from_u128(0xD0_2000 + i as u128);
        let password = format!("mamis-demo-doctor-{}", i + 1);
        let mut acc = Account::new(id, email, "", AccountKind::Doctor, now);
        acc.password_hash = Some(app.hasher.hash(password.clone()).await?);
        acc.doctor_id = doctor.map(|d| d.id);
        acc.verification = *v;
        tx.insert_account(&acc).await?;
        if doctor.is_none() {
            tx.put_claim(&IdentityClaim {
                account_id: id,
                iseki: IsekiNumber::parse("7654321")?,
                family_name: "未確認".into(),
                given_name: "花子".into(),
                family_kana: KanaName::normalise("ミカクニン")?,
                given_kana: KanaName::normalise("ハナコ")?,
                birth_date: NaiveDate::from_ymd_opt(1985, 4, 12).unwrap_or_default(),
                sex: Sex::Female,
                association: AssociationCode::parse("P13-0001")?,
                member: true,
                failed_matches: 3,
                review_node: Some(AssociationCode::parse("P13-0001")?),
                review_reason: Some("no_match".into()),
                submitted_at: now,
            })
            .await?;
        }
        accounts.push(((*who).to_owned(), (*email).to_owned(), password, None));
    }
    let revoked = ds
        .iter()
        .filter(|d| d.member_id.is_some())
        .nth(3)
        .ok_or(AppError::Internal("no fourth demo member".into()))?;
    seed_demo_ledger(&mut tx, member, non_member, with_history, revoked, now).await?;
    // certified-doctor programmes (issue 20): 産業医 one 実地 unit short, a renewal due in
    // 3 months, a かかりつけ医 applicant holding a valid CME certificate
    crate::programmes::demo::seed(&mut tx, with_history, non_member, member, now).await?;
    let mut legacy = Vec::new();
    if let Some(m) = &legacy_only.member_id {
        tx.upsert_legacy_credentials(&[LegacyCredential {
            member_id: m.clone(),
            birth_date: legacy_only.birth_date,
            password_hash: None,
            retired_at: None,
            imported_at: now,
        }])
        .await?;
        legacy.push((
            "member with only the legacy login".to_owned(),
            m.to_string(),
            legacy_only.birth_date.format("%y%m%d").to_string(),
        ));
    }
    tx.commit().await?;

    let mut api_tokens = Vec::new();
    for (scope, grant) in grants {
        let name = grant.role().as_str();
        let secret = demo_secret(name);
        tokens::create_with_secret(
            app,
            &system,
            &format!("demo {name} {scope}"),
            grant,
            secret.clone(),
        )
        .await?;
        api_tokens.push((format!("{name} ({scope})"), secret));
    }
    let mut clients = Vec::new();
    for (what, public, redirect) in [
        (
            "third-party web service (confidential)",
            false,
            "http://127.0.0.1:8765/callback",
        ),
        (
            "native app (public, PKCE only)",
            true,
            "http://127.0.0.1:8766/callback",
        ),
    ] {
        let slug = if public { "native-app" } else { "web-service" };
        let (c, secret) = crate::oidc::provider::create_client_fixed(
            app,
            &system,
            crate::oidc::provider::NewClient {
                name: format!("デモ連携サービス ({what})"),
                redirect_uris: vec![redirect.to_owned()],
                post_logout_redirect_uris: vec![redirect.replace("/callback", "/")],
                public,
                first_party: false,
                scopes: vec![],
                allow_iseki: false,
                id_token_alg: crate::oidc::keys::Alg::Rs256,
            },
            &format!("demo-{slug}"),
            &format!("mamis-demo-{slug}-secret-4b1d2c7e9a"),
        )
        .await?;
        clients.push((what.to_owned(), c.id, secret, redirect.to_owned()));
    }
    let certificates = demo_certificates(app, &system, member.id, revoked.id).await?;
    let unbound = ds
        .iter()
        .filter(|d| d.member_id.is_some())
        .nth(4)
        .ok_or(AppError::Internal("no fifth demo member".into()))?;
    let training = demo_training(app, &system, member, unbound).await?;
    let (staff, membership) = crate::membership::demo::seed(app, &codes).await?;
    accounts.extend(staff);
    let members = crate::members::demo::seed(app).await?;
    let learning = crate::learning::demo::seed(app, member.id).await?;
    Ok(Some(DemoLogins {
        learning,
        api_tokens,
        accounts,
        membership,
        members,
        legacy,
        clients,
        certificates,
        training,
    }))
}

/// Decides the windows ending in FY2025 as an operator would once that year has closed (the
/// member's and the fourth member's certificates), then revokes the fourth member's; returns
/// both verification URLs for the console.
async fn demo_certificates<S: Store>(
    app: &App<S>,
    system: &Principal,
    member: Uuid,
    revoked: Uuid,
) -> Result<Vec<(String, String)>, AppError> {
    use crate::cme::{PROGRAMME, certificates, documents};
    let fy = mamis_domain::rules::Rules::embedded(PROGRAMME).mamis_start;
    certificates::decide(app, system, fy, |_, _| std::ops::ControlFlow::Continue(())).await?;
    let mut tx = app.store.read().await?;
    let issued = tx
        .certificates_of_doctors(PROGRAMME, &[member, revoked])
        .await?;
    tx.rollback().await?;
    let mut out = Vec::new();
    for c in issued.iter().filter(|c| c.origin == "mamis") {
        let Some(code) = &c.verification_code else {
            continue;
        };
        let what = if c.doctor == revoked {
            certificates::revoke(
                app,
                system,
                &c.number,
                "error",
                "同一研修会の出席が二重に登録されていたため / attendance was recorded twice",
                None,
            )
            .await?;
            "revoked certificate"
        } else {
            "issued certificate (verified member)"
        };
        out.push((
            format!("{what} {}", c.number),
            documents::verify_url(&app.config.base_url, &c.number, code),
        ));
    }
    Ok(out)
}

/// Training for the demo, three weeks back and a month ahead of today: a past 千代田区医師会
/// session where the member checked in with the venue code and out again (credited on closing),
/// a registered doctor without a MAMIS_ID entered at the desk (pending until one is verified),
/// and a 東京内科学会 session awaiting 東京都医師会's approval. Returns console lines.
async fn demo_training<S: Store>(
    app: &App<S>,
    system: &Principal,
    member: &Doctor,
    unbound: &Doctor,
) -> Result<Vec<(String, String)>, AppError> {
    use crate::training::{self, ItemInput, SessionInput};
    use mamis_domain::training::{ItemKind, NonCreditKind, Venue};
    use mamis_store::{
        Organiser, PendingAttendance, PresenceChannel, PresenceRow, PresenceSubject, TrainingStore,
    };
    let now = app.now();
    let at = |days: i64, hour: u32, minute: u32| -> Result<Timestamp, AppError> {
        let day = mamis_domain::time::japan_date(now) + chrono::Duration::days(days);
        day.and_hms_opt(hour, minute, 0)
            .and_then(|t| t.and_local_timezone(mamis_domain::time::japan()).single())
            .map(|t| t.with_timezone(&chrono::Utc))
            .ok_or(AppError::Internal("demo training time".into()))
    };
    let item = |n: u128, title: &str, start: Timestamp, minutes: u32, kind: ItemKind| ItemInput {
        id: Some(Uuid::from_u128(0xD0_3100 + n)),
        title: title.to_owned(),
        start,
        minutes,
        kind,
    };
    let split = |a: u16, b: u16| ItemKind::Credit {
        parts: vec![
            mamis_domain::training::CodePart {
                code: a,
                minutes: 30,
            },
            mamis_domain::training::CodePart {
                code: b,
                minutes: 30,
            },
        ],
    };
    let past = training::create_with_id(
        app,
        system,
        Uuid::from_u128(0xD0_3000),
        SessionInput {
            organiser: Organiser::Association(AssociationCode::parse("P13-0001")?),
            title: "千代田区医師会 学術講演会「高血圧診療の最新エビデンス」".into(),
            venue: Venue::InPerson("千代田区医師会館 3階ホール".into()),
            start: at(-21, 19, 0)?,
            end: at(-21, 21, 30)?,
            expected_headcount: Some(80),
            desk_scan_only: false,
            grace_minutes: training::DEFAULT_GRACE_MINUTES,
            items: vec![
                item(
                    1,
                    "開会挨拶",
                    at(-21, 19, 0)?,
                    10,
                    ItemKind::NonCredit(NonCreditKind::Greeting),
                ),
                item(
                    2,
                    "高血圧治療ガイドラインの改訂点",
                    at(-21, 19, 10)?,
                    60,
                    ItemKind::single(74, 60),
                ),
                item(
                    3,
                    "休憩",
                    at(-21, 20, 10)?,
                    10,
                    ItemKind::NonCredit(NonCreditKind::Break),
                ),
                item(4, "家庭血圧と服薬指導", at(-21, 20, 20)?, 60, split(0, 73)),
            ],
        },
        None,
    )
    .await
    .map_err(training_demo_error)?;
    let mut tx = app.store.write().await?;
    tx.insert_pending_attendance(&PendingAttendance {
        id: Uuid::new_v4(),
        session: past.id,
        iseki: unbound.iseki.clone(),
        family_kana: Some(unbound.family_kana.as_str().to_owned()),
        given_kana: Some(unbound.given_kana.as_str().to_owned()),
        birth_date: Some(unbound.birth_date),
        created_at: now,
        credited: None,
    })
    .await?;
    let rows = [
        (
            PresenceSubject::Doctor(member.id),
            PresenceChannel::VenueQr,
            Some("demo-phone-1"),
            Some("192.0.2.10"),
            at(-21, 18, 55)?,
            Some(at(-21, 21, 24)?),
        ),
        (
            PresenceSubject::Pending(unbound.iseki.clone()),
            PresenceChannel::Desk,
            Some("desk-1"),
            Some("192.0.2.2"),
            at(-21, 18, 58)?,
            None,
        ),
    ];
    for (subject, channel, device, addr, in_at, out_at) in rows {
        tx.insert_presence(&PresenceRow {
            id: Uuid::new_v4(),
            session: past.id,
            subject,
            in_at,
            out_at,
            left_at_end: false,
            channel,
            device: device.map(str::to_owned),
            client_addr: addr.map(str::to_owned),
            created_at: now,
            removed_at: None,
        })
        .await?;
    }
    tx.commit().await?;
    training::close(app, system, past.id, None)
        .await
        .map_err(training_demo_error)?;
    let outside = training::create_with_id(
        app,
        system,
        Uuid::from_u128(0xD0_3001),
        SessionInput {
            organiser: Organiser::Organisation(Uuid::from_u128(0xD0_0001)),
            title: "東京内科学会 地方会 教育講演".into(),
            venue: Venue::Hybrid("東京国際フォーラム ホールB7".into()),
            start: at(30, 14, 0)?,
            end: at(30, 15, 30)?,
            expected_headcount: Some(300),
            desk_scan_only: false,
            grace_minutes: training::DEFAULT_GRACE_MINUTES,
            items: vec![
                item(
                    5,
                    "製品紹介",
                    at(30, 14, 0)?,
                    15,
                    ItemKind::NonCredit(NonCreditKind::ProductIntroduction),
                ),
                item(
                    6,
                    "糖尿病合併症の早期発見",
                    at(30, 14, 15)?,
                    75,
                    ItemKind::single(76, 75),
                ),
            ],
        },
        None,
    )
    .await
    .map_err(training_demo_error)?;
    Ok(vec![
        (
            "past session (chiyoda@; the member's credits on My Page ②)".to_owned(),
            format!("/office/training/{}", past.id),
        ),
        (
            format!(
                "pending attendance of 医籍登録番号 {} ({} {}, no MAMIS_ID): register with it to see it credited",
                unbound.iseki.as_str(),
                unbound.family_name,
                unbound.given_name
            ),
            format!("/office/training/{}", past.id),
        ),
        (
            "outside session awaiting approval (tokyo@)".to_owned(),
            format!("/office/training/approvals#{}", outside.id),
        ),
    ])
}

fn training_demo_error(e: crate::training::TrainingError) -> AppError {
    match e {
        crate::training::TrainingError::App(e) => e,
        other => AppError::Internal(format!("demo training: {other}")),
    }
}

/// Seven fiscal years (FY2020–FY2026) of CME credits for the demo doctors: the member reaches 60
/// in FY2023–2025 (prior-system years plus training, e-learning and journal quiz in MAMIS), the
/// non-member stands at 56 in FY2024–2026 (4 short), and the third doctor has prior-system
/// history with an imported certificate for FY2019–2021.
async fn seed_demo_ledger<T: Tx>(
    tx: &mut T,
    member: &Doctor,
    non_member: &Doctor,
    history: &Doctor,
    revoked: &Doctor,
    now: Timestamp,
) -> Result<(), AppError> {
    use crate::cme::NewCredit;
    use mamis_domain::{FiscalYear, HalfUnits, Source};

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default()
    }
    // 医籍登録年月日 as the register gives it (the fourth doctor's is unknown): all long before
    // the windows shown, so they restrict nothing here.
    for (d, licensed) in [
        (member, day(2004, 4, 20)),
        (non_member, day(2011, 5, 2)),
        (history, day(1998, 4, 15)),
    ] {
        tx.set_licence_date(d.id, Some(licensed)).await?;
    }
    let mut credits = Vec::new();
    // Prior-system years: one line per (year, code), dated the year's last day, as imported.
    let mut prior = |d: &Doctor, fy: i32, codes: std::ops::RangeInclusive<u16>, half: i64| {
        for code in codes {
            credits.push(NewCredit {
                doctor: d.id,
                date: FiscalYear::of_date(day(fy, 4, 1)).last_day(),
                source: Source::PriorSystem,
                code,
                half_units: HalfUnits::new(half),
                origin_key: format!("prior:{}:{fy}:{code}", d.iseki),
                note: None,
            });
        }
    };
    prior(member, 2020, 1..=5, 4);
    prior(member, 2021, 6..=8, 4);
    prior(member, 2022, 9..=10, 2);
    prior(member, 2023, 11..=18, 4);
    prior(member, 2024, 19..=26, 4);
    prior(non_member, 2024, 50..=55, 7);
    prior(history, 2019, 1..=10, 4);
    prior(history, 2020, 11..=20, 4);
    prior(history, 2021, 21..=30, 4);
    prior(history, 2022, 1..=6, 4);
    prior(history, 2023, 7..=12, 4);
    prior(history, 2024, 13..=16, 3);
    // a fourth member reaches 60 in FY2023–2025 too; that certificate is revoked below
    prior(revoked, 2023, 40..=49, 4);
    prior(revoked, 2024, 50..=59, 4);

    // Training sessions in MAMIS: (date, title, [(code, minutes)]), each talk its own credit.
    type Session<'a> = (NaiveDate, &'a str, &'a [(u16, u32)]);
    let sessions: [Session; 6] = [
        (
            day(2025, 6, 14),
            "千代田区医師会 学術講演会「高血圧診療の最新動向」",
            &[(27, 60), (28, 60)],
        ),
        (
            day(2025, 10, 4),
            "東京都医師会 生涯教育講座「在宅医療と地域連携」",
            &[(29, 60), (30, 60)],
        ),
        (
            day(2025, 11, 8),
            "港区医師会 学術講演会「糖尿病と脂質異常症」",
            &[(56, 120), (57, 120), (58, 120), (59, 120), (60, 120)],
        ),
        (
            day(2026, 5, 23),
            "千代田区医師会 学術講演会「感染症のトピックス」",
            &[(41, 60), (42, 60)],
        ),
        (
            day(2026, 9, 12),
            "港区医師会 症例検討会「腎疾患」",
            &[(61, 150), (62, 150)],
        ),
        (
            day(2026, 10, 17),
            "港区医師会 学術講演会「がん検診と緩和ケア」",
            &[(63, 150), (64, 150)],
        ),
    ];
    let rules = mamis_domain::rules::Rules::embedded(crate::cme::PROGRAMME);
    for (n, (date, title, talks)) in sessions.iter().enumerate() {
        let attendee = if talks.iter().any(|(c, _)| *c >= 56) {
            non_member
        } else {
            member
        };
        for (part, (code, minutes)) in talks.iter().enumerate() {
            credits.push(NewCredit {
                doctor: attendee.id,
                date: *date,
                source: Source::Training,
                code: *code,
                half_units: rules.half_units_for_minutes(*minutes),
                origin_key: format!("training:demo-{n}-{part}:{}", attendee.id),
                note: Some((*title).to_owned()),
            });
        }
    }
    // e-learning (1 unit per content) and journal quiz (1 unit per issue) for the members.
    let online: [(&Doctor, Source, NaiveDate, u16); 15] = [
        (member, Source::ELearning, day(2025, 5, 2), 31),
        (member, Source::ELearning, day(2025, 7, 19), 32),
        (member, Source::ELearning, day(2025, 8, 30), 33),
        (member, Source::ELearning, day(2025, 12, 6), 34),
        (member, Source::ELearning, day(2026, 1, 17), 35),
        (member, Source::ELearning, day(2026, 2, 21), 36),
        (member, Source::JournalQuiz, day(2025, 6, 1), 37),
        (member, Source::JournalQuiz, day(2025, 9, 1), 38),
        (member, Source::JournalQuiz, day(2025, 12, 1), 39),
        (member, Source::JournalQuiz, day(2026, 3, 1), 40),
        (member, Source::ELearning, day(2026, 7, 11), 43),
        (history, Source::ELearning, day(2025, 7, 5), 19),
        (history, Source::ELearning, day(2025, 9, 27), 20),
        (history, Source::JournalQuiz, day(2026, 6, 1), 23),
        (history, Source::JournalQuiz, day(2026, 9, 1), 24),
    ];
    for (d, source, date, code) in online {
        let (kind, title) = match source {
            Source::JournalQuiz => (
                "quiz",
                format!(
                    "日本医師会雑誌 {}年{}月号 問題解答",
                    date.year(),
                    date.month()
                ),
            ),
            _ => ("elearning", format!("日医e-ラーニング コンテンツ CC{code}")),
        };
        credits.push(NewCredit {
            doctor: d.id,
            date,
            source,
            code,
            half_units: HalfUnits::new(2),
            origin_key: format!("{kind}:demo-{code}:{}", d.id),
            note: Some(title),
        });
    }
    for (date, code) in [(day(2025, 6, 21), 17), (day(2025, 6, 21), 18)] {
        credits.push(NewCredit {
            doctor: history.id,
            date,
            source: Source::Training,
            code,
            half_units: HalfUnits::new(2),
            origin_key: format!("training:demo-h-{code}:{}", history.id),
            note: Some("中央区医師会 学術講演会「認知症の早期診断」".to_owned()),
        });
    }
    for code in 60..=64 {
        credits.push(NewCredit {
            doctor: revoked.id,
            date: day(2025, 9, 6),
            source: Source::Training,
            code,
            half_units: HalfUnits::new(2),
            origin_key: format!("training:demo-r-{code}:{}", revoked.id),
            note: Some("千代田区医師会 生涯教育講座「総合診療」".to_owned()),
        });
    }
    crate::cme::credit(tx, &credits, "job:demo", now).await?;
    tx.insert_certificates(&[mamis_store::CertificateRecord {
        id: Uuid::from_u128(0xD0_3000),
        number: "CME-2021-004512".into(),
        doctor: history.id,
        programme: crate::cme::PROGRAMME,
        from_fy: FiscalYear::of_date(day(2019, 4, 1)),
        to_fy: FiscalYear::of_date(day(2021, 4, 1)),
        issued_on: day(2022, 12, 1),
        origin: "prior_system".into(),
        created_at: now,
        verification_code: None,
        valid_until: None,
        counted: None,
        revocation: None,
    }])
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rng_is_stable() {
        // Fixed expectations: changing the generator would silently change every data set.
        let mut r = Rng::new(1);
        let first: Vec<u64> = (0..3).map(|_| r.next_u64()).collect();
        let mut again = Rng::new(1);
        assert_eq!(first, (0..3).map(|_| again.next_u64()).collect::<Vec<_>>());
        assert_ne!(first, {
            let mut o = Rng::new(2);
            (0..3).map(|_| o.next_u64()).collect::<Vec<_>>()
        });
        let mut b = Rng::new(9);
        assert!((0..10_000).all(|_| b.below(7) < 7));
    }

    #[test]
    fn about_900_counties_every_prefecture_has_one() {
        let c = counties(900);
        assert_eq!(c.len(), 900);
        for p in 1..=47u8 {
            let pc = AssociationCode::prefecture(p).unwrap();
            assert!(c.iter().any(|a| pc.contains(&a.code)), "P{p:02}");
        }
        let mut codes: Vec<_> = c.iter().map(|a| a.code.clone()).collect();
        codes.dedup();
        assert_eq!(codes.len(), c.len());
    }

    #[test]
    fn doctors_are_valid_and_unique() {
        let mut rng = Rng::new(5);
        let county = AssociationCode::parse("P13-0001").unwrap();
        let mut isekis = std::collections::HashSet::new();
        let mut classes = std::collections::HashSet::new();
        let (mut members, mut non) = (0, 0);
        for i in 0..5_000 {
            let (d, ms) = make_doctor(&mut rng, i, 77, &county).unwrap();
            assert!(isekis.insert(d.iseki.clone()));
            mamis_domain::membership::check_nesting(
                &ms,
                NaiveDate::from_ymd_opt(2026, 6, 1).unwrap(),
            )
            .unwrap();
            if ms.is_empty() {
                non += 1;
                assert_eq!(d.home_prefecture.as_ref().map(|p| p.as_str()), Some("P13"));
            } else {
                members += 1;
                classes.insert(ms[0].class.clone());
            }
        }
        assert_eq!(classes.len(), 5, "every member class occurs");
        assert!(
            members > 2_500 && non > 1_500,
            "{members} members, {non} non-members"
        );
    }
}
