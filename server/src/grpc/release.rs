//! The release services: Approvals, Gate, Execution and Onboarding. Each
//! call authenticates, checks the role and hands over to its domain module.

use super::{Names, READERS, Services, convert};
use crate::auth::Role;
use crate::catalog;
use crate::executor::{self, Request as ExecutionRequest};
use crate::gate::{self, Lock};
use crate::onboarding::{self, StampRequest};
use crate::release::{self, Action, ReleaseError};
use crate::target::{self, Target, TargetError};
use crate::{approvals, drift};
use schemagate_proto::v1;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;
use tonic::codegen::BoxStream;
use tonic::{Request, Response, Status};

const APPROVERS: &[Role] = &[Role::Approver, Role::Admin];
const DEPLOYERS: &[Role] = &[Role::Deployer, Role::Admin];

impl Services {
    fn policy(&self) -> Result<&crate::config::Policy, ReleaseError> {
        release::policy(self.0.policy.as_deref())
    }
}

fn record_span(revision: &str, environment: &str) {
    let span = tracing::Span::current();
    span.record("revision", revision);
    span.record("environment", environment);
}

#[tonic::async_trait]
impl v1::approvals_server::Approvals for Services {
    async fn approve(
        &self,
        request: Request<v1::ApproveRequest>,
    ) -> Result<Response<v1::ApprovalRecord>, Status> {
        let r = request.get_ref();
        let names = Names::new(&r.project, &r.environment, &r.revision_id);
        let caller = self
            .0
            .actor(&request, APPROVERS, "approval.approve", names)
            .await?;
        let req = request.into_inner();
        let project = catalog::project_name(&req.project)?;
        record_span(&req.revision_id, &req.environment);
        let approval = approvals::decide(
            &self.0.db,
            self.policy()?,
            &caller,
            &approvals::Decision {
                project: &project,
                revision_id: &req.revision_id,
                environment: &req.environment,
                action: Action::from_rollback_flag(req.rollback),
                approve: true,
                reason: &req.reason,
                comment: &req.comment,
            },
        )
        .await?;
        Ok(Response::new(convert::approval(approval)))
    }

    async fn reject(
        &self,
        request: Request<v1::RejectRequest>,
    ) -> Result<Response<v1::ApprovalRecord>, Status> {
        let r = request.get_ref();
        let names = Names::new(&r.project, &r.environment, &r.revision_id);
        let caller = self
            .0
            .actor(&request, APPROVERS, "approval.reject", names)
            .await?;
        let req = request.into_inner();
        let project = catalog::project_name(&req.project)?;
        record_span(&req.revision_id, &req.environment);
        let approval = approvals::decide(
            &self.0.db,
            self.policy()?,
            &caller,
            &approvals::Decision {
                project: &project,
                revision_id: &req.revision_id,
                environment: &req.environment,
                action: Action::from_rollback_flag(req.rollback),
                approve: false,
                reason: &req.reason,
                comment: "",
            },
        )
        .await?;
        Ok(Response::new(convert::approval(approval)))
    }

    async fn revoke(
        &self,
        request: Request<v1::RevokeRequest>,
    ) -> Result<Response<v1::ApprovalRecord>, Status> {
        let r = request.get_ref();
        let names = Names::new(&r.project, &r.environment, &r.revision_id);
        let caller = self
            .0
            .actor(&request, APPROVERS, "approval.revoke", names)
            .await?;
        let req = request.into_inner();
        let project = catalog::project_name(&req.project)?;
        record_span(&req.revision_id, &req.environment);
        let approval = approvals::revoke(
            &self.0.db,
            self.policy()?,
            &caller,
            &project,
            &req.revision_id,
            &req.environment,
            Action::from_rollback_flag(req.rollback),
            match req.approver.as_str() {
                "" => approvals::Whose::Own,
                approver => approvals::Whose::Of {
                    approver,
                    reason: &req.reason,
                },
            },
        )
        .await?;
        Ok(Response::new(convert::approval(approval)))
    }

    async fn list_approvals(
        &self,
        request: Request<v1::ListApprovalsRequest>,
    ) -> Result<Response<v1::ListApprovalsResponse>, Status> {
        self.0.caller(&request, READERS)?;
        let req = request.into_inner();
        let project = catalog::project_name(&req.project)?;
        let environment = (!req.environment.is_empty()).then_some(req.environment.as_str());
        let list = approvals::list(
            &self.0.db,
            self.policy()?,
            &project,
            &req.revision_id,
            environment,
        )
        .await?;
        Ok(Response::new(v1::ListApprovalsResponse {
            approvals: list.into_iter().map(convert::approval).collect(),
        }))
    }
}

#[tonic::async_trait]
impl v1::gate_server::Gate for Services {
    async fn check_gate(
        &self,
        request: Request<v1::CheckGateRequest>,
    ) -> Result<Response<v1::GateVerdict>, Status> {
        self.0.caller(&request, READERS)?;
        let req = request.into_inner();
        let project = catalog::project_name(&req.project)?;
        record_span(&req.revision_id, &req.environment);
        let policy = self.policy()?;
        let env = release::environment(policy, &req.environment)?;
        let revision = catalog::get(&self.0.db, &project, &req.revision_id).await?;
        let target = Target::of(env);
        let mut conn = match &target {
            Ok(target) => target.connect("schemagate gate check").await,
            Err(err) => Err(err.clone()),
        };
        let verdict = gate::check(
            &self.0.db,
            policy,
            env,
            &revision,
            Action::from_rollback_flag(req.rollback),
            conn.as_mut().map_err(|e| &*e),
            Lock::Probe,
        )
        .await;
        if let Ok(conn) = conn {
            target::close(conn).await;
        }
        Ok(Response::new(convert::verdict(verdict?)))
    }

    async fn freeze(
        &self,
        request: Request<v1::FreezeRequest>,
    ) -> Result<Response<v1::FreezeResponse>, Status> {
        self.set_frozen(request, true).await
    }

    async fn unfreeze(
        &self,
        request: Request<v1::FreezeRequest>,
    ) -> Result<Response<v1::FreezeResponse>, Status> {
        self.set_frozen(request, false).await
    }

    async fn open_window(
        &self,
        request: Request<v1::OpenWindowRequest>,
    ) -> Result<Response<v1::OpenWindowResponse>, Status> {
        let caller = self
            .0
            .actor(
                &request,
                &[Role::Admin],
                "environment.open_window",
                Names::new("", &request.get_ref().environment, ""),
            )
            .await?;
        let req = request.into_inner();
        let env = release::environment(self.policy()?, &req.environment)?;
        let expires = req
            .expires_at
            .as_ref()
            .map(convert::timestamp_ms)
            .ok_or_else(|| {
                Status::invalid_argument(
                    "expires_at is missing: say when the one-off window closes",
                )
            })?;
        let (controls, replaced) =
            gate::open_window(&self.0.db, &caller, &env.name, &req.reason, expires).await?;
        Ok(Response::new(v1::OpenWindowResponse {
            environment: env.name.clone(),
            expires_at: controls.window_expires_at_ms.map(convert::timestamp),
            replaced: replaced.unwrap_or_default(),
        }))
    }
}

impl Services {
    async fn set_frozen(
        &self,
        request: Request<v1::FreezeRequest>,
        frozen: bool,
    ) -> Result<Response<v1::FreezeResponse>, Status> {
        let caller = self
            .0
            .actor(
                &request,
                &[Role::Admin],
                if frozen {
                    "environment.freeze"
                } else {
                    "environment.unfreeze"
                },
                Names::new("", &request.get_ref().environment, ""),
            )
            .await?;
        let req = request.into_inner();
        let env = release::environment(self.policy()?, &req.environment)?;
        let controls =
            gate::set_frozen(&self.0.db, &caller, &env.name, frozen, &req.reason).await?;
        Ok(Response::new(v1::FreezeResponse {
            environment: env.name.clone(),
            frozen: controls.frozen,
            reason: controls.freeze_reason,
        }))
    }

    fn execute_stream(
        &self,
        request: ExecutionRequest,
    ) -> Result<Response<BoxStream<v1::ExecutionEvent>>, Status> {
        let policy = self
            .0
            .policy
            .clone()
            .ok_or_else(|| Status::from(ReleaseError::NoPolicy))?;
        let running = self.0.in_flight.enter(&format!(
            "execution {} on {}",
            request.action.as_str(),
            request.environment
        ));
        let events = executor::start(self.0.db.clone(), policy, request, running);
        let stream = ReceiverStream::new(events).map(|item| match item {
            Ok(event) => Ok(convert::execution_event(event)),
            Err(err) => Err(Status::from(err)),
        });
        Ok(Response::new(Box::pin(stream)))
    }
}

#[tonic::async_trait]
impl v1::execution_server::Execution for Services {
    async fn execute(
        &self,
        request: Request<v1::ExecuteRequest>,
    ) -> Result<Response<BoxStream<v1::ExecutionEvent>>, Status> {
        let caller = self
            .0
            .actor(
                &request,
                DEPLOYERS,
                "execution.apply",
                Names::new(
                    &request.get_ref().project,
                    &request.get_ref().environment,
                    &request.get_ref().up_to,
                ),
            )
            .await?;
        let req = request.into_inner();
        let project = catalog::project_name(&req.project)?;
        record_span(&req.up_to, &req.environment);
        release::environment(self.policy()?, &req.environment)?;
        self.execute_stream(ExecutionRequest {
            project,
            environment: req.environment,
            up_to: (!req.up_to.is_empty()).then_some(req.up_to),
            action: Action::Apply,
            caller,
        })
    }

    async fn rollback(
        &self,
        request: Request<v1::RollbackRequest>,
    ) -> Result<Response<BoxStream<v1::ExecutionEvent>>, Status> {
        let caller = self
            .0
            .actor(
                &request,
                DEPLOYERS,
                "execution.rollback",
                Names::new(
                    &request.get_ref().project,
                    &request.get_ref().environment,
                    "",
                ),
            )
            .await?;
        let req = request.into_inner();
        let project = catalog::project_name(&req.project)?;
        record_span("", &req.environment);
        release::environment(self.policy()?, &req.environment)?;
        self.execute_stream(ExecutionRequest {
            project,
            environment: req.environment,
            up_to: None,
            action: Action::Rollback,
            caller,
        })
    }

    async fn get_execution(
        &self,
        request: Request<v1::GetExecutionRequest>,
    ) -> Result<Response<v1::ExecutionRecord>, Status> {
        self.0.caller(&request, READERS)?;
        let record = executor::get(&self.0.db, &request.get_ref().execution_id).await?;
        Ok(Response::new(convert::execution_record(record)))
    }

    async fn status(
        &self,
        request: Request<v1::StatusRequest>,
    ) -> Result<Response<v1::StatusResponse>, Status> {
        self.0.caller(&request, READERS)?;
        let req = request.into_inner();
        let project = catalog::project_name(&req.project)?;
        let env = release::environment(self.policy()?, &req.environment)?;
        // What the catalog knows is shown even when the target cannot be
        // read: in an incident the target may be the thing that is down.
        let history = release::lineage(&self.0.db, &project).await?;
        let current = target::current_on(env, &project, "schemagate status").await;
        let recent = executor::recent(&self.0.db, &project, &env.name, 10)
            .await
            .map_err(ReleaseError::from)?;
        let (window, freeze) = gate::window_and_freeze(&self.0.db, env)
            .await
            .map_err(ReleaseError::from)?;
        let mut response = v1::StatusResponse {
            environment: env.name.clone(),
            recent_executions: recent.into_iter().map(convert::execution_record).collect(),
            window: Some(convert::condition(window)),
            freeze: Some(convert::condition(freeze)),
            ..Default::default()
        };
        match current {
            Ok(current) => {
                let after = match &current {
                    None => Some(0),
                    Some(c) => history.iter().position(|r| r.id == c.id).map(|i| i + 1),
                };
                match after {
                    Some(after) => {
                        response.pending_revisions =
                            history.iter().skip(after).map(|r| r.id.clone()).collect();
                    }
                    None => {
                        response.off_lineage = format!(
                            "the target is at {}, which is not in the lineage of project {project}: nothing can be deployed on top of it; restore the target, or correct its version row (schemagate.applied_revisions)",
                            current.as_ref().map_or("", |c| c.id.as_str())
                        );
                    }
                }
                mark_queued(&mut response.recent_executions, &history, current.as_ref());
                response.current_revision = current.map(|c| c.id).unwrap_or_default();
            }
            Err(err) => {
                if let TargetError::Failed { .. } = err {
                    tracing::warn!(error = %err, "target database error");
                }
                response.target_unreachable = matches!(err, TargetError::Unreachable { .. });
                response.target_error = err.to_string();
            }
        }
        Ok(Response::new(response))
    }
}

/// An execution writes the next revision's record, as running, while the
/// revision before it runs. A running record whose revision's parent is not
/// the target's current revision, and which is not the current revision
/// itself (committed, its record not written yet), cannot have started: it
/// is shown queued.
fn mark_queued(
    records: &mut [v1::ExecutionRecord],
    history: &[catalog::Revision],
    current: Option<&target::Applied>,
) {
    let current = current.map(|c| c.id.as_str()).unwrap_or_default();
    for record in records {
        if record.state != i32::from(v1::ExecutionState::Running) || record.action != "apply" {
            continue;
        }
        let parent = history
            .iter()
            .find(|r| r.id == record.revision_id)
            .map(|r| r.parent_id.as_str());
        if record.revision_id != current && parent.is_some_and(|parent| parent != current) {
            record.state = v1::ExecutionState::Queued.into();
        }
    }
}

#[tonic::async_trait]
impl v1::onboarding_server::Onboarding for Services {
    async fn stamp(
        &self,
        request: Request<v1::StampRequest>,
    ) -> Result<Response<v1::StampResponse>, Status> {
        let caller = self
            .0
            .actor(
                &request,
                DEPLOYERS,
                "target.stamp",
                Names::new(
                    &request.get_ref().project,
                    &request.get_ref().environment,
                    &request.get_ref().revision_id,
                ),
            )
            .await?;
        let req = request.into_inner();
        let project = catalog::project_name(&req.project)?;
        record_span(&req.revision_id, &req.environment);
        let stamped = onboarding::stamp(
            &self.0.db,
            self.policy()?,
            &caller,
            &StampRequest {
                project: &project,
                environment: &req.environment,
                revision_id: &req.revision_id,
                force: req.force,
                reason: &req.reason,
                restored: req.restored,
            },
        )
        .await?;
        Ok(Response::new(v1::StampResponse {
            fingerprint: stamped.fingerprint,
            forced: stamped.forced,
            differences: stamped
                .differences
                .iter()
                .map(ToString::to_string)
                .collect(),
        }))
    }

    async fn check_drift(
        &self,
        request: Request<v1::CheckDriftRequest>,
    ) -> Result<Response<v1::DriftReport>, Status> {
        self.0.caller(&request, READERS)?;
        let req = request.into_inner();
        let project = catalog::project_name(&req.project)?;
        let answer =
            onboarding::check_drift(&self.0.db, self.policy()?, &project, &req.environment).await?;
        let drift::Report {
            drifted,
            expected_fingerprint,
            live_fingerprint,
            differences,
            ..
        } = answer.report;
        Ok(Response::new(v1::DriftReport {
            drifted,
            current_revision: answer.current_revision,
            expected_fingerprint,
            live_fingerprint,
            differences: differences.iter().map(ToString::to_string).collect(),
        }))
    }
}
