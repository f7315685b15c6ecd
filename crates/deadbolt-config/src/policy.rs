//! The policy a fresh database starts with: `[step_up]`, `[risk]` and `[locations]`, with parts
//! of `[mfa]` and `[lockout]`.

use crate::{Config, ConfigProblem};
use deadbolt_core::policy::{Deployment, MfaPolicy, Policy, StepUpPolicy};

impl Config {
    /// The policy the config describes: what a fresh database starts with.
    pub fn policy_seed(&self) -> Policy {
        let mut step_up = StepUpPolicy::builtin();
        for (action, rule) in &self.step_up {
            if action == "default" {
                step_up.default = rule.clone();
            } else {
                step_up.actions.insert(action.clone(), rule.clone());
            }
        }
        Policy {
            mfa: MfaPolicy {
                enforcement: deadbolt_core::mfa::Enforcement::parse(&self.mfa.enforcement)
                    .unwrap_or(deadbolt_core::mfa::Enforcement::Optional),
                required_for_roles: self.mfa.required_for_roles.clone(),
                allowed_methods: self.mfa.allowed_methods.clone(),
            },
            totp: self.mfa.totp_params(),
            lockout: self.lockout,
            trusted_device_days: self.mfa.trusted_device_days,
            step_up,
            risk: self.risk.clone(),
            locations: self.locations.clone(),
        }
    }

    /// Problems in the sections that seed the policy and nothing else (`[step_up]`, `[risk]`,
    /// `[locations]`), found by the policy's own rules.
    pub(crate) fn seeded_policy_problems(&self) -> Vec<ConfigProblem> {
        let deployment = Deployment {
            has_geoip: !self.geoip.database.is_empty(),
            login_failures_per_account: self.limits.login_failures_per_account,
        };
        let mut out = Vec::new();
        for p in self.policy_seed().problems_in(&deployment) {
            let seeded_only = ["step_up.", "risk.", "locations."]
                .iter()
                .any(|prefix| p.field.starts_with(prefix));
            if seeded_only {
                let (section, key) = p.field.split_once('.').unwrap_or((&p.field, ""));
                // the policy nests actions under `actions`; the file has them at the top
                let key = key.strip_prefix("actions.").unwrap_or(key);
                out.push(ConfigProblem {
                    key: format!("{section}.{key}"),
                    message: p.message,
                });
            }
        }
        out
    }
}
