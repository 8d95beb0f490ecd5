//! The gRPC layer: authenticates each call, checks its role, hands it to the
//! domain module that owns the concept and converts the answer. No business
//! rule lives here.

mod convert;
mod release;
mod status;

use crate::auth::{Authenticator, Caller, Role};
use crate::catalog::{self, NewRevision};
use crate::db::Db;
use crate::{audit, fleet};
use schemagate_proto::v1;
use std::sync::Arc;
use tonic::{Request, Response, Status};

/// Roles that may read the catalog, its audit log and lint results.
const READERS: &[Role] = &[Role::Developer, Role::Approver, Role::Deployer, Role::Admin];

/// What every service shares.
pub struct State {
    pub db: Db,
    pub auth: Authenticator,
    /// None when the server runs without a policy file (catalog only).
    pub policy: Option<Arc<crate::config::Policy>>,
    /// Calls and executions running now, waited for at shutdown.
    pub in_flight: crate::rpc::InFlight,
    /// The fleet report writer, which commits reports in batches.
    pub reports: fleet::ReportQueue,
    /// How many more role refusals of each caller are audited this minute.
    pub role_refusals: audit::RefusalBudget,
}

impl State {
    fn caller<T>(&self, request: &Request<T>, roles: &[Role]) -> Result<Caller, Status> {
        let caller = self.auth.authenticate(request.metadata())?;
        tracing::Span::current().record("caller", caller.subject.as_str());
        caller.require(roles)?;
        Ok(caller)
    }

    /// [`State::caller`] for a call that changes state: a caller without the
    /// role is refused and the attempt audited as `action` (with what the
    /// request names, as sent), like the refusals the domain makes itself.
    async fn actor<T>(
        &self,
        request: &Request<T>,
        roles: &[Role],
        action: &str,
        names: Names<'_>,
    ) -> Result<Caller, Status> {
        let caller = self.auth.authenticate(request.metadata())?;
        tracing::Span::current().record("caller", caller.subject.as_str());
        if let Err(refusal) = caller.require(roles) {
            let mut detail = refusal.to_string();
            match self.role_refusals.spend(&caller.subject) {
                audit::RefusalAudit::Row => {}
                audit::RefusalAudit::LastRow => detail.push_str(&format!(
                    "; the last of {} such refusals of {}'s calls audited this minute: the next ones are refused without a row",
                    audit::ROLE_REFUSALS_AUDITED_PER_MINUTE,
                    caller.subject
                )),
                audit::RefusalAudit::Skip => return Err(refusal.into()),
            }
            crate::audit::record(
                &self.db,
                &crate::audit::Event {
                    actor: &caller.subject,
                    action,
                    project: names.project,
                    environment: names.environment,
                    subject: names.subject,
                    outcome: crate::audit::Outcome::Refused,
                    detail,
                },
            )
            .await
            .map_err(status::database)?;
            return Err(refusal.into());
        }
        Ok(caller)
    }
}

/// What a refused call named, for its audit row.
#[derive(Clone, Copy)]
struct Names<'a> {
    project: &'a str,
    environment: &'a str,
    subject: &'a str,
}

impl<'a> Names<'a> {
    fn new(project: &'a str, environment: &'a str, subject: &'a str) -> Names<'a> {
        Names {
            project,
            environment,
            subject,
        }
    }
}

#[derive(Clone)]
pub struct Services(pub Arc<State>);

#[tonic::async_trait]
impl v1::catalog_server::Catalog for Services {
    async fn submit_revision(
        &self,
        request: Request<v1::SubmitRevisionRequest>,
    ) -> Result<Response<v1::SubmitRevisionResponse>, Status> {
        let names = Names::new(&request.get_ref().project, "", &request.get_ref().id);
        let caller = self
            .0
            .actor(
                &request,
                &[Role::Developer, Role::Admin],
                "revision.submit",
                names,
            )
            .await?;
        let req = request.into_inner();
        let new = NewRevision {
            project: catalog::project_name(&req.project)?,
            id: req.id,
            parent_id: req.parent_id,
            up_sql: req.up_sql,
            down_sql: req.down_sql,
            description: req.description,
            amend: req.amend,
        };
        let submitter = catalog::Submitter {
            name: &caller.subject,
            admin: caller.has(Role::Admin),
        };
        let (revision, submitted) = catalog::submit(&self.0.db, submitter, new).await?;
        tracing::info!(
            caller = %caller.subject,
            revision = %revision.id,
            outcome = ?submitted,
            risk = revision.risk.as_str(),
            "revision submitted"
        );
        let (created, previous_checksum) = match submitted {
            catalog::Submitted::Created => (true, String::new()),
            catalog::Submitted::Unchanged => (false, String::new()),
            catalog::Submitted::Amended { previous_checksum } => (false, previous_checksum),
        };
        Ok(Response::new(v1::SubmitRevisionResponse {
            revision: Some(convert::revision(&revision)),
            created,
            amended_checksum: previous_checksum,
        }))
    }

    async fn get_revision(
        &self,
        request: Request<v1::GetRevisionRequest>,
    ) -> Result<Response<v1::Revision>, Status> {
        self.0.caller(&request, READERS)?;
        let req = request.into_inner();
        let project = catalog::project_name(&req.project)?;
        let revision = catalog::get(&self.0.db, &project, &req.id).await?;
        Ok(Response::new(convert::revision(&revision)))
    }

    async fn list_history(
        &self,
        request: Request<v1::ListHistoryRequest>,
    ) -> Result<Response<v1::ListHistoryResponse>, Status> {
        self.0.caller(&request, READERS)?;
        let project = catalog::project_name(&request.get_ref().project)?;
        let revisions = catalog::history(&self.0.db, &project).await?;
        // An empty history is still an answer (a submission asks it for the
        // head of a new project); what else the catalog holds tells a
        // reader whether the project is mistyped.
        let other_projects = if revisions.is_empty() {
            catalog::other_projects(&self.0.db, &project).await?
        } else {
            Vec::new()
        };
        Ok(Response::new(v1::ListHistoryResponse {
            head: revisions.last().map(|r| r.id.clone()).unwrap_or_default(),
            revisions: revisions.iter().map(convert::revision).collect(),
            other_projects,
        }))
    }
}

#[tonic::async_trait]
impl v1::policy_server::Policy for Services {
    async fn lint(
        &self,
        request: Request<v1::LintRequest>,
    ) -> Result<Response<v1::LintReport>, Status> {
        self.0.caller(&request, READERS)?;
        let req = request.into_inner();
        let size = req.up_sql.len() + req.down_sql.len();
        if size > catalog::MAX_SQL_BYTES {
            return Err(Status::invalid_argument(format!(
                "the SQL is {size} bytes; the limit is {} bytes",
                catalog::MAX_SQL_BYTES
            )));
        }
        let report = catalog::lint_sql(req.up_sql, req.down_sql).await;
        Ok(Response::new(convert::lint_report(&report)))
    }

    async fn get_policy(
        &self,
        request: Request<v1::GetPolicyRequest>,
    ) -> Result<Response<v1::GetPolicyResponse>, Status> {
        self.0.caller(&request, READERS)?;
        let policy = self.0.policy.as_ref().ok_or_else(|| {
            Status::failed_precondition(
                "this server runs without a policy file: start it with SCHEMAGATE_CONFIG=path/to/schemagate.toml",
            )
        })?;
        Ok(Response::new(v1::GetPolicyResponse {
            source: policy.source.clone(),
            sha256: policy.sha256.clone(),
            environments: policy.environments.iter().map(|e| e.name.clone()).collect(),
            details: policy
                .environments
                .iter()
                .map(convert::environment_policy)
                .collect(),
            emergency: policy
                .emergency
                .as_ref()
                .map(|emergency| {
                    format!(
                        "what the matrix forbids passes only with {}",
                        emergency.describe()
                    )
                })
                .unwrap_or_default(),
        }))
    }
}

#[tonic::async_trait]
impl v1::audit_server::Audit for Services {
    async fn list_audit(
        &self,
        request: Request<v1::ListAuditRequest>,
    ) -> Result<Response<v1::ListAuditResponse>, Status> {
        self.0.caller(&request, READERS)?;
        let req = request.into_inner();
        let limit = match req.limit {
            0 => 100,
            n => n.min(10_000),
        };
        // Any name is a valid filter (rows keep the names of environments a
        // policy no longer declares), but a control character never is, and
        // a NUL cannot even be compared on a PostgreSQL catalog.
        for (what, value) in [("environment", &req.environment), ("project", &req.project)] {
            if value.len() > 1024 || value.chars().any(char::is_control) {
                return Err(Status::invalid_argument(format!(
                    "the {what} filter '{}' must be at most 1024 bytes without control characters",
                    catalog::quoted(value)
                )));
            }
        }
        fn given(value: &str) -> Option<&str> {
            (!value.is_empty()).then_some(value)
        }
        let filter = audit::Filter {
            project: given(&req.project),
            environment: given(&req.environment),
            since_ms: req.since.as_ref().map(convert::timestamp_ms),
            limit,
        };
        let entries = audit::list(&self.0.db, filter)
            .await
            .map_err(status::database)?;
        Ok(Response::new(v1::ListAuditResponse {
            entries: entries.into_iter().map(convert::audit_entry).collect(),
        }))
    }

    async fn verify_audit(
        &self,
        request: Request<v1::VerifyAuditRequest>,
    ) -> Result<Response<v1::VerifyAuditResponse>, Status> {
        self.0.caller(&request, READERS)?;
        let anchor = request.get_ref().anchor_sha256.trim().to_ascii_lowercase();
        if !anchor.is_empty()
            && (anchor.len() != 64 || !anchor.bytes().all(|b| b.is_ascii_hexdigit()))
        {
            return Err(Status::invalid_argument(
                "the anchor must be a sha256 in hex (64 digits), as `sgctl audit verify` prints the head's",
            ));
        }
        let verification =
            audit::verify(&self.0.db, (!anchor.is_empty()).then_some(anchor.as_str()))
                .await
                .map_err(status::database)?;
        let (first_broken_id, mut detail) = verification.first_broken.unwrap_or_default();
        if first_broken_id == 0 && !verification.anchor_found {
            detail = format!(
                "the anchor {anchor} is not in the chain: rows up to it were deleted or rewritten since it was recorded"
            );
        }
        let (head_id, head_sha256) = verification.head.unwrap_or_default();
        Ok(Response::new(v1::VerifyAuditResponse {
            intact: first_broken_id == 0 && verification.anchor_found,
            rows_checked: verification.rows_checked,
            first_broken_id,
            detail,
            head_id,
            head_sha256,
        }))
    }
}

#[tonic::async_trait]
impl v1::fleet_server::Fleet for Services {
    async fn report_journal_state(
        &self,
        request: Request<v1::JournalReport>,
    ) -> Result<Response<v1::ReportAck>, Status> {
        let caller = self.0.caller(&request, &[Role::Agent])?;
        let report = request.into_inner();
        let received = self
            .0
            .reports
            .record(caller.controller_id.as_deref(), &report)
            .await?;
        tracing::debug!(controller = %report.controller_id, status = %report.status, "journal report");
        Ok(Response::new(v1::ReportAck {
            received_at: Some(convert::timestamp(received)),
        }))
    }

    async fn list_controllers(
        &self,
        request: Request<v1::ListControllersRequest>,
    ) -> Result<Response<v1::ListControllersResponse>, Status> {
        self.0.caller(&request, READERS)?;
        let flag = request.get_ref().flag.as_str();
        let default = crate::config::Fleet::default();
        let config = self.0.policy.as_ref().map_or(&default, |p| &p.fleet);
        let states = fleet::list(&self.0.db, (!flag.is_empty()).then_some(flag), config).await?;
        Ok(Response::new(v1::ListControllersResponse {
            controllers: states
                .into_iter()
                .map(|state| v1::ControllerView {
                    controller_id: state.controller_id,
                    last_report_at: state.last_report_at_ms.map(convert::timestamp),
                    flags: state.flags.iter().map(|f| f.to_string()).collect(),
                    last_report: state.report,
                })
                .collect(),
            schema_reference: fleet::schema_reference(config).to_string(),
        }))
    }
}
