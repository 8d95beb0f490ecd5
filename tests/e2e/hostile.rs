//! Hostile input against the real server.
//!
//! A bounded, seeded fuzz run sends every RPC of every service random
//! messages (built with prost) under valid tokens of random roles and checks
//! that the server never crashes, never answers UNKNOWN and never answers
//! INTERNAL without logging why. Then one test per kind of hostile input:
//! oversized messages and metadata, deeply nested SQL, control characters,
//! SQL injection in every free-text field, extreme timestamps, and a NUL on
//! a PostgreSQL catalog.
//!
//! `SCHEMAGATE_FUZZ_SECS` (default 15) bounds the fuzz run and
//! `SCHEMAGATE_FUZZ_SEED` replays one; see docs/reliability.md.

use crate::release::{ADD_TAPS, BASELINE, Fixture, tokens};
use proptest::prelude::RngExt;
use proptest::test_runner::{RngAlgorithm, TestRng};
use schemagate_e2e::{SECRET, Server, block_on, sgctl};
use schemagate_proto::{Timestamp, v1};
use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tonic::transport::Channel;
use tonic::{Code, Request, Status};

/// What the raw clients accept and send: above the server's 24 MiB limit,
/// so that the server, not the client, refuses an oversized message.
const CLIENT_LIMIT: usize = 64 * 1024 * 1024;
const MIB: usize = 1024 * 1024;

/// A tonic client of every Schemagate service over one connection.
#[derive(Clone)]
struct Clients {
    catalog: v1::catalog_client::CatalogClient<Channel>,
    policy: v1::policy_client::PolicyClient<Channel>,
    audit: v1::audit_client::AuditClient<Channel>,
    fleet: v1::fleet_client::FleetClient<Channel>,
    approvals: v1::approvals_client::ApprovalsClient<Channel>,
    gate: v1::gate_client::GateClient<Channel>,
    execution: v1::execution_client::ExecutionClient<Channel>,
    onboarding: v1::onboarding_client::OnboardingClient<Channel>,
    health: tonic_health::pb::health_client::HealthClient<Channel>,
}

impl Clients {
    async fn connect(server: &Server) -> Clients {
        let channel = tonic::transport::Endpoint::from_shared(server.address.clone())
            .expect("server address")
            .connect()
            .await
            .expect("connect to the server");
        macro_rules! client {
            ($module:ident :: $client:ident) => {
                v1::$module::$client::new(channel.clone())
                    .max_decoding_message_size(CLIENT_LIMIT)
                    .max_encoding_message_size(CLIENT_LIMIT)
            };
        }
        Clients {
            catalog: client!(catalog_client::CatalogClient),
            policy: client!(policy_client::PolicyClient),
            audit: client!(audit_client::AuditClient),
            fleet: client!(fleet_client::FleetClient),
            approvals: client!(approvals_client::ApprovalsClient),
            gate: client!(gate_client::GateClient),
            execution: client!(execution_client::ExecutionClient),
            onboarding: client!(onboarding_client::OnboardingClient),
            health: tonic_health::pb::health_client::HealthClient::new(channel),
        }
    }

    /// Whether the server as a whole answers SERVING.
    async fn serving(&self) -> bool {
        let answer = self
            .health
            .clone()
            .check(tonic_health::pb::HealthCheckRequest {
                service: String::new(),
            })
            .await;
        matches!(answer, Ok(r) if r.get_ref().status == tonic_health::pb::health_check_response::ServingStatus::Serving as i32)
    }

    async fn verify_audit(&self, token: &str) -> v1::VerifyAuditResponse {
        self.audit
            .clone()
            .verify_audit(authed(v1::VerifyAuditRequest::default(), token))
            .await
            .expect("VerifyAudit")
            .into_inner()
    }

    async fn audit(&self, token: &str) -> Vec<v1::AuditEntry> {
        self.audit
            .clone()
            .list_audit(authed(
                v1::ListAuditRequest {
                    limit: 10_000,
                    ..Default::default()
                },
                token,
            ))
            .await
            .expect("ListAudit")
            .into_inner()
            .entries
    }

    async fn history(&self, token: &str) -> v1::ListHistoryResponse {
        self.catalog
            .clone()
            .list_history(authed(v1::ListHistoryRequest::default(), token))
            .await
            .expect("ListHistory")
            .into_inner()
    }
}

/// `message` with `authorization: Bearer <token>`.
fn authed<T>(message: T, token: &str) -> Request<T> {
    let mut request = Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("an ASCII token"),
    );
    request
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
}

/// A token signed with the test secret for `sub` with `roles` (and a
/// controller id for agents).
fn mint(sub: &str, roles: &[&str], controller_id: Option<&str>) -> String {
    let mut claims = serde_json::json!({
        "sub": sub, "roles": roles, "iss": "schemagate", "aud": "schemagate",
        "exp": now_secs() + 3600,
    });
    if let Some(id) = controller_id {
        claims["controller_id"] = id.into();
    }
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .expect("sign test token")
}

// ---- the fuzz run ----

const RPCS: [&str; 23] = [
    "Catalog/SubmitRevision",
    "Catalog/GetRevision",
    "Catalog/ListHistory",
    "Policy/Lint",
    "Policy/GetPolicy",
    "Audit/ListAudit",
    "Audit/VerifyAudit",
    "Fleet/ReportJournalState",
    "Fleet/ListControllers",
    "Approvals/Approve",
    "Approvals/Reject",
    "Approvals/Revoke",
    "Approvals/ListApprovals",
    "Gate/CheckGate",
    "Gate/Freeze",
    "Gate/Unfreeze",
    "Gate/OpenWindow",
    "Execution/Execute",
    "Execution/Rollback",
    "Execution/GetExecution",
    "Execution/Status",
    "Onboarding/Stamp",
    "Onboarding/CheckDrift",
];

const ROLES: [&str; 5] = ["developer", "approver", "deployer", "admin", "agent"];

/// Text an attacker types into a free-text field.
const INJECTIONS: [&str; 8] = [
    "'; DROP TABLE approvals; --",
    "\"; DROP TABLE revisions; --",
    "' OR '1'='1",
    "0001_x'); DELETE FROM audit_log; --",
    "$$; TRUNCATE executions; $$",
    "\\'; DROP SCHEMA schemagate CASCADE; --",
    "Robert'); DROP TABLE environment_controls;--",
    "1; UPDATE audit_log SET detail = 'x'",
];

/// Ids that look almost right, or not at all.
const BAD_IDS: [&str; 12] = [
    "0001_",
    "001_short",
    "0001_Baseline",
    "0001-baseline",
    "0001_a\n",
    "../../etc/passwd",
    "99999999999999999999999999999999999999999_x",
    "0001_a\0b",
    "%s%s%n",
    "-1",
    "00000000-0000-0000-0000-000000000000",
    "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
];

/// SQL fragments the SQL generator strings together.
const SQL_PIECES: [&str; 32] = [
    "CREATE TABLE ",
    "ALTER TABLE ",
    "DROP TABLE ",
    "CREATE INDEX CONCURRENTLY ",
    "SELECT ",
    "INSERT INTO ",
    "UPDATE ",
    "DELETE FROM ",
    "BEGIN; ",
    "COMMIT; ",
    "venues",
    "taps",
    "pours",
    "\"Quoted Ident\"",
    "(",
    ")",
    "((((((((",
    "))))))))",
    "'",
    "'it''s'",
    "$$",
    "$tag$ body $tag$",
    "E'\\x00'",
    "-- comment\n",
    "/* block ",
    "*/",
    ";",
    ", ",
    " id bigint",
    " NOT NULL",
    "-- schemagate:allow drop-table reason=\"fuzz\"\n",
    "\u{feff}",
];

/// Random values, biased towards the plausible and the nasty.
struct Gen {
    rng: TestRng,
    revisions: Vec<String>,
    execution_ids: Vec<String>,
}

impl Gen {
    fn new(seed: u64, revisions: Vec<String>, execution_ids: Vec<String>) -> Gen {
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&seed.to_le_bytes());
        bytes[8..].copy_from_slice(&(!seed).to_le_bytes());
        Gen {
            rng: TestRng::from_seed(RngAlgorithm::XorShift, &bytes),
            revisions,
            execution_ids,
        }
    }

    fn below(&mut self, n: usize) -> usize {
        self.rng.random_range(0..n)
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn pick<T: Clone>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())].clone()
    }

    fn boolean(&mut self) -> bool {
        self.chance(50)
    }

    /// Any text: empty, plausible, injected, with control characters,
    /// almost-ids, random Unicode, near a limit or (rarely) huge.
    fn text(&mut self) -> String {
        match self.below(100) {
            0..=11 => String::new(),
            12..=21 => self
                .pick(&["default", "dev", "ci", "pilot", "x", "ok", "wal"])
                .into(),
            22..=31 => self.pick(&INJECTIONS).into(),
            32..=46 => self.control_text(),
            47..=56 => self.pick(&BAD_IDS).into(),
            57..=76 => self.unicode(40),
            77..=97 => self.near_limit(),
            _ => self.huge(),
        }
    }

    /// Text with C0/C1 controls, DEL, ANSI escapes and bidi overrides.
    fn control_text(&mut self) -> String {
        const NASTY: [&str; 10] = [
            "\0",
            "\u{7}",
            "\u{1b}[2J",
            "\r\n",
            "\t",
            "\u{7f}",
            "\u{85}",
            "\u{202e}",
            "\u{2028}",
            "\u{fffd}",
        ];
        let n = 1 + self.below(8);
        (0..n)
            .map(|_| {
                if self.boolean() {
                    self.pick(&NASTY).to_string()
                } else {
                    char::from_u32(self.rng.random_range(0..0x20u32))
                        .unwrap_or('\0')
                        .to_string()
                }
            })
            .collect::<Vec<_>>()
            .join(self.pick(&["", "x", "dev", "0001_baseline"]))
    }

    fn unicode(&mut self, max: usize) -> String {
        let n = self.below(max + 1);
        (0..n)
            .map(|_| {
                loop {
                    let c = match self.below(4) {
                        0 => self.rng.random_range(0x20..0x7fu32),
                        1 => self.rng.random_range(0..0x800u32),
                        2 => self.rng.random_range(0..0x1_0000u32),
                        _ => self.rng.random_range(0..0x11_0000u32),
                    };
                    if let Some(c) = char::from_u32(c) {
                        break c;
                    }
                }
            })
            .collect()
    }

    /// A string of a length at one of the server's limits, or one byte off.
    fn near_limit(&mut self) -> String {
        let base = self.pick(&[64usize, 128, 256, 4096, 65_536, 256 * 1024]);
        let len = base - 1 + self.below(3);
        match self.below(4) {
            0 => "a".repeat(len),
            // A plausible revision id of that length.
            1 => format!("{}_{}", "0".repeat(4), "x".repeat(len.saturating_sub(5))),
            // Two-byte characters: the byte length differs from the char count.
            2 => "é".repeat(len / 2 + self.below(2)),
            _ => "\u{1}".repeat(len),
        }
    }

    /// 1 MiB, or just under or over the 8 MiB revision limit.
    fn huge(&mut self) -> String {
        let len = self.pick(&[MIB, 8 * MIB - 1, 8 * MIB + 1]);
        "x".repeat(len)
    }

    fn environment(&mut self) -> String {
        if self.chance(60) {
            self.pick(&["dev", "ci", "pilot"]).into()
        } else {
            self.text()
        }
    }

    fn project(&mut self) -> String {
        if self.chance(70) {
            self.pick(&["", "default"]).into()
        } else {
            self.text()
        }
    }

    fn revision(&mut self) -> String {
        match self.below(10) {
            0..=4 if !self.revisions.is_empty() => {
                let known = self.revisions.clone();
                self.pick(&known)
            }
            5 => format!("{:04}_fuzz_{}", 3 + self.below(3), self.below(3)),
            _ => self.text(),
        }
    }

    fn execution_id(&mut self) -> String {
        match self.below(10) {
            0..=3 if !self.execution_ids.is_empty() => {
                let known = self.execution_ids.clone();
                self.pick(&known)
            }
            4 => uuid_like(self.rng.random::<u128>()),
            _ => self.text(),
        }
    }

    /// Random SQL-shaped text, sometimes a statement that parses.
    fn sql(&mut self) -> String {
        match self.below(10) {
            0 => String::new(),
            1..=3 => format!(
                "CREATE TABLE fuzz_{} (id bigint PRIMARY KEY);\n",
                self.below(1000)
            ),
            4 => self.text(),
            _ => {
                let n = self.below(24);
                (0..n)
                    .map(|_| {
                        if self.chance(20) {
                            self.unicode(6)
                        } else {
                            self.pick(&SQL_PIECES).to_string()
                        }
                    })
                    .collect()
            }
        }
    }

    fn timestamp(&mut self) -> Option<Timestamp> {
        if self.chance(25) {
            return None;
        }
        let now = now_secs();
        let random_seconds = self.rng.random::<i64>();
        let random_nanos = self.rng.random::<i32>();
        let seconds = self.pick(&[
            0,
            -1,
            i64::MIN,
            i64::MAX,
            i64::MAX / 1000,
            i64::MAX / 1000 + 1,
            i64::MIN / 1000 - 1,
            now,
            now + 60,
            now + 3600,
            now + 7 * 86_400 - 1,
            now + 7 * 86_400 + 1,
            now - 3600,
            253_402_300_800, // year 10000
            random_seconds,
        ]);
        let nanos = self.pick(&[
            0,
            -1,
            999_999_999,
            1_000_000_000,
            i32::MIN,
            i32::MAX,
            random_nanos,
        ]);
        Some(Timestamp { seconds, nanos })
    }

    fn u32(&mut self) -> u32 {
        let r = self.rng.random::<u32>();
        self.pick(&[0, 1, 30, 86_400, 86_401, u32::MAX, r])
    }

    fn u64(&mut self) -> u64 {
        let r = self.rng.random::<u64>();
        self.pick(&[0, 1, u64::MAX, i64::MAX as u64 + 1, r])
    }

    fn i64(&mut self) -> i64 {
        let r = self.rng.random::<i64>();
        self.pick(&[0, -1, -2, i64::MIN, i64::MAX, r])
    }

    /// Half the time a token with the role `rpc` asks for (so calls get
    /// past the role check), else one of random roles.
    fn token_for(&mut self, rpc: usize) -> String {
        if self.boolean() {
            return self.token();
        }
        let role = match RPCS[rpc] {
            "Catalog/SubmitRevision" => "developer",
            "Approvals/Approve" | "Approvals/Reject" | "Approvals/Revoke" => "approver",
            "Gate/Freeze" | "Gate/Unfreeze" | "Gate/OpenWindow" => "admin",
            "Execution/Execute" | "Execution/Rollback" | "Onboarding/Stamp" => "deployer",
            "Fleet/ReportJournalState" => "agent",
            _ => self.pick(&["developer", "approver", "deployer", "admin"]),
        };
        let sub = self.pick(&["carol", "dave", "erin", "root", "fuzz"]);
        mint(sub, &[role], (role == "agent").then_some("bar3-tap2"))
    }

    /// A token of a random subject with a random set of roles.
    fn token(&mut self) -> String {
        let sub = match self.below(10) {
            0..=5 => self
                .pick(&["alice", "carol", "dave", "erin", "root", "fuzz"])
                .into(),
            6 => self.pick(&INJECTIONS).into(),
            7 => self.unicode(12),
            8 => "s".repeat(300),
            _ => "m\u{1b}[31mallory\u{7}".into(),
        };
        let roles: Vec<&str> = ROLES.iter().copied().filter(|_| self.chance(35)).collect();
        let controller = if roles.contains(&"agent") && self.chance(70) {
            Some(if self.chance(70) {
                "bar3-tap2".to_string()
            } else {
                // A token is issued by a trusted issuer and travels in a
                // header: oversized metadata has a test of its own.
                self.text().chars().take(200).collect()
            })
        } else {
            None
        };
        mint(&sub, &roles, controller.as_deref())
    }

    fn journal_report(&mut self) -> v1::JournalReport {
        let plausible = self.chance(40);
        let count = self.pick(&[0usize, 1, 3, 1001]);
        // Many tables are all plausible: a thousand random texts could add
        // up to more than the client itself sends.
        let plausible_tables = plausible || count > 3;
        let tables = (0..count)
            .map(|i| v1::JournalTable {
                name: if plausible_tables {
                    format!("t{i}")
                } else {
                    self.text()
                },
                ddl_sha256: if plausible_tables {
                    "a".repeat(64)
                } else {
                    self.text()
                },
                row_count: self.u64(),
            })
            .collect();
        v1::JournalReport {
            controller_id: if plausible {
                "bar3-tap2".into()
            } else {
                self.text()
            },
            observed_at: self.timestamp(),
            interval_seconds: if plausible { 30 } else { self.u32() },
            status: if plausible {
                self.pick(&["ok", "missing", "locked", "corrupt", "error"])
                    .into()
            } else {
                self.text()
            },
            status_detail: self.text(),
            sqlite_version: self.text(),
            journal_mode: if plausible { "wal".into() } else { self.text() },
            user_version: self.i64(),
            page_size: self.u64(),
            page_count: self.u64(),
            freelist_count: self.u64(),
            wal_size_bytes: self.u64(),
            tables,
            newest_pour_at: self.timestamp(),
            unsynced_pours: self.i64(),
            quick_check: self.text(),
            quick_check_at: self.timestamp(),
            ..Default::default()
        }
    }
}

fn uuid_like(bits: u128) -> String {
    let hex = format!("{bits:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// Sends RPC number `rpc` with a random message; `Err` is the status it ended with.
async fn call(clients: &Clients, rpc: usize, g: &mut Gen, token: &str) -> Result<(), Status> {
    let c = clients.clone();
    macro_rules! unary {
        ($client:ident . $method:ident ( $message:expr )) => {{
            let message = $message;
            c.$client
                .clone()
                .$method(authed(message, token))
                .await
                .map(|_| ())
        }};
    }
    macro_rules! stream {
        ($method:ident ( $message:expr )) => {{
            let message = $message;
            let mut events = c
                .execution
                .clone()
                .$method(authed(message, token))
                .await?
                .into_inner();
            while events.message().await?.is_some() {}
            Ok(())
        }};
    }
    match rpc {
        0 => unary!(catalog.submit_revision(v1::SubmitRevisionRequest {
            project: g.project(),
            id: g.revision(),
            parent_id: g.revision(),
            up_sql: g.sql(),
            down_sql: g.sql(),
            description: g.text(),
            amend: false,
        })),
        1 => unary!(catalog.get_revision(v1::GetRevisionRequest {
            project: g.project(),
            id: g.revision(),
        })),
        2 => unary!(catalog.list_history(v1::ListHistoryRequest {
            project: g.project()
        })),
        3 => unary!(policy.lint(v1::LintRequest {
            up_sql: g.sql(),
            down_sql: g.sql(),
        })),
        4 => unary!(policy.get_policy(v1::GetPolicyRequest {})),
        5 => unary!(audit.list_audit(v1::ListAuditRequest {
            environment: g.environment(),
            since: g.timestamp(),
            limit: g.u32(),
            project: g.project(),
        })),
        6 => unary!(audit.verify_audit(v1::VerifyAuditRequest::default())),
        7 => unary!(fleet.report_journal_state(g.journal_report())),
        8 => unary!(fleet.list_controllers(v1::ListControllersRequest {
            flag: if g.chance(50) {
                g.pick(&["", "stale", "not_wal", "never_reported"]).into()
            } else {
                g.text()
            },
        })),
        9 => unary!(approvals.approve(v1::ApproveRequest {
            project: g.project(),
            revision_id: g.revision(),
            environment: g.environment(),
            comment: g.text(),
            reason: g.text(),
            rollback: g.boolean(),
        })),
        10 => unary!(approvals.reject(v1::RejectRequest {
            project: g.project(),
            revision_id: g.revision(),
            environment: g.environment(),
            reason: g.text(),
            rollback: g.boolean(),
        })),
        11 => unary!(approvals.revoke(v1::RevokeRequest {
            project: g.project(),
            revision_id: g.revision(),
            environment: g.environment(),
            rollback: g.boolean(),
            approver: g.text(),
            reason: g.text(),
        })),
        12 => unary!(approvals.list_approvals(v1::ListApprovalsRequest {
            project: g.project(),
            revision_id: g.revision(),
            environment: g.environment(),
        })),
        13 => unary!(gate.check_gate(v1::CheckGateRequest {
            project: g.project(),
            revision_id: g.revision(),
            environment: g.environment(),
            rollback: g.boolean(),
        })),
        14 => unary!(gate.freeze(v1::FreezeRequest {
            environment: g.environment(),
            reason: g.text(),
        })),
        15 => unary!(gate.unfreeze(v1::FreezeRequest {
            environment: g.environment(),
            reason: g.text(),
        })),
        16 => unary!(gate.open_window(v1::OpenWindowRequest {
            environment: g.environment(),
            reason: g.text(),
            expires_at: g.timestamp(),
        })),
        17 => stream!(execute(v1::ExecuteRequest {
            project: g.project(),
            environment: g.environment(),
            up_to: if g.boolean() {
                String::new()
            } else {
                g.revision()
            },
        })),
        18 => stream!(rollback(v1::RollbackRequest {
            project: g.project(),
            environment: g.environment(),
        })),
        19 => unary!(execution.get_execution(v1::GetExecutionRequest {
            execution_id: g.execution_id(),
        })),
        20 => unary!(execution.status(v1::StatusRequest {
            project: g.project(),
            environment: g.environment(),
        })),
        21 => unary!(onboarding.stamp(v1::StampRequest {
            project: g.project(),
            environment: g.environment(),
            revision_id: g.revision(),
            force: g.boolean(),
            reason: g.text(),
            restored: g.boolean(),
        })),
        22 => unary!(onboarding.check_drift(v1::CheckDriftRequest {
            project: g.project(),
            environment: g.environment(),
        })),
        _ => unreachable!("{rpc} is not an RPC number"),
    }
}

/// Per RPC and status code: how many answers, and the first one's message.
type Answers = BTreeMap<(&'static str, String), (usize, String)>;

/// The codes a well-behaved server may answer random input with. INTERNAL
/// is allowed only with a cause in the server log; UNKNOWN, CANCELLED (a
/// handler that died), UNIMPLEMENTED and DATA_LOSS never; nor any answer
/// the HTTP/2 layer made up because the real one could not be delivered
/// (see [`broken_transport`]).
const ACCEPTABLE: [Code; 12] = [
    Code::InvalidArgument,
    Code::NotFound,
    Code::AlreadyExists,
    Code::PermissionDenied,
    Code::Unauthenticated,
    Code::FailedPrecondition,
    Code::Aborted,
    Code::OutOfRange,
    Code::ResourceExhausted,
    Code::Unavailable,
    Code::DeadlineExceeded,
    Code::Ok,
];

/// Whether `status` was made up by the client's HTTP/2 layer: a stream
/// reset or a connection torn down instead of the server's answer.
fn broken_transport(status: &Status) -> bool {
    let message = status.message();
    message.starts_with("h2 protocol error") || message == "transport error"
}

/// One answer that breaks the rules, for the failure message.
struct Bad {
    rpc: &'static str,
    code: Code,
    message: String,
}

/// Whether the server log holds a warning or error that explains an
/// INTERNAL answer with `message`.
fn logged_cause(log: &str, message: &str) -> bool {
    let needle = if message.contains("(logged on the server)") {
        "catalog database error"
    } else {
        message.lines().next().unwrap_or_default()
    };
    log.lines()
        .any(|line| (line.contains("WARN") || line.contains("ERROR")) && line.contains(needle))
}

fn env_number<T: std::str::FromStr>(name: &str) -> Option<T> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

#[test]
fn random_messages_to_every_rpc_never_crash_the_server() {
    fuzz_every_rpc(Fixture::start(|p| p));
}

#[test]
fn random_messages_to_every_rpc_never_crash_the_server_on_a_postgres_catalog() {
    fuzz_every_rpc(Fixture::start_on_postgres_catalog(|p| p));
}

/// Sends random messages to every RPC of the server behind `f` for
/// `SCHEMAGATE_FUZZ_SECS` (15 s by default) from two callers at once.
fn fuzz_every_rpc(f: Fixture) {
    let budget = Duration::from_secs(env_number("SCHEMAGATE_FUZZ_SECS").unwrap_or(15));
    let seed: u64 = env_number("SCHEMAGATE_FUZZ_SEED").unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock after 1970")
            .as_nanos() as u64
    });
    eprintln!("fuzz: seed {seed} (replay with SCHEMAGATE_FUZZ_SEED={seed}), budget {budget:?}");

    let t = tokens();
    // Some state for the random messages to land on: a lineage, an
    // approval, an execution and a controller.
    f.submit(&t, &[BASELINE, ADD_TAPS]);
    f.approve(&t.carol, "0001_baseline", &["dev", "ci"]);
    f.run(
        &t.erin,
        &["deploy", "--env", "dev", "--to", "0001_baseline"],
    )
    .ok();
    let status = f.run(&t.erin, &["--json", "status", "--env", "dev"]).json();
    let execution_ids: Vec<String> = status["recent_executions"]
        .as_array()
        .expect("recent executions")
        .iter()
        .filter_map(|e| e["id"].as_str().map(String::from))
        .collect();
    assert!(!execution_ids.is_empty(), "{status:#}");
    let revisions = vec![BASELINE.0.to_string(), ADD_TAPS.0.to_string()];

    let (answers, bad) = block_on(async {
        let clients = Clients::connect(&f.server).await;
        let agent = mint("tap2", &["agent"], Some("bar3-tap2"));
        clients
            .fleet
            .clone()
            .report_journal_state(authed(
                v1::JournalReport {
                    controller_id: "bar3-tap2".into(),
                    interval_seconds: 30,
                    status: "ok".into(),
                    journal_mode: "wal".into(),
                    quick_check: "ok".into(),
                    ..Default::default()
                },
                &agent,
            ))
            .await
            .expect("a healthy report");

        let deadline = Instant::now() + budget;
        // Two callers at once, so concurrent calls are fuzzed too.
        let worker = |n: u64| {
            let clients = clients.clone();
            let mut g = Gen::new(
                seed.wrapping_add(n),
                revisions.clone(),
                execution_ids.clone(),
            );
            async move {
                let mut answers: Answers = BTreeMap::new();
                let mut bad = Vec::new();
                let mut calls = 0;
                while Instant::now() < deadline {
                    // The first caller starts with one call of every RPC.
                    let rpc = if n == 0 && calls < RPCS.len() {
                        calls
                    } else {
                        g.below(RPCS.len())
                    };
                    calls += 1;
                    let token = g.token_for(rpc);
                    let (code, message) = match call(&clients, rpc, &mut g, &token).await {
                        Ok(()) => (Code::Ok, String::new()),
                        Err(status) => {
                            let message: String = status.message().chars().take(2000).collect();
                            if !ACCEPTABLE.contains(&status.code()) || broken_transport(&status) {
                                bad.push(Bad {
                                    rpc: RPCS[rpc],
                                    code: status.code(),
                                    message: message.clone(),
                                });
                            }
                            (status.code(), message)
                        }
                    };
                    let entry = answers
                        .entry((RPCS[rpc], format!("{code:?}")))
                        .or_insert_with(|| (0, message));
                    entry.0 += 1;
                }
                (answers, bad)
            }
        };
        let ((mut answers, mut bad), (answers2, bad2)) = tokio::join!(worker(0), worker(1));
        for (key, (n, message)) in answers2 {
            answers.entry(key).or_insert((0, message)).0 += n;
        }
        bad.extend(bad2);

        // Still alive and serving, its audit chain whole and its lineage unbroken.
        assert!(clients.serving().await, "the server no longer serves");
        let verification = clients.verify_audit(&t.root).await;
        assert!(verification.intact, "{verification:?}");
        let history = clients.history(&t.root).await;
        for (i, revision) in history.revisions.iter().enumerate() {
            assert_eq!(revision.sequence as usize, i + 1, "{history:#?}");
            let parent = if i == 0 {
                ""
            } else {
                history.revisions[i - 1].id.as_str()
            };
            assert_eq!(revision.parent_id, parent, "{history:#?}");
        }
        (answers, bad)
    });

    let total: usize = answers.values().map(|(n, _)| n).sum();
    eprintln!("fuzz: {total} calls");
    for ((rpc, code), (n, message)) in &answers {
        let sample: String = message.escape_debug().take(160).collect();
        eprintln!("  {rpc:28} {code:20} {n:5}  {sample}");
    }
    let log = f.server.log();
    let unexplained: Vec<&Bad> = bad
        .iter()
        .filter(|b| {
            b.code != Code::Internal
                || b.message.starts_with("h2 protocol error")
                || !logged_cause(&log, &b.message)
        })
        .collect();
    let panics: Vec<&str> = log
        .lines()
        .filter(|line| line.contains("panicked"))
        .collect();
    assert!(
        panics.is_empty(),
        "the server panicked (seed {seed}): {panics:#?}"
    );
    assert!(
        unexplained.is_empty(),
        "answers without a logged cause (seed {seed}):\n{}",
        unexplained
            .iter()
            .map(|b| format!("  {} {:?}: {}", b.rpc, b.code, b.message))
            .collect::<Vec<_>>()
            .join("\n")
    );
    // Every RPC was tried.
    for rpc in RPCS {
        assert!(
            answers.keys().any(|(r, _)| *r == rpc),
            "{rpc} was never called in {total} calls"
        );
    }
}

// ---- one test per kind of hostile input ----

/// The status a call ended with; panics when it succeeded.
#[track_caller]
fn refused<T: std::fmt::Debug>(answer: Result<T, Status>) -> Status {
    match answer {
        Ok(value) => panic!("expected a refusal, got {value:?}"),
        Err(status) => status,
    }
}

/// Asserts an INVALID_ARGUMENT answer whose message mentions `needle` and
/// stays short however long the input was.
#[track_caller]
fn invalid<T: std::fmt::Debug>(answer: Result<T, Status>, needle: &str) {
    let status = refused(answer);
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(status.message().contains(needle), "{status:?}");
    assert!(
        status.message().len() < 1024,
        "a {} byte message",
        status.message().len()
    );
}

#[test]
fn a_parse_error_at_a_huge_token_is_reported_short_and_the_connection_keeps_working() {
    // Found by the fuzz run: the parser quotes the token it stopped at, and
    // 100 KiB of "é" percent-encoded in the status header broke the
    // connection (h2 protocol error) instead of answering INVALID_ARGUMENT.
    let f = Fixture::start(|p| p);
    let dev = mint("alice", &["developer"], None);
    block_on(async {
        let c = Clients::connect(&f.server).await;
        for (up, down) in [
            (format!("SELECT 1 x {}", "é".repeat(50_000)), String::new()),
            (
                "CREATE TABLE t (id int);".to_string(),
                format!("SELECT 1 x {}", "a".repeat(100_000)),
            ),
        ] {
            let answer = c
                .catalog
                .clone()
                .submit_revision(authed(
                    v1::SubmitRevisionRequest {
                        id: "0001_long_token".into(),
                        up_sql: up,
                        down_sql: down,
                        ..Default::default()
                    },
                    &dev,
                ))
                .await;
            invalid(answer, "syntax error");
        }
        assert!(c.serving().await);
        assert!(c.history(&dev).await.revisions.is_empty());
    });
}

#[test]
fn oversized_messages_are_refused_and_nothing_is_stored() {
    let f = Fixture::start(|p| p);
    let dev = mint("alice", &["developer"], None);
    let root = mint("root", &["admin"], None);
    let carol = mint("carol", &["approver"], None);
    let agent = mint("tap2", &["agent"], Some("bar3-tap2"));
    let submit =
        |id: &str, up: String, down: String, description: String| v1::SubmitRevisionRequest {
            project: String::new(),
            id: id.into(),
            parent_id: String::new(),
            up_sql: up,
            down_sql: down,
            description,
            amend: false,
        };
    // Valid SQL, so only the size can be the reason for a refusal.
    let sql = |bytes: usize| "SELECT 1;\n".repeat(bytes / 10 + 1);
    block_on(async {
        let c = Clients::connect(&f.server).await;
        let audited = c.audit(&root).await.len();

        // Above the 24 MiB transport limit: refused by the transport before
        // any handler runs, so not even a refusal is audited.
        let status = refused(
            c.catalog
                .clone()
                .submit_revision(authed(
                    submit("0001_huge", sql(25 * MIB), String::new(), String::new()),
                    &dev,
                ))
                .await,
        );
        assert_eq!(status.code(), Code::OutOfRange, "{status:?}");
        assert!(
            status.message().contains("the limit is: 25165824 bytes"),
            "{status:?}"
        );
        let status = refused(
            c.policy
                .clone()
                .lint(authed(
                    v1::LintRequest {
                        up_sql: sql(25 * MIB),
                        down_sql: String::new(),
                    },
                    &dev,
                ))
                .await,
        );
        assert_eq!(status.code(), Code::OutOfRange, "{status:?}");
        assert_eq!(c.audit(&root).await.len(), audited);

        // Above the 8 MiB revision limit, in the up SQL or across up and down.
        for (up, down) in [(9 * MIB, 0), (5 * MIB, 4 * MIB)] {
            let answer = c
                .catalog
                .clone()
                .submit_revision(authed(
                    submit("0001_huge", sql(up), sql(down), String::new()),
                    &dev,
                ))
                .await;
            invalid(answer, "the limit is 8388608 bytes");
        }
        let answer = c
            .catalog
            .clone()
            .submit_revision(authed(
                submit("0001_long", sql(10), String::new(), "d".repeat(4097)),
                &dev,
            ))
            .await;
        invalid(
            answer,
            "the description is 4097 bytes; the limit is 4096 bytes",
        );
        let answer = c
            .policy
            .clone()
            .lint(authed(
                v1::LintRequest {
                    up_sql: sql(9 * MIB),
                    down_sql: String::new(),
                },
                &dev,
            ))
            .await;
        invalid(answer, "the limit is 8388608 bytes");
        let answer = c
            .fleet
            .clone()
            .report_journal_state(authed(
                v1::JournalReport {
                    controller_id: "bar3-tap2".into(),
                    interval_seconds: 30,
                    status: "error".into(),
                    status_detail: "e".repeat(300 * 1024),
                    ..Default::default()
                },
                &agent,
            ))
            .await;
        invalid(answer, "the limit is 262144 bytes");
        let answer = c
            .approvals
            .clone()
            .approve(authed(
                v1::ApproveRequest {
                    revision_id: "0001_baseline".into(),
                    environment: "dev".into(),
                    comment: "c".repeat(4097),
                    ..Default::default()
                },
                &carol,
            ))
            .await;
        invalid(answer, "the comment is 4097 bytes; the limit is 4096");

        // 20 MiB in one field under the transport limit: a short refusal
        // that quotes a bounded prefix (a whole echo was once more than a
        // client accepts in a header), and at most a bounded audit row.
        let big = "\u{1}".repeat(20 * MIB);
        let answer = c
            .catalog
            .clone()
            .submit_revision(authed(
                submit(&big, sql(10), String::new(), String::new()),
                &dev,
            ))
            .await;
        invalid(answer, "invalid revision id '\\u{1}");
        let answer = c
            .catalog
            .clone()
            .get_revision(authed(
                v1::GetRevisionRequest {
                    project: String::new(),
                    id: big.clone(),
                },
                &dev,
            ))
            .await;
        invalid(answer, "(20971520 bytes)");
        let answer = c
            .catalog
            .clone()
            .list_history(authed(
                v1::ListHistoryRequest {
                    project: big.clone(),
                },
                &dev,
            ))
            .await;
        invalid(answer, "invalid project name");
        let answer = c
            .fleet
            .clone()
            .list_controllers(authed(
                v1::ListControllersRequest { flag: big.clone() },
                &dev,
            ))
            .await;
        invalid(answer, "unknown flag");
        let answer = c
            .approvals
            .clone()
            .approve(authed(
                v1::ApproveRequest {
                    revision_id: "0001_baseline".into(),
                    environment: big.clone(),
                    ..Default::default()
                },
                &carol,
            ))
            .await;
        invalid(answer, "unknown environment");
        let status = refused(
            c.fleet
                .clone()
                .report_journal_state(authed(
                    v1::JournalReport {
                        controller_id: "c".repeat(200 * 1024),
                        ..Default::default()
                    },
                    &agent,
                ))
                .await,
        );
        assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
        assert!(status.message().len() < 1024, "{status:?}");

        // Nothing stored but the audited refusals, each of them bounded.
        assert!(c.history(&dev).await.revisions.is_empty());
        let controllers = c
            .fleet
            .clone()
            .list_controllers(authed(v1::ListControllersRequest::default(), &dev))
            .await
            .expect("ListControllers")
            .into_inner();
        assert!(
            controllers
                .controllers
                .iter()
                .all(|c| c.last_report.is_none()),
            "{controllers:?}"
        );
        let entries = c.audit(&root).await;
        let refusals: Vec<&v1::AuditEntry> =
            entries.iter().filter(|e| e.outcome == "refused").collect();
        assert_eq!(refusals.len(), 6, "{refusals:#?}");
        for entry in &entries {
            for field in [
                &entry.actor,
                &entry.project,
                &entry.environment,
                &entry.subject,
            ] {
                assert!(field.len() < 1100, "{} bytes in {entry:.200?}", field.len());
            }
            assert!(entry.detail.len() < 17 * 1024, "{entry:.200?}");
        }
        assert!(
            entries
                .iter()
                .any(|e| e.subject.ends_with("... (20971520 bytes)")),
            "the refused submit is audited with a cut id"
        );
        assert!(
            entries
                .iter()
                .any(|e| e.environment.ends_with("... (20971520 bytes)")),
            "the refused approval is audited with a cut environment"
        );
        assert!(c.verify_audit(&root).await.intact);
        assert!(c.serving().await);
    });

    // The same through sgctl: one line, exit 2, nothing stored.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("0001_huge.up.sql");
    std::fs::write(&path, sql(25 * MIB)).unwrap();
    let run = f.run(&dev, &["submit", path.to_str().unwrap()]);
    run.fails(2, "decoded message length too large");
    assert_eq!(run.stderr.lines().count(), 1, "{run:#?}");
    let history = f.run(&dev, &["--json", "history"]).json();
    assert_eq!(history["revisions"].as_array().unwrap().len(), 0);
}

#[test]
fn oversized_metadata_is_refused_and_the_server_keeps_serving() {
    let server = Server::sqlite();
    let dev = mint("alice", &["developer"], None);
    block_on(async {
        for size in [64 * 1024, 4 * MIB] {
            let c = Clients::connect(&server).await;
            let answer = c
                .catalog
                .clone()
                .list_history(authed(
                    v1::ListHistoryRequest::default(),
                    &format!("{dev}{}", "x".repeat(size)),
                ))
                .await;
            let status = refused(answer);
            // Refused by the HTTP/2 layer before any handler runs (431
            // Request Header Fields Too Large, or a reset stream): the
            // client sees UNKNOWN or an h2 error, never success.
            eprintln!(
                "a {size} byte token: {:?} {}",
                status.code(),
                status.message()
            );
            // A fresh connection is served as usual.
            let c = Clients::connect(&server).await;
            assert!(c.serving().await);
            c.history(&dev).await;
        }
    });
    assert!(!server.log().contains("panicked"), "{}", server.log());
}

#[test]
fn deeply_nested_sql_is_refused_as_unparsable_and_the_server_keeps_serving() {
    let server = Server::sqlite();
    let dev = mint("alice", &["developer"], None);
    let nest = |open: &str, inner: &str, close: &str, depth: usize| {
        format!(
            "SELECT {}{inner}{};\n",
            open.repeat(depth),
            close.repeat(depth)
        )
    };
    let shapes = [
        ("parentheses", nest("(", "1", ")", 100_000)),
        ("a sum", format!("SELECT 1{};\n", "+1".repeat(100_000))),
        ("unary minus", nest("-(", "1", ")", 50_000)),
        ("function calls", nest("f(", "1", ")", 50_000)),
        ("subqueries", nest("(SELECT ", "1", ")", 20_000)),
        ("arrays", nest("ARRAY[", "1", "]", 50_000)),
        ("CASE", nest("CASE WHEN true THEN ", "1", " END", 20_000)),
        ("NOT", format!("SELECT {}true;\n", "NOT ".repeat(100_000))),
    ];
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("0001_deep.up.sql");
    let path = path.to_str().unwrap();
    for (what, sql) in &shapes {
        std::fs::write(path, sql).unwrap();
        let run = server.sgctl(&dev, &["submit", path]);
        assert_eq!(run.code, 2, "{what}: {run:#?}");
        assert!(
            run.stderr.contains("SQL does not parse"),
            "{what}: {run:#?}"
        );
        assert_eq!(run.stderr.lines().count(), 1, "{what}: {run:#?}");
        // Offline, the same linter says the same.
        let lint = sgctl(&["lint", "--no-down", path], &[]);
        assert_eq!(lint.code, 2, "{what}: {lint:#?}");
    }
    block_on(async {
        let c = Clients::connect(&server).await;
        for (what, sql) in &shapes {
            let report = c
                .policy
                .clone()
                .lint(authed(
                    v1::LintRequest {
                        up_sql: sql.clone(),
                        down_sql: String::new(),
                    },
                    &dev,
                ))
                .await
                .expect("Lint")
                .into_inner();
            assert!(!report.parse_error.is_empty(), "{what}: {report:?}");
            assert_eq!(report.statements, 0, "{what}");
        }
        assert!(c.serving().await);
        assert!(c.history(&dev).await.revisions.is_empty());
    });

    // Nesting PostgreSQL's parser accepts is an ordinary revision: a sum of
    // 600 terms nests 1,200 protobuf messages, past prost's default limit
    // of 100 that refused 48 terms, and so does a concatenation of 300.
    let within = nest("(", "1", ")", 1000)
        + &format!("SELECT 1{};\n", "+1".repeat(599))
        + &format!(
            "CREATE VIEW export AS SELECT 'a'{} AS line;\n",
            " || ',' || 'b'".repeat(150)
        );
    std::fs::write(path, &within).unwrap();
    let lint = sgctl(&["lint", "--no-down", path], &[]);
    assert_eq!(lint.code, 0, "{lint:#?}");
    server.sgctl(&dev, &["submit", path]).ok();
    block_on(async {
        let c = Clients::connect(&server).await;
        assert_eq!(c.history(&dev).await.revisions.len(), 1);
    });
    assert!(!server.log().contains("panicked"), "{}", server.log());
}

/// The approvals of `revision` as `sgctl --json approvals` prints them.
fn approvals_json(f: &Fixture, token: &str, revision: &str) -> Vec<serde_json::Value> {
    f.run(token, &["--json", "approvals", revision])
        .json()
        .as_array()
        .expect("a JSON array")
        .clone()
}

/// The audit log as `sgctl --json audit` prints it, newest first.
fn audit_json(f: &Fixture, token: &str) -> Vec<serde_json::Value> {
    f.run(token, &["--json", "audit", "--limit", "10000"])
        .json()
        .as_array()
        .expect("a JSON array")
        .clone()
}

#[test]
fn control_characters_are_refused_or_stored_verbatim() {
    let t = tokens();
    let f = Fixture::start(|p| p);
    f.submit(&t, &[BASELINE]);

    // In ids, environment and project names: refused, the value escaped.
    f.run(&t.carol, &["approve", "0001_baseline\u{7}", "--env", "dev"])
        .fails(2, "invalid revision id '0001_baseline\\u{7}'");
    f.run(
        &t.carol,
        &["approve", "0001_baseline", "--env", "dev\u{1b}[2J"],
    )
    .fails(2, "unknown environment");
    f.run(&t.erin, &["status", "--env", "\rdev"])
        .fails(2, "unknown environment");
    // With --json the failure is on stdout too, for a script.
    let failed = f.run(&t.erin, &["--json", "status", "--env", "\rdev"]);
    failed.fails(2, "unknown environment");
    let error = failed.json();
    assert_eq!(error["error"]["exit_code"], 2, "{error:#}");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("unknown environment"),
        "{error:#}"
    );
    // So is a usage error, which the command line refuses before any call.
    let usage = f.run(&t.erin, &["--json", "stamp", "--env", "dev"]);
    usage.fails(2, "--revision");
    assert_eq!(
        usage.json()["error"]["message"],
        "the following required arguments were not provided: --revision <ID>",
        "{usage:#?}"
    );
    f.run(&t.alice, &["--project", "default\n", "history"])
        .fails(2, "invalid project name 'default\\n'");
    f.run(&t.erin, &["execution", "0190-\u{8}"])
        .fails(2, "is not an execution id");
    let dir = tempfile::tempdir().unwrap();
    let odd = dir.path().join("0002_tab\u{9}name.up.sql");
    std::fs::write(&odd, "CREATE TABLE t (id int);").unwrap();
    f.run(&t.alice, &["submit", odd.to_str().unwrap()])
        .fails(2, "invalid revision id '0002_tab\\tname'");

    // Comments and reasons: newline and tab are kept, other controls refused.
    let comment = "line one\n\tline two";
    f.run(
        &t.carol,
        &[
            "approve",
            "0001_baseline",
            "--env",
            "dev",
            "--comment",
            comment,
        ],
    )
    .ok();
    for nasty in [
        "bell\u{7}",
        "\u{1b}[31mred",
        "del\u{7f}",
        "nel\u{85}",
        "cr\r",
    ] {
        f.run(
            &t.dave,
            &[
                "approve",
                "0001_baseline",
                "--env",
                "dev",
                "--comment",
                nasty,
            ],
        )
        .fails(2, "the comment holds control characters");
        f.run(
            &t.dave,
            &["reject", "0001_baseline", "--env", "dev", "--reason", nasty],
        )
        .fails(2, "the reason holds control characters");
    }
    // Format characters are not controls: a bidi override is stored as given.
    let bidi = "\u{202e}devorppa\u{202c} \u{200b}\u{2028}ok";
    f.run(
        &t.dave,
        &["reject", "0001_baseline", "--env", "ci", "--reason", bidi],
    )
    .ok();
    block_on(async {
        // NUL cannot travel in an argument: straight over gRPC.
        let c = Clients::connect(&f.server).await;
        let answer = c
            .approvals
            .clone()
            .reject(authed(
                v1::RejectRequest {
                    revision_id: "0001_baseline".into(),
                    environment: "pilot".into(),
                    reason: "nul\0byte".into(),
                    ..Default::default()
                },
                &t.dave,
            ))
            .await;
        invalid(answer, "the reason holds control characters");
    });
    let approvals = approvals_json(&f, &t.erin, "0001_baseline");
    assert_eq!(approvals.len(), 2, "{approvals:#?}");
    assert_eq!(approvals[0]["comment"], comment, "{approvals:#?}");
    assert_eq!(approvals[1]["reason"], bidi, "{approvals:#?}");

    // A freeze reason is one line; a forced stamp's reason follows the
    // rule of approvals, and is checked before the target is touched.
    f.run(
        &t.root,
        &["freeze", "--env", "dev", "--reason", "two\nlines"],
    )
    .fails(2, "one line");
    f.run(&t.root, &["freeze", "--env", "dev", "--reason", bidi])
        .ok();
    let stamp = |reason: &str| {
        f.run(
            &t.root,
            &[
                "stamp",
                "--env",
                "pilot",
                "--revision",
                "0001_baseline",
                "--force",
                "--reason",
                reason,
            ],
        )
    };
    stamp("forced\u{7} \u{1b}[0m").fails(2, "without control characters");
    assert_eq!(crate::release::applied(&f.pilot), 0);
    let forced = "forced:\n\tthe table is rebuilt by hand \u{202e}";
    stamp(forced).ok();
    // A description holds any text but NUL, up to 4 KiB.
    let description = "multi\nline\u{7}\u{1b}[0m";
    block_on(async {
        let c = Clients::connect(&f.server).await;
        let submit = |description: &str| {
            authed(
                v1::SubmitRevisionRequest {
                    project: String::new(),
                    id: ADD_TAPS.0.into(),
                    parent_id: BASELINE.0.into(),
                    up_sql: ADD_TAPS.1.into(),
                    down_sql: ADD_TAPS.2.into(),
                    description: description.into(),
                    amend: false,
                },
                &t.alice,
            )
        };
        let answer = c.catalog.clone().submit_revision(submit("a\0b")).await;
        invalid(answer, "the description holds a NUL character");
        c.catalog
            .clone()
            .submit_revision(submit(description))
            .await
            .expect("a description with control characters");
    });
    let shown = f.run(&t.erin, &["--json", "show", ADD_TAPS.0]).json();
    assert_eq!(shown["description"], description, "{shown:#}");

    // The audit log holds each refusal with the value as sent, and verifies.
    let audit = audit_json(&f, &t.root);
    let has = |action: &str, outcome: &str, check: &dyn Fn(&serde_json::Value) -> bool| {
        audit
            .iter()
            .any(|e| e["action"] == action && e["outcome"] == outcome && check(e))
    };
    assert!(has("approval.approve", "refused", &|e| e["environment"]
        == "dev\u{1b}[2J"));
    assert!(has("approval.approve", "refused", &|e| e["subject"]
        == "0001_baseline\u{7}"));
    assert!(has("environment.freeze", "ok", &|e| e["detail"] == bidi));
    assert!(has("target.stamp", "refused", &|e| e["detail"]
        .as_str()
        .unwrap_or_default()
        .contains("without control characters")));
    assert!(has("target.stamp_forced", "ok", &|e| e["detail"]
        .as_str()
        .unwrap_or_default()
        .contains(&format!("reason: {forced};"))));
    f.run(&t.root, &["audit", "verify"]).ok();
}

fn write_revision(f: &Fixture, (id, up, down): (&str, &str, &str)) {
    schemagate_e2e::write_revisions(f.revisions.path(), &[(id, up, down)]);
}

#[test]
fn sql_injection_in_free_text_is_inert_and_stored_verbatim() {
    let t = tokens();
    let f = Fixture::start(|p| p);
    f.submit(&t, &[BASELINE]);
    let [
        reason,
        comment,
        description,
        freeze,
        window,
        stamp,
        injected_subject,
    ] = [
        "'; DROP TABLE approvals; --",
        "\"); DELETE FROM audit_log; --",
        "Robert'); DROP TABLE revisions;--",
        "' OR '1'='1'; UPDATE environment_controls SET frozen = 0; --",
        "$$; TRUNCATE executions; $$",
        "\\'; DROP SCHEMA schemagate CASCADE; --",
        "mallory'); DROP TABLE approvals; --",
    ];

    // Where the value names something, it is refused as not a name.
    for payload in [reason, comment] {
        f.run(&t.carol, &["approve", payload, "--env", "dev"])
            .fails(2, "invalid revision id");
        f.run(&t.carol, &["approve", "0001_baseline", "--env", payload])
            .fails(2, "unknown environment");
        f.run(&t.alice, &["--project", payload, "history"])
            .fails(2, "invalid project name");
        f.run(&t.erin, &["execution", payload])
            .fails(2, "is not an execution id");
        f.run(&t.erin, &["deploy", "--env", "dev", "--to", payload])
            .fails(2, "invalid revision id");
        f.run(&t.erin, &["controllers", "--flag", payload])
            .fails(2, "unknown flag");
    }
    block_on(async {
        let c = Clients::connect(&f.server).await;
        let agent = mint("tap2", &["agent"], Some(reason));
        let answer = c
            .fleet
            .clone()
            .report_journal_state(authed(
                v1::JournalReport {
                    controller_id: reason.into(),
                    interval_seconds: 30,
                    status: "ok".into(),
                    journal_mode: "wal".into(),
                    quick_check: "ok".into(),
                    ..Default::default()
                },
                &agent,
            ))
            .await;
        invalid(answer, "controller id");
    });

    // Where the value is free text, it is stored exactly as sent.
    f.run(
        &t.carol,
        &[
            "approve",
            "0001_baseline",
            "--env",
            "dev",
            "--reason",
            reason,
            "--comment",
            comment,
        ],
    )
    .ok();
    let mallory = schemagate_e2e::token(injected_subject, &["approver"]);
    f.run(
        &mallory,
        &["reject", "0001_baseline", "--env", "ci", "--reason", reason],
    )
    .ok();
    f.run(&t.root, &["freeze", "--env", "ci", "--reason", freeze])
        .ok();
    f.run(&t.root, &["unfreeze", "--env", "ci", "--reason", freeze])
        .ok();
    f.run(
        &t.root,
        &[
            "open-window",
            "--env",
            "pilot",
            "--reason",
            window,
            "--for",
            "1h",
        ],
    )
    .ok();
    f.run(
        &t.root,
        &[
            "stamp",
            "--env",
            "pilot",
            "--revision",
            "0001_baseline",
            "--force",
            "--reason",
            stamp,
        ],
    )
    .ok();
    write_revision(&f, ADD_TAPS);
    let path = f.revisions.path().join(format!("{}.up.sql", ADD_TAPS.0));
    f.run(
        &t.alice,
        &[
            "submit",
            path.to_str().unwrap(),
            "--description",
            description,
        ],
    )
    .ok();

    // The catalog is whole: every table there, the lineage and the
    // approvals listed, the texts verbatim, the audit chain intact.
    let catalog = f.open_catalog();
    let mut tables: Vec<String> = catalog
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    tables.retain(|t| !t.starts_with("_sqlx") && !t.starts_with("sqlite_"));
    for table in [
        "approvals",
        "audit_log",
        "environment_controls",
        "executions",
        "revisions",
    ] {
        assert!(
            tables.iter().any(|t| t == table),
            "{table} is gone: {tables:?}"
        );
    }
    let history = f.run(&t.alice, &["--json", "history"]).json();
    let revisions = history["revisions"].as_array().unwrap();
    assert_eq!(revisions.len(), 2, "{history:#}");
    assert_eq!(revisions[1]["description"], description, "{history:#}");
    let approvals = approvals_json(&f, &t.erin, "0001_baseline");
    assert_eq!(approvals.len(), 2, "{approvals:#?}");
    assert_eq!(approvals[0]["reason"], reason);
    assert_eq!(approvals[0]["comment"], comment);
    assert_eq!(approvals[1]["approver"], injected_subject);
    assert_eq!(approvals[1]["reason"], reason);
    let audit = audit_json(&f, &t.root);
    let detail = |action: &str| -> Vec<String> {
        audit
            .iter()
            .filter(|e| e["action"] == action)
            .map(|e| e["detail"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    assert_eq!(detail("environment.freeze"), [freeze]);
    assert_eq!(detail("environment.unfreeze"), [freeze]);
    assert!(detail("environment.open_window")[0].ends_with(&format!(": {window}")));
    assert!(detail("target.stamp_forced")[0].contains(&format!("reason: {stamp};")));
    f.run(&t.root, &["audit", "verify"]).ok();
    // And the pilot target got only its version row.
    assert_eq!(crate::release::applied(&f.pilot), 1);
}

#[test]
fn on_a_postgres_catalog_a_nul_is_refused_before_anything_is_written() {
    // A NUL is valid in a protobuf string and in SQLite text, not in
    // PostgreSQL text. A forced stamp whose reason held one used to stamp
    // the target and then fail to record it in the catalog (INTERNAL).
    let t = tokens();
    let dir = tempfile::tempdir().unwrap();
    let (catalog, pilot) = block_on(async {
        (
            schemagate_e2e::postgres().create_database().await,
            schemagate_e2e::postgres().create_database().await,
        )
    });
    let policy = dir.path().join("schemagate.toml");
    std::fs::write(&policy, crate::release::example_policy()).unwrap();
    let server = Server::start(
        &catalog,
        &[
            ("SCHEMAGATE_CONFIG", policy.to_str().unwrap()),
            ("SCHEMAGATE_TARGET_PILOT_URL", &pilot),
            (
                "SCHEMAGATE_SHADOW_URL",
                schemagate_e2e::postgres().admin_url(),
            ),
        ],
    );
    let revisions = tempfile::tempdir().unwrap();
    schemagate_e2e::write_revisions(revisions.path(), &[BASELINE]);
    server
        .sgctl(&t.alice, &["submit", revisions.path().to_str().unwrap()])
        .ok();
    block_on(async {
        let c = Clients::connect(&server).await;
        let answer = c
            .onboarding
            .clone()
            .stamp(authed(
                v1::StampRequest {
                    project: String::new(),
                    environment: "pilot".into(),
                    revision_id: BASELINE.0.into(),
                    force: true,
                    reason: "nul\0reason".into(),
                    restored: false,
                },
                &t.root,
            ))
            .await;
        invalid(answer, "without control characters");
        let answer = c
            .catalog
            .clone()
            .submit_revision(authed(
                v1::SubmitRevisionRequest {
                    project: String::new(),
                    id: ADD_TAPS.0.into(),
                    parent_id: BASELINE.0.into(),
                    up_sql: ADD_TAPS.1.into(),
                    down_sql: ADD_TAPS.2.into(),
                    description: "nul\0here".into(),
                    amend: false,
                },
                &t.alice,
            ))
            .await;
        invalid(answer, "NUL");
        // The refusal of a request with a NUL in an audited field is
        // recorded (the NUL written as \0), not an INTERNAL.
        let answer = c
            .approvals
            .clone()
            .approve(authed(
                v1::ApproveRequest {
                    revision_id: BASELINE.0.into(),
                    environment: "pilot\0".into(),
                    ..Default::default()
                },
                &t.carol,
            ))
            .await;
        invalid(answer, "unknown environment");
        assert_eq!(c.history(&t.alice).await.revisions.len(), 1);
        let audit = c.audit(&t.root).await;
        assert!(
            audit
                .iter()
                .any(|e| e.action == "approval.approve" && e.environment == "pilot\\0"),
            "{audit:#?}"
        );
        assert!(
            audit
                .iter()
                .any(|e| e.action == "target.stamp" && e.outcome == "refused"),
            "{audit:#?}"
        );
        assert!(c.verify_audit(&t.root).await.intact);
        // A NUL in the audit filter is refused too (found by the fuzz run
        // on this catalog: it was an INTERNAL).
        let answer = c
            .audit
            .clone()
            .list_audit(authed(
                v1::ListAuditRequest {
                    environment: "pilot\0".into(),
                    ..Default::default()
                },
                &t.root,
            ))
            .await;
        invalid(answer, "without control characters");
        let answer = c
            .audit
            .clone()
            .list_audit(authed(
                v1::ListAuditRequest {
                    project: "bar\0".into(),
                    ..Default::default()
                },
                &t.root,
            ))
            .await;
        invalid(
            answer,
            "the project filter 'bar\\u{0}' must be at most 1024 bytes",
        );
    });
    // The target was never touched.
    assert_eq!(crate::release::applied(&pilot), 0);
    assert!(
        !server.log().contains("catalog database error"),
        "{}",
        server.log()
    );
}

#[test]
fn extreme_timestamps_are_refused_or_clamped_not_a_panic() {
    // `seconds * 1000` once overflowed here: a panic in the handler, which
    // the caller saw as a reset stream.
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("schemagate.toml");
    std::fs::write(&policy, crate::release::example_policy()).unwrap();
    let server = Server::start(
        &format!("sqlite://{}", dir.path().join("catalog.db").display()),
        &[("SCHEMAGATE_CONFIG", policy.to_str().unwrap())],
    );
    let root = mint("root", &["admin"], None);
    block_on(async {
        let c = Clients::connect(&server).await;
        for (seconds, nanos) in [
            (i64::MAX, i32::MAX),
            (i64::MIN, i32::MIN),
            (i64::MAX / 1000 + 1, 0),
            (i64::MIN / 1000 - 1, -1),
        ] {
            let at = Some(Timestamp { seconds, nanos });
            let answer = c
                .gate
                .clone()
                .open_window(authed(
                    v1::OpenWindowRequest {
                        environment: "pilot".into(),
                        reason: "far away".into(),
                        expires_at: at,
                    },
                    &root,
                ))
                .await;
            invalid(answer, "");
            let entries = c
                .audit
                .clone()
                .list_audit(authed(
                    v1::ListAuditRequest {
                        since: at,
                        ..Default::default()
                    },
                    &root,
                ))
                .await
                .expect("ListAudit")
                .into_inner()
                .entries;
            // Since the far future: nothing; since the far past: everything.
            assert_eq!(entries.is_empty(), seconds > 0, "{seconds}: {entries:?}");
        }
        assert!(c.serving().await);
    });
    assert!(!server.log().contains("panicked"), "{}", server.log());
}
