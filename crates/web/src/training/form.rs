//! The form that registers a session and its programme.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Form, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use chrono::{NaiveDate, NaiveTime, Utc};
use mamis_app::AppError;
use mamis_app::cme::PROGRAMME;
use mamis_app::training::{
    self, DEFAULT_GRACE_MINUTES, ItemInput, MAX_ITEMS, SessionInput, TrainingError,
};
use mamis_domain::rules::Rules;
use mamis_domain::time::japan;
use mamis_domain::training::{CodePart, ItemKind, NonCreditKind, ProgrammeItem, Venue};
use mamis_domain::{DomainError, Principal, Timestamp};
use mamis_store::{Organiser, Store};
use uuid::Uuid;

use super::{
    BLANK_ROWS, Msg, domain_msg, fail, organiser_label, organiser_param, organisers_of, param,
    parse_organiser, render,
};
use crate::WebState;
use crate::shell::auth::{RequestOrigin, StaffUser};
use crate::shell::chrome::{Chrome, PageCtx, PageResult};
use crate::shell::error::{Failure, PageError};
use crate::shell::fmt::query_pairs;

/// One programme row as typed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct RowForm {
    title: String,
    start: String,
    minutes: String,
    kind: String,
    codes: String,
}

impl RowForm {
    /// A row with nothing typed (the kind select always has a value) is ignored.
    fn is_blank(&self) -> bool {
        [&self.title, &self.start, &self.minutes, &self.codes]
            .iter()
            .all(|s| s.trim().is_empty())
    }
}

/// The create form as typed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct SessionForm {
    organiser: String,
    title: String,
    venue_kind: String,
    place: String,
    date: String,
    start: String,
    end: String,
    headcount: String,
    desk_only: bool,
    grace: String,
    rows: Vec<RowForm>,
}

impl SessionForm {
    fn from_pairs(pairs: &[(String, String)]) -> Self {
        let get = |k: &str| param(pairs, k).to_owned();
        let mut rows: Vec<RowForm> = (0..MAX_ITEMS)
            .map(|i| RowForm {
                title: get(&format!("item-{i}-title")),
                start: get(&format!("item-{i}-start")),
                minutes: get(&format!("item-{i}-minutes")),
                kind: get(&format!("item-{i}-kind")),
                codes: get(&format!("item-{i}-codes")),
            })
            .collect();
        while rows.last().is_some_and(RowForm::is_blank) {
            rows.pop();
        }
        Self {
            organiser: get("organiser"),
            title: get("title"),
            venue_kind: get("venue_kind"),
            place: get("place"),
            date: get("date"),
            start: get("start"),
            end: get("end"),
            headcount: get("headcount"),
            desk_only: !param(pairs, "desk_only").is_empty(),
            grace: get("grace"),
            rows,
        }
    }
}

/// What is wrong with a typed form: per field, per programme row (by row index), and overall.
#[derive(Debug, Default)]
struct FormErrors {
    fields: HashMap<&'static str, Msg>,
    rows: HashMap<usize, Msg>,
    general: Option<Msg>,
}

impl FormErrors {
    fn is_empty(&self) -> bool {
        self.fields.is_empty() && self.rows.is_empty() && self.general.is_none()
    }

    fn field(&mut self, name: &'static str, m: Msg) {
        self.fields.entry(name).or_insert(m);
    }
}

/// Full-width digits and colons as typed by Japanese input methods, read as ASCII.
fn ascii_digits(s: &str) -> String {
    s.trim()
        .chars()
        .map(|c| match c {
            '０'..='９' => char::from_u32(u32::from(c) - 0xFF10 + u32::from('0')).unwrap_or(c),
            '：' => ':',
            c => c,
        })
        .collect()
}

/// `H:MM` or `HH:MM` (a time input sends `HH:MM`).
fn parse_hm(s: &str) -> Option<NaiveTime> {
    let s = ascii_digits(s);
    let (h, m) = s.split_once(':')?;
    if h.is_empty() || h.len() > 2 || m.len() != 2 {
        return None;
    }
    NaiveTime::from_hms_opt(h.parse().ok()?, m.parse().ok()?, 0)
}

fn parse_day(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(&ascii_digits(s), "%Y-%m-%d").ok()
}

/// The instant of a Japan wall-clock time.
fn at_japan(day: NaiveDate, t: NaiveTime) -> Option<Timestamp> {
    day.and_time(t)
        .and_local_timezone(japan())
        .single()
        .map(|t| t.with_timezone(&Utc))
}

/// The codes of a credit item: `10` for the whole item under one code, or `11:30 12:60` for a
/// split (code:minutes); empty names no code (the domain says so).
fn parse_codes(s: &str, minutes: u32) -> Result<ItemKind, Msg> {
    let s = ascii_digits(s);
    let tokens: Vec<&str> = s
        .split(|c: char| c.is_whitespace() || matches!(c, ',' | '、' | '/' | '，'))
        .filter(|t| !t.is_empty())
        .collect();
    let bad = || Msg::new("training-office-error-codes-format");
    let code = |t: &str| t.parse::<u16>().map_err(|_| bad());
    match tokens.as_slice() {
        [] => Ok(ItemKind::Credit { parts: Vec::new() }),
        [one] if !one.contains(':') => Ok(ItemKind::single(code(one)?, minutes)),
        many => many
            .iter()
            .map(|t| {
                let (c, m) = t.split_once(':').ok_or_else(bad)?;
                Ok(CodePart {
                    code: code(c)?,
                    minutes: m.parse().map_err(|_| bad())?,
                })
            })
            .collect::<Result<Vec<_>, Msg>>()
            .map(|parts| ItemKind::Credit { parts }),
    }
}

/// One programme row: parsed, then checked by the domain so the message lands on its row.
fn parse_row(r: &RowForm, day: NaiveDate, rules: &Rules) -> Result<ItemInput, Msg> {
    let start = parse_hm(&r.start)
        .and_then(|t| at_japan(day, t))
        .ok_or(Msg::new("training-office-error-item-start"))?;
    let minutes: u32 = ascii_digits(&r.minutes)
        .parse()
        .map_err(|_| Msg::new("training-office-error-item-minutes-number"))?;
    let kind = match r.kind.as_str() {
        "" | "credit" => parse_codes(&r.codes, minutes)?,
        other => {
            let k = NonCreditKind::parse(other).map_err(|e| domain_msg(&e))?;
            if !r.codes.trim().is_empty() {
                return Err(Msg::new("training-office-error-codes-non-credit"));
            }
            ItemKind::NonCredit(k)
        }
    };
    ProgrammeItem::new(Uuid::nil(), &r.title, start, minutes, kind.clone(), rules)
        .map_err(|e| domain_msg(&e))?;
    Ok(ItemInput {
        id: None,
        title: r.title.clone(),
        start,
        minutes,
        kind,
    })
}

/// The field a session-level domain refusal belongs to.
fn session_field(e: &DomainError) -> &'static str {
    match e {
        DomainError::TrainingTitle => "title",
        DomainError::VenuePlace => "place",
        DomainError::SessionTimes => "end",
        DomainError::ExpectedHeadcount => "headcount",
        _ => "general",
    }
}

/// A programme refusal that names items by position, placed on the row and renumbered as the
/// form's rows (blank rows are skipped, so positions and row numbers differ).
fn programme_error(e: &DomainError, row_of: &[usize], errors: &mut FormErrors) -> bool {
    let row = |item: usize| row_of.get(item.wrapping_sub(1)).copied();
    match e {
        DomainError::ItemOutsideSession { item } => {
            if let Some(r) = row(*item) {
                errors.rows.insert(
                    r,
                    Msg::with(
                        "training-office-error-item-outside",
                        vec![("item", (r + 1).to_string())],
                    ),
                );
                return true;
            }
        }
        DomainError::ItemsOverlap { first, second } => {
            if let (Some(a), Some(b)) = (row(*first), row(*second)) {
                errors.rows.insert(
                    b,
                    Msg::with(
                        "training-office-error-items-overlap",
                        vec![
                            ("first", (a + 1).to_string()),
                            ("second", (b + 1).to_string()),
                        ],
                    ),
                );
                return true;
            }
        }
        _ => {}
    }
    false
}

/// Places a domain refusal of the whole session on its field.
fn place_domain_error(e: &DomainError, row_of: &[usize], errors: &mut FormErrors) {
    if programme_error(e, row_of, errors) {
        return;
    }
    match session_field(e) {
        "general" => errors.general = Some(domain_msg(e)),
        field => errors.field(field, domain_msg(e)),
    }
}

/// Reads the typed form into the use case's input, or says what to fix where. The domain checks
/// run here too, so every field's and row's problem shows at once; the use case stays the
/// authority. The second value maps each programme item to its row.
fn parse_form(
    f: &SessionForm,
    organiser: Organiser,
) -> Result<(SessionInput, Vec<usize>), Box<FormErrors>> {
    let rules = Rules::embedded(PROGRAMME);
    let mut errors = FormErrors::default();
    let venue = match f.venue_kind.as_str() {
        "in_person" => Some(Venue::InPerson(f.place.clone())),
        "online" => Some(Venue::Online),
        "hybrid" => Some(Venue::Hybrid(f.place.clone())),
        _ => {
            errors.field("venue", Msg::new("training-office-error-venue-kind"));
            None
        }
    };
    let day = parse_day(&f.date);
    if day.is_none() {
        errors.field("date", Msg::new("training-office-error-date"));
    }
    let mut time = |raw: &str, field: &'static str| {
        let t = parse_hm(raw);
        if t.is_none() {
            errors.field(field, Msg::new("training-office-error-time"));
        }
        t
    };
    let (start_t, end_t) = (time(&f.start, "start"), time(&f.end, "end"));
    let headcount = match ascii_digits(&f.headcount).as_str() {
        "" => None,
        n => match n.parse::<u32>() {
            Ok(n) => Some(n),
            Err(_) => {
                errors.field(
                    "headcount",
                    Msg::new("training-office-error-headcount-number"),
                );
                None
            }
        },
    };
    let grace = match ascii_digits(&f.grace).as_str() {
        "" => DEFAULT_GRACE_MINUTES,
        n => n.parse::<u32>().unwrap_or(u32::MAX),
    };
    if grace > training::MAX_GRACE_MINUTES {
        errors.field("grace", Msg::new("training-office-error-grace"));
    }
    // rows are checked on the session's day (or any day while the date is wrong)
    let row_day = day.unwrap_or_default();
    let mut items = Vec::new();
    let mut row_of = Vec::new();
    for (i, r) in f.rows.iter().enumerate() {
        if r.is_blank() {
            continue;
        }
        match parse_row(r, row_day, rules) {
            Ok(item) => {
                items.push(item);
                row_of.push(i);
            }
            Err(m) => {
                errors.rows.insert(i, m);
            }
        }
    }
    if items.len() > MAX_ITEMS {
        errors.general = Some(Msg::new("training-office-error-too-many-items"));
    }
    let times = day
        .zip(start_t)
        .zip(end_t)
        .and_then(|((d, s), e)| Some((at_japan(d, s)?, at_japan(d, e)?)));
    if let (Some(venue), Some((start, end))) = (venue.clone(), times) {
        let probe = SessionInput {
            organiser: organiser.clone(),
            title: f.title.clone(),
            venue,
            start,
            end,
            expected_headcount: headcount,
            desk_scan_only: f.desk_only,
            grace_minutes: 0,
            items: items.clone(),
        };
        if let Err(e) = training::check_input(&probe) {
            // positional errors get messages naming the form's rows (programme_error)
            let positional = matches!(
                e.error,
                DomainError::ItemOutsideSession { .. } | DomainError::ItemsOverlap { .. }
            );
            match e.item.and_then(|k| row_of.get(k)).filter(|_| !positional) {
                Some(&row) => {
                    errors.rows.insert(row, domain_msg(&e.error));
                }
                None => place_domain_error(&e.error, &row_of, &mut errors),
            }
        }
    } else if f.title.trim().is_empty() {
        errors.field("title", domain_msg(&DomainError::TrainingTitle));
    }
    match (venue, times, errors.is_empty()) {
        (Some(venue), Some((start, end)), true) => Ok((
            SessionInput {
                organiser,
                title: f.title.clone(),
                venue,
                start,
                end,
                expected_headcount: headcount,
                desk_scan_only: f.desk_only,
                grace_minutes: grace,
                items,
            },
            row_of,
        )),
        _ => Err(Box::new(errors)),
    }
}

/// An option of a select.
struct Choice {
    value: &'static str,
    label: String,
    selected: bool,
}

/// One programme row of the form, with what was typed and its message.
struct RowView {
    index: usize,
    number: usize,
    title: String,
    start: String,
    minutes: String,
    codes: String,
    kinds: Vec<Choice>,
    error: Option<String>,
}

/// The messages of the form's fields.
#[derive(Default)]
struct FieldErrors {
    title: Option<String>,
    venue: Option<String>,
    place: Option<String>,
    date: Option<String>,
    start: Option<String>,
    end: Option<String>,
    headcount: Option<String>,
    grace: Option<String>,
}

#[derive(Template)]
#[template(path = "training/new.html")]
struct NewView<'a> {
    c: Chrome<'a>,
    organiser: String,
    organiser_label: String,
    form: SessionForm,
    venue_kinds: Vec<Choice>,
    rows: Vec<RowView>,
    errors: FieldErrors,
    general: Option<String>,
    has_errors: bool,
}

const ITEM_KINDS: [&str; 6] = [
    "credit",
    "greeting",
    "ceremony",
    "break",
    "product_introduction",
    "other",
];

async fn render_new<S: Store>(
    st: &WebState<S>,
    ctx: &PageCtx,
    organiser: &Organiser,
    form: SessionForm,
    errors: FormErrors,
) -> PageResult {
    let cat = &st.shared.catalogues;
    let lang = ctx.lang;
    let text = |m: &Msg| m.text(cat, lang);
    let field = |name: &str| errors.fields.get(name).map(text);
    // rows typed come back with three blank ones more, so a long programme can grow
    let shown = (form.rows.len() + 3).clamp(BLANK_ROWS, MAX_ITEMS);
    let rows = (0..shown)
        .map(|i| {
            let r = form.rows.get(i).cloned().unwrap_or_default();
            RowView {
                index: i,
                number: i + 1,
                kinds: ITEM_KINDS
                    .into_iter()
                    .map(|k| Choice {
                        value: k,
                        label: cat.text(
                            lang,
                            &format!("training-office-kind-{}", k.replace('_', "-")),
                            &[],
                        ),
                        selected: r.kind == k || (r.kind.is_empty() && k == "credit"),
                    })
                    .collect(),
                error: errors.rows.get(&i).map(text),
                title: r.title,
                start: r.start,
                minutes: r.minutes,
                codes: r.codes,
            }
        })
        .collect();
    let venue_kinds = ["in_person", "online", "hybrid"]
        .into_iter()
        .map(|k| Choice {
            value: k,
            label: cat.text(
                lang,
                &format!("training-office-venue-{}", k.replace('_', "-")),
                &[],
            ),
            selected: form.venue_kind == k,
        })
        .collect();
    let view = NewView {
        c: ctx.chrome(cat),
        organiser: organiser_param(organiser),
        organiser_label: organiser_label(st, organiser, lang).await?,
        venue_kinds,
        rows,
        errors: FieldErrors {
            title: field("title"),
            venue: field("venue"),
            place: field("place"),
            date: field("date"),
            start: field("start"),
            end: field("end"),
            headcount: field("headcount"),
            grace: field("grace"),
        },
        general: errors.general.as_ref().map(text),
        has_errors: !errors.is_empty(),
        form,
    };
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    render(view.render(), status)
}

/// The organiser a form is for: the one named, else the staff member's only one.
fn form_organiser(staff: &Principal, named: &str) -> Result<Organiser, PageError> {
    if let Some(o) = parse_organiser(named) {
        return Ok(o);
    }
    match organisers_of(staff).as_slice() {
        [only] => Ok(only.clone()),
        _ => Err(PageError(Failure::BadRequest(
            "training-office-error-organiser",
        ))),
    }
}

/// `/office/training/new?organiser=…`: the empty form (grace 5 minutes, ten blank rows).
pub async fn new_form<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    StaffUser(_, staff): StaffUser,
    RawQuery(q): RawQuery,
) -> PageResult {
    let pairs = query_pairs(q.as_deref()).unwrap_or_default();
    let organiser = form_organiser(&staff, param(&pairs, "organiser"))?;
    let form = SessionForm {
        venue_kind: "in_person".into(),
        grace: DEFAULT_GRACE_MINUTES.to_string(),
        ..SessionForm::default()
    };
    render_new(&st, &ctx, &organiser, form, FormErrors::default()).await
}

/// Registers the session; the form comes back with each problem at its field or row.
pub async fn create<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    StaffUser(_, staff): StaffUser,
    RequestOrigin(origin): RequestOrigin,
    Form(pairs): Form<Vec<(String, String)>>,
) -> PageResult {
    let form = SessionForm::from_pairs(&pairs);
    let organiser = form_organiser(&staff, &form.organiser)?;
    let (input, row_of) = match parse_form(&form, organiser.clone()) {
        Ok(parsed) => parsed,
        Err(errors) => return render_new(&st, &ctx, &organiser, form, *errors).await,
    };
    let mut errors = FormErrors::default();
    match training::create(&st.app, &staff, input, origin.client_addr).await {
        Ok(s) => return Ok(Redirect::to(&format!("/office/training/{}", s.id)).into_response()),
        Err(TrainingError::App(AppError::Invalid(e))) => {
            place_domain_error(&e, &row_of, &mut errors)
        }
        Err(TrainingError::Grace) => errors.field("grace", Msg::new("training-office-error-grace")),
        Err(TrainingError::TooManyItems) => {
            errors.general = Some(Msg::new("training-office-error-too-many-items"))
        }
        Err(e) => return Err(fail(e)),
    }
    render_new(&st, &ctx, &organiser, form, errors).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use mamis_domain::AssociationCode;

    #[test]
    fn codes_read_as_one_code_or_a_split() {
        assert_eq!(parse_codes("10", 60), Ok(ItemKind::single(10, 60)));
        assert_eq!(parse_codes(" １０ ", 60), Ok(ItemKind::single(10, 60)));
        assert_eq!(
            parse_codes("11:30 12:60", 90),
            Ok(ItemKind::Credit {
                parts: vec![
                    CodePart {
                        code: 11,
                        minutes: 30
                    },
                    CodePart {
                        code: 12,
                        minutes: 60
                    },
                ]
            })
        );
        assert_eq!(
            parse_codes("11：30、12：60", 90)
                .map(|k| matches!(k, ItemKind::Credit { parts } if parts.len() == 2)),
            Ok(true)
        );
        assert_eq!(parse_codes("", 60), Ok(ItemKind::Credit { parts: vec![] }));
        for bad in ["x", "11 12", "11:x", "11:30 12", "-1"] {
            assert_eq!(
                parse_codes(bad, 60),
                Err(Msg::new("training-office-error-codes-format")),
                "{bad}"
            );
        }
    }

    #[test]
    fn times_read_as_hours_and_minutes() {
        assert_eq!(parse_hm("09:05"), NaiveTime::from_hms_opt(9, 5, 0));
        assert_eq!(parse_hm("9:05"), NaiveTime::from_hms_opt(9, 5, 0));
        assert_eq!(parse_hm("１４：００"), NaiveTime::from_hms_opt(14, 0, 0));
        for bad in ["", "9", "9:5", "24:00", "12:60", "ab:cd", "123:00"] {
            assert_eq!(parse_hm(bad), None, "{bad}");
        }
    }

    fn form(rows: Vec<RowForm>) -> SessionForm {
        SessionForm {
            organiser: "P13-0001".into(),
            title: "学術講演会".into(),
            venue_kind: "in_person".into(),
            place: "医師会館".into(),
            date: "2026-06-10".into(),
            start: "14:00".into(),
            end: "16:00".into(),
            headcount: String::new(),
            desk_only: false,
            grace: "5".into(),
            rows,
        }
    }

    fn row(title: &str, start: &str, minutes: &str, kind: &str, codes: &str) -> RowForm {
        RowForm {
            title: title.into(),
            start: start.into(),
            minutes: minutes.into(),
            kind: kind.into(),
            codes: codes.into(),
        }
    }

    fn organiser() -> Organiser {
        Organiser::Association(AssociationCode::parse("P13-0001").unwrap())
    }

    #[test]
    fn a_valid_form_becomes_the_use_case_input() {
        let f = form(vec![
            row("挨拶", "14:00", "10", "greeting", ""),
            RowForm::default(),
            row("講演", "14:10", "90", "credit", "11:30 12:60"),
        ]);
        let (input, row_of) = parse_form(&f, organiser()).unwrap();
        assert_eq!(input.items.len(), 2);
        assert_eq!(row_of, vec![0, 2]);
        assert_eq!(input.grace_minutes, 5);
        assert_eq!(input.expected_headcount, None);
    }

    #[test]
    fn problems_land_on_their_fields_and_rows() {
        let mut f = form(vec![
            row("講演", "14:00", "90", "credit", "11:45 12:45"),
            row("講演2", "14:00", "30", "credit", "10"),
            row("", "15:40", "30", "credit", "10"),
        ]);
        f.date = "2026/13/01".into();
        f.headcount = "many".into();
        f.grace = "45".into();
        let e = parse_form(&f, organiser()).unwrap_err();
        assert_eq!(e.rows[&0].key, "training-office-error-split-part-minutes");
        assert_eq!(
            e.rows[&0].args,
            vec![("minutes", "45".to_owned()), ("step", "30".to_owned())]
        );
        assert!(!e.rows.contains_key(&1));
        assert_eq!(e.rows[&2].key, "training-office-error-title");
        assert_eq!(e.fields["date"].key, "training-office-error-date");
        assert_eq!(
            e.fields["headcount"].key,
            "training-office-error-headcount-number"
        );
        assert_eq!(e.fields["grace"].key, "training-office-error-grace");
    }

    #[test]
    fn overlaps_are_numbered_as_the_form_rows() {
        let f = form(vec![
            row("講演1", "14:00", "60", "credit", "10"),
            RowForm::default(),
            row("講演2", "14:30", "60", "credit", "11"),
        ]);
        let e = parse_form(&f, organiser()).unwrap_err();
        assert_eq!(
            e.rows[&2],
            Msg::with(
                "training-office-error-items-overlap",
                vec![("first", "1".to_owned()), ("second", "3".to_owned())]
            )
        );
        let f = form(vec![row("講演1", "15:30", "60", "credit", "10")]);
        let e = parse_form(&f, organiser()).unwrap_err();
        assert_eq!(e.rows[&0].key, "training-office-error-item-outside");
    }
}
