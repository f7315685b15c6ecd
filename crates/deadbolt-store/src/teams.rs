//! Teams and their members.

use crate::db::{Row, Stmt};
use crate::{params, parse_uuid, Result, Store, StoreError, Write};
use deadbolt_core::clock::{from_millis, to_millis};
use deadbolt_core::ids::{AccountId, TeamId};
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
        Write(Stmt::new(
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
        Write(Stmt::new(
            "INSERT INTO team_members (team_id, account_id, role, added_at) VALUES ($1, $2, $3, $4)",
            params![team.to_string(), account.to_string(), role.as_str(), to_millis(now)],
        ))
    }

    /// A guard: `account` still has `role` in the team (the role a change was allowed by).
    pub fn holds(team: TeamId, account: AccountId, role: TeamRole) -> Write {
        Write(Stmt::guard(
            "UPDATE team_members SET role = role WHERE team_id = $1 AND account_id = $2 AND role = $3",
            params![team.to_string(), account.to_string(), role.as_str()],
        ))
    }

    /// Changes a member's role from `from` (as the change was judged) to `to`.
    pub fn set_role(team: TeamId, account: AccountId, from: TeamRole, to: TeamRole) -> Write {
        Write(Stmt::guard(
            "UPDATE team_members SET role = $3 WHERE team_id = $1 AND account_id = $2 AND role = $4 \
             AND (role <> 'owner' OR $3 = 'owner' OR \
                  (SELECT COUNT(*) FROM team_members WHERE team_id = $1 AND role = 'owner') > 1)",
            params![team.to_string(), account.to_string(), to.as_str(), from.as_str()],
        ))
    }

    /// Removes a member who has `from` (as the removal was judged).
    pub fn remove(team: TeamId, account: AccountId, from: TeamRole) -> Write {
        Write(Stmt::guard(
            "DELETE FROM team_members WHERE team_id = $1 AND account_id = $2 AND role = $3 \
             AND (role <> 'owner' OR \
                  (SELECT COUNT(*) FROM team_members WHERE team_id = $1 AND role = 'owner') > 1)",
            params![team.to_string(), account.to_string(), from.as_str()],
        ))
    }

    /// A guard for an account about to go: once it leaves, the team keeps an owner or has
    /// nobody left.
    pub fn survives_leaving(team: TeamId, account: AccountId) -> Write {
        Write(Stmt::guard(
            "UPDATE teams SET id = id WHERE id = $1 AND (\
               EXISTS (SELECT 1 FROM team_members WHERE team_id = $1 AND role = 'owner' AND account_id <> $2) \
               OR NOT EXISTS (SELECT 1 FROM team_members WHERE team_id = $1 AND account_id <> $2))",
            params![team.to_string(), account.to_string()],
        ))
    }

    /// Deletes the team if `account` is its only member.
    pub fn delete_if_alone(team: TeamId, account: AccountId) -> Write {
        Write(Stmt::new(
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
