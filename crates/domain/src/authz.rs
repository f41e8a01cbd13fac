//! Authorization vocabulary: roles granted on a scope, principals, and the single
//! `(role, action) → scope rule` table the app layer consults for every check.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::DomainError;
use crate::association::{AssociationCode, AssociationLevel};

/// A staff role. Staff are ordinary accounts holding one or more grants of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Granted on the JMA: everything, nationally, including API tokens and role grants.
    JmaAdmin,
    /// Granted on the JMA: national registry, catalogue and audit work; no tokens or role grants.
    JmaStaff,
    /// Granted on a prefecture: sees its subtree's associations and doctors, and edits the doctors.
    PrefectureStaff,
    /// Granted on a county association: sees it and its members, and edits those members.
    CountyStaff,
    /// Granted on an outside organisation; for now it may only read the association tree.
    Organiser,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 5] = [
        Self::JmaAdmin,
        Self::JmaStaff,
        Self::PrefectureStaff,
        Self::CountyStaff,
        Self::Organiser,
    ];

    /// The stored and typed form (`jma_admin`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::JmaAdmin => "jma_admin",
            Self::JmaStaff => "jma_staff",
            Self::PrefectureStaff => "prefecture_staff",
            Self::CountyStaff => "county_staff",
            Self::Organiser => "organiser",
        }
    }

    /// Parses the stored form.
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        Self::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or(DomainError::UnknownRole(s.to_owned()))
    }
}

/// What a grant is scoped to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Scope {
    /// A node of the association tree; under a subtree rule the grant reaches everything below it.
    Association(AssociationCode),
    /// One outside organisation, by id; the grant reaches that organisation only.
    Organisation(Uuid),
}

/// A role bound to a scope; constructed only where the role fits the scope's tier.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RoleGrant {
    role: Role,
    scope: Scope,
}

impl RoleGrant {
    /// JMA roles sit on the JMA, prefecture staff on a prefecture, county staff on a county
    /// association, organisers on an organisation.
    pub fn new(role: Role, scope: Scope) -> Result<Self, DomainError> {
        let fits = match (&role, &scope) {
            (Role::JmaAdmin | Role::JmaStaff, Scope::Association(c)) => {
                c.level() == AssociationLevel::Jma
            }
            (Role::PrefectureStaff, Scope::Association(c)) => {
                c.level() == AssociationLevel::Prefecture
            }
            (Role::CountyStaff, Scope::Association(c)) => c.level() == AssociationLevel::County,
            (Role::Organiser, Scope::Organisation(_)) => true,
            _ => false,
        };
        if fits {
            Ok(Self { role, scope })
        } else {
            Err(DomainError::RoleScopeMismatch)
        }
    }

    /// The role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The scope.
    pub fn scope(&self) -> &Scope {
        &self.scope
    }
}

/// Something a principal may try to do. Each capability adds its own actions here, and one
/// row per role in [`rule`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Read the association tree and its names.
    ViewAssociations,
    /// See doctors' personal data (always audited).
    ViewDoctors,
    /// Change doctors and memberships.
    EditDoctors,
    /// Issue and revoke API tokens.
    ManageApiTokens,
    /// Grant and withdraw staff roles.
    ManageRoleGrants,
    /// Read and verify the audit log.
    ReadAudit,
    /// Correct curriculum-code names.
    EditCatalogue,
    /// Bind an unmatched MAMIS_ID to a doctor record after checking evidence, or forward the claim.
    VerifyIdentity,
    /// Suspend and reactivate accounts (and suspend bindings) of doctors in scope.
    SuspendAccounts,
    /// Add staff adjustments to, and reverse entries of, the CME ledger of doctors in scope.
    EditCredits,
    /// Run certificate decisions and revoke certificates (JMA only: the JMA issues them).
    ManageCertificates,
    /// Register and run an organiser's training sessions: programme, attendance capture and
    /// lists, closing (associations for their subtree, organisers for their own organisation).
    ManageTraining,
    /// Approve an outside organisation's session so it credits (its prefecture's staff).
    ApproveTraining,
    /// File a membership procedure for a doctor from a paper form (county staff mostly).
    FileMembership,
    /// Approve, return, route, forward or acknowledge a membership procedure due at the node.
    DecideMembership,
    /// Review a certified-doctor programme application acting at the node (approve, return, add
    /// paper 研修手帳 units), and see the node's programme rosters.
    DecideProgrammes,
}

impl Action {
    /// Every action (for exhaustive tests of the rule table).
    pub const ALL: [Action; 16] = [
        Self::ViewAssociations,
        Self::ViewDoctors,
        Self::EditDoctors,
        Self::ManageApiTokens,
        Self::ManageRoleGrants,
        Self::ReadAudit,
        Self::EditCatalogue,
        Self::VerifyIdentity,
        Self::SuspendAccounts,
        Self::EditCredits,
        Self::ManageCertificates,
        Self::ManageTraining,
        Self::ApproveTraining,
        Self::FileMembership,
        Self::DecideMembership,
        Self::DecideProgrammes,
    ];
}

/// Where a role may perform an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScopeRule {
    /// Nowhere.
    Denied,
    /// Inside the subtree of the grant's association (or the grant's own organisation).
    Subtree,
    /// Anywhere, whatever the grant's node.
    National,
}

/// The one rule table. Every authorization decision in MAMIS goes through here.
pub fn rule(role: Role, action: Action) -> ScopeRule {
    use Action::*;
    use Role::*;
    use ScopeRule::*;
    match (role, action) {
        (JmaAdmin, _) => National,
        (
            JmaStaff,
            ViewAssociations | ViewDoctors | EditDoctors | EditCatalogue | ReadAudit
            | VerifyIdentity | SuspendAccounts | EditCredits | ManageCertificates | ManageTraining
            | FileMembership | DecideMembership | DecideProgrammes,
        ) => National,
        // approval is the prefecture's act; JMA administrators keep it for emergencies
        (JmaStaff, ManageApiTokens | ManageRoleGrants | ApproveTraining) => Denied,
        (
            PrefectureStaff | CountyStaff,
            ViewAssociations | ViewDoctors | EditDoctors | VerifyIdentity | SuspendAccounts
            | EditCredits | ManageTraining | FileMembership | DecideMembership | DecideProgrammes,
        ) => Subtree,
        (PrefectureStaff, ApproveTraining) => Subtree,
        (
            PrefectureStaff | CountyStaff,
            ManageApiTokens | ManageRoleGrants | ReadAudit | EditCatalogue | ManageCertificates,
        ) => Denied,
        (CountyStaff, ApproveTraining) => Denied,
        (Organiser, ViewAssociations) => National,
        (Organiser, ManageTraining) => Subtree,
        (Organiser, _) => Denied,
    }
}

/// What an action is aimed at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target<'a> {
    /// Something with no place in the tree (the catalogue, the token list).
    System,
    /// An association node.
    Association(&'a AssociationCode),
    /// An organisation, with the prefecture it is registered under.
    Organisation {
        /// Which organisation, matched against organiser grants.
        id: Uuid,
        /// The prefecture it is registered under, matched against association-scoped grants.
        prefecture: &'a AssociationCode,
    },
    /// A doctor, placed by current memberships, or — for a non-member — the home prefecture.
    Doctor(&'a [AssociationCode]),
}

/// Whether one grant allows `action` on `target`.
pub fn grant_permits(grant: &RoleGrant, action: Action, target: &Target<'_>) -> bool {
    match rule(grant.role, action) {
        ScopeRule::Denied => false,
        ScopeRule::National => true,
        ScopeRule::Subtree => match (&grant.scope, target) {
            (Scope::Association(g), Target::Association(t)) => g.contains(t),
            (Scope::Association(g), Target::Doctor(nodes)) => nodes.iter().any(|n| g.contains(n)),
            (Scope::Association(g), Target::Organisation { prefecture, .. }) => {
                g.contains(prefecture)
            }
            (Scope::Organisation(g), Target::Organisation { id, .. }) => g == id,
            // a node-scoped rule cannot apply to something outside the tree
            (_, Target::System) => false,
            (Scope::Organisation(_), _) => false,
        },
    }
}

/// Who is acting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// A doctor acting on their own data through My Page.
    Doctor {
        /// The doctor's login account; audit records name it.
        account_id: Uuid,
        /// The register entry the account speaks for; `None` while it is not yet linked to one.
        doctor_id: Option<Uuid>,
    },
    /// A staff account with its grants.
    Staff {
        /// The staff member's account; audit records name it.
        account_id: Uuid,
        /// Every grant the account holds; an action is allowed when any one of them permits it.
        grants: Vec<RoleGrant>,
    },
    /// An association's system calling the API.
    ApiToken {
        /// The token presented; audit records name it, so its calls can be traced and it revoked.
        token_id: Uuid,
        /// The token's single grant, checked through the same rule table as staff grants.
        grant: RoleGrant,
    },
    /// A background job acting for the system.
    Job {
        /// The job kind acting (e.g. `mail.send`); audit records name it as `job:<kind>`.
        kind: String,
    },
}

impl Principal {
    /// Whether the principal may perform `action` on `target`. Doctors hold no staff rights;
    /// their own-data checks live with each capability.
    pub fn permits(&self, action: Action, target: &Target<'_>) -> bool {
        match self {
            Principal::Doctor { .. } => false,
            Principal::Staff { grants, .. } => {
                grants.iter().any(|g| grant_permits(g, action, target))
            }
            Principal::ApiToken { grant, .. } => grant_permits(grant, action, target),
            Principal::Job { .. } => true,
        }
    }

    /// How the principal is named in audit records.
    pub fn audit_name(&self) -> String {
        match self {
            Principal::Doctor { account_id, .. } => format!("account:{account_id}"),
            Principal::Staff { account_id, .. } => format!("account:{account_id}"),
            Principal::ApiToken { token_id, .. } => format!("api_token:{token_id}"),
            Principal::Job { kind } => format!("job:{kind}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(s: &str) -> AssociationCode {
        AssociationCode::parse(s).unwrap()
    }

    #[test]
    fn grants_must_fit_their_tier() {
        assert!(RoleGrant::new(Role::CountyStaff, Scope::Association(code("P13-0001"))).is_ok());
        assert!(RoleGrant::new(Role::CountyStaff, Scope::Association(code("P13"))).is_err());
        assert!(RoleGrant::new(Role::PrefectureStaff, Scope::Association(code("JMA"))).is_err());
        assert!(RoleGrant::new(Role::JmaAdmin, Scope::Association(code("P13"))).is_err());
        assert!(RoleGrant::new(Role::Organiser, Scope::Association(code("P13"))).is_err());
        assert!(RoleGrant::new(Role::Organiser, Scope::Organisation(Uuid::nil())).is_ok());
    }

    #[test]
    fn county_staff_see_only_their_county() {
        let g = RoleGrant::new(Role::CountyStaff, Scope::Association(code("P13-0001"))).unwrap();
        let own = [code("P13-0001"), code("P13"), code("JMA")];
        let other = [code("P13-0002"), code("P13")];
        assert!(grant_permits(
            &g,
            Action::ViewDoctors,
            &Target::Doctor(&own)
        ));
        assert!(!grant_permits(
            &g,
            Action::ViewDoctors,
            &Target::Doctor(&other)
        ));
        assert!(!grant_permits(
            &g,
            Action::ViewDoctors,
            &Target::Association(&code("P13"))
        ));
        assert!(!grant_permits(&g, Action::ManageApiTokens, &Target::System));
    }

    #[test]
    fn prefecture_staff_see_their_subtree_and_non_members_of_the_prefecture() {
        let g = RoleGrant::new(Role::PrefectureStaff, Scope::Association(code("P27"))).unwrap();
        assert!(grant_permits(
            &g,
            Action::ViewDoctors,
            &Target::Doctor(&[code("P27")])
        ));
        assert!(grant_permits(
            &g,
            Action::EditDoctors,
            &Target::Association(&code("P27-0042"))
        ));
        assert!(!grant_permits(
            &g,
            Action::EditDoctors,
            &Target::Association(&code("P26-0001"))
        ));
    }

    #[test]
    fn rule_table_is_total_and_only_jma_admin_manages_tokens() {
        for role in Role::ALL {
            for action in Action::ALL {
                let r = rule(role, action);
                if matches!(action, Action::ManageApiTokens | Action::ManageRoleGrants) {
                    assert_eq!(
                        r == ScopeRule::National,
                        role == Role::JmaAdmin,
                        "{role:?} {action:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn outside_sessions_are_approved_by_their_own_prefecture_only() {
        let org = Uuid::from_u128(7);
        let tokyo_org = Target::Organisation {
            id: org,
            prefecture: &code("P13"),
        };
        let cases = [
            (
                RoleGrant::new(Role::PrefectureStaff, Scope::Association(code("P13"))),
                true,
                true,
            ),
            (
                RoleGrant::new(Role::PrefectureStaff, Scope::Association(code("P27"))),
                false,
                false,
            ),
            (
                RoleGrant::new(Role::CountyStaff, Scope::Association(code("P13-0001"))),
                false,
                false,
            ),
            (
                RoleGrant::new(Role::Organiser, Scope::Organisation(org)),
                false,
                true,
            ),
            (
                RoleGrant::new(Role::Organiser, Scope::Organisation(Uuid::from_u128(8))),
                false,
                false,
            ),
            (
                RoleGrant::new(Role::JmaStaff, Scope::Association(code("JMA"))),
                false,
                true,
            ),
            (
                RoleGrant::new(Role::JmaAdmin, Scope::Association(code("JMA"))),
                true,
                true,
            ),
        ];
        for (g, approve, manage) in cases {
            let g = g.unwrap();
            assert_eq!(
                grant_permits(&g, Action::ApproveTraining, &tokyo_org),
                approve,
                "{g:?} approve"
            );
            assert_eq!(
                grant_permits(&g, Action::ManageTraining, &tokyo_org),
                manage,
                "{g:?} manage"
            );
        }
        // an organiser never reaches an association's own sessions
        let og = RoleGrant::new(Role::Organiser, Scope::Organisation(org)).unwrap();
        assert!(!grant_permits(
            &og,
            Action::ManageTraining,
            &Target::Association(&code("P13-0001"))
        ));
    }

    #[test]
    fn identity_actions_stay_in_the_subtree_for_every_role() {
        let osaka_doctor = [code("P27-0001"), code("P27")];
        let tokyo_doctor = [code("P13-0001"), code("P13")];
        let table = [
            (Role::CountyStaff, "P13-0001", true, false),
            (Role::PrefectureStaff, "P13", true, false),
            (Role::JmaStaff, "JMA", true, true),
            (Role::JmaAdmin, "JMA", true, true),
        ];
        for (role, scope, own, other) in table {
            let g = RoleGrant::new(role, Scope::Association(code(scope))).unwrap();
            for action in [Action::VerifyIdentity, Action::SuspendAccounts] {
                assert_eq!(
                    grant_permits(&g, action, &Target::Doctor(&tokyo_doctor)),
                    own,
                    "{role:?} {action:?}"
                );
                assert_eq!(
                    grant_permits(&g, action, &Target::Doctor(&osaka_doctor)),
                    other,
                    "{role:?} {action:?}"
                );
            }
        }
        let org = RoleGrant::new(Role::Organiser, Scope::Organisation(Uuid::nil())).unwrap();
        assert!(!grant_permits(
            &org,
            Action::VerifyIdentity,
            &Target::Doctor(&tokyo_doctor)
        ));
        assert!(!grant_permits(
            &org,
            Action::SuspendAccounts,
            &Target::Association(&code("P13"))
        ));
    }

    #[test]
    fn doctors_and_jobs() {
        let d = Principal::Doctor {
            account_id: Uuid::nil(),
            doctor_id: None,
        };
        assert!(!d.permits(Action::ViewAssociations, &Target::System));
        let j = Principal::Job { kind: "x".into() };
        assert!(j.permits(Action::EditDoctors, &Target::System));
    }
}
