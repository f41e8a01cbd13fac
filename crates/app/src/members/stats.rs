//! Statistics as of a date (the JMA counts its members as of 1 December): members per class per
//! association of a subtree, and the node's joins, transfers and withdrawals per month over the
//! twelve months up to the date. Counts only, no personal data.

use chrono::{Datelike, Months, NaiveDate};
use mamis_domain::{Action, AssociationCode, Principal, Target};
use mamis_store::{FlowKind, MemberStore, RegistryStore, Store, Tx};

use crate::{App, AppError};

/// One association's members on the day, per class.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssociationRow {
    /// The association.
    pub code: AssociationCode,
    /// Its Japanese name.
    pub name_ja: String,
    /// Its English name.
    pub name_en: String,
    /// (class, members), in class order.
    pub classes: Vec<(String, u64)>,
    /// All its members on the day.
    pub total: u64,
}

/// One month's movements at the node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MonthRow {
    /// The month's first day.
    pub month: Option<NaiveDate>,
    /// New memberships that were not a transfer.
    pub joins: u64,
    /// Memberships started by a transfer from another association.
    pub transfers_in: u64,
    /// Memberships ended by a transfer to another association.
    pub transfers_out: u64,
    /// Memberships ended without a transfer.
    pub withdrawals: u64,
}

/// The statistics of a node as of a day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stats {
    /// The node counted.
    pub node: AssociationCode,
    /// The day counted ("as of").
    pub day: NaiveDate,
    /// Every class code that occurs, in order (the table's columns).
    pub classes: Vec<String>,
    /// The node and each association below it with members, in code order.
    pub associations: Vec<AssociationRow>,
    /// Twelve months up to the day's month, oldest first.
    pub months: Vec<MonthRow>,
}

/// The first day of the month of `d`.
pub fn month_start(d: NaiveDate) -> NaiveDate {
    d.with_day(1).unwrap_or(d)
}

/// 1 December of the year of `d` if it has passed, else of the year before: the JMA's count date.
pub fn jma_count_day(today: NaiveDate) -> NaiveDate {
    let this = NaiveDate::from_ymd_opt(today.year(), 12, 1).unwrap_or(today);
    if this <= today {
        this
    } else {
        NaiveDate::from_ymd_opt(today.year() - 1, 12, 1).unwrap_or(today)
    }
}

/// The statistics of `node` as of `day`. Staff outside the node's subtree: not found.
pub async fn statistics<S: Store>(
    app: &App<S>,
    actor: &Principal,
    node: &AssociationCode,
    day: NaiveDate,
) -> Result<Stats, AppError> {
    if !actor.permits(Action::ViewDoctors, &Target::Association(node)) {
        return Err(AppError::NotFound);
    }
    let mut tx = app.store.read().await?;
    let tree = tx.associations_under(node).await?;
    if tree.is_empty() {
        return Err(AppError::NotFound);
    }
    let codes: Vec<AssociationCode> = tree.iter().map(|a| a.code.clone()).collect();
    let national = node.level() == mamis_domain::AssociationLevel::Jma;
    let counts = tx
        .class_counts((!national).then_some(codes.as_slice()), day)
        .await?;
    let first = month_start(day)
        .checked_sub_months(Months::new(11))
        .unwrap_or(day);
    let end = day.succ_opt().unwrap_or(day);
    let flows = tx
        .membership_flows(Some(std::slice::from_ref(node)), first, end)
        .await?;
    tx.rollback().await?;

    let mut classes: Vec<String> = counts.iter().map(|c| c.class.clone()).collect();
    classes.sort_by_key(|c| (class_rank(c), c.clone()));
    classes.dedup();
    let mut associations = Vec::new();
    for a in &tree {
        let mine: Vec<(String, u64)> = counts
            .iter()
            .filter(|c| c.association == a.code)
            .map(|c| (c.class.clone(), c.members))
            .collect();
        if mine.is_empty() && a.code != *node {
            continue;
        }
        let total = mine.iter().map(|(_, n)| n).sum();
        associations.push(AssociationRow {
            code: a.code.clone(),
            name_ja: a.name_ja.clone(),
            name_en: a.name_en.clone(),
            classes: mine,
            total,
        });
    }
    let mut months: Vec<MonthRow> = (0..12)
        .map(|i| MonthRow {
            month: first.checked_add_months(Months::new(i)),
            ..MonthRow::default()
        })
        .collect();
    for f in flows {
        let Some(row) = months
            .iter_mut()
            .find(|m| m.month == Some(month_start(f.day)))
        else {
            continue;
        };
        match f.kind {
            FlowKind::Join => row.joins += 1,
            FlowKind::TransferIn => row.transfers_in += 1,
            FlowKind::TransferOut => row.transfers_out += 1,
            FlowKind::Withdrawal => row.withdrawals += 1,
        }
    }
    Ok(Stats {
        node: node.clone(),
        day,
        classes,
        associations,
        months,
    })
}

/// The JMA's five first, in their order, then other codes alphabetically.
fn class_rank(c: &str) -> usize {
    ["A1", "A2B", "A2C", "B", "C"]
        .iter()
        .position(|k| *k == c)
        .unwrap_or(5)
}

/// The statistics as CSV (UTF-8 with BOM): the class table, a blank line, the monthly table.
pub fn to_csv(s: &Stats) -> Result<Vec<u8>, AppError> {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .flexible(true)
        .from_writer(b"\xEF\xBB\xBF".to_vec());
    let err = |e: csv::Error| AppError::Internal(format!("csv: {e}"));
    let mut head = vec![
        format!("基準日 / As of {}", s.day),
        "医師会 / Association".to_owned(),
    ];
    head.extend(s.classes.iter().cloned());
    head.push("計 / Total".into());
    w.write_record(&head).map_err(err)?;
    for a in &s.associations {
        let mut r = vec![a.code.to_string(), a.name_ja.clone()];
        for c in &s.classes {
            let n = a
                .classes
                .iter()
                .find(|(k, _)| k == c)
                .map_or(0, |(_, n)| *n);
            r.push(n.to_string());
        }
        r.push(a.total.to_string());
        w.write_record(&r).map_err(err)?;
    }
    w.write_record([""]).map_err(err)?;
    w.write_record([
        "月 / Month",
        "入会 / Joins",
        "異動（転入）/ Transfers in",
        "異動（転出）/ Transfers out",
        "退会 / Withdrawals",
    ])
    .map_err(err)?;
    for m in &s.months {
        w.write_record([
            m.month
                .map(|d| d.format("%Y-%m").to_string())
                .unwrap_or_default(),
            m.joins.to_string(),
            m.transfers_in.to_string(),
            m.transfers_out.to_string(),
            m.withdrawals.to_string(),
        ])
        .map_err(err)?;
    }
    w.into_inner()
        .map_err(|e| AppError::Internal(format!("csv: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_count_day_is_the_last_first_of_december() {
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        assert_eq!(jma_count_day(d("2026-12-03")), d("2026-12-01"));
        assert_eq!(jma_count_day(d("2026-12-01")), d("2026-12-01"));
        assert_eq!(jma_count_day(d("2026-11-30")), d("2025-12-01"));
    }
}
