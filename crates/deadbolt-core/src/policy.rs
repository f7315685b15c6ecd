//! The central policy: who must have a second factor and which kinds serve, TOTP parameters,
//! lockout numbers, trusted-device days, per-action step-up, risk rules and where each role may
//! sign in from. Stored in the database (seeded from the config) so that every instance
//! applies the same one, and changed by administrators through the API.

use crate::account::Role;
use crate::mfa::{Enforcement, MethodKind, MfaLimits};
use crate::risk::{is_country_code, LocationRule, RiskPolicy};
use crate::stepup::{Action, StepUpRule};
use crate::totp::TotpParams;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Actions whose challenge policy can never loosen: a stolen session must not be enough to
/// change the password or delete the account.
pub const ALWAYS_CHALLENGED: [&str; 2] = [Action::PASSWORD_CHANGE, Action::ACCOUNT_DELETE];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    pub mfa: MfaPolicy,
    pub totp: TotpParams,
    pub lockout: MfaLimits,
    /// How long "trust this device" lasts.
    pub trusted_device_days: i64,
    pub step_up: StepUpPolicy,
    pub risk: RiskPolicy,
    /// Per role: the networks or countries its accounts may sign in from. Roles not listed may
    /// sign in from anywhere.
    pub locations: BTreeMap<String, LocationRule>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MfaPolicy {
    pub enforcement: Enforcement,
    /// With `optional`: the roles that must have a second factor all the same.
    pub required_for_roles: Vec<String>,
    /// The kinds of method that may be enrolled and used.
    pub allowed_methods: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepUpPolicy {
    /// The rule of every action without its own.
    pub default: ActionRule,
    pub actions: BTreeMap<String, ActionRule>,
}

/// One action's step-up: how long a grant lasts, and which kinds of method may satisfy it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionRule {
    /// None: every use needs a fresh check. Some: the grant stays open this many seconds.
    #[serde(default)]
    pub window_seconds: Option<i64>,
    /// With a window: each use moves its end forward.
    #[serde(default)]
    pub sliding: bool,
    /// The method types that may satisfy it; none given: any, except that a sent code does
    /// not satisfy the strong actions while a stronger method is enrolled.
    #[serde(default)]
    pub methods: Option<Vec<String>>,
}

impl ActionRule {
    pub const ONE_SHOT: Self = Self {
        window_seconds: None,
        sliding: false,
        methods: None,
    };

    pub fn timing(&self) -> StepUpRule {
        StepUpRule {
            window_seconds: self.window_seconds,
            sliding: self.sliding,
        }
    }

    /// Whether a second factor of type `kind` may satisfy this action (policy's list, when it
    /// has one).
    pub fn admits(&self, kind: &str) -> bool {
        self.methods
            .as_ref()
            .is_none_or(|list| list.iter().any(|m| m == kind))
    }
}

impl StepUpPolicy {
    /// API.md's built-in defaults: `team.manage` keeps a 300-second sliding window; every other
    /// action is challenged every time.
    pub fn builtin() -> Self {
        Self {
            default: ActionRule::ONE_SHOT,
            actions: BTreeMap::from([(
                Action::TEAM_MANAGE.to_owned(),
                ActionRule {
                    window_seconds: Some(300),
                    sliding: true,
                    methods: None,
                },
            )]),
        }
    }

    /// The rule in force for `action`: its own, else the default; password change and account
    /// deletion never get a window, whatever is stored.
    pub fn rule_for(&self, action: &Action) -> ActionRule {
        let rule = self.actions.get(action.as_str()).unwrap_or(&self.default);
        if ALWAYS_CHALLENGED.contains(&action.as_str()) {
            ActionRule {
                methods: rule.methods.clone(),
                ..ActionRule::ONE_SHOT
            }
        } else {
            rule.clone()
        }
    }
}

/// The method type names policy may use, for messages.
fn method_names() -> String {
    MethodKind::ALL.map(MethodKind::as_str).join(", ")
}

/// One thing wrong with a policy: the field (a dotted path) and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyProblem {
    pub field: String,
    pub message: String,
}

impl Policy {
    /// Every problem, each naming its field. Empty: the policy can be stored.
    pub fn problems(&self) -> Vec<PolicyProblem> {
        let mut out = Vec::new();
        let mut add = |field: String, message: String| out.push(PolicyProblem { field, message });
        for (i, role) in self.mfa.required_for_roles.iter().enumerate() {
            if Role::parse(role).is_none() {
                add(
                    format!("mfa.required_for_roles[{i}]"),
                    format!("{role:?} is not a role name ([a-z0-9_]+)"),
                );
            }
        }
        for (i, m) in self.mfa.allowed_methods.iter().enumerate() {
            if MethodKind::parse(m).is_none() {
                add(
                    format!("mfa.allowed_methods[{i}]"),
                    format!("{m:?} is not one of {}", method_names()),
                );
            }
        }
        let can_enroll = self
            .mfa
            .allowed_methods
            .iter()
            .any(|m| m != "recovery_code" && MethodKind::parse(m).is_some());
        let someone_must = self.mfa.enforcement == Enforcement::Required
            || (self.mfa.enforcement == Enforcement::Optional
                && !self.mfa.required_for_roles.is_empty());
        if someone_must && !can_enroll {
            add(
                "mfa.allowed_methods".into(),
                "must allow a method besides recovery_code while MFA is required".into(),
            );
        }
        for (k, m) in self.totp.problems() {
            add(format!("totp.{k}"), m);
        }
        for (k, m) in self.lockout.problems() {
            add(format!("lockout.{k}"), m);
        }
        if !(1..=365).contains(&self.trusted_device_days) {
            add(
                "trusted_device_days".into(),
                "must be between 1 and 365".into(),
            );
        }
        let rules = std::iter::once(("default".to_owned(), &self.step_up.default)).chain(
            self.step_up
                .actions
                .iter()
                .map(|(name, rule)| (format!("actions.{name}"), rule)),
        );
        for (path, rule) in rules {
            let field = format!("step_up.{path}");
            if let Some(name) = path.strip_prefix("actions.") {
                if Action::parse(name).is_err() {
                    add(field.clone(), "is not an action name ([a-z0-9_.]+)".into());
                }
                if ALWAYS_CHALLENGED.contains(&name) && rule.window_seconds.is_some() {
                    add(
                        format!("{field}.window_seconds"),
                        "password change and account deletion are challenged every time".into(),
                    );
                }
            }
            for m in rule.timing().problems() {
                add(format!("{field}.window_seconds"), m);
            }
            for (i, m) in rule.methods.iter().flatten().enumerate() {
                if MethodKind::parse(m).is_none() {
                    add(
                        format!("{field}.methods[{i}]"),
                        format!("{m:?} is not one of {}", method_names()),
                    );
                }
            }
            if rule.methods.as_ref().is_some_and(Vec::is_empty) {
                add(
                    format!("{field}.methods"),
                    "must name a method, or be null for any".into(),
                );
            }
        }
        for (k, m) in self.risk.problems() {
            add(format!("risk.{k}"), m);
        }
        for (role, rule) in &self.locations {
            let field = format!("locations.{role}");
            if Role::parse(role).is_none() {
                add(field.clone(), "is not a role name ([a-z0-9_]+)".into());
            }
            if rule.networks.is_empty() && rule.countries.is_empty() {
                add(
                    field.clone(),
                    "must list a network or a country (nobody could sign in)".into(),
                );
            }
            for (i, c) in rule.countries.iter().enumerate() {
                if !is_country_code(c) {
                    add(
                        format!("{field}.countries[{i}]"),
                        format!("{c:?} is not an ISO 3166-1 alpha-2 code like \"DE\""),
                    );
                }
            }
        }
        out
    }

    /// Whether an account with `roles` must have a second factor.
    pub fn requires_mfa(&self, roles: &[Role]) -> bool {
        self.mfa
            .enforcement
            .requires(&self.mfa.required_for_roles, roles)
    }

    pub fn allows_method(&self, kind: &str) -> bool {
        self.mfa.allowed_methods.iter().any(|m| m == kind)
    }

    /// Whether a second factor of `kind` may satisfy a step-up for `action`: the action's list
    /// (when policy gives one) admits it, and so does the strength rule
    /// (`stepup::factor_satisfies`), which a list can narrow but never widen.
    pub fn factor_satisfies(&self, action: &Action, kind: MethodKind, has_stronger: bool) -> bool {
        self.step_up.rule_for(action).admits(kind.as_str())
            && crate::stepup::factor_satisfies(action, kind, has_stronger)
    }

    /// Every problem of the policy where it will run: its own ([`Policy::problems`]), countries
    /// without a GeoIP database, and a burst threshold the login throttle never lets be reached.
    pub fn problems_in(&self, deployment: &Deployment) -> Vec<PolicyProblem> {
        let mut out = self.problems();
        let lockout = deployment.login_failures_per_account;
        if self.risk.burst_failures >= lockout {
            out.push(PolicyProblem {
                field: "risk.burst_failures".into(),
                message: format!(
                    "must be below [limits] login_failures_per_account ({lockout}), which locks first"
                ),
            });
        }
        if !deployment.has_geoip {
            for (role, rule) in &self.locations {
                if !rule.countries.is_empty() {
                    out.push(PolicyProblem {
                        field: format!("locations.{role}.countries"),
                        message: "countries need a GeoIP database ([geoip] database)".into(),
                    });
                }
            }
        }
        out
    }

    /// The problem of a policy that the administrator submitting it, whose usable methods are of
    /// `kinds`, could no longer step up to change (nobody could change it back).
    pub fn submitter_problem(&self, kinds: &[MethodKind]) -> Option<PolicyProblem> {
        let change = Action::builtin(Action::POLICY_CHANGE);
        let stronger = crate::stepup::has_stronger_than_a_sent_code(kinds.iter().copied());
        let can_step_up = kinds
            .iter()
            .any(|k| self.factor_satisfies(&change, *k, stronger));
        (!can_step_up).then(|| PolicyProblem {
            field: "step_up.actions.policy.change.methods".into(),
            message: "none of your methods could step up for policy.change under this policy"
                .into(),
        })
    }
}

/// What a policy is judged against beyond itself: the deployment it runs in.
#[derive(Debug, Clone, Copy)]
pub struct Deployment {
    pub has_geoip: bool,
    /// `[limits] login_failures_per_account`.
    pub login_failures_per_account: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Policy {
        Policy {
            mfa: MfaPolicy {
                enforcement: Enforcement::Optional,
                required_for_roles: vec!["admin".into()],
                allowed_methods: vec!["totp".into(), "recovery_code".into()],
            },
            totp: TotpParams::default(),
            lockout: MfaLimits::default(),
            trusted_device_days: 30,
            step_up: StepUpPolicy::builtin(),
            risk: RiskPolicy::default(),
            locations: BTreeMap::new(),
        }
    }

    fn fields(p: &Policy) -> Vec<String> {
        p.problems().into_iter().map(|p| p.field).collect()
    }

    #[test]
    fn the_sample_is_valid() {
        assert_eq!(sample().problems(), []);
    }

    #[test]
    fn every_problem_names_its_field() {
        let mut p = sample();
        p.mfa.allowed_methods.push("carrier_pigeon".into());
        p.totp.digits = 4;
        p.lockout.token_max_failures = 0;
        p.trusted_device_days = 0;
        p.step_up.actions.insert(
            "Bad Name".into(),
            ActionRule {
                methods: Some(vec![]),
                ..ActionRule::ONE_SHOT
            },
        );
        p.risk.max_travel_kmh = 1;
        p.locations.insert(
            "admin".into(),
            LocationRule {
                networks: vec![],
                countries: vec!["de".into()],
            },
        );
        assert_eq!(
            fields(&p),
            [
                "mfa.allowed_methods[2]",
                "totp.digits",
                "lockout.token_max_failures",
                "trusted_device_days",
                "step_up.actions.Bad Name",
                "step_up.actions.Bad Name.methods",
                "risk.max_travel_kmh",
                "locations.admin.countries[0]",
            ]
        );
    }

    #[test]
    fn password_change_and_account_deletion_cannot_get_a_window() {
        let mut p = sample();
        let windowed = ActionRule {
            window_seconds: Some(600),
            ..ActionRule::ONE_SHOT
        };
        p.step_up
            .actions
            .insert(Action::PASSWORD_CHANGE.into(), windowed.clone());
        assert_eq!(
            fields(&p),
            ["step_up.actions.password.change.window_seconds"]
        );
        // and a stored one is not honoured
        let rule = p
            .step_up
            .rule_for(&Action::builtin(Action::PASSWORD_CHANGE));
        assert_eq!(rule.window_seconds, None);
        // a default with a window does not reach them either
        p.step_up.actions.clear();
        p.step_up.default = windowed;
        assert_eq!(
            p.step_up
                .rule_for(&Action::builtin(Action::ACCOUNT_DELETE))
                .window_seconds,
            None
        );
        assert_eq!(
            p.step_up
                .rule_for(&Action::parse("billing.refund").unwrap())
                .window_seconds,
            Some(600)
        );
    }

    #[test]
    fn requiring_mfa_needs_a_method_to_enroll() {
        let mut p = sample();
        p.mfa.allowed_methods = vec!["recovery_code".into()];
        assert_eq!(fields(&p), ["mfa.allowed_methods"]);
        p.mfa.enforcement = Enforcement::Off;
        assert_eq!(fields(&p), Vec::<String>::new());
    }

    #[test]
    fn the_deployment_and_the_submitter_can_make_a_policy_invalid() {
        let mut p = sample();
        p.risk.burst_failures = 10;
        p.locations.insert(
            "admin".into(),
            LocationRule {
                networks: vec![],
                countries: vec!["DE".into()],
            },
        );
        let here = Deployment {
            has_geoip: false,
            login_failures_per_account: 10,
        };
        let fields: Vec<String> = p.problems_in(&here).into_iter().map(|p| p.field).collect();
        assert_eq!(fields, ["risk.burst_failures", "locations.admin.countries"]);
        let there = Deployment {
            has_geoip: true,
            login_failures_per_account: 11,
        };
        assert_eq!(p.problems_in(&there), []);
        // only voice may change the policy: an administrator with an app could not
        p.step_up.actions.insert(
            Action::POLICY_CHANGE.into(),
            ActionRule {
                methods: Some(vec!["voice".into()]),
                ..ActionRule::ONE_SHOT
            },
        );
        let app = [MethodKind::Totp, MethodKind::RecoveryCode];
        assert!(p.submitter_problem(&app).is_some());
        assert!(p.submitter_problem(&[MethodKind::Voice]).is_none());
    }

    #[test]
    fn a_method_list_narrows_the_strength_rule_but_never_widens_it() {
        let mut p = sample();
        p.step_up.actions.insert(
            Action::MFA_MANAGE.into(),
            ActionRule {
                methods: Some(vec!["sms".into(), "totp".into()]),
                ..ActionRule::ONE_SHOT
            },
        );
        let manage = Action::builtin(Action::MFA_MANAGE);
        // listed, but a texted code while an authenticator app is enrolled: still refused
        assert!(!p.factor_satisfies(&manage, MethodKind::Sms, true));
        assert!(p.factor_satisfies(&manage, MethodKind::Sms, false));
        assert!(p.factor_satisfies(&manage, MethodKind::Totp, true));
        assert!(!p.factor_satisfies(&manage, MethodKind::RecoveryCode, true));
    }

    #[test]
    fn an_action_with_a_method_list_admits_only_those() {
        let rule = ActionRule {
            methods: Some(vec!["totp".into()]),
            ..ActionRule::ONE_SHOT
        };
        assert!(rule.admits("totp"));
        assert!(!rule.admits("sms"));
        assert!(ActionRule::ONE_SHOT.admits("sms"));
    }

    #[test]
    fn a_policy_round_trips_through_json() {
        let p = sample();
        let text = serde_json::to_string(&p).unwrap();
        let back: Policy = serde_json::from_str(&text).unwrap();
        assert_eq!(back, p);
        assert!(text.contains("\"enforcement\":\"optional\""));
    }
}
