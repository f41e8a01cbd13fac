//! What each association configures for its procedures — its own classes, its effective-date
//! rule and the municipalities a county covers — and the choices a joining doctor is offered
//! from them (the county of the workplace by prefecture and municipality, the classes per
//! level). Changes are made by the association's staff (subtree), audited.

use mamis_domain::procedure::EffectiveRule;
use mamis_domain::{Action, Association, AssociationCode, AssociationLevel, Principal, Target};
use mamis_store::{AssociationClass, MembershipStore, RegistryStore, Store, Tx};
use serde_json::json;

use crate::audit::Entry;
use crate::authz::require;
use crate::{App, AppError};

/// One county a joining doctor may choose, with the municipalities it covers.
#[derive(Debug, Clone)]
pub struct CountyChoice {
    /// The county association.
    pub association: Association,
    /// The municipalities it lists (may be empty: not configured).
    pub municipalities: Vec<String>,
    /// The classes it offers new members.
    pub classes: Vec<AssociationClass>,
}

/// Everything the join form offers for one prefecture.
#[derive(Debug, Clone)]
pub struct JoinChoices {
    /// The prefectural association.
    pub prefecture: Association,
    /// Its counties, in code order.
    pub counties: Vec<CountyChoice>,
    /// The classes the prefecture offers.
    pub prefecture_classes: Vec<AssociationClass>,
    /// The JMA's classes.
    pub jma_classes: Vec<AssociationClass>,
}

fn offered_only(v: Vec<AssociationClass>) -> Vec<AssociationClass> {
    v.into_iter().filter(|c| !c.retired).collect()
}

/// The join form's choices for a prefecture: public facts about associations, so any logged-in
/// principal may read them.
pub async fn join_choices<S: Store>(
    app: &App<S>,
    prefecture: &AssociationCode,
) -> Result<JoinChoices, AppError> {
    if prefecture.level() != AssociationLevel::Prefecture {
        return Err(AppError::NotFound);
    }
    let mut tx = app.store.read().await?;
    let pref = tx
        .association(prefecture)
        .await?
        .ok_or(AppError::NotFound)?;
    let listed = tx.county_municipalities(prefecture).await?;
    let mut counties: Vec<CountyChoice> = Vec::new();
    for (code, m) in listed {
        match counties.last_mut() {
            Some(c) if c.association.code == code => {
                if !m.is_empty() {
                    c.municipalities.push(m);
                }
            }
            _ => {
                let association = tx.association(&code).await?.ok_or(AppError::NotFound)?;
                let classes = offered_only(tx.association_classes(&code).await?);
                counties.push(CountyChoice {
                    association,
                    municipalities: if m.is_empty() { Vec::new() } else { vec![m] },
                    classes,
                });
            }
        }
    }
    let prefecture_classes = offered_only(tx.association_classes(prefecture).await?);
    let jma_classes = offered_only(tx.association_classes(&AssociationCode::jma()).await?);
    tx.rollback().await?;
    Ok(JoinChoices {
        prefecture: pref,
        counties,
        prefecture_classes,
        jma_classes,
    })
}

/// The classes an association offers new members and class changes (not the retired ones):
/// public facts, like the join form's choices.
pub async fn offered_classes<S: Store>(
    app: &App<S>,
    association: &AssociationCode,
) -> Result<Vec<AssociationClass>, AppError> {
    let mut tx = app.store.read().await?;
    let v = offered_only(tx.association_classes(association).await?);
    tx.rollback().await?;
    Ok(v)
}

/// What an association has configured, for its settings page.
#[derive(Debug, Clone)]
pub struct AssociationSettings {
    /// The association.
    pub association: Association,
    /// Its classes, retired ones too, in display order.
    pub classes: Vec<AssociationClass>,
    /// Its effective-date rule (the default when none is configured).
    pub rule: EffectiveRule,
    /// The municipalities it covers (counties only).
    pub municipalities: Vec<String>,
}

/// An association's settings, for its staff (and staff above it).
pub async fn settings<S: Store>(
    app: &App<S>,
    actor: &Principal,
    node: &AssociationCode,
) -> Result<AssociationSettings, AppError> {
    require(actor, Action::DecideMembership, &Target::Association(node))
        .map_err(|_| AppError::NotFound)?;
    let mut tx = app.store.read().await?;
    let association = tx.association(node).await?.ok_or(AppError::NotFound)?;
    let classes = tx.association_classes(node).await?;
    let rule = tx
        .effective_rules(std::slice::from_ref(node))
        .await?
        .into_iter()
        .find(|(a, _)| a == node)
        .map(|(_, r)| r)
        .unwrap_or_default();
    let municipalities = match node.prefecture_code() {
        Some(p) if node.level() == AssociationLevel::County => tx
            .county_municipalities(&p)
            .await?
            .into_iter()
            .filter(|(c, m)| c == node && !m.is_empty())
            .map(|(_, m)| m)
            .collect(),
        _ => Vec::new(),
    };
    tx.rollback().await?;
    Ok(AssociationSettings {
        association,
        classes,
        rule,
        municipalities,
    })
}

async fn configurable<T: Tx>(
    tx: &mut T,
    actor: &Principal,
    node: &AssociationCode,
) -> Result<(), AppError> {
    require(actor, Action::DecideMembership, &Target::Association(node))
        .map_err(|_| AppError::NotFound)?;
    tx.association(node).await?.ok_or(AppError::NotFound)?;
    Ok(())
}

/// Adds a class or changes its names, order or retirement (the JMA's five are the JMA's own:
/// only its staff may touch them, like any association's classes).
pub async fn save_class<S: Store>(
    app: &App<S>,
    actor: &Principal,
    class: AssociationClass,
    client_addr: Option<String>,
) -> Result<(), AppError> {
    let name_ok = |s: &str| {
        let n = s.trim().chars().count();
        (1..=40).contains(&n) && !s.chars().any(char::is_control)
    };
    if !name_ok(&class.name_ja) || !name_ok(&class.name_en) {
        return Err(AppError::Conflict("class-name".into()));
    }
    if !(0..=999).contains(&class.position) {
        return Err(AppError::Conflict("class-position".into()));
    }
    let mut tx = app.store.write().await?;
    configurable(&mut tx, actor, &class.association).await?;
    let before = tx
        .association_classes(&class.association)
        .await?
        .into_iter()
        .find(|c| c.code == class.code);
    let class = AssociationClass {
        name_ja: class.name_ja.trim().to_owned(),
        name_en: class.name_en.trim().to_owned(),
        ..class
    };
    tx.upsert_association_class(&class).await?;
    app.audit(
        &mut tx,
        Entry {
            actor,
            action: "membership.class_save",
            target: format!("association:{}", class.association),
            client_addr,
            details: json!({
                "code": class.code.as_str(),
                "before": before.map(|b| json!({"ja": b.name_ja, "en": b.name_en, "position": b.position, "retired": b.retired})),
                "after": {"ja": class.name_ja, "en": class.name_en, "position": class.position, "retired": class.retired},
            }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Sets when the association's memberships start or end after the final approval.
pub async fn set_rule<S: Store>(
    app: &App<S>,
    actor: &Principal,
    node: &AssociationCode,
    rule: EffectiveRule,
    client_addr: Option<String>,
) -> Result<(), AppError> {
    let mut tx = app.store.write().await?;
    configurable(&mut tx, actor, node).await?;
    tx.set_effective_rule(node, rule).await?;
    app.audit(
        &mut tx,
        Entry {
            actor,
            action: "membership.rule_set",
            target: format!("association:{node}"),
            client_addr,
            details: json!({ "rule": rule.as_str() }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Replaces the municipalities a county covers (one per line as typed; blanks and repeats
/// dropped). Refused for a prefecture or the JMA, and for a name over 40 characters.
pub async fn set_municipalities<S: Store>(
    app: &App<S>,
    actor: &Principal,
    county: &AssociationCode,
    names: &[String],
    client_addr: Option<String>,
) -> Result<(), AppError> {
    if county.level() != AssociationLevel::County {
        return Err(AppError::Conflict("municipalities-county-only".into()));
    }
    let mut clean: Vec<String> = Vec::new();
    for n in names.iter().map(|n| n.trim()).filter(|n| !n.is_empty()) {
        if n.chars().count() > 40 || n.chars().any(char::is_control) {
            return Err(AppError::Conflict("municipality-name".into()));
        }
        if !clean.iter().any(|c| c == n) {
            clean.push(n.to_owned());
        }
    }
    let mut tx = app.store.write().await?;
    configurable(&mut tx, actor, county).await?;
    tx.set_county_municipalities(county, &clean).await?;
    app.audit(
        &mut tx,
        Entry {
            actor,
            action: "membership.municipalities_set",
            target: format!("association:{county}"),
            client_addr,
            details: json!({ "municipalities": clean }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
