//! Teams and their members.

use crate::db::{Row, Stmt};
use crate::{params, parse_uuid, Result, Store, StoreError, Write};
use deadbolt_core::clock::{from_millis, to_millis};
use deadbolt_core::ids::{AccountId, InvitationId, TeamId};
use deadbolt_core::team::TeamRole;
use time::OffsetDateTime;

#[derive(Debug, Clone)]
pub struct TeamRecord {
    pub id: TeamId,
    pub name: String,
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone)]
pub struct MemberRecord {
    pub team_id: TeamId,
    pub account_id: AccountId,
    pub email: String,
    pub role: TeamRole,
}

impl TeamRecord {
    pub fn insert(&self) -> Write {
        Write::new(Stmt::new(
            "INSERT INTO teams (id, name, created_at) VALUES ($1, $2, $3)",
            params![
                self.id.to_string(),
                self.name.as_str(),
                to_millis(self.created_at)
            ],
        ))
    }
}

fn member_from_row(r: &Row) -> Result<MemberRecord> {
    let role = r.text(3)?;
    Ok(MemberRecord {
        team_id: TeamId(parse_uuid(&r.text(0)?)?),
        account_id: AccountId(parse_uuid(&r.text(1)?)?),
        email: r.text(2)?,
        role: TeamRole::parse(&role)
            .map_err(|_| StoreError::Corrupt(format!("team role {role}")))?,
    })
}

/// Writes that change a team's members. Demoting or removing an owner is a guard that holds
/// only while another owner remains, checked in the same statement (and, on PostgreSQL,
/// serialised per team by the caller's lock), so two owners cannot demote each other at once
/// and leave the team without one.
pub mod team_writes {
    use super::*;

    pub fn add(team: TeamId, account: AccountId, role: TeamRole, now: OffsetDateTime) -> Write {
        Write::new(Stmt::new(
            "INSERT INTO team_members (team_id, account_id, role, added_at) VALUES ($1, $2, $3, $4)",
            params![team.to_string(), account.to_string(), role.as_str(), to_millis(now)],
        ))
    }

    /// A guard: `account` still has `role` in the team (the role a change was allowed by).
    pub fn holds(team: TeamId, account: AccountId, role: TeamRole) -> Write {
        Write::new(Stmt::guard(
            "UPDATE team_members SET role = role WHERE team_id = $1 AND account_id = $2 AND role = $3",
            params![team.to_string(), account.to_string(), role.as_str()],
        ))
    }

    /// Changes a member's role from `from` (as the change was judged) to `to`.
    pub fn set_role(team: TeamId, account: AccountId, from: TeamRole, to: TeamRole) -> Write {
        Write::new(Stmt::guard(
            "UPDATE team_members SET role = $3 WHERE team_id = $1 AND account_id = $2 AND role = $4 \
             AND (role <> 'owner' OR $3 = 'owner' OR \
                  (SELECT COUNT(*) FROM team_members WHERE team_id = $1 AND role = 'owner') > 1)",
            params![team.to_string(), account.to_string(), to.as_str(), from.as_str()],
        ))
    }

    /// Removes a member who has `from` (as the removal was judged).
    pub fn remove(team: TeamId, account: AccountId, from: TeamRole) -> Write {
        Write::new(Stmt::guard(
            "DELETE FROM team_members WHERE team_id = $1 AND account_id = $2 AND role = $3 \
             AND (role <> 'owner' OR \
                  (SELECT COUNT(*) FROM team_members WHERE team_id = $1 AND role = 'owner') > 1)",
            params![team.to_string(), account.to_string(), from.as_str()],
        ))
    }

    /// A guard for an account about to go: once it leaves, the team keeps an owner or has
    /// nobody left.
    pub fn survives_leaving(team: TeamId, account: AccountId) -> Write {
        Write::new(Stmt::guard(
            "UPDATE teams SET id = id WHERE id = $1 AND (\
               EXISTS (SELECT 1 FROM team_members WHERE team_id = $1 AND role = 'owner' AND account_id <> $2) \
               OR NOT EXISTS (SELECT 1 FROM team_members WHERE team_id = $1 AND account_id <> $2))",
            params![team.to_string(), account.to_string()],
        ))
    }

    /// Deletes the team if `account` is its only member.
    pub fn delete_if_alone(team: TeamId, account: AccountId) -> Write {
        Write::new(Stmt::new(
            "DELETE FROM teams WHERE id = $1 \
             AND NOT EXISTS (SELECT 1 FROM team_members WHERE team_id = $1 AND account_id <> $2)",
            params![team.to_string(), account.to_string()],
        ))
    }
}

impl Store {
    /// The teams `account` belongs to, oldest first.
    pub async fn teams_of(&self, account: AccountId) -> Result<Vec<TeamRecord>> {
        let rows = self
            .db
            .query(
                "SELECT t.id, t.name, t.created_at FROM teams t \
                 JOIN team_members m ON m.team_id = t.id WHERE m.account_id = $1 \
                 ORDER BY t.created_at, t.id",
                params![account.to_string()],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(TeamRecord {
                    id: TeamId(parse_uuid(&r.text(0)?)?),
                    name: r.text(1)?,
                    created_at: from_millis(r.int(2)?),
                })
            })
            .collect()
    }

    pub async fn team(&self, id: TeamId) -> Result<Option<TeamRecord>> {
        let rows = self
            .db
            .query(
                "SELECT id, name, created_at FROM teams WHERE id = $1",
                params![id.to_string()],
            )
            .await?;
        rows.first()
            .map(|r| {
                Ok(TeamRecord {
                    id: TeamId(parse_uuid(&r.text(0)?)?),
                    name: r.text(1)?,
                    created_at: from_millis(r.int(2)?),
                })
            })
            .transpose()
    }

    /// A team's members with their emails, owners first.
    pub async fn members_of(&self, team: TeamId) -> Result<Vec<MemberRecord>> {
        let rows = self
            .db
            .query(
                "SELECT m.team_id, m.account_id, a.email, m.role FROM team_members m \
                 JOIN accounts a ON a.id = m.account_id WHERE m.team_id = $1 \
                 ORDER BY CASE m.role WHEN 'owner' THEN 0 WHEN 'admin' THEN 1 ELSE 2 END, m.added_at, a.email",
                params![team.to_string()],
            )
            .await?;
        rows.iter().map(member_from_row).collect()
    }
}

/// A pending invitation to a team, addressed to a normalised email address.
#[derive(Debug, Clone)]
pub struct InvitationRecord {
    pub id: InvitationId,
    pub team_id: TeamId,
    pub team_name: String,
    pub email: String,
    pub role: TeamRole,
    pub invited_by: AccountId,
    /// The inviter's email address as it is now.
    pub invited_by_email: String,
    pub invited_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

/// The invitations that still stand: unexpired, and their inviter still holds a role that may
/// grant the invited one (an admin demoted or gone takes their invitations along).
/// `$2` is now; the tail adds conditions and an order.
macro_rules! standing {
    ($tail:literal) => {
        concat!(
            "SELECT i.id, i.team_id, t.name, i.email, i.role, i.invited_by, a.email, \
             i.invited_at, i.expires_at FROM team_invitations i \
             JOIN teams t ON t.id = i.team_id \
             JOIN accounts a ON a.id = i.invited_by \
             JOIN team_members m ON m.team_id = i.team_id AND m.account_id = i.invited_by \
             WHERE i.expires_at > $2 \
             AND (m.role = 'owner' OR (m.role = 'admin' AND i.role <> 'owner'))",
            $tail
        )
    };
}

fn invitation_from_row(r: &Row) -> Result<InvitationRecord> {
    let role = r.text(4)?;
    Ok(InvitationRecord {
        id: InvitationId(parse_uuid(&r.text(0)?)?),
        team_id: TeamId(parse_uuid(&r.text(1)?)?),
        team_name: r.text(2)?,
        email: r.text(3)?,
        role: TeamRole::parse(&role)
            .map_err(|_| StoreError::Corrupt(format!("invitation role {role}")))?,
        invited_by: AccountId(parse_uuid(&r.text(5)?)?),
        invited_by_email: r.text(6)?,
        invited_at: from_millis(r.int(7)?),
        expires_at: from_millis(r.int(8)?),
    })
}

/// Writes that make, take and drop invitations.
pub mod invitation_writes {
    use super::*;

    /// Invites `email` to the team as `role`, or renews the team's invitation of that address
    /// (a new id, role, inviter and expiry: the old id no longer answers).
    pub fn invite(
        id: InvitationId,
        team: TeamId,
        email: &str,
        role: TeamRole,
        by: AccountId,
        now: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> Write {
        Write::new(Stmt::new(
            "INSERT INTO team_invitations (id, team_id, email, role, invited_by, invited_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (team_id, email) DO UPDATE SET id = excluded.id, role = excluded.role, \
               invited_by = excluded.invited_by, invited_at = excluded.invited_at, \
               expires_at = excluded.expires_at",
            params![
                id.to_string(),
                team.to_string(),
                email,
                role.as_str(),
                by.to_string(),
                to_millis(now),
                to_millis(expires_at)
            ],
        ))
    }

    /// A guard that takes the invitation: it is still addressed to `email`, unexpired, with
    /// `role`, and its inviter still holds a role that may grant `role`.
    pub fn take(id: InvitationId, email: &str, role: TeamRole, now: OffsetDateTime) -> Write {
        Write::new(Stmt::guard(
            "DELETE FROM team_invitations WHERE id = $1 AND email = $2 AND role = $3 AND expires_at > $4 \
             AND EXISTS (SELECT 1 FROM team_members m WHERE m.team_id = team_invitations.team_id \
               AND m.account_id = team_invitations.invited_by \
               AND (m.role = 'owner' OR (m.role = 'admin' AND $3 <> 'owner')))",
            params![id.to_string(), email, role.as_str(), to_millis(now)],
        ))
    }

    /// A guard that drops an invitation addressed to `email`.
    pub fn decline(id: InvitationId, email: &str) -> Write {
        Write::new(Stmt::guard(
            "DELETE FROM team_invitations WHERE id = $1 AND email = $2",
            params![id.to_string(), email],
        ))
    }

    /// A guard that withdraws an invitation of the team.
    pub fn withdraw(team: TeamId, id: InvitationId) -> Write {
        Write::new(Stmt::guard(
            "DELETE FROM team_invitations WHERE id = $1 AND team_id = $2",
            params![id.to_string(), team.to_string()],
        ))
    }

    /// Drops whatever invitation the team holds for `email` (once that address is a member).
    pub fn drop_for(team: TeamId, email: &str) -> Write {
        Write::new(Stmt::new(
            "DELETE FROM team_invitations WHERE team_id = $1 AND email = $2",
            params![team.to_string(), email],
        ))
    }
}

impl Store {
    /// The standing invitations of a team, oldest first.
    pub async fn invitations_of_team(
        &self,
        team: TeamId,
        now: OffsetDateTime,
    ) -> Result<Vec<InvitationRecord>> {
        let rows = self
            .db
            .query(
                standing!(" AND i.team_id = $1 ORDER BY i.invited_at, i.email"),
                params![team.to_string(), to_millis(now)],
            )
            .await?;
        rows.iter().map(invitation_from_row).collect()
    }

    /// The standing invitations addressed to `email`, newest first.
    pub async fn invitations_for(
        &self,
        email: &str,
        now: OffsetDateTime,
    ) -> Result<Vec<InvitationRecord>> {
        let rows = self
            .db
            .query(
                standing!(" AND i.email = $1 ORDER BY i.invited_at DESC, i.id"),
                params![email, to_millis(now)],
            )
            .await?;
        rows.iter().map(invitation_from_row).collect()
    }

    /// One standing invitation addressed to `email`.
    pub async fn invitation_for(
        &self,
        id: InvitationId,
        email: &str,
        now: OffsetDateTime,
    ) -> Result<Option<InvitationRecord>> {
        let rows = self
            .db
            .query(
                standing!(" AND i.email = $1 AND i.id = $3"),
                params![email, to_millis(now), id.to_string()],
            )
            .await?;
        rows.first().map(invitation_from_row).transpose()
    }
}
