//! The catalog: each project's single lineage of checksummed revisions,
//! starting from a baseline. A revision is accepted only on top of the current
//! head, so the history can never fork.

use crate::audit::{self, Event, Outcome};
use crate::db::{Db, now_ms};
use crate::executor::Landed;
use schemagate_policy::parser_stack::ParserFailure;
use schemagate_policy::{History, LintConfig, LintReport, RiskClass};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::{AnyConnection, Row};
use std::sync::LazyLock;

mod history;
use history::Earlier;

/// The project used when a request names none.
pub const DEFAULT_PROJECT: &str = "default";
/// Upper bound on a revision's up plus down SQL.
pub const MAX_SQL_BYTES: usize = 8 * 1024 * 1024;
pub const MAX_DESCRIPTION_BYTES: usize = 4096;

static REVISION_ID: LazyLock<regex::Regex> =
    LazyLock::new(|| regex::Regex::new(r"^[0-9]{4,}_[a-z0-9_]+$").expect("static regex"));
static PROJECT_NAME: LazyLock<regex::Regex> =
    LazyLock::new(|| regex::Regex::new(r"^[a-z0-9][a-z0-9_-]{0,62}$").expect("static regex"));

macro_rules! select_revisions {
    ($tail:literal) => {
        concat!(
            "SELECT project, id, parent_id, sequence, up_sql, down_sql, description, author, created_at_ms, checksum, risk, lint_json FROM revisions ",
            $tail
        )
    };
}

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error(
        "invalid revision id '{0}': use digits, an underscore and a lowercase name, e.g. 0002_add_pour_index"
    )]
    InvalidId(String),
    #[error("invalid project name '{0}': use lowercase letters, digits, '-' or '_' (at most 63)")]
    InvalidProject(String),
    #[error("{0}")]
    InvalidInput(String),
    #[error("{what} is {size} bytes; the limit is {limit} bytes")]
    TooLarge {
        what: &'static str,
        size: usize,
        limit: usize,
    },
    #[error("SQL does not parse: {message} (line {line}, column {column})")]
    Unparsable {
        message: String,
        line: u32,
        column: u32,
    },
    #[error("revision {id} not found in project {project}")]
    NotFound { project: String, id: String },
    #[error(
        "project {project} has no revisions in the catalog{}: check --project, or submit its baseline first",
        holds(others)
    )]
    UnknownProject {
        project: String,
        others: Vec<String>,
    },
    #[error(
        "revision {id} already exists with different content (checksum {existing}); give the new revision a new id, or, if {id} has not landed on any environment, replace it with `sgctl submit --amend`"
    )]
    IdClash { id: String, existing: String },
    #[error(
        "revision {id} already exists with parent {existing}, not {submitted}; submit it with --parent {existing}, or give the new revision a new id"
    )]
    ParentClash {
        id: String,
        existing: String,
        submitted: String,
    },
    #[error("{0}")]
    NotOnHead(String),
    #[error("{0}")]
    CannotAmend(String),
    /// A race with other submits that did not settle.
    #[error("{0}")]
    Busy(String),
    #[error("only {author}, who submitted {id}, or an admin can amend it")]
    NotTheAuthor { id: String, author: String },
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// ` (it holds a, b)`, or nothing for an empty catalog.
fn holds(projects: &[String]) -> String {
    if projects.is_empty() {
        String::new()
    } else {
        format!(" (it holds {})", projects.join(", "))
    }
}

/// A revision as submitted.
#[derive(Clone, Debug, Default)]
pub struct NewRevision {
    pub project: String,
    pub id: String,
    pub parent_id: String,
    pub up_sql: String,
    pub down_sql: String,
    pub description: String,
    /// Replace the stored revision of this id, if its content differs and
    /// it has not landed on any environment ([`submit`]).
    pub amend: bool,
}

/// Who submits: the author of a new revision. Amending another author's
/// revision takes an admin.
#[derive(Clone, Copy, Debug)]
pub struct Submitter<'a> {
    pub name: &'a str,
    pub admin: bool,
}

/// A revision as the catalog holds it.
#[derive(Clone, Debug)]
pub struct Revision {
    pub project: String,
    pub id: String,
    pub parent_id: String,
    pub sequence: i64,
    pub up_sql: String,
    pub down_sql: String,
    pub description: String,
    pub author: String,
    pub created_at_ms: i64,
    pub checksum: String,
    pub risk: RiskClass,
    pub lint: LintRecord,
}

/// The lint verdict as stored with a revision, with the risk class the gate
/// judges it by. A server whose rules differ from those it was linted with
/// lints it again before it serves ([`relint_stored`]).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct LintRecord {
    pub statements: usize,
    pub transactional: bool,
    pub findings: Vec<RecordedFinding>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct RecordedFinding {
    pub rule: String,
    /// info | warning | error
    pub severity: String,
    /// destructive | locking | hygiene
    pub category: String,
    pub statement_index: usize,
    pub line: u32,
    pub column: u32,
    pub statement: String,
    pub message: String,
    pub help: String,
    pub exemption_reason: Option<String>,
}

impl From<&LintReport> for LintRecord {
    fn from(report: &LintReport) -> LintRecord {
        let name = |value: serde_json::Result<serde_json::Value>| {
            value
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default()
        };
        LintRecord {
            statements: report.statements,
            transactional: report.transactional,
            findings: report
                .findings
                .iter()
                .map(|f| RecordedFinding {
                    rule: f.rule.to_string(),
                    severity: name(serde_json::to_value(f.severity)),
                    category: name(serde_json::to_value(f.category)),
                    statement_index: f.statement_index,
                    line: f.line,
                    column: f.column,
                    statement: f.statement.clone(),
                    message: f.message.clone(),
                    help: f.help.clone(),
                    exemption_reason: f
                        .exempted
                        .then(|| f.exemption_reason.clone().unwrap_or_default()),
                })
                .collect(),
        }
    }
}

/// Line endings unified and trailing blanks dropped, so an editor's
/// whitespace habits do not change a revision's identity.
pub fn normalize_sql(sql: &str) -> String {
    let lines: Vec<&str> = sql.lines().map(str::trim_end).collect();
    lines.join("\n").trim_matches('\n').to_string()
}

/// Hex sha256 over the normalized up and down SQL.
pub fn checksum(up_sql: &str, down_sql: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"up\n");
    hasher.update(normalize_sql(up_sql).as_bytes());
    hasher.update(b"\0down\n");
    hasher.update(normalize_sql(down_sql).as_bytes());
    hex::encode(hasher.finalize())
}

/// How much of a rejected input an error message quotes.
const QUOTED_CHARS: usize = 64;

/// A rejected input as an error message quotes it: escaped, and cut after
/// [`QUOTED_CHARS`] characters. Echoing the whole of an arbitrarily long
/// input would make the answer larger than a client accepts in a header.
pub fn quoted(input: &str) -> String {
    let mut shown: String = input
        .chars()
        .take(QUOTED_CHARS)
        .collect::<String>()
        .escape_default()
        .to_string();
    if input.chars().nth(QUOTED_CHARS).is_some() {
        shown.push_str(&format!("... ({} bytes)", input.len()));
    }
    shown
}

/// Resolves an empty project name to the default and validates it.
pub fn project_name(requested: &str) -> Result<String, CatalogError> {
    let name = if requested.is_empty() {
        DEFAULT_PROJECT
    } else {
        requested
    };
    if !PROJECT_NAME.is_match(name) {
        return Err(CatalogError::InvalidProject(quoted(name)));
    }
    Ok(name.to_string())
}

pub fn validate_id(id: &str) -> Result<(), CatalogError> {
    if id.len() > 128 || !REVISION_ID.is_match(id) {
        return Err(CatalogError::InvalidId(quoted(id)));
    }
    Ok(())
}

/// Whether the number that begins revision id `id` is greater than the one
/// that begins `parent` (both [valid](validate_id): digits, then `_`).
fn number_after(id: &str, parent: &str) -> bool {
    fn number(id: &str) -> &str {
        id.split('_').next().unwrap_or(id).trim_start_matches('0')
    }
    let (id, parent) = (number(id), number(parent));
    (id.len(), id) > (parent.len(), parent)
}

fn validate(new: &NewRevision) -> Result<(), CatalogError> {
    validate_id(&new.id)?;
    if !new.parent_id.is_empty() {
        validate_id(&new.parent_id)?;
    }
    if new.parent_id == new.id {
        return Err(CatalogError::InvalidInput(format!(
            "revision {} names itself as its parent",
            new.id
        )));
    }
    let size = new.up_sql.len() + new.down_sql.len();
    if size > MAX_SQL_BYTES {
        return Err(CatalogError::TooLarge {
            what: "the revision's SQL",
            size,
            limit: MAX_SQL_BYTES,
        });
    }
    if new.description.len() > MAX_DESCRIPTION_BYTES {
        return Err(CatalogError::TooLarge {
            what: "the description",
            size: new.description.len(),
            limit: MAX_DESCRIPTION_BYTES,
        });
    }
    if new.description.contains('\0') {
        // PostgreSQL text cannot hold it; refused on every catalog alike.
        return Err(CatalogError::InvalidInput(
            "the description holds a NUL character".into(),
        ));
    }
    if new.up_sql.trim().is_empty() {
        return Err(CatalogError::InvalidInput(format!(
            "revision {} has empty up SQL",
            new.id
        )));
    }
    Ok(())
}

/// Lints a revision's SQL off the runtime's worker threads: megabytes of SQL
/// take seconds, which would stall every other request on that worker. A
/// blank down SQL is none.
pub async fn lint_sql(up_sql: String, down_sql: String) -> LintReport {
    lint_sql_after(History::default(), up_sql, down_sql).await
}

/// [`lint_sql`] of a revision that follows `history`, the earlier
/// revisions of its lineage.
async fn lint_sql_after(history: History, up_sql: String, down_sql: String) -> LintReport {
    tokio::task::spawn_blocking(move || lint_revision(&history, &up_sql, &down_sql))
        .await
        .unwrap_or_else(|_| LintReport::parser_failed(&ParserFailure::Panicked))
}

/// The lint of a revision after `history`, on the caller's thread; a blank
/// down SQL is none.
fn lint_revision(history: &History, up_sql: &str, down_sql: &str) -> LintReport {
    schemagate_policy::lint_after(history, up_sql, down(down_sql), &LintConfig::default())
}

/// A revision's down SQL as the linter takes it: a blank one is none.
fn down(down_sql: &str) -> Option<&str> {
    (!down_sql.trim().is_empty()).then_some(down_sql)
}

/// Lints the up SQL after `history` and refuses what does not parse or
/// holds no statement.
async fn lint(new: &NewRevision, history: &History) -> Result<LintReport, CatalogError> {
    let report = lint_sql_after(history.clone(), new.up_sql.clone(), new.down_sql.clone()).await;
    // The parser quotes the offending token, which can be megabytes long.
    let short = |message: &str| -> String {
        let mut kept: String = message.chars().take(300).collect();
        if kept.len() < message.len() {
            kept.push_str(&format!("... ({} bytes)", message.len()));
        }
        kept
    };
    if let Some(err) = &report.parse_error {
        return Err(CatalogError::Unparsable {
            message: short(&err.message),
            line: err.line,
            column: err.column,
        });
    }
    if let Some(err) = &report.down_parse_error {
        return Err(CatalogError::Unparsable {
            message: format!("down SQL: {}", short(&err.message)),
            line: err.line,
            column: err.column,
        });
    }
    if report.statements == 0 {
        return Err(CatalogError::InvalidInput(format!(
            "revision {} has no SQL statement in its up SQL (only comments?)",
            new.id
        )));
    }
    // The executor runs a revision (up or down) in one transaction with its
    // version row, which a BEGIN, COMMIT or ROLLBACK inside would break.
    let up = report
        .findings
        .iter()
        .find(|f| f.rule == schemagate_policy::rules::transaction_control::INFO.id);
    let down = report.down_transaction_control.as_ref();
    for (part, found) in [("up", up), ("down", down)] {
        if let Some(found) = found {
            return Err(CatalogError::InvalidInput(format!(
                "revision {}, {part} SQL line {}: {} [{}]; {}",
                new.id, found.line, found.message, found.rule, found.help
            )));
        }
    }
    Ok(report)
}

/// What [`submit`] did with a revision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Submitted {
    Created,
    /// An identical revision was already there.
    Unchanged,
    /// The stored revision of that id was replaced; it had this checksum.
    Amended {
        previous_checksum: String,
    },
}

/// Appends a revision on top of the head, or, with `amend`, replaces the
/// stored revision of its id when that one is the head and has landed on no
/// environment: a revision that fails on its first target would otherwise
/// block every environment behind it for good. Its approvals and rejections,
/// bound to the old checksum, no longer count. Returns the stored revision
/// and what was done. Every outcome but a database failure leaves an audit
/// row.
pub async fn submit(
    db: &Db,
    submitter: Submitter<'_>,
    new: NewRevision,
) -> Result<(Revision, Submitted), CatalogError> {
    let result = submit_inner(db, submitter, &new).await;
    let outcome = match &result {
        Ok((_, Submitted::Created | Submitted::Amended { .. })) => None, // recorded inside the transaction
        Ok((_, Submitted::Unchanged)) => Some((Outcome::Ok, audit::UNCHANGED.to_string())),
        Err(CatalogError::Db(_)) => None,
        Err(err) => Some((Outcome::Refused, err.to_string())),
    };
    // An identical revision sent with --amend (an unchanged file of the
    // directory) amended nothing: it is audited as a plain submission.
    let amend = new.amend && !matches!(result, Ok((_, Submitted::Unchanged)));
    if let Some((outcome, detail)) = outcome {
        audit::record(
            db,
            &Event {
                actor: submitter.name,
                action: if amend {
                    "revision.amend"
                } else {
                    "revision.submit"
                },
                project: &new.project,
                environment: "",
                subject: &new.id,
                outcome,
                detail,
            },
        )
        .await?;
    }
    result
}

async fn submit_inner(
    db: &Db,
    submitter: Submitter<'_>,
    new: &NewRevision,
) -> Result<(Revision, Submitted), CatalogError> {
    validate(new)?;
    let checksum = checksum(&new.up_sql, &new.down_sql);
    // Linted before the lineage lock is taken (megabytes of SQL take
    // seconds), after the revisions before it read beside it. Under the
    // lock, those are checked to be unchanged; should another submit have
    // amended one meanwhile, it is linted again.
    let mut attempts = 0;
    let (mut tx, existing, earlier, report) = loop {
        let earlier = {
            // Beside a write in progress, which on SQLite holds the one
            // writing connection.
            let mut conn = db.for_reads().pool.acquire().await?;
            let existing = fetch(&mut conn, &new.project, &new.id).await?;
            match existing {
                // Sent again as it is (a directory submitted again).
                Some(existing)
                    if existing.checksum == checksum && existing.parent_id == new.parent_id =>
                {
                    return Ok((existing, Submitted::Unchanged));
                }
                _ => {
                    let place = existing.map(|existing| existing.sequence);
                    Earlier::read(&mut conn, &new.project, place).await?
                }
            }
        };
        let report = lint(new, &earlier.history).await?;
        let mut tx = db.pool.begin().await?;
        db.lock(&mut tx, &format!("schemagate.lineage.{}", new.project))
            .await?;
        let existing = fetch(&mut tx, &new.project, &new.id).await?;
        let place = existing.as_ref().map(|existing| existing.sequence);
        if earlier.unchanged(&mut tx, &new.project, place).await? {
            break (tx, existing, earlier, report);
        }
        attempts += 1;
        if attempts == 3 {
            return Err(CatalogError::Busy(format!(
                "the revisions before {} changed three times while it was linted (other submits are amending project {}); submit it again",
                new.id, new.project
            )));
        }
    };

    if let Some(existing) = existing {
        if existing.parent_id != new.parent_id {
            return Err(CatalogError::ParentClash {
                id: new.id.clone(),
                existing: display_parent(&existing.parent_id).to_string(),
                submitted: display_parent(&new.parent_id).to_string(),
            });
        }
        if existing.checksum == checksum {
            return Ok((existing, Submitted::Unchanged));
        }
        if !new.amend {
            return Err(CatalogError::IdClash {
                id: new.id.clone(),
                existing: existing.checksum,
            });
        }
        let previous_checksum = existing.checksum.clone();
        let amended = amend(
            db,
            &mut tx,
            submitter,
            existing,
            (new, &report, checksum),
            &earlier,
        )
        .await?;
        tx.commit().await?;
        return Ok((amended, Submitted::Amended { previous_checksum }));
    }

    let head = head(&mut tx, &new.project).await?;
    match (&head, new.parent_id.as_str()) {
        (None, "") => {}
        (None, parent) => {
            return Err(CatalogError::NotOnHead(format!(
                "project {} has no revisions yet, so {} must be the baseline: submit it without a parent (parent {parent} does not exist)",
                new.project, new.id
            )));
        }
        (Some((head_id, _)), "") => {
            return Err(CatalogError::NotOnHead(format!(
                "project {} already has a baseline; rebase onto {head_id} (the head) by making it {}'s parent",
                new.project, new.id
            )));
        }
        (Some((head_id, _)), parent) if parent != head_id => {
            let message = if fetch(&mut tx, &new.project, parent).await?.is_some() {
                format!(
                    "parent {parent} is not the head of project {}: rebase onto {head_id}",
                    new.project
                )
            } else {
                format!(
                    "parent {parent} does not exist in project {}: rebase onto {head_id}, the head",
                    new.project
                )
            };
            return Err(CatalogError::NotOnHead(message));
        }
        (Some((head_id, _)), _) if !number_after(&new.id, head_id) => {
            return Err(CatalogError::NotOnHead(format!(
                "{} must be numbered after {head_id}, the head of project {} it applies on: `sgctl submit DIR` orders files by their number, so a lower one would rebuild another lineage; renumber it",
                new.id, new.project
            )));
        }
        _ => {}
    }
    let sequence = head.map_or(1, |(_, sequence)| sequence + 1);
    let revision = stored(new, submitter, &report, checksum, sequence);
    write(&mut tx, &revision).await?;
    audit::append(
        db,
        &mut tx,
        &Event {
            actor: submitter.name,
            action: "revision.submit",
            project: &revision.project,
            environment: "",
            subject: &revision.id,
            outcome: Outcome::Ok,
            detail: format!(
                "parent={} checksum={} risk={}",
                display_parent(&revision.parent_id),
                revision.checksum,
                revision.risk.as_str()
            ),
        },
    )
    .await?;
    tx.commit().await?;
    Ok((revision, Submitted::Created))
}

/// `new` as the catalog stores it at `sequence`, written now by `submitter`.
fn stored(
    new: &NewRevision,
    submitter: Submitter<'_>,
    report: &LintReport,
    checksum: String,
    sequence: i64,
) -> Revision {
    Revision {
        project: new.project.clone(),
        id: new.id.clone(),
        parent_id: new.parent_id.clone(),
        sequence,
        up_sql: new.up_sql.clone(),
        down_sql: new.down_sql.clone(),
        description: new.description.clone(),
        author: submitter.name.to_string(),
        created_at_ms: now_ms(),
        checksum,
        risk: report.risk,
        lint: LintRecord::from(report),
    }
}

/// Stores `revision`: a new row, or the new content of the row of its id
/// (an amend, which keeps its project, id, parent and sequence).
async fn write(conn: &mut AnyConnection, revision: &Revision) -> Result<(), CatalogError> {
    let lint_json = serde_json::to_string(&revision.lint)
        .map_err(|err| CatalogError::InvalidInput(format!("cannot encode lint report: {err}")))?;
    sqlx::query(
        "INSERT INTO revisions (project, id, parent_id, sequence, up_sql, down_sql, description, author, created_at_ms, checksum, risk, lint_json) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
         ON CONFLICT (project, id) DO UPDATE SET up_sql = excluded.up_sql, down_sql = excluded.down_sql, \
         description = excluded.description, author = excluded.author, created_at_ms = excluded.created_at_ms, \
         checksum = excluded.checksum, risk = excluded.risk, lint_json = excluded.lint_json",
    )
    .bind(&revision.project)
    .bind(&revision.id)
    .bind(&revision.parent_id)
    .bind(revision.sequence)
    .bind(&revision.up_sql)
    .bind(&revision.down_sql)
    .bind(&revision.description)
    .bind(&revision.author)
    .bind(revision.created_at_ms)
    .bind(&revision.checksum)
    .bind(revision.risk.as_str())
    .bind(&lint_json)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Replaces `existing`'s content with `new`'s, in the caller's transaction,
/// which holds the lineage lock. Refused unless the submitter wrote it (or
/// is an admin), and neither it nor any revision after it has landed on an
/// environment (the execution records tell:
/// [`executor::landed_on`](crate::executor::landed_on)). A revision that
/// failed with others submitted after it is amended in place: those apply
/// on top of it, so nothing else could get an environment past it. The
/// amender becomes its author, for the rule against self-approval; the
/// later revisions keep their approvals, which vouch for their own SQL.
/// Their lint follows the amended one's ([`relint_later`]).
async fn amend(
    db: &Db,
    tx: &mut AnyConnection,
    submitter: Submitter<'_>,
    existing: Revision,
    (new, report, checksum): (&NewRevision, &LintReport, String),
    earlier: &Earlier,
) -> Result<Revision, CatalogError> {
    if crate::auth::person(&existing.author) != crate::auth::person(submitter.name)
        && !submitter.admin
    {
        return Err(CatalogError::NotTheAuthor {
            id: existing.id,
            author: existing.author,
        });
    }
    // A run that failed part way left some statements and no version row:
    // the target is still at the parent, so neither a rollback nor a
    // revision after this one can help; the fix is an amend, once what
    // those statements left is undone by hand (the drift check lists it).
    let landed = crate::executor::landed_on(&mut *tx, &new.project, &existing.id).await?;
    let in_part: Vec<&str> = landed
        .iter()
        .filter_map(|l| match l {
            Landed::InPart(environment) => Some(environment.as_str()),
            _ => None,
        })
        .collect();
    let blocking: Vec<String> = landed
        .iter()
        .filter(|l| !matches!(l, Landed::InPart(_)))
        .map(ToString::to_string)
        .collect();
    if !blocking.is_empty() {
        return Err(CatalogError::CannotAmend(format!(
            "{} has landed on {}: roll it back there first, or submit the fix as a new revision",
            existing.id,
            blocking.join(", ")
        )));
    }
    let later: Vec<Revision> = sqlx::query(select_revisions!(
        "WHERE project = $1 AND sequence > $2 ORDER BY sequence"
    ))
    .bind(&new.project)
    .bind(existing.sequence)
    .fetch_all(&mut *tx)
    .await?
    .iter()
    .map(revision_from_row)
    .collect::<Result<_, _>>()?;
    for Revision { id, .. } in &later {
        let landed = crate::executor::landed_on(&mut *tx, &new.project, id).await?;
        if !landed.is_empty() {
            let on: Vec<String> = landed.iter().map(ToString::to_string).collect();
            return Err(CatalogError::CannotAmend(format!(
                "{} cannot be amended: {id}, which comes after it, has landed on {}; roll back there first, or submit the fix as a new revision",
                existing.id,
                on.join(", ")
            )));
        }
    }
    // Same project, id and parent (checked by the caller), same place.
    let revision = stored(new, submitter, report, checksum, existing.sequence);
    let (previous_checksum, previous_author) = (existing.checksum.clone(), existing.author.clone());
    write(&mut *tx, &revision).await?;
    let mut relinted = String::new();
    for (later, was) in relint_later(&earlier.history, &existing.up_sql, &new.up_sql, later).await {
        write(&mut *tx, &later).await?;
        relinted.push_str(&format!(" {}={}(was {was})", later.id, later.risk.as_str()));
    }
    audit::append(
        db,
        tx,
        &Event {
            actor: submitter.name,
            action: "revision.amend",
            project: &revision.project,
            environment: "",
            subject: &revision.id,
            outcome: Outcome::Ok,
            detail: format!(
                "checksum={} previous_checksum={previous_checksum} risk={} previous_author={previous_author}{}{}",
                revision.checksum,
                revision.risk.as_str(),
                if in_part.is_empty() {
                    String::new()
                } else {
                    format!(" ran_in_part_on={}", in_part.join(","))
                },
                if relinted.is_empty() {
                    String::new()
                } else {
                    format!(" relinted:{relinted}")
                }
            ),
        },
    )
    .await?;
    Ok(revision)
}

/// The revisions after an amended one whose lint changes with it: a
/// check it validated or a domain it made is known to their lint
/// ([`History`]), so that their risk class may go up or down. Each is
/// linted after the lineage as it was and as it is now, with today's
/// rules; one whose two lints differ gets the new one, and comes back with
/// the risk class it had. The others keep the lint they were given at
/// submission.
async fn relint_later(
    earlier: &History,
    was: &str,
    now: &str,
    later: Vec<Revision>,
) -> Vec<(Revision, RiskClass)> {
    let (mut before, mut after) = (earlier.clone(), earlier.clone());
    let (was, now) = (was.to_string(), now.to_string());
    tokio::task::spawn_blocking(move || {
        before.then(&was);
        after.then(&now);
        let mut changed = Vec::new();
        for mut revision in later {
            if before == after {
                break;
            }
            let old = lint_revision(&before, &revision.up_sql, &revision.down_sql);
            let new = lint_revision(&after, &revision.up_sql, &revision.down_sql);
            before.then(&revision.up_sql);
            after.then(&revision.up_sql);
            let new_record = LintRecord::from(&new);
            if LintRecord::from(&old) != new_record || old.risk != new.risk {
                let was = revision.risk;
                revision.risk = new.risk;
                revision.lint = new_record;
                changed.push((revision, was));
            }
        }
        changed
    })
    .await
    .unwrap_or_default()
}

/// What [`relint_stored`] found: the revisions linted again, and those
/// whose stored lint it replaced, each with the risk class it had.
#[derive(Debug, Default)]
pub struct Relinted {
    pub revisions: usize,
    pub changed: Vec<(Revision, RiskClass)>,
}

/// Lints every stored revision again with this server's rules, each after
/// its lineage, and stores each lint that differs from the stored one. A
/// rule added or changed since a revision was submitted (a server upgrade)
/// can change its findings and its risk class, and the gate judges a
/// revision by its stored class: a DROP the old rules missed must not run
/// on one approval for an additive change. Approvals are kept, as after an
/// amend relints the revisions behind it: they vouch for the SQL, and the
/// matrix of the new class says how many of which roles it needs. Each
/// change is audited (`revision.relint`). Each project is relinted under
/// its lineage lock, so a submit waits for it. Revisions whose SQL no
/// longer parses keep their stored lint.
pub async fn relint_stored(db: &Db) -> Result<Relinted, CatalogError> {
    let projects: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT project FROM revisions ORDER BY project")
            .fetch_all(&db.pool)
            .await?;
    let mut relinted = Relinted::default();
    for project in projects {
        let mut tx = db.pool.begin().await?;
        db.lock(&mut tx, &format!("schemagate.lineage.{project}"))
            .await?;
        let lineage: Vec<Revision> =
            sqlx::query(select_revisions!("WHERE project = $1 ORDER BY sequence"))
                .bind(&project)
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(revision_from_row)
                .collect::<Result<_, _>>()?;
        relinted.revisions += lineage.len();
        let changed = tokio::task::spawn_blocking(move || relint_lineage(lineage))
            .await
            .map_err(|err| {
                CatalogError::InvalidInput(format!(
                    "linting project {project}'s revisions again failed: {err}"
                ))
            })?;
        for (revision, was) in &changed {
            write(&mut tx, revision).await?;
            audit::append(
                db,
                &mut tx,
                &Event {
                    actor: "schemagate-server",
                    action: "revision.relint",
                    project: &revision.project,
                    environment: "",
                    subject: &revision.id,
                    outcome: Outcome::Ok,
                    detail: format!(
                        "risk={} previous_risk={} findings={}",
                        revision.risk.as_str(),
                        was.as_str(),
                        finding_rules(&revision.lint)
                    ),
                },
            )
            .await?;
        }
        tx.commit().await?;
        relinted.changed.extend(changed);
    }
    Ok(relinted)
}

/// The revisions of one lineage, in order, whose lint with today's rules
/// differs from the stored one, with the lint replaced.
fn relint_lineage(lineage: Vec<Revision>) -> Vec<(Revision, RiskClass)> {
    let sql: Vec<(&str, Option<&str>)> = lineage
        .iter()
        .map(|r| (r.up_sql.as_str(), down(&r.down_sql)))
        .collect();
    let reports = schemagate_policy::lint_lineage(&sql, &LintConfig::default());
    let mut changed = Vec::new();
    for (mut revision, report) in lineage.into_iter().zip(reports) {
        if report.parse_error.is_some() || report.down_parse_error.is_some() {
            continue;
        }
        let lint = LintRecord::from(&report);
        if lint != revision.lint || report.risk != revision.risk {
            let was = revision.risk;
            revision.risk = report.risk;
            revision.lint = lint;
            changed.push((revision, was));
        }
    }
    changed
}

/// The rule ids of a lint's findings, `rule@line`, comma-separated (`-`
/// for none).
fn finding_rules(lint: &LintRecord) -> String {
    if lint.findings.is_empty() {
        return "-".into();
    }
    lint.findings
        .iter()
        .map(|f| format!("{}@{}", f.rule, f.line))
        .collect::<Vec<_>>()
        .join(",")
}

fn display_parent(parent: &str) -> &str {
    if parent.is_empty() {
        "(baseline)"
    } else {
        parent
    }
}

/// The newest revision's id and sequence.
async fn head(
    conn: &mut AnyConnection,
    project: &str,
) -> Result<Option<(String, i64)>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT id, sequence FROM revisions WHERE project = $1 ORDER BY sequence DESC LIMIT 1",
    )
    .bind(project)
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
        .transpose()
}

async fn fetch(
    conn: &mut AnyConnection,
    project: &str,
    id: &str,
) -> Result<Option<Revision>, CatalogError> {
    let row = sqlx::query(select_revisions!("WHERE project = $1 AND id = $2"))
        .bind(project)
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(revision_from_row).transpose()
}

fn revision_from_row(row: &sqlx::any::AnyRow) -> Result<Revision, CatalogError> {
    let id: String = row.try_get(1)?;
    let risk: String = row.try_get(10)?;
    let risk: RiskClass = risk.parse().map_err(|_| {
        CatalogError::InvalidInput(format!("stored risk class '{risk}' of {id} is unknown"))
    })?;
    let lint_json: String = row.try_get(11)?;
    let lint: LintRecord = serde_json::from_str(&lint_json).map_err(|err| {
        CatalogError::InvalidInput(format!("stored lint report of {id} is unreadable: {err}"))
    })?;
    Ok(Revision {
        project: row.try_get(0)?,
        id,
        parent_id: row.try_get(2)?,
        sequence: row.try_get(3)?,
        up_sql: row.try_get(4)?,
        down_sql: row.try_get(5)?,
        description: row.try_get(6)?,
        author: row.try_get(7)?,
        created_at_ms: row.try_get(8)?,
        checksum: row.try_get(9)?,
        risk,
        lint,
    })
}

pub async fn get(db: &Db, project: &str, id: &str) -> Result<Revision, CatalogError> {
    validate_id(id)?;
    let mut conn = db.pool.acquire().await?;
    fetch(&mut conn, project, id)
        .await?
        .ok_or_else(|| CatalogError::NotFound {
            project: project.to_string(),
            id: id.to_string(),
        })
}

/// The lineage in order, baseline first.
/// A project's revisions in lineage order; none for a project the catalog
/// does not hold (see [`unknown_project`]).
pub async fn history(db: &Db, project: &str) -> Result<Vec<Revision>, CatalogError> {
    let rows = sqlx::query(select_revisions!("WHERE project = $1 ORDER BY sequence"))
        .bind(project)
        .fetch_all(&db.pool)
        .await?;
    rows.iter().map(revision_from_row).collect()
}

/// The projects the catalog holds besides `project`: what a refusal for a
/// project without revisions names, so that a mistyped `--project` is told
/// apart from a project that has not started.
pub async fn other_projects(db: &Db, project: &str) -> Result<Vec<String>, CatalogError> {
    // Not `project` itself: a first submission racing this call makes it
    // known, and the call then answers as at its own reading.
    let known: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT project FROM revisions WHERE project <> $1 ORDER BY project",
    )
    .bind(project)
    .fetch_all(&db.pool)
    .await?;
    Ok(known)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_ignores_line_endings_and_trailing_blanks() {
        let a = checksum("CREATE TABLE t (id int);\n", "DROP TABLE t;");
        let b = checksum("CREATE TABLE t (id int);   \r\n\r\n", "DROP TABLE t;\n");
        assert_eq!(a, b);
        assert_ne!(a, checksum("CREATE TABLE t (id bigint);", "DROP TABLE t;"));
        // Moving text between up and down changes the identity.
        assert_ne!(checksum("a", "b"), checksum("", "a\0down\nb"));
    }

    #[test]
    fn revision_ids_follow_the_naming_rule() {
        for good in ["0001_baseline", "12345_add_pour_index", "0002_v2"] {
            assert!(validate_id(good).is_ok(), "{good}");
        }
        for bad in [
            "001_short",
            "0001-baseline",
            "0001_Baseline",
            "0001_",
            "x0001_a",
            "0001_a\n",
            "",
        ] {
            assert!(validate_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn empty_project_means_default() {
        assert_eq!(project_name("").unwrap(), "default");
        assert!(project_name("Bad Name").is_err());
    }

    #[test]
    fn error_messages_quote_a_bounded_escaped_prefix_of_the_input() {
        let long = format!("{}\u{1}", "x".repeat(1_000_000));
        for message in [
            validate_id(&long).unwrap_err().to_string(),
            project_name(&long).unwrap_err().to_string(),
        ] {
            assert!(message.len() < 300, "{} bytes", message.len());
            assert!(message.contains("... (1000001 bytes)"), "{message}");
        }
        let message = validate_id("0001_a\n\u{1b}").unwrap_err().to_string();
        assert!(message.contains("'0001_a\\n\\u{1b}'"), "{message}");
    }
}
