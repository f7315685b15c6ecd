//! An account's second-factor methods as the rules see them: whether MFA is on, and the usable
//! ones in the order they are offered.

use deadbolt_store::MethodRecord;

/// Confirmed methods, primary first and recovery codes last: the order a user is offered them.
pub fn usable_methods(all: Vec<MethodRecord>) -> Vec<MethodRecord> {
    let mut usable: Vec<MethodRecord> = all.into_iter().filter(MethodRecord::is_active).collect();
    usable.sort_by_key(|m| (!m.is_primary, m.kind.is_fallback_only(), m.created_at));
    usable
}

/// MFA is on while a method other than recovery codes is confirmed. A method disabled after too
/// many failures still counts: failing a hundred times must not switch the second factor off.
pub fn is_enabled(methods: &[MethodRecord]) -> bool {
    methods
        .iter()
        .any(|m| m.confirmed_at.is_some() && !m.kind.is_fallback_only())
}
