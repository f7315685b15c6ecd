//! Teams: who may change a team's members, and the rule that a team always keeps an owner.

use crate::CoreError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TeamRole {
    Member,
    Admin,
    Owner,
}

impl TeamRole {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Admin => "admin",
            Self::Member => "member",
        }
    }

    pub fn parse(s: &str) -> Result<Self, CoreError> {
        match s {
            "owner" => Ok(Self::Owner),
            "admin" => Ok(Self::Admin),
            "member" => Ok(Self::Member),
            _ => Err(CoreError::InvalidRole),
        }
    }
}

/// May `actor` give a member the role `to` (adding them when `from` is None, removing them when
/// `to` is None)? Owners may do anything; admins manage members and admins but never touch an
/// owner nor make one; members manage nobody. (That the last owner stays is checked where the
/// change is written, against the members as they are then.)
pub fn may_change(actor: TeamRole, from: Option<TeamRole>, to: Option<TeamRole>) -> bool {
    match actor {
        TeamRole::Owner => true,
        TeamRole::Admin => from != Some(TeamRole::Owner) && to != Some(TeamRole::Owner),
        TeamRole::Member => false,
    }
}

/// A team's name: 1 to 64 characters, not blank.
pub fn check_name(name: &str) -> Result<String, CoreError> {
    crate::api_key::check_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use TeamRole::*;

    #[test]
    fn owners_manage_everyone_admins_all_but_owners_members_nobody() {
        assert!(may_change(Owner, None, Some(Owner)));
        assert!(may_change(Owner, Some(Owner), None));
        assert!(may_change(Admin, None, Some(Member)));
        assert!(may_change(Admin, Some(Member), Some(Admin)));
        assert!(may_change(Admin, Some(Admin), None));
        assert!(!may_change(Admin, None, Some(Owner)));
        assert!(!may_change(Admin, Some(Owner), Some(Member)));
        assert!(!may_change(Admin, Some(Owner), None));
        assert!(!may_change(Member, None, Some(Member)));
        assert_eq!(TeamRole::parse("boss"), Err(CoreError::InvalidRole));
        assert_eq!(TeamRole::parse("admin").unwrap().as_str(), "admin");
    }
}
