//! What the release flow (approvals, gate, execution, onboarding) shares:
//! its error type and the lookups every call of it starts with.

use crate::backup::BackupError;
use crate::catalog::{self, CatalogError, Revision};
use crate::config::{Environment, Policy};
use crate::db::Db;
use crate::target::TargetError;

#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    #[error(
        "this server runs without a policy file, so it has no environments: start it with SCHEMAGATE_CONFIG=path/to/schemagate.toml"
    )]
    NoPolicy,
    #[error("unknown environment '{name}': the policy declares {known}")]
    UnknownEnvironment { name: String, known: String },
    #[error("{0}")]
    InvalidInput(String),
    #[error("{0}")]
    PermissionDenied(String),
    /// The request is well formed but the state of the catalog or the target
    /// does not allow it now.
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    NotFound(String),
    /// Another execution holds the target.
    #[error("{0}")]
    Busy(String),
    /// An execution stopped between two revisions: the server is shutting
    /// down, or its client went away.
    #[error("{0}")]
    Stopped(String),
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error(transparent)]
    Target(#[from] TargetError),
    #[error(transparent)]
    Backup(#[from] BackupError),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// Whether a revision is being deployed or rolled back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Apply,
    Rollback,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Apply => "apply",
            Action::Rollback => "rollback",
        }
    }

    /// The SQL this action runs: the revision's up or down script.
    pub fn sql(self, revision: &crate::catalog::Revision) -> &str {
        match self {
            Action::Apply => &revision.up_sql,
            Action::Rollback => &revision.down_sql,
        }
    }

    /// The revision the target is at once this action ran: the revision
    /// itself, or the parent it rolled back to.
    pub fn lands_on(self, revision: &crate::catalog::Revision) -> &str {
        match self {
            Action::Apply => &revision.id,
            Action::Rollback => &revision.parent_id,
        }
    }

    pub fn from_rollback_flag(rollback: bool) -> Action {
        if rollback {
            Action::Rollback
        } else {
            Action::Apply
        }
    }
}

pub fn policy(policy: Option<&Policy>) -> Result<&Policy, ReleaseError> {
    policy.ok_or(ReleaseError::NoPolicy)
}

pub fn environment<'p>(policy: &'p Policy, name: &str) -> Result<&'p Environment, ReleaseError> {
    if name.is_empty() {
        return Err(ReleaseError::InvalidInput(
            "no environment given: name one with --env (e.g. --env dev)".into(),
        ));
    }
    policy
        .environment(name)
        .ok_or_else(|| ReleaseError::UnknownEnvironment {
            name: name.chars().take(64).collect(),
            known: policy
                .environments
                .iter()
                .map(|e| e.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        })
}

/// The lineage of `project`, refused when the catalog holds none: an
/// environment's status, drift or deploy for a misspelt `--project` would
/// otherwise answer for an empty lineage ("up to date", every table
/// created out of band, "nothing to do").
pub async fn lineage(db: &Db, project: &str) -> Result<Vec<Revision>, ReleaseError> {
    let history = catalog::history(db, project).await?;
    if history.is_empty() {
        return Err(CatalogError::UnknownProject {
            project: project.to_string(),
            others: catalog::other_projects(db, project).await?,
        }
        .into());
    }
    Ok(history)
}

/// A new execution or approval id: time-ordered, so ids sort by creation.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}
