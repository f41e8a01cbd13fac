//! 研修管理 — training sessions (研修会), their programme items (演題), doctors' presence and the
//! credits it earns, and the rotating signed QR token a venue shows. Pure: the caller passes the
//! clock's step, the rules and the signing key.
//!
//! Rules applied (domain-research §2.3, §2.4, §2.6, §3.2; PRODUCT §4):
//! - units are time: one half-unit per full `unit_minutes` (30) of an item, rounded down, so a
//!   45-minute talk earns 0.5 and a 29-minute one nothing;
//! - one curriculum code per item, or a split chosen by the organiser in parts that are whole
//!   multiples of 30 minutes (Fukuoka: 90 min → CC75 0.5 + CC76 1.0);
//! - greetings, ceremonies, breaks and product introductions earn nothing;
//! - an item is credited to a doctor whose continuous presence covers it (less a grace at each
//!   end), whichever channel recorded that presence, and credited once per (item, part, doctor).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{Duration, NaiveDate};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::collections::BTreeSet;
use std::fmt;
use uuid::Uuid;

use crate::rules::Rules;
use crate::time::japan_date;
use crate::{Catalogue, DomainError, FiscalYear, HalfUnits, LedgerEntry, Source, Timestamp};

/// The largest expected headcount a session may name: more than any venue holds, and within
/// what both databases store.
pub const MAX_EXPECTED_HEADCOUNT: u32 = 100_000;

/// Longest session or item title; a title is one line on a flyer and in the ledger, not a text.
pub const TITLE_MAX_CHARS: usize = 200;

/// Longest programme item: a day. Longer is a typing error (a session may span days, an item not).
pub const ITEM_MAX_MINUTES: u32 = 24 * 60;

fn checked_title(input: &str) -> Result<String, DomainError> {
    let t = input.trim();
    let n = t.chars().count();
    if n == 0 || n > TITLE_MAX_CHARS {
        return Err(DomainError::TrainingTitle);
    }
    Ok(t.to_owned())
}

/// A slot that earns no units (domain-research §2.3: not lecture time).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NonCreditKind {
    /// 挨拶 — opening or closing words, introductions of the chair.
    Greeting,
    /// 式典 — ceremonies (awards, general meetings held in the session).
    Ceremony,
    /// 休憩 — breaks and meals.
    Break,
    /// 製品紹介 — a sponsor's product introduction.
    ProductIntroduction,
    /// その他 — any other slot the organiser marks as not lecture time.
    Other,
}

impl NonCreditKind {
    /// Every kind, in display order.
    pub const ALL: [NonCreditKind; 5] = [
        Self::Greeting,
        Self::Ceremony,
        Self::Break,
        Self::ProductIntroduction,
        Self::Other,
    ];

    /// The stored and API form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Greeting => "greeting",
            Self::Ceremony => "ceremony",
            Self::Break => "break",
            Self::ProductIntroduction => "product_introduction",
            Self::Other => "other",
        }
    }

    /// Reads the stored form.
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| DomainError::UnknownNonCreditKind(s.to_owned()))
    }
}

impl fmt::Display for NonCreditKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One curriculum code's share of an item's time; a single-code item has one part.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CodePart {
    /// The curriculum-code number, checked against the rules' catalogue.
    pub code: u16,
    /// Minutes of the item given to this code.
    pub minutes: u32,
}

/// Whether an item earns credit, and under which codes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemKind {
    /// A talk: its parts' minutes add up to the item's; two or more parts make a split.
    Credit {
        /// The codes in the organiser's order; the index is part of the credit's origin key.
        parts: Vec<CodePart>,
    },
    /// A slot that earns nothing.
    NonCredit(NonCreditKind),
}

impl ItemKind {
    /// A talk under one code for its whole time (the usual case, "1 hour, 1 CC").
    pub fn single(code: u16, minutes: u32) -> Self {
        Self::Credit {
            parts: vec![CodePart { code, minutes }],
        }
    }
}

/// What one part of an item earns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartCredit {
    /// Index of the part within the item (0 for a single-code item).
    pub part: usize,
    /// The curriculum-code number.
    pub code: u16,
    /// Units earned, always above zero (parts that earn nothing are left out).
    pub half_units: HalfUnits,
}

/// 演題 — one slot of a session's programme, valid by construction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgrammeItem {
    id: Uuid,
    title: String,
    start: Timestamp,
    end: Timestamp,
    minutes: u32,
    kind: ItemKind,
    catalogue_version: String,
}

impl ProgrammeItem {
    /// Checks an item against the rules: 1–1440 minutes; a credit item's parts add up to its
    /// minutes; a split's parts are each a positive multiple of the rules' step (30 minutes); the
    /// codes exist in the rules' catalogue and differ within the item.
    pub fn new(
        id: Uuid,
        title: &str,
        start: Timestamp,
        minutes: u32,
        kind: ItemKind,
        rules: &Rules,
    ) -> Result<Self, DomainError> {
        let title = checked_title(title)?;
        if minutes == 0 || minutes > ITEM_MAX_MINUTES {
            return Err(DomainError::ItemMinutes(minutes));
        }
        let end = start
            .checked_add_signed(Duration::minutes(i64::from(minutes)))
            .ok_or(DomainError::ItemMinutes(minutes))?;
        if let ItemKind::Credit { parts } = &kind {
            if parts.is_empty() {
                return Err(DomainError::ItemWithoutCode);
            }
            let mut seen = BTreeSet::new();
            for p in parts {
                Catalogue::embedded().parse(&rules.catalogue_version, i64::from(p.code))?;
                if !seen.insert(p.code) {
                    return Err(DomainError::DuplicateItemCode(p.code));
                }
                // A split part off the grid would earn a fraction the organiser did not intend:
                // 45 + 45 would give 0.5 + 0.5, losing half a unit of a 90-minute talk.
                if parts.len() > 1 && (p.minutes == 0 || p.minutes % rules.unit_minutes != 0) {
                    return Err(DomainError::SplitPartMinutes {
                        minutes: p.minutes,
                        step: rules.unit_minutes,
                    });
                }
            }
            let sum: u64 = parts.iter().map(|p| u64::from(p.minutes)).sum();
            if sum != u64::from(minutes) {
                return Err(DomainError::SplitPartsSum {
                    parts: sum,
                    item: minutes,
                });
            }
        }
        Ok(Self {
            id,
            title,
            start,
            end,
            minutes,
            kind,
            catalogue_version: rules.catalogue_version.clone(),
        })
    }

    /// Identity of the item; part of every credit's origin key.
    pub fn id(&self) -> Uuid {
        self.id
    }

    /// The title as printed on the programme (trimmed).
    pub fn title(&self) -> &str {
        &self.title
    }

    /// When the item starts.
    pub fn start(&self) -> Timestamp {
        self.start
    }

    /// When the item ends (start + minutes).
    pub fn end(&self) -> Timestamp {
        self.end
    }

    /// Length in minutes, the basis of its units.
    pub fn minutes(&self) -> u32 {
        self.minutes
    }

    /// Credit or not, and under which codes.
    pub fn kind(&self) -> &ItemKind {
        &self.kind
    }

    /// The catalogue version the codes were checked against; ledger entries carry it.
    pub fn catalogue_version(&self) -> &str {
        &self.catalogue_version
    }

    /// What the item earns per part under `rules`; parts that earn nothing (a 29-minute talk,
    /// any non-credit slot) are left out, so the ledger never holds zero lines.
    pub fn credits(&self, rules: &Rules) -> Vec<PartCredit> {
        let ItemKind::Credit { parts } = &self.kind else {
            return Vec::new();
        };
        parts
            .iter()
            .enumerate()
            .map(|(part, p)| PartCredit {
                part,
                code: p.code,
                half_units: rules.half_units_for_minutes(p.minutes),
            })
            .filter(|c| c.half_units.is_positive())
            .collect()
    }

    /// The stretch a doctor must be present for: [start + grace, end − grace]. A negative grace
    /// counts as none; when the two graces would meet or cross (grace ≥ half the item), the
    /// doctor must be present at the item's midpoint, so a long grace never credits an item the
    /// doctor was not at.
    pub fn required_presence(&self, grace: Duration) -> (Timestamp, Timestamp) {
        let length = self.end - self.start;
        // Clamped first, so the arithmetic below cannot overflow whatever the configuration says.
        let grace = grace.clamp(Duration::zero(), length);
        if grace * 2 >= length {
            let mid = self.start + length / 2;
            (mid, mid)
        } else {
            (self.start + grace, self.end - grace)
        }
    }
}

/// Where a session takes place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Venue {
    /// At a place (hall, hotel, hospital), named as on the flyer.
    InPerson(String),
    /// Web lecture only; presence comes from join/leave logs.
    Online,
    /// At a place and streamed at the same time.
    Hybrid(String),
}

impl Venue {
    /// The place's name, unless the session is online only.
    pub fn place(&self) -> Option<&str> {
        match self {
            Self::InPerson(p) | Self::Hybrid(p) => Some(p),
            Self::Online => None,
        }
    }

    /// Whether doctors can attend from afar.
    pub fn is_online(&self) -> bool {
        matches!(self, Self::Online | Self::Hybrid(_))
    }
}

/// 研修会 — a training session as its organiser registers it; its programme is checked with
/// [`Session::check_programme`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    id: Uuid,
    organiser: Uuid,
    title: String,
    venue: Venue,
    start: Timestamp,
    end: Timestamp,
    expected_headcount: Option<u32>,
}

impl Session {
    /// Checks a session: a 1–200 character title, a named place unless online only, an end after
    /// the start, and an expected headcount of at least one when given.
    pub fn new(
        id: Uuid,
        organiser: Uuid,
        title: &str,
        venue: Venue,
        start: Timestamp,
        end: Timestamp,
        expected_headcount: Option<u32>,
    ) -> Result<Self, DomainError> {
        let title = checked_title(title)?;
        let venue = match venue {
            Venue::InPerson(p) => Venue::InPerson(checked_place(&p)?),
            Venue::Hybrid(p) => Venue::Hybrid(checked_place(&p)?),
            Venue::Online => Venue::Online,
        };
        if end <= start {
            return Err(DomainError::SessionTimes);
        }
        if expected_headcount.is_some_and(|n| !(1..=MAX_EXPECTED_HEADCOUNT).contains(&n)) {
            return Err(DomainError::ExpectedHeadcount);
        }
        Ok(Self {
            id,
            organiser,
            title,
            venue,
            start,
            end,
            expected_headcount,
        })
    }

    /// Identity of the session; venue QR tokens name it.
    pub fn id(&self) -> Uuid {
        self.id
    }

    /// The organising body ([`crate::Organisation`] or association id) whose staff run it.
    pub fn organiser(&self) -> Uuid {
        self.organiser
    }

    /// The title as printed on the flyer (trimmed).
    pub fn title(&self) -> &str {
        &self.title
    }

    /// Where it takes place.
    pub fn venue(&self) -> &Venue {
        &self.venue
    }

    /// When doors open for presence capture.
    pub fn start(&self) -> Timestamp {
        self.start
    }

    /// The scheduled end; closing the session marks still-present doctors as leaving then.
    pub fn end(&self) -> Timestamp {
        self.end
    }

    /// The organiser's estimate, for the approval form and room planning.
    pub fn expected_headcount(&self) -> Option<u32> {
        self.expected_headcount
    }

    /// Checks a programme: every item inside the session's [start, end], and no two items
    /// overlapping (back to back is fine). Overlap is refused because presence is per session,
    /// not per room: parallel tracks would credit one hour of presence twice, so each track of
    /// a congress is registered as its own session with its own venue QR. Errors name items by
    /// their 1-based position in `items`.
    pub fn check_programme(&self, items: &[ProgrammeItem]) -> Result<(), DomainError> {
        for (i, item) in items.iter().enumerate() {
            if item.start < self.start || item.end > self.end {
                return Err(DomainError::ItemOutsideSession { item: i + 1 });
            }
        }
        let mut order: Vec<usize> = (0..items.len()).collect();
        order.sort_by_key(|&i| (items[i].start, items[i].end));
        for pair in order.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            if items[b].start < items[a].end {
                let (first, second) = (a.min(b) + 1, a.max(b) + 1);
                return Err(DomainError::ItemsOverlap { first, second });
            }
        }
        Ok(())
    }
}

fn checked_place(input: &str) -> Result<String, DomainError> {
    let t = input.trim();
    let n = t.chars().count();
    if n == 0 || n > TITLE_MAX_CHARS {
        return Err(DomainError::VenuePlace);
    }
    Ok(t.to_owned())
}

/// One stretch of a doctor's presence at a session, from any channel (venue QR, desk scan,
/// attendee list, web log).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interval {
    /// Arrival (named `in_at` because `in` is a keyword).
    pub in_at: Timestamp,
    /// Departure; `None` while the doctor is still in, which earns nothing yet.
    pub out_at: Option<Timestamp>,
    /// Closed by the organiser closing the session ("left at end"), not by the doctor leaving.
    pub left_at_end: bool,
}

/// A doctor's presence at one session: at most one open interval, any number of closed ones.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Presence {
    intervals: Vec<Interval>,
}

impl Presence {
    /// Rebuilds a stored presence; refuses an interval ending before it starts, or two open
    /// intervals (a data defect: the capture functions never make either).
    pub fn from_intervals(intervals: Vec<Interval>) -> Result<Self, DomainError> {
        if intervals
            .iter()
            .any(|i| i.out_at.is_some_and(|out| out < i.in_at))
        {
            return Err(DomainError::Presence(
                "an interval ends before it starts".to_owned(),
            ));
        }
        if intervals.iter().filter(|i| i.out_at.is_none()).count() > 1 {
            return Err(DomainError::Presence(
                "two intervals are open at once".to_owned(),
            ));
        }
        Ok(Self { intervals })
    }

    /// The intervals in the order they were recorded.
    pub fn intervals(&self) -> &[Interval] {
        &self.intervals
    }

    /// Whether the doctor is in now (an interval is open), so a scan means "leaving".
    pub fn is_open(&self) -> bool {
        self.intervals.iter().any(|i| i.out_at.is_none())
    }

    /// Records an arrival. A second arrival while one is open changes nothing (returns false),
    /// so a doctor seen by two channels, or scanning twice, keeps the first arrival time.
    pub fn check_in(&mut self, at: Timestamp) -> bool {
        if self.is_open() {
            return false;
        }
        self.intervals.push(Interval {
            in_at: at,
            out_at: None,
            left_at_end: false,
        });
        true
    }

    /// Records a departure, closing the open interval. Returns false and changes nothing when no
    /// interval is open or `at` is before its arrival (a stray or out-of-order scan).
    pub fn check_out(&mut self, at: Timestamp) -> bool {
        match self.intervals.iter_mut().find(|i| i.out_at.is_none()) {
            Some(open) if at >= open.in_at => {
                open.out_at = Some(at);
                true
            }
            _ => false,
        }
    }

    /// The organiser closed the session: a still-open interval ends at `end` and is marked
    /// "left at end" (at its arrival if that came later). Returns whether one was open.
    pub fn close_at(&mut self, end: Timestamp) -> bool {
        match self.intervals.iter_mut().find(|i| i.out_at.is_none()) {
            Some(open) => {
                open.out_at = Some(end.max(open.in_at));
                open.left_at_end = true;
                true
            }
            None => false,
        }
    }

    /// Adds a closed interval from a list or log import. Returns false and changes nothing when
    /// `out_at` is before `in_at`.
    pub fn add_interval(&mut self, in_at: Timestamp, out_at: Timestamp) -> bool {
        if out_at < in_at {
            return false;
        }
        self.intervals.push(Interval {
            in_at,
            out_at: Some(out_at),
            left_at_end: false,
        });
        true
    }

    /// Continuous stretches of presence: closed intervals that overlap or touch, from whatever
    /// channels, joined, since the doctor was never away between them. Open intervals are left
    /// out (they earn nothing until closed). Sorted by start.
    fn stretches(&self) -> Vec<(Timestamp, Timestamp)> {
        let mut closed: Vec<(Timestamp, Timestamp)> = self
            .intervals
            .iter()
            .filter_map(|i| i.out_at.map(|out| (i.in_at, out)))
            .collect();
        closed.sort();
        let mut out: Vec<(Timestamp, Timestamp)> = Vec::with_capacity(closed.len());
        for (a, b) in closed {
            match out.last_mut() {
                Some(last) if a <= last.1 => last.1 = last.1.max(b),
                _ => out.push((a, b)),
            }
        }
        out
    }

    /// Whether one continuous stretch of closed presence covers [from, to]. Joining overlapping
    /// intervals (instead of requiring one raw interval) credits a doctor whose desk scan and
    /// venue scans overlap, and still credits nothing across a real absence.
    pub fn covers(&self, from: Timestamp, to: Timestamp) -> bool {
        self.stretches().iter().any(|&(a, b)| a <= from && to <= b)
    }

    /// The items whose required presence ([`ProgrammeItem::required_presence`]) is covered,
    /// in the order given; non-credit items are included when covered (they earn nothing).
    pub fn credited_items<'a>(
        &self,
        items: &'a [ProgrammeItem],
        grace: Duration,
    ) -> Vec<&'a ProgrammeItem> {
        let stretches = self.stretches();
        items
            .iter()
            .filter(|item| {
                let (from, to) = item.required_presence(grace);
                stretches.iter().any(|&(a, b)| a <= from && to <= b)
            })
            .collect()
    }
}

/// How long after an attendee's last desk capture another desk scan of them counts as the same
/// scan repeated (a code held to the camera twice, a scanner that fires twice, staff unsure it
/// went through) rather than the attendee leaving: issue 13, a scan within 60 s answers
/// 「記録済み」 and changes nothing.
pub const DESK_REPEAT_SECONDS: i64 = 60;

/// The last instant the desk captured an attendee, from the intervals the desk recorded: each
/// arrival, and each departure that was not the organiser closing the session.
pub fn last_desk_capture<'a>(
    intervals: impl IntoIterator<Item = &'a Interval>,
) -> Option<Timestamp> {
    intervals
        .into_iter()
        .flat_map(|i| {
            let out = i.out_at.filter(|_| !i.left_at_end);
            std::iter::once(i.in_at).chain(out)
        })
        .max()
}

/// Whether a desk scan at `now` repeats the attendee's last desk capture (`last`): at most
/// [`DESK_REPEAT_SECONDS`] later (60 s still repeats, 61 s does not). A capture recorded after
/// `now` (clocks of several servers) repeats too: nothing is toggled on a scan out of order.
pub fn desk_scan_repeats(last: Option<Timestamp>, now: Timestamp) -> bool {
    last.is_some_and(|l| now - l <= Duration::seconds(DESK_REPEAT_SECONDS))
}

/// The ledger's origin key of a training credit: the same for every channel that captured the
/// doctor, so the store's UNIQUE(programme, origin key, generation) credits an item part once.
pub fn origin_key(item: Uuid, part: usize, doctor: Uuid) -> String {
    format!("training:{item}:{part}:{doctor}")
}

/// The programme item of a training credit's [`origin_key`]; `None` for any other key
/// (e-learning, imports, demo data), whose item is not known.
pub fn origin_item(key: &str) -> Option<Uuid> {
    let mut parts = key.strip_prefix("training:")?.split(':');
    let item = Uuid::parse_str(parts.next()?).ok()?;
    let part_ok = parts.next()?.parse::<usize>().is_ok();
    let doctor_ok = Uuid::parse_str(parts.next()?).is_ok();
    (part_ok && doctor_ok && parts.next().is_none()).then_some(item)
}

/// One credit a doctor earned at a session, ready to become a ledger entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credit {
    /// The doctor credited.
    pub doctor: Uuid,
    /// The programme item attended.
    pub item: Uuid,
    /// The item's part (0 unless split).
    pub part: usize,
    /// The curriculum-code number.
    pub code: u16,
    /// The catalogue version of the code.
    pub catalogue_version: String,
    /// Units earned (above zero).
    pub half_units: HalfUnits,
    /// The item's day in Japan, shown on the ledger line.
    pub date: NaiveDate,
    /// The fiscal year of that day, where the credit counts.
    pub fiscal_year: FiscalYear,
    /// See [`origin_key`].
    pub origin_key: String,
}

impl Credit {
    /// The ledger entry recording this credit (`Source::Training`). `generation` is 0 unless
    /// an earlier credit of the same origin key was reversed; `note` is usually the item title.
    pub fn ledger_entry(
        &self,
        id: Uuid,
        rules: &Rules,
        generation: i32,
        created_by: String,
        created_at: Timestamp,
        note: Option<String>,
    ) -> LedgerEntry {
        LedgerEntry {
            id,
            doctor: self.doctor,
            programme: rules.programme,
            fiscal_year: self.fiscal_year,
            date: self.date,
            source: Source::Training,
            catalogue_version: self.catalogue_version.clone(),
            code: self.code,
            half_units: self.half_units,
            origin_key: self.origin_key.clone(),
            generation,
            reverses: None,
            rules_version: rules.version.clone(),
            created_by,
            created_at,
            note,
        }
    }
}

/// Everything a doctor's presence earns at a session: one credit per covered item part that
/// earns units. Pure and repeatable; the origin keys make writing the result idempotent.
pub fn credits_for(
    doctor: Uuid,
    presence: &Presence,
    items: &[ProgrammeItem],
    rules: &Rules,
    grace: Duration,
) -> Vec<Credit> {
    presence
        .credited_items(items, grace)
        .into_iter()
        .flat_map(|item| {
            let date = japan_date(item.start);
            item.credits(rules).into_iter().map(move |c| Credit {
                doctor,
                item: item.id,
                part: c.part,
                code: c.code,
                catalogue_version: item.catalogue_version.clone(),
                half_units: c.half_units,
                date,
                fiscal_year: FiscalYear::of_date(date),
                origin_key: origin_key(item.id, c.part, doctor),
            })
        })
        .collect()
}

/// Seconds a venue QR token is shown before the next replaces it.
pub const VENUE_STEP_SECONDS: i64 = 10;

/// Steps before the current one still accepted: with 3, a token scanned up to 30 s ago is always
/// accepted and one scanned 40 s ago or earlier never is (whatever the step boundaries), which
/// leaves time for a slow phone network but not for passing a photo around.
pub const VENUE_STEPS_BACK: u32 = 3;

/// Domain separation: a key shared with another token kind can never make a valid venue token.
const VENUE_CONTEXT: &[u8] = b"mamis-venue-v1";

/// Bytes of HMAC-SHA256 kept (128 bits: forging is out of reach, the QR code stays small).
const VENUE_TAG_LEN: usize = 16;

/// Session id, step and tag.
const VENUE_TOKEN_LEN: usize = 16 + 8 + VENUE_TAG_LEN;

/// The step of an instant, which names the venue token shown then.
pub fn venue_step(t: Timestamp) -> i64 {
    t.timestamp().div_euclid(VENUE_STEP_SECONDS)
}

fn venue_tag(key: &[u8], session: Uuid, step: i64) -> Option<[u8; VENUE_TAG_LEN]> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).ok()?;
    mac.update(VENUE_CONTEXT);
    mac.update(session.as_bytes());
    mac.update(&step.to_be_bytes());
    let full = mac.finalize().into_bytes();
    let mut tag = [0u8; VENUE_TAG_LEN];
    tag.copy_from_slice(full.get(..VENUE_TAG_LEN)?);
    Some(tag)
}

/// The venue QR token of `session` at `step`: base64url (54 characters) of the session id, the
/// step and a truncated HMAC-SHA256 under `key`, so the server can check it without storing it.
pub fn venue_token(key: &[u8], session: Uuid, step: i64) -> String {
    let Some(tag) = venue_tag(key, session, step) else {
        return String::new();
    };
    let mut bytes = Vec::with_capacity(VENUE_TOKEN_LEN);
    bytes.extend_from_slice(session.as_bytes());
    bytes.extend_from_slice(&step.to_be_bytes());
    bytes.extend_from_slice(&tag);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The session and step of a genuine token from step `now_step` or up to `steps_back` steps
/// before it; `None` for anything forged, malformed, too old or from the future. The caller
/// compares the session with the one the doctor is checking into.
pub fn check_venue_token(
    key: &[u8],
    token: &str,
    now_step: i64,
    steps_back: u32,
) -> Option<(Uuid, i64)> {
    let bytes = URL_SAFE_NO_PAD.decode(token.trim()).ok()?;
    if bytes.len() != VENUE_TOKEN_LEN {
        return None;
    }
    let (id, rest) = bytes.split_at(16);
    let (step, tag) = rest.split_at(8);
    let session = Uuid::from_slice(id).ok()?;
    let step = i64::from_be_bytes(step.try_into().ok()?);
    let expected = venue_tag(key, session, step)?;
    if !bool::from(subtle::ConstantTimeEq::ct_eq(&expected[..], tag)) {
        return None;
    }
    let oldest = now_step.saturating_sub(i64::from(steps_back));
    (oldest..=now_step)
        .contains(&step)
        .then_some((session, step))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Programme;
    use chrono::{TimeZone, Utc};
    use proptest::prelude::*;

    fn rules() -> &'static Rules {
        Rules::embedded(Programme::JmaCme)
    }

    /// 2026-06-13 14:00 Japan time.
    fn t0() -> Timestamp {
        Utc.with_ymd_and_hms(2026, 6, 13, 5, 0, 0).unwrap()
    }

    fn at(min: i64) -> Timestamp {
        t0() + Duration::minutes(min)
    }

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    fn talk(n: u128, start_min: i64, minutes: u32, code: u16) -> ProgrammeItem {
        ProgrammeItem::new(
            id(n),
            "講演",
            at(start_min),
            minutes,
            ItemKind::single(code, minutes),
            rules(),
        )
        .unwrap()
    }

    fn split(minutes: u32, parts: &[(u16, u32)]) -> Result<ProgrammeItem, DomainError> {
        ProgrammeItem::new(
            id(1),
            "脂質異常症と糖尿病",
            t0(),
            minutes,
            ItemKind::Credit {
                parts: parts
                    .iter()
                    .map(|&(code, minutes)| CodePart { code, minutes })
                    .collect(),
            },
            rules(),
        )
    }

    fn units(item: &ProgrammeItem) -> Vec<(u16, i64)> {
        item.credits(rules())
            .iter()
            .map(|c| (c.code, c.half_units.get()))
            .collect()
    }

    #[test]
    fn acceptance_units_table() {
        // 45 → 0.5, 30 → 0.5, 29 → 0, 60 → 1.0, 90 → 1.5 (domain-research §2.3, §8.2).
        for (minutes, half) in [(45, 1), (30, 1), (29, 0), (60, 2), (90, 3), (1, 0)] {
            let item = talk(1, 0, minutes, 74);
            let got: i64 = item
                .credits(rules())
                .iter()
                .map(|c| c.half_units.get())
                .sum();
            assert_eq!(got, half, "{minutes} minutes");
        }
        // A part earning nothing is omitted, not written as a zero line.
        assert!(talk(1, 0, 29, 74).credits(rules()).is_empty());
    }

    #[test]
    fn acceptance_split_90_as_30_and_60() {
        // Fukuoka's worked example: 90 min split CC75 0.5 / CC76 1.0.
        let item = split(90, &[(75, 30), (76, 60)]).unwrap();
        assert_eq!(units(&item), vec![(75, 1), (76, 2)]);
        let parts: Vec<usize> = item.credits(rules()).iter().map(|c| c.part).collect();
        assert_eq!(parts, vec![0, 1]);
    }

    #[test]
    fn split_refusals() {
        assert_eq!(
            split(90, &[(75, 45), (76, 45)]),
            Err(DomainError::SplitPartMinutes {
                minutes: 45,
                step: 30
            })
        );
        assert_eq!(
            split(90, &[(75, 0), (76, 90)]),
            Err(DomainError::SplitPartMinutes {
                minutes: 0,
                step: 30
            })
        );
        assert_eq!(
            split(90, &[(75, 30), (76, 30)]),
            Err(DomainError::SplitPartsSum {
                parts: 60,
                item: 90
            })
        );
        assert_eq!(
            split(90, &[(75, 30), (75, 60)]),
            Err(DomainError::DuplicateItemCode(75))
        );
        assert!(matches!(
            split(90, &[(75, 30), (84, 60)]),
            Err(DomainError::UnknownCurriculumCode { number: 84, .. })
        ));
        assert!(matches!(
            split(60, &[(84, 60)]),
            Err(DomainError::UnknownCurriculumCode { number: 84, .. })
        ));
        assert_eq!(split(60, &[]), Err(DomainError::ItemWithoutCode));
        // A single code must still account for the whole item.
        assert_eq!(
            split(60, &[(75, 45)]),
            Err(DomainError::SplitPartsSum {
                parts: 45,
                item: 60
            })
        );
        // Code 0 (専門職としての使命感) and 83 are the catalogue's ends.
        assert!(split(60, &[(0, 30), (83, 30)]).is_ok());
    }

    #[test]
    fn item_refusals() {
        let mk = |title: &str, minutes: u32| {
            ProgrammeItem::new(
                id(1),
                title,
                t0(),
                minutes,
                ItemKind::NonCredit(NonCreditKind::Break),
                rules(),
            )
        };
        assert_eq!(mk("休憩", 0), Err(DomainError::ItemMinutes(0)));
        assert_eq!(mk("休憩", 1441), Err(DomainError::ItemMinutes(1441)));
        assert!(mk("休憩", 1440).is_ok());
        assert_eq!(mk("  ", 10), Err(DomainError::TrainingTitle));
        assert_eq!(mk(&"あ".repeat(201), 10), Err(DomainError::TrainingTitle));
        assert_eq!(
            mk(&"あ".repeat(200), 10).unwrap().title().chars().count(),
            200
        );
        assert_eq!(mk(" 休憩 ", 10).unwrap().title(), "休憩");
    }

    #[test]
    fn non_credit_slots_earn_nothing() {
        for kind in NonCreditKind::ALL {
            let item = ProgrammeItem::new(
                id(1),
                "開会挨拶",
                t0(),
                60,
                ItemKind::NonCredit(kind),
                rules(),
            )
            .unwrap();
            assert!(item.credits(rules()).is_empty(), "{kind}");
            let mut p = Presence::default();
            p.add_interval(at(-10), at(70));
            assert!(credits_for(id(9), &p, &[item], rules(), Duration::zero()).is_empty());
            assert_eq!(NonCreditKind::parse(kind.as_str()), Ok(kind));
        }
        assert!(NonCreditKind::parse("lunch").is_err());
    }

    fn session() -> Session {
        Session::new(
            id(100),
            id(200),
            "第12回 糖尿病診療セミナー",
            Venue::InPerson("千代田区医師会館 3階ホール".into()),
            at(0),
            at(180),
            Some(80),
        )
        .unwrap()
    }

    #[test]
    fn session_checks() {
        let s = session();
        assert_eq!(s.venue().place(), Some("千代田区医師会館 3階ホール"));
        let mk = |title: &str, venue: Venue, end: i64, head: Option<u32>| {
            Session::new(id(1), id(2), title, venue, at(0), at(end), head)
        };
        assert_eq!(
            mk("", Venue::Online, 60, None),
            Err(DomainError::TrainingTitle)
        );
        assert_eq!(
            mk("研修会", Venue::Online, 0, None),
            Err(DomainError::SessionTimes)
        );
        assert_eq!(
            mk("研修会", Venue::Online, -5, None),
            Err(DomainError::SessionTimes)
        );
        assert_eq!(
            mk("研修会", Venue::Hybrid(" ".into()), 60, None),
            Err(DomainError::VenuePlace)
        );
        for bad in [0, MAX_EXPECTED_HEADCOUNT + 1, u32::MAX] {
            assert_eq!(
                mk("研修会", Venue::Online, 60, Some(bad)),
                Err(DomainError::ExpectedHeadcount),
                "{bad}"
            );
        }
        assert!(mk("研修会", Venue::Online, 60, Some(MAX_EXPECTED_HEADCOUNT)).is_ok());
        let online = mk("研修会", Venue::Online, 60, None).unwrap();
        assert!(online.venue().is_online());
        assert_eq!(online.venue().place(), None);
    }

    #[test]
    fn programme_inside_session_without_overlap() {
        let s = session();
        let greeting = ProgrammeItem::new(
            id(10),
            "開会挨拶",
            at(0),
            5,
            ItemKind::NonCredit(NonCreditKind::Greeting),
            rules(),
        )
        .unwrap();
        let a = talk(11, 5, 60, 76);
        let b = talk(12, 65, 60, 74);
        // Back to back is fine, in any order.
        assert_eq!(s.check_programme(&[b.clone(), greeting, a.clone()]), Ok(()));
        assert_eq!(s.check_programme(&[]), Ok(()));
        // Ending exactly at the session's end is inside.
        assert_eq!(s.check_programme(&[talk(13, 120, 60, 80)]), Ok(()));
        assert_eq!(
            s.check_programme(&[a.clone(), talk(13, 121, 60, 80)]),
            Err(DomainError::ItemOutsideSession { item: 2 })
        );
        assert_eq!(
            s.check_programme(&[talk(13, -1, 30, 80)]),
            Err(DomainError::ItemOutsideSession { item: 1 })
        );
        assert_eq!(
            s.check_programme(&[b, talk(13, 0, 30, 80), talk(14, 30, 40, 75)]),
            Err(DomainError::ItemsOverlap {
                first: 1,
                second: 3
            })
        );
    }

    #[test]
    fn check_in_while_open_does_nothing() {
        let mut p = Presence::default();
        assert!(p.check_in(at(0)));
        assert!(!p.check_in(at(5)), "a second channel sees the doctor");
        assert_eq!(p.intervals().len(), 1);
        assert_eq!(p.intervals()[0].in_at, at(0));
        assert!(p.is_open());
        assert!(!p.check_out(at(-1)), "before arrival");
        assert!(p.check_out(at(60)));
        assert!(!p.check_out(at(61)), "nothing open");
        assert!(!p.is_open());
        assert!(p.check_in(at(70)));
        assert_eq!(p.intervals().len(), 2);
    }

    #[test]
    fn partial_presence_credits_only_covered_items() {
        let items = [
            talk(1, 0, 60, 74),
            talk(2, 60, 60, 76),
            talk(3, 120, 30, 80),
        ];
        let mut p = Presence::default();
        p.check_in(at(-10));
        p.check_out(at(90)); // leaves during the second talk
        let credited: Vec<Uuid> = p
            .credited_items(&items, Duration::minutes(5))
            .iter()
            .map(|i| i.id())
            .collect();
        assert_eq!(credited, vec![id(1)]);
        // Coming back for the third talk credits it, never the second.
        p.check_in(at(118));
        p.check_out(at(151));
        let credits = credits_for(id(9), &p, &items, rules(), Duration::minutes(5));
        let got: Vec<(u16, i64)> = credits
            .iter()
            .map(|c| (c.code, c.half_units.get()))
            .collect();
        assert_eq!(got, vec![(74, 2), (80, 1)]);
    }

    #[test]
    fn grace_boundaries() {
        let item = talk(1, 0, 60, 74);
        let g = Duration::minutes(5);
        let exactly = |from: Timestamp, to: Timestamp| {
            let mut p = Presence::default();
            p.add_interval(from, to);
            !p.credited_items(std::slice::from_ref(&item), g).is_empty()
        };
        let s = Duration::seconds(1);
        assert!(exactly(at(5), at(55)), "exactly at the edges");
        assert!(!exactly(at(5) + s, at(55)), "arrived one second late");
        assert!(!exactly(at(5), at(55) - s), "left one second early");
        assert!(exactly(at(0), at(60)));
        // Grace at or beyond half the item: presence at the midpoint is required.
        let mid = at(30);
        for g in [Duration::minutes(30), Duration::minutes(45)] {
            let mut p = Presence::default();
            p.add_interval(mid, mid);
            assert_eq!(item.required_presence(g), (mid, mid));
            assert_eq!(p.credited_items(std::slice::from_ref(&item), g).len(), 1);
            let mut q = Presence::default();
            q.add_interval(at(0), mid - s);
            q.add_interval(mid + s, at(60));
            assert!(q.credited_items(std::slice::from_ref(&item), g).is_empty());
        }
        assert_eq!(item.required_presence(Duration::MAX), (mid, mid));
        // A negative grace counts as none.
        assert_eq!(
            item.required_presence(Duration::minutes(-5)),
            (at(0), at(60))
        );
    }

    #[test]
    fn open_interval_earns_nothing_until_closed() {
        let items = [talk(1, 0, 60, 74), talk(2, 60, 60, 76)];
        let mut p = Presence::default();
        p.check_in(at(-5));
        assert!(
            credits_for(id(9), &p, &items, rules(), Duration::zero()).is_empty(),
            "still open"
        );
        assert!(p.close_at(at(120)));
        assert!(p.intervals()[0].left_at_end);
        assert_eq!(p.intervals()[0].out_at, Some(at(120)));
        assert_eq!(
            credits_for(id(9), &p, &items, rules(), Duration::zero()).len(),
            2
        );
        assert!(!p.close_at(at(120)), "nothing left open");
        // Arriving after the session closed: the interval is empty, not reversed.
        let mut late = Presence::default();
        late.check_in(at(130));
        assert!(late.close_at(at(120)));
        assert_eq!(late.intervals()[0].out_at, Some(at(130)));
    }

    #[test]
    fn overlapping_channels_join_but_absence_does_not() {
        let item = talk(1, 0, 60, 74);
        let items = std::slice::from_ref(&item);
        // Desk scan 0–40, venue scans 30–60: one continuous stretch.
        let mut p = Presence::default();
        p.add_interval(at(0), at(40));
        p.add_interval(at(30), at(60));
        assert_eq!(p.credited_items(items, Duration::zero()).len(), 1);
        // Out at 40 and back at 40: never away.
        let mut q = Presence::default();
        q.add_interval(at(40), at(60));
        q.add_interval(at(0), at(40));
        assert_eq!(q.credited_items(items, Duration::zero()).len(), 1);
        // Away for a minute in the middle: not covered.
        let mut r = Presence::default();
        r.add_interval(at(0), at(30));
        r.add_interval(at(31), at(60));
        assert!(r.credited_items(items, Duration::zero()).is_empty());
    }

    #[test]
    fn origin_keys_name_their_item() {
        let key = origin_key(id(1), 2, id(9));
        assert_eq!(origin_item(&key), Some(id(1)));
        for other in [
            "elearning:demo-31:00000000-0000-0000-0000-000000000009",
            "training:demo-3-0:00000000-0000-0000-0000-000000000009",
            "prior:1234567:2024:10",
            "training:00000000-0000-0000-0000-000000000001:x:00000000-0000-0000-0000-000000000009",
            "training:00000000-0000-0000-0000-000000000001:0",
            "",
        ] {
            assert_eq!(origin_item(other), None, "{other}");
        }
        assert_eq!(origin_item(&format!("{key}:extra")), None);
    }

    #[test]
    fn origin_key_is_channel_independent_and_credits_once() {
        assert_eq!(
            origin_key(id(1), 0, id(2)),
            format!("training:{}:0:{}", id(1), id(2))
        );
        let item = split(90, &[(75, 30), (76, 60)]).unwrap();
        let mut qr = Presence::default();
        qr.check_in(at(-1));
        qr.check_out(at(91));
        let mut both = qr.clone();
        both.add_interval(at(-3), at(95)); // the attendee list names the doctor as well
        let items = std::slice::from_ref(&item);
        let a = credits_for(id(9), &qr, items, rules(), Duration::zero());
        let b = credits_for(id(9), &both, items, rules(), Duration::zero());
        assert_eq!(a, b);
        assert_eq!(a.len(), 2);
        assert_eq!(a[1].origin_key, origin_key(item.id(), 1, id(9)));
    }

    #[test]
    fn ledger_entry_from_credit() {
        // 2026-03-31 23:30 JST is FY2025; the credit counts on the item's Japan day.
        let start = Utc.with_ymd_and_hms(2026, 3, 31, 14, 30, 0).unwrap();
        let item = ProgrammeItem::new(
            id(1),
            "高血圧症",
            start,
            60,
            ItemKind::single(74, 60),
            rules(),
        )
        .unwrap();
        let mut p = Presence::default();
        p.add_interval(start, start + Duration::minutes(60));
        let c = credits_for(id(9), &p, &[item], rules(), Duration::zero());
        let e = c[0].ledger_entry(
            id(50),
            rules(),
            0,
            "job:training".into(),
            t0(),
            Some("高血圧症".into()),
        );
        assert_eq!(e.source, Source::Training);
        assert_eq!(e.fiscal_year, FiscalYear::new(2025).unwrap());
        assert_eq!(e.date, NaiveDate::from_ymd_opt(2026, 3, 31).unwrap());
        assert_eq!(e.half_units, HalfUnits::new(2));
        assert_eq!(e.code, 74);
        assert_eq!(e.catalogue_version, rules().catalogue_version);
        assert_eq!(e.rules_version, rules().version);
        assert_eq!(e.origin_key, origin_key(id(1), 0, id(9)));
        assert_eq!(e.reverses, None);
    }

    #[test]
    fn stored_presence_is_checked() {
        let open = |m| Interval {
            in_at: at(m),
            out_at: None,
            left_at_end: false,
        };
        assert!(Presence::from_intervals(vec![open(0), open(5)]).is_err());
        assert!(
            Presence::from_intervals(vec![Interval {
                in_at: at(5),
                out_at: Some(at(0)),
                left_at_end: false
            }])
            .is_err()
        );
        let p = Presence::from_intervals(vec![open(0)]).unwrap();
        assert!(p.is_open());
        let mut p2 = Presence::default();
        assert!(!p2.add_interval(at(5), at(0)));
        assert!(p2.intervals().is_empty());
    }

    const KEY: &[u8] = b"venue-key-for-tests-32-bytes-long";

    #[test]
    fn venue_token_round_trip_and_age() {
        let session = id(100);
        for offset in 0..VENUE_STEP_SECONDS {
            let scanned = t0() + Duration::seconds(offset);
            let token = venue_token(KEY, session, venue_step(scanned));
            assert_eq!(token.len(), 54);
            let check = |age: i64| {
                let now = venue_step(scanned + Duration::seconds(age));
                check_venue_token(KEY, &token, now, VENUE_STEPS_BACK)
            };
            assert_eq!(check(0), Some((session, venue_step(scanned))));
            assert!(check(25).is_some(), "25 s old, offset {offset}");
            assert!(check(30).is_some(), "30 s old, offset {offset}");
            assert_eq!(check(40), None, "40 s old, offset {offset}");
            assert_eq!(check(-10), None, "from the future");
        }
    }

    /// The desk's repeat window at its boundary: 59 s and 60 s after the last desk capture repeat
    /// it, 61 s is a new scan; no capture yet never repeats.
    #[test]
    fn desk_scans_repeat_within_sixty_seconds() {
        let last = t0();
        for (after, repeats) in [
            (Duration::seconds(0), true),
            (Duration::seconds(59), true),
            (Duration::seconds(60), true),
            (Duration::seconds(60) + Duration::microseconds(1), false),
            (Duration::seconds(61), false),
            (Duration::minutes(90), false),
            (Duration::seconds(-5), true),
        ] {
            assert_eq!(
                desk_scan_repeats(Some(last), last + after),
                repeats,
                "{after:?} after the last capture"
            );
        }
        assert!(!desk_scan_repeats(None, last));
    }

    /// The last desk capture is the latest arrival or departure, but not the organiser's close.
    #[test]
    fn the_last_desk_capture_is_the_latest_arrival_or_departure() {
        let i = |in_min: i64, out_min: Option<i64>, left_at_end: bool| Interval {
            in_at: at(in_min),
            out_at: out_min.map(at),
            left_at_end,
        };
        for (intervals, last) in [
            (vec![], None),
            (vec![i(0, None, false)], Some(at(0))),
            (vec![i(0, Some(50), false)], Some(at(50))),
            (
                vec![i(0, Some(50), false), i(70, None, false)],
                Some(at(70)),
            ),
            (
                vec![i(70, Some(80), false), i(0, Some(50), false)],
                Some(at(80)),
            ),
            (vec![i(0, Some(180), true)], Some(at(0))),
        ] {
            assert_eq!(last_desk_capture(&intervals), last, "{intervals:?}");
        }
    }

    #[test]
    fn venue_token_refusals() {
        let step = venue_step(t0());
        let token = venue_token(KEY, id(100), step);
        // Another session's token names that session; the caller compares.
        let other = venue_token(KEY, id(101), step);
        assert_eq!(
            check_venue_token(KEY, &other, step, VENUE_STEPS_BACK).map(|t| t.0),
            Some(id(101))
        );
        assert_ne!(other, token);
        // Wrong key.
        assert_eq!(
            check_venue_token(b"another key", &token, step, VENUE_STEPS_BACK),
            None
        );
        // Session swapped in a genuine token: the tag no longer matches.
        let mut bytes = URL_SAFE_NO_PAD.decode(&token).unwrap();
        bytes[..16].copy_from_slice(id(101).as_bytes());
        let swapped = URL_SAFE_NO_PAD.encode(&bytes);
        assert_eq!(
            check_venue_token(KEY, &swapped, step, VENUE_STEPS_BACK),
            None
        );
        // Step moved forward to extend its life.
        let mut bytes = URL_SAFE_NO_PAD.decode(&token).unwrap();
        bytes[16..24].copy_from_slice(&(step + 3).to_be_bytes());
        let later = URL_SAFE_NO_PAD.encode(&bytes);
        assert_eq!(
            check_venue_token(KEY, &later, step + 4, VENUE_STEPS_BACK),
            None
        );
        // One flipped tag bit.
        let mut bytes = URL_SAFE_NO_PAD.decode(&token).unwrap();
        bytes[39] ^= 1;
        let forged = URL_SAFE_NO_PAD.encode(&bytes);
        assert_eq!(
            check_venue_token(KEY, &forged, step, VENUE_STEPS_BACK),
            None
        );
        // Malformed.
        for bad in ["", "not base64!", &token[..53], &format!("{token}AA")] {
            assert_eq!(check_venue_token(KEY, bad, step, VENUE_STEPS_BACK), None);
        }
    }

    /// Items back to back from t0 with the given lengths.
    fn programme(lengths: &[u32]) -> Vec<ProgrammeItem> {
        let mut start = 0i64;
        lengths
            .iter()
            .enumerate()
            .map(|(n, &m)| {
                let item = talk(n as u128 + 1, start, m, 74);
                start += i64::from(m);
                item
            })
            .collect()
    }

    fn interval() -> impl Strategy<Value = (i64, i64)> {
        (-30i64..400, 0i64..300).prop_map(|(a, len)| (a, a + len))
    }

    proptest! {
        #[test]
        fn adding_an_interval_never_removes_a_credit(
            lengths in prop::collection::vec(1u32..120, 1..6),
            before in prop::collection::vec(interval(), 0..6),
            extra in interval(),
            grace in 0i64..20,
        ) {
            let items = programme(&lengths);
            let grace = Duration::minutes(grace);
            let mut p = Presence::default();
            for (a, b) in before {
                p.add_interval(at(a), at(b));
            }
            let old: Vec<Uuid> = p.credited_items(&items, grace).iter().map(|i| i.id()).collect();
            p.add_interval(at(extra.0), at(extra.1));
            let new: Vec<Uuid> = p.credited_items(&items, grace).iter().map(|i| i.id()).collect();
            for i in old {
                prop_assert!(new.contains(&i));
            }
        }

        #[test]
        fn never_two_open_intervals(ops in prop::collection::vec((0u8..4, -60i64..600), 0..40)) {
            let mut p = Presence::default();
            for (op, m) in ops {
                match op {
                    0 => { p.check_in(at(m)); }
                    1 => { p.check_out(at(m)); }
                    2 => { p.close_at(at(m)); }
                    _ => { p.add_interval(at(m), at(m + 10)); }
                }
                prop_assert!(p.intervals().iter().filter(|i| i.out_at.is_none()).count() <= 1);
                prop_assert!(p.intervals().iter().all(|i| i.out_at.is_none_or(|o| o >= i.in_at)));
                prop_assert!(Presence::from_intervals(p.intervals().to_vec()).is_ok());
            }
        }

        #[test]
        fn split_units_are_the_sum_of_parts(
            codes in prop::sample::subsequence((0u16..84).collect::<Vec<_>>(), 2..=4),
            steps in prop::collection::vec(1u32..5, 4),
        ) {
            let parts: Vec<CodePart> = codes
                .iter()
                .zip(&steps)
                .map(|(&code, &s)| CodePart { code, minutes: s * 30 })
                .collect();
            let minutes: u32 = parts.iter().map(|p| p.minutes).sum();
            let item = ProgrammeItem::new(
                id(1), "講演", t0(), minutes, ItemKind::Credit { parts: parts.clone() }, rules(),
            ).unwrap();
            let total: i64 = item.credits(rules()).iter().map(|c| c.half_units.get()).sum();
            let by_parts: i64 = parts
                .iter()
                .map(|p| rules().half_units_for_minutes(p.minutes).get())
                .sum();
            prop_assert_eq!(total, by_parts);
            prop_assert_eq!(total, i64::from(minutes / 30));
        }

        #[test]
        fn single_code_never_exceeds_the_time(minutes in 1u32..=ITEM_MAX_MINUTES, code in 0u16..84) {
            let item = ProgrammeItem::new(
                id(1), "講演", t0(), minutes, ItemKind::single(code, minutes), rules(),
            ).unwrap();
            let total: i64 = item.credits(rules()).iter().map(|c| c.half_units.get()).sum();
            prop_assert_eq!(total, i64::from(minutes / 30));
        }

        #[test]
        fn off_grid_split_parts_are_refused(a in 1u32..300, b in 1u32..300) {
            prop_assume!(a % 30 != 0 || b % 30 != 0);
            let r = split(a + b, &[(75, a), (76, b)]);
            let is_part_error = matches!(r, Err(DomainError::SplitPartMinutes { .. }));
            prop_assert!(is_part_error);
        }
    }
}
