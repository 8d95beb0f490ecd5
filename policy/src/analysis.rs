//! Parses a revision once and builds the cross-statement context the rules
//! need (tables and other objects created in this revision, the domains it
//! or the [`History`] before it gives constraints, `lock_timeout` state,
//! explicit transaction blocks), then runs every rule, applies exemptions
//! and derives the risk class; and folds a revision into a history.

use crate::exemptions::{self, Allow};
use crate::history::History;
use crate::rules::{Hit, RULES};
use crate::source::{LineIndex, skip_trivia};
use crate::{Finding, LintConfig, LintReport, ParseError, RiskClass, parse_error, risk_of};
use pg_query::NodeEnum;
pub use pg_query::protobuf::AlterTableType;
use pg_query::protobuf::{
    self, ConstrType, DropStmt, FunctionParameterMode, ObjectType, RangeVar, TransactionStmtKind,
    VariableSetKind,
};
use std::collections::HashMap;

/// One statement of the up migration.
pub struct Stmt<'a> {
    pub index: usize,
    pub node: Option<&'a NodeEnum>,
    /// Byte offset of the first token (leading comments skipped).
    pub start: usize,
    /// Byte offset just past the statement (semicolon excluded).
    pub end: usize,
    pub text: &'a str,
}

/// A parsed revision plus the context that spans statements.
pub struct Revision<'a> {
    pub source: &'a str,
    pub stmts: Vec<Stmt<'a>>,
    pub config: &'a LintConfig,
    /// True when the down migration is absent or has no statement.
    pub down_missing: bool,
    /// What earlier statements created, new and empty.
    created: Created,
    /// `lock_timeout[i]`: a non-zero lock_timeout is in effect before statement i.
    lock_timeout: Vec<bool>,
    /// `in_explicit_tx[i]`: statement i sits inside a BEGIN ... COMMIT block.
    in_explicit_tx: Vec<bool>,
    /// `cmd_starts[i]`: where each command of ALTER TABLE statement i
    /// starts (empty for other statements), scanned once for every rule.
    cmd_starts: Vec<Vec<Option<usize>>>,
    domains: DomainConstraints,
    deny: Vec<String>,
    /// What the earlier revisions of its lineage left.
    history: &'a History,
}

impl<'a> Revision<'a> {
    /// Whether `rel` existed before this revision, as seen from statement
    /// `idx`. A table created earlier in the same revision is empty and
    /// unseen by clients, so locking and rewriting it is harmless.
    ///
    /// Names are compared as PostgreSQL resolves them, as far as the SQL
    /// alone tells: the parser has folded unquoted names to lower case and
    /// kept quoted ones, so `"Orders"` is not `orders`; a schema-qualified
    /// name matches only a table created under that schema, and an
    /// unqualified one a table created unqualified or as a temporary table
    /// (which comes first on the search path), as long as the revision has
    /// not changed the search path since. A table dropped, renamed or moved
    /// away before `idx` no longer counts: the name may mean an older table
    /// by then. Anything else counts as existing, so that a new
    /// `archive.orders` never hides a `DROP TABLE public.orders`.
    pub fn is_existing(&self, rel: Option<&RangeVar>, idx: usize) -> bool {
        match rel {
            Some(rv) => self.is_existing_in(&rv.schemaname, &rv.relname, idx),
            None => true,
        }
    }

    /// [`is_existing`](Self::is_existing) for a dotted name as a DROP
    /// statement gives it (`name` or `schema.name`).
    pub fn is_existing_name(&self, dotted: &str, idx: usize) -> bool {
        match dotted.rsplit_once('.') {
            Some((schema, name)) => self.is_existing_in(schema, name, idx),
            None => self.is_existing_in("", dotted, idx),
        }
    }

    fn is_existing_in(&self, schema: &str, name: &str, idx: usize) -> bool {
        !self.is_new(Kind::Relation, &Name::new(schema, name), idx)
    }

    /// Whether `name` is an object of `kind` created earlier in this
    /// revision, and not dropped or renamed since: nobody can depend on it
    /// yet, and it holds no rows. Names match as for
    /// [`is_existing`](Self::is_existing); a routine's
    /// argument types must match as written too, unless `name` leaves them
    /// out.
    pub fn is_new(&self, kind: Kind, name: &Name, idx: usize) -> bool {
        self.created.before(kind, name, idx)
    }

    /// Whether type or domain `type_name` was created earlier in the
    /// revision and no table that existed before stores values of it yet: a
    /// column of an existing table added as, or changed to, the type has a
    /// value in every row (which checking a domain scans, and dropping the
    /// type with CASCADE deletes).
    pub fn is_new_unused_type(&self, type_name: &[protobuf::Node], idx: usize) -> bool {
        let new_type = Name::of_list(type_name);
        let stores_it = |cmd: &Cmd<'_>| {
            (cmd_is(cmd, AlterTableType::AtAddColumn)
                || cmd_is(cmd, AlterTableType::AtAlterColumnType))
                && column_def(cmd.def.as_deref())
                    .and_then(|c| c.type_name.as_ref())
                    .is_some_and(|t| Name::of_list(&t.names).may_be(&new_type))
        };
        self.is_new(Kind::Type, &new_type, idx)
            && !self
                .alters_of_existing_tables()
                .filter(|(s, _, _)| s.index < idx)
                .any(|(_, _, mut cmds)| cmds.any(|c| stores_it(&c)))
    }

    /// Whether a column of type `type_name` is, as far as this revision
    /// shows before statement `idx`, of a domain with a CHECK or NOT NULL
    /// constraint: one the revision created with one, gave one (ALTER
    /// DOMAIN ... ADD CONSTRAINT, even NOT VALID, or SET NOT NULL), or
    /// created over such a domain. PostgreSQL checks such a domain's
    /// constraints on every row a new column of it gets, by rewriting the
    /// table. A domain made or changed by an earlier revision of the
    /// lineage counts the same way ([`History`]); one from outside the
    /// lineage is unknown here (the linter cannot look it up), and an
    /// array of a domain is not checked
    /// that way. A constraint dropped again still counts, which errs
    /// towards flagging.
    pub fn is_constrained_domain(&self, type_name: &protobuf::TypeName, idx: usize) -> bool {
        type_name.array_bounds.is_empty()
            && self
                .domains
                .constrained(&Name::of_list(&type_name.names), idx, 0)
    }

    /// The DEFAULT a column of type `type_name` gets from its domain before
    /// statement `idx`, when the revision (or an earlier one of its lineage)
    /// created that domain with one (or over a domain it gave one) or set
    /// one with ALTER DOMAIN: a new column without a default of its own
    /// takes it for every existing row. `None` for a domain from outside
    /// the lineage (unknown here), one whose default was dropped, and an
    /// array of a domain (no default).
    pub fn domain_default(
        &self,
        type_name: &protobuf::TypeName,
        idx: usize,
    ) -> Option<&protobuf::Node> {
        if !type_name.array_bounds.is_empty() {
            return None;
        }
        self.domains
            .default_of(&Name::of_list(&type_name.names), idx)
    }

    /// What the earlier revisions of the lineage left, as far as the
    /// linter follows them.
    pub fn history(&self) -> &'a History {
        self.history
    }

    /// Whether role `name` was created earlier in the revision (and not
    /// dropped or renamed since): no client logs in as it yet.
    pub fn is_new_role(&self, name: &str, idx: usize) -> bool {
        self.is_new(Kind::Role, &Name::new("", name), idx)
    }

    /// Whether an unqualified name means at statement `to` what it meant at
    /// statement `from`: the revision has not changed the search path in
    /// between.
    pub fn same_search_path(&self, from: usize, to: usize) -> bool {
        self.created.epoch(from) == self.created.epoch(to)
    }

    pub fn lock_timeout_set_before(&self, idx: usize) -> bool {
        self.lock_timeout.get(idx).copied().unwrap_or(false)
    }

    pub fn in_explicit_transaction(&self, idx: usize) -> bool {
        self.in_explicit_tx.get(idx).copied().unwrap_or(false)
    }

    /// Whether a table name, as parsed, is on the deny-list: compared as
    /// PostgreSQL compares names, so a quoted `"Pours"` is not `pours`.
    pub fn denied(&self, name: &str) -> bool {
        self.deny.iter().any(|d| d == name)
    }

    /// The denied table names as PostgreSQL spells them once parsed.
    pub fn deny_list(&self) -> &[String] {
        &self.deny
    }

    pub fn has_deny_list(&self) -> bool {
        !self.deny.is_empty()
    }

    /// Every `ALTER TABLE` of a table that existed before the revision (see
    /// [`is_existing`](Self::is_existing)): the statement, the table and its
    /// subcommands. What most table rules look at.
    pub fn alters_of_existing_tables(
        &self,
    ) -> impl Iterator<Item = (&Stmt<'a>, &'a RangeVar, impl Iterator<Item = Cmd<'a>>)> + '_ {
        self.alters()
            .filter(|(s, alter, _)| {
                is_table_alter(alter) && self.is_existing(alter.relation.as_ref(), s.index)
            })
            .filter_map(|(s, alter, cmds)| Some((s, alter.relation.as_ref()?, cmds)))
    }

    /// Every `ALTER TABLE`, `ALTER INDEX`, `ALTER MATERIALIZED VIEW` ... of
    /// any relation, new or not, with its subcommands and where each starts.
    pub fn alters(
        &self,
    ) -> impl Iterator<
        Item = (
            &Stmt<'a>,
            &'a protobuf::AlterTableStmt,
            impl Iterator<Item = Cmd<'a>>,
        ),
    > + '_ {
        self.nodes().filter_map(move |(s, node)| {
            let NodeEnum::AlterTableStmt(alter) = node else {
                return None;
            };
            let starts = self.cmd_starts.get(s.index).map_or(&[][..], Vec::as_slice);
            Some((
                s,
                alter,
                alter
                    .cmds
                    .iter()
                    .filter_map(alter_cmd)
                    .enumerate()
                    .map(|(i, cmd)| Cmd {
                        cmd,
                        at: starts.get(i).copied().flatten(),
                    }),
            ))
        })
    }

    /// Iterates statements with their parsed node.
    pub fn nodes(&self) -> impl Iterator<Item = (&Stmt<'a>, &'a NodeEnum)> + '_ {
        self.stmts.iter().filter_map(|s| s.node.map(|n| (s, n)))
    }
}

/// Statements parsed from one SQL text, or the located syntax error.
struct Parsed {
    protobuf: protobuf::ParseResult,
}

/// The report on an up migration that could not be read. Fails closed: what
/// cannot be read cannot be proven additive.
pub fn unreadable(parse_error: ParseError, down_parse_error: Option<ParseError>) -> LintReport {
    LintReport {
        findings: Vec::new(),
        exemptions: Vec::new(),
        risk: RiskClass::Destructive,
        statements: 0,
        transactional: true,
        parse_error: Some(parse_error),
        down_parse_error,
        down_transaction_control: None,
    }
}

/// What a failure of the parser thread, or a panic inside the parser, is
/// reported as.
pub fn parser_failure(failure: &crate::parser_stack::ParserFailure) -> ParseError {
    ParseError {
        message: failure.to_string(),
        line: 1,
        column: 1,
    }
}

fn parse(sql: &str) -> Result<Parsed, ParseError> {
    // pg_query's summary pass (tables/functions) indexes into node lists; a
    // tree shape it does not expect must become an error, not a crash of the
    // server that called us.
    let result = std::panic::catch_unwind(|| pg_query::parse(sql, 0));
    match result {
        Ok(Ok(result)) => Ok(Parsed {
            protobuf: result.protobuf,
        }),
        Ok(Err(err)) => Err(parse_error::locate(sql, &err.to_string())),
        Err(_) => Err(parser_failure(
            &crate::parser_stack::ParserFailure::Panicked,
        )),
    }
}

fn statements<'a>(source: &'a str, parsed: &'a Parsed) -> Vec<Stmt<'a>> {
    parsed
        .protobuf
        .stmts
        .iter()
        .enumerate()
        .map(|(index, raw)| {
            let loc = usize::try_from(raw.stmt_location)
                .unwrap_or(0)
                .min(source.len());
            let end = match usize::try_from(raw.stmt_len) {
                Ok(0) | Err(_) => source.len(),
                Ok(len) => loc.saturating_add(len).min(source.len()),
            };
            let start = skip_trivia(source, loc, end);
            let end = crate::source::clamp_to_char_boundary(source, end.max(start));
            let text = source.get(start..end).unwrap_or("").trim_end();
            let text = text.strip_suffix(';').unwrap_or(text).trim_end();
            Stmt {
                index,
                node: raw.stmt.as_ref().and_then(|n| n.node.as_ref()),
                start,
                end,
                text,
            }
        })
        .collect()
}

pub fn lint_revision(
    history: &History,
    up: &str,
    down: Option<&str>,
    config: &LintConfig,
) -> LintReport {
    let (down_missing, down_parse_error, down_transaction_control) = match down {
        None => (true, None, None),
        Some(d) => match parse(d) {
            Ok(p) => (
                p.protobuf.stmts.is_empty(),
                None,
                transaction_control_in(d, &p, config),
            ),
            Err(e) => (false, Some(e), None),
        },
    };

    let parsed = match parse(up) {
        Ok(p) => p,
        Err(e) => return unreadable(e, down_parse_error),
    };

    let stmts = statements(up, &parsed);
    let rev = build_revision(up, stmts, config, down_missing, history);

    let mut hits: Vec<(usize, Hit)> = Vec::new();
    let mut buf = Vec::new();
    for (rule_pos, rule) in RULES.iter().enumerate() {
        rule.check(&rev, &mut buf);
        hits.extend(buf.drain(..).map(|h| (rule_pos, h)));
    }

    let (allows, invalid) = exemptions::collect(up, &rev.stmts);
    hits.extend(invalid);

    let index = LineIndex::new(up);
    let mut findings: Vec<(usize, usize, Finding)> = hits
        .into_iter()
        .map(|(rule_pos, hit)| {
            let (at, finding) = located(RULES[rule_pos], hit, &rev, &index);
            (at, rule_pos, finding)
        })
        .collect();
    findings.sort_by_key(|(at, rule_pos, f)| (f.statement_index, *at, *rule_pos));
    let mut findings: Vec<Finding> = findings.into_iter().map(|(_, _, f)| f).collect();

    let unused = apply_exemptions(&mut findings, &allows);
    for allow in unused {
        let (line, column) = index.line_col(allow.offset);
        let info = crate::rules::unused_exemption::INFO;
        findings.push(Finding {
            rule: info.id,
            severity: info.severity,
            category: info.category,
            statement_index: allow.statement_index,
            line,
            column,
            statement: rev
                .stmts
                .get(allow.statement_index)
                .map(|s| s.text.to_string())
                .unwrap_or_default(),
            message: format!(
                "`schemagate:allow {}` matches no finding of statement {}",
                allow.rule,
                allow.statement_index + 1
            ),
            help: info.help.to_string(),
            exempted: false,
            exemption_reason: None,
        });
    }

    let transactional = !rev.nodes().any(|(_, n)| non_transactional(n).is_some());
    LintReport {
        risk: risk_of(&findings),
        findings,
        exemptions: allows
            .iter()
            .map(|a| crate::Exemption {
                rule: a.rule.clone(),
                reason: a.reason.clone(),
                statement_index: a.statement_index,
                line: a.line,
            })
            .collect(),
        statements: rev.stmts.len(),
        transactional,
        parse_error: None,
        down_parse_error,
        down_transaction_control,
    }
}

/// A rule's hit as a finding at its line and column in `rev`'s source,
/// with the byte offset it is at.
fn located(
    rule: &dyn crate::rules::Rule,
    hit: Hit,
    rev: &Revision<'_>,
    index: &LineIndex<'_>,
) -> (usize, Finding) {
    let info = rule.info();
    let stmt = rev.stmts.get(hit.statement);
    let at = hit.at.or(stmt.map(|s| s.start)).unwrap_or(0);
    let (line, column) = index.line_col(at);
    let finding = Finding {
        rule: info.id,
        severity: hit.severity.unwrap_or(info.severity),
        category: info.category,
        statement_index: hit.statement,
        line,
        column,
        statement: stmt.map(|s| s.text.to_string()).unwrap_or_default(),
        message: hit.message.unwrap_or_else(|| info.message.to_string()),
        help: info.help.to_string(),
        exempted: false,
        exemption_reason: None,
    };
    (at, finding)
}

/// The down migration's first statement that begins or ends a transaction:
/// the executor runs the down in one transaction with its version row like
/// the up, so the server refuses it at submit. No other rule reads the down.
fn transaction_control_in(down: &str, parsed: &Parsed, config: &LintConfig) -> Option<Finding> {
    use crate::rules::Rule;
    use crate::rules::transaction_control::TransactionControl;
    let empty = History::default();
    let rev = build_revision(down, statements(down, parsed), config, false, &empty);
    let mut hits = Vec::new();
    TransactionControl.check(&rev, &mut hits);
    let first = hits.into_iter().next()?;
    Some(located(&TransactionControl, first, &rev, &LineIndex::new(down)).1)
}

/// Marks findings covered by an allow comment; returns the allows that
/// matched nothing.
fn apply_exemptions<'x>(findings: &mut [Finding], allows: &'x [Allow]) -> Vec<&'x Allow> {
    let mut used = vec![false; allows.len()];
    for f in findings.iter_mut() {
        if let Some((i, a)) = allows
            .iter()
            .enumerate()
            .find(|(_, a)| a.rule == f.rule && a.statement_index == f.statement_index)
        {
            f.exempted = true;
            f.exemption_reason = Some(a.reason.clone());
            used[i] = true;
        }
    }
    allows
        .iter()
        .zip(used)
        .filter(|(_, u)| !u)
        .map(|(a, _)| a)
        .collect()
}

fn build_revision<'a>(
    source: &'a str,
    stmts: Vec<Stmt<'a>>,
    config: &'a LintConfig,
    down_missing: bool,
    history: &'a History,
) -> Revision<'a> {
    let mut created = Created::default();
    let mut domains = history.domains.clone();
    let mut search_path_changes = 0;
    let mut lock_timeout = Vec::with_capacity(stmts.len());
    let mut in_explicit_tx = Vec::with_capacity(stmts.len());
    let mut cmd_starts = Vec::with_capacity(stmts.len());
    let mut lt = false;
    let mut tx = false;
    for s in &stmts {
        lock_timeout.push(lt);
        in_explicit_tx.push(tx);
        cmd_starts.push(match s.node {
            Some(NodeEnum::AlterTableStmt(alter)) => alter
                .relation
                .as_ref()
                .map(|rel| self::cmd_starts(source, s, rel, alter.cmds.len()))
                .unwrap_or_default(),
            _ => Vec::new(),
        });
        created.epochs.push(search_path_changes);
        let Some(node) = s.node else { continue };
        domains.record(node, s.index, search_path_changes > 0);
        if let Some((kind, name)) = created_object(node, &created, s.index) {
            created.insert(kind, name, s.index);
        }
        let ended = ended_objects(node);
        for (kind, name) in &ended.objects {
            created.end(*kind, name, s.index);
        }
        for schema in &ended.schemas {
            created.end_all(Some(schema), s.index);
        }
        if ended.everything {
            created.end_all(None, s.index);
        }
        if changes_search_path(node, s.text) {
            search_path_changes += 1;
        }
        match node {
            NodeEnum::VariableSetStmt(v) if v.name.eq_ignore_ascii_case("lock_timeout") => {
                lt = match VariableSetKind::try_from(v.kind) {
                    Ok(VariableSetKind::VarSetValue) => !v.args.iter().all(is_zero_const),
                    _ => false,
                };
            }
            NodeEnum::VariableSetStmt(v) if v.kind == VariableSetKind::VarResetAll as i32 => {
                lt = false;
            }
            NodeEnum::SelectStmt(select) => {
                if let Some(set) = lock_timeout_set_config(select) {
                    lt = set;
                }
            }
            NodeEnum::TransactionStmt(t) => match TransactionStmtKind::try_from(t.kind) {
                Ok(TransactionStmtKind::TransStmtBegin | TransactionStmtKind::TransStmtStart) => {
                    tx = true;
                }
                Ok(
                    TransactionStmtKind::TransStmtCommit
                    | TransactionStmtKind::TransStmtRollback
                    | TransactionStmtKind::TransStmtPrepare,
                ) => tx = false,
                _ => {}
            },
            _ => {}
        }
    }
    Revision {
        source,
        stmts,
        config,
        down_missing,
        created,
        lock_timeout,
        in_explicit_tx,
        cmd_starts,
        domains,
        deny: config
            .deny_tables
            .iter()
            .map(|t| identifier(t))
            .filter(|t| !t.is_empty())
            .collect(),
        history,
    }
}

/// `history` followed by the revision whose up SQL is `up`; `None` when
/// it does not parse.
pub fn history_after(history: &History, up: &str) -> Option<History> {
    let parsed = parse(up).ok()?;
    let config = LintConfig::default();
    let rev = build_revision(up, statements(up, &parsed), &config, false, history);
    Some(History {
        proofs: crate::rules::set_not_null::proofs_left(&rev),
        domains: rev.domains.as_earlier(),
    })
}

/// A table name from the configuration as PostgreSQL reads an identifier:
/// `"Pours"` (quoted) is `Pours`, `Pours` (unquoted) is `pours`.
fn identifier(written: &str) -> String {
    let written = written.trim();
    match written.strip_prefix('"').and_then(|w| w.strip_suffix('"')) {
        Some(quoted) => quoted.replace("\"\"", "\""),
        None => written.to_ascii_lowercase(),
    }
}

/// `SELECT set_config('lock_timeout', '2s', true)`, the function form of
/// `SET [LOCAL] lock_timeout`: whether it sets a timeout (`false` for 0),
/// or `None` when the statement sets no lock_timeout.
fn lock_timeout_set_config(select: &protobuf::SelectStmt) -> Option<bool> {
    select.target_list.iter().find_map(|target| {
        let Some(NodeEnum::ResTarget(target)) = target.node.as_ref() else {
            return None;
        };
        let Some(NodeEnum::FuncCall(call)) = target.val.as_ref()?.node.as_ref() else {
            return None;
        };
        let setting = set_config_setting(call)??;
        setting
            .eq_ignore_ascii_case("lock_timeout")
            .then(|| call.args.get(1).is_some_and(|value| !is_zero_const(value)))
    })
}

/// When `call` is `set_config(setting, value, is_local)`: the setting's
/// name, or `None` inside when it is not a string literal.
fn set_config_setting(call: &protobuf::FuncCall) -> Option<Option<&str>> {
    let name = call.funcname.last().and_then(string_value)?;
    name.eq_ignore_ascii_case("set_config").then(|| {
        call.args.first().and_then(|arg| match arg.node.as_ref() {
            Some(NodeEnum::AConst(c)) => match &c.val {
                Some(protobuf::a_const::Val::Sval(s)) => Some(s.sval.as_str()),
                _ => None,
            },
            _ => None,
        })
    })
}

/// `lock_timeout = 0` disables the timeout, so it does not count as set.
fn is_zero_const(n: &protobuf::Node) -> bool {
    match n.node.as_ref() {
        Some(NodeEnum::AConst(c)) => match &c.val {
            Some(protobuf::a_const::Val::Ival(i)) => i.ival == 0,
            Some(protobuf::a_const::Val::Sval(s)) => {
                let v = s
                    .sval
                    .trim()
                    .trim_end_matches(|c: char| c.is_ascii_alphabetic());
                v.trim().parse::<f64>().map(|x| x == 0.0).unwrap_or(false)
            }
            Some(protobuf::a_const::Val::Fval(f)) => f.fval.parse::<f64>() == Ok(0.0),
            _ => false,
        },
        _ => false,
    }
}

/// The table a statement creates, if it certainly creates a new, empty one.
/// `IF NOT EXISTS` does not count: the table may well exist already.
fn created_table(node: &NodeEnum) -> Option<&RangeVar> {
    match node {
        NodeEnum::CreateStmt(c) if !c.if_not_exists => c.relation.as_ref(),
        NodeEnum::CreateTableAsStmt(c) if !c.if_not_exists => {
            c.into.as_ref().and_then(|i| i.rel.as_ref())
        }
        NodeEnum::SelectStmt(s) => s.into_clause.as_ref().and_then(|i| i.rel.as_ref()),
        _ => None,
    }
}

/// The object statement `idx` certainly creates, new and empty, given what
/// earlier ones created. `IF NOT EXISTS` and `OR REPLACE` do not count: the
/// object may well exist already. An index counts only on a new table: on
/// an existing one it holds an entry for every row.
fn created_object(node: &NodeEnum, created: &Created, idx: usize) -> Option<(Kind, Name)> {
    // A temporary relation lives in `pg_temp` whatever the name says.
    let schema = |rv: &RangeVar| {
        if rv.relpersistence == "t" {
            "pg_temp".to_string()
        } else {
            rv.schemaname.clone()
        }
    };
    let relation = |rv: &RangeVar| (Kind::Relation, Name::new(&schema(rv), &rv.relname));
    if let Some(rv) = created_table(node) {
        return Some(relation(rv));
    }
    Some(match node {
        NodeEnum::CreateSeqStmt(c) if !c.if_not_exists => relation(c.sequence.as_ref()?),
        NodeEnum::ViewStmt(v) if !v.replace => relation(v.view.as_ref()?),
        NodeEnum::IndexStmt(i) if !i.if_not_exists && !i.idxname.is_empty() => {
            let table = i.relation.as_ref()?;
            if !created.before(Kind::Relation, &Name::of_rel(table), idx) {
                return None;
            }
            // An index lives in its table's schema.
            (Kind::Relation, Name::new(&schema(table), &i.idxname))
        }
        NodeEnum::CreateSchemaStmt(c) if !c.if_not_exists => {
            (Kind::Schema, Name::new("", &c.schemaname))
        }
        NodeEnum::CreateExtensionStmt(c) if !c.if_not_exists => {
            (Kind::Extension, Name::new("", &c.extname))
        }
        NodeEnum::CreateRoleStmt(c) => (Kind::Role, Name::new("", &c.role)),
        NodeEnum::CompositeTypeStmt(c) => (Kind::Type, Name::of_rel(c.typevar.as_ref()?)),
        NodeEnum::CreateEnumStmt(c) => (Kind::Type, Name::of_list(&c.type_name)),
        NodeEnum::CreateRangeStmt(c) => (Kind::Type, Name::of_list(&c.type_name)),
        NodeEnum::CreateDomainStmt(c) => (Kind::Type, Name::of_list(&c.domainname)),
        // PostgreSQL 16+ names an unnamed one itself; the linter cannot.
        NodeEnum::CreateStatsStmt(c) if !c.if_not_exists && !c.defnames.is_empty() => {
            (Kind::Statistics, Name::of_list(&c.defnames))
        }
        NodeEnum::CreateFunctionStmt(f) if !f.replace => {
            // OUT arguments are not part of a routine's name. (ALTER
            // PROCEDURE accepts them too; a list with them does not match
            // here, which errs towards flagging.)
            let args = f.parameters.iter().filter_map(|p| match p.node.as_ref() {
                Some(NodeEnum::FunctionParameter(p))
                    if !matches!(
                        FunctionParameterMode::try_from(p.mode),
                        Ok(FunctionParameterMode::FuncParamOut
                            | FunctionParameterMode::FuncParamTable)
                    ) =>
                {
                    p.arg_type.as_ref()
                }
                _ => None,
            });
            let name = Name {
                args: Some(args.map(type_key).collect()),
                ..Name::of_list(&f.funcname)
            };
            (Kind::Routine, name)
        }
        NodeEnum::DefineStmt(d) if !d.if_not_exists && !d.replace => {
            match ObjectType::try_from(d.kind).ok()? {
                ObjectType::ObjectType => (Kind::Type, Name::of_list(&d.defnames)),
                ObjectType::ObjectCollation => (Kind::Collation, Name::of_list(&d.defnames)),
                ObjectType::ObjectTsconfiguration => {
                    (Kind::TextSearchConfiguration, Name::of_list(&d.defnames))
                }
                // `CREATE AGGREGATE name (args) (...)`; the old syntax
                // without an argument list is left out.
                ObjectType::ObjectAggregate if !d.oldstyle => {
                    let Some(NodeEnum::List(args)) = d.args.first()?.node.as_ref() else {
                        return None;
                    };
                    let args = args.items.iter().filter_map(|p| match p.node.as_ref() {
                        Some(NodeEnum::FunctionParameter(p)) => p.arg_type.as_ref(),
                        _ => None,
                    });
                    let name = Name {
                        args: Some(args.map(type_key).collect()),
                        ..Name::of_list(&d.defnames)
                    };
                    (Kind::Routine, name)
                }
                _ => return None,
            }
        }
        _ => return None,
    })
}

/// Which set of names an object's name belongs to: two objects of one kind
/// cannot share a name in a schema, two of different kinds can (a function
/// `orders` beside a table `orders`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Tables, indexes, sequences.
    Relation,
    /// Types and domains.
    Type,
    /// Functions, procedures and aggregates, told apart by their argument
    /// types too.
    Routine,
    Schema,
    Collation,
    TextSearchConfiguration,
    /// Extended statistics (`CREATE STATISTICS`): nothing depends on one.
    Statistics,
    Extension,
    /// Roles, cluster-wide: nobody logs in as one the revision created.
    Role,
}

impl Kind {
    /// The kind of what an `ALTER <object type>` names, for those tracked.
    pub fn of(object: ObjectType) -> Option<Kind> {
        Some(match object {
            ObjectType::ObjectTable
            | ObjectType::ObjectIndex
            | ObjectType::ObjectSequence
            | ObjectType::ObjectMatview => Kind::Relation,
            // An attribute is renamed through its composite type.
            ObjectType::ObjectType | ObjectType::ObjectDomain | ObjectType::ObjectAttribute => {
                Kind::Type
            }
            ObjectType::ObjectFunction
            | ObjectType::ObjectProcedure
            | ObjectType::ObjectRoutine
            | ObjectType::ObjectAggregate => Kind::Routine,
            ObjectType::ObjectSchema => Kind::Schema,
            ObjectType::ObjectCollation => Kind::Collation,
            ObjectType::ObjectTsconfiguration => Kind::TextSearchConfiguration,
            ObjectType::ObjectStatisticExt => Kind::Statistics,
            ObjectType::ObjectExtension => Kind::Extension,
            _ => return None,
        })
    }
}

/// An object's name as a statement writes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Name {
    /// The schema as written, or empty.
    pub schema: String,
    pub name: String,
    /// A routine's argument types, `None` where the statement leaves them
    /// out (`ALTER FUNCTION f RENAME TO g`).
    pub args: Option<Vec<String>>,
}

impl Name {
    pub fn new(schema: &str, name: &str) -> Name {
        Name {
            schema: schema.to_string(),
            name: name.to_string(),
            args: None,
        }
    }

    pub fn of_rel(rv: &RangeVar) -> Name {
        Name::new(&rv.schemaname, &rv.relname)
    }

    /// Whether two names may be one object's: the same name, and the same
    /// schema or one of them unqualified (the search path decides).
    pub fn may_be(&self, other: &Name) -> bool {
        self.name == other.name
            && (self.schema == other.schema || self.schema.is_empty() || other.schema.is_empty())
    }

    /// A parsed qualified name (`schema.name`, or a database too).
    pub fn of_list(names: &[protobuf::Node]) -> Name {
        let mut parts = names.iter().filter_map(string_value).rev();
        let name = parts.next().unwrap_or_default();
        Name::new(parts.next().unwrap_or_default(), name)
    }

    /// The object of an ALTER ... RENAME or SET SCHEMA: a qualified name, a
    /// type name, a bare name (an extension's) or a routine with its
    /// argument types.
    pub fn of_object(o: &protobuf::Node) -> Option<Name> {
        Some(match o.node.as_ref()? {
            NodeEnum::List(l) => Name::of_list(&l.items),
            NodeEnum::TypeName(t) => Name::of_list(&t.names),
            NodeEnum::String(s) => Name::new("", &s.sval),
            NodeEnum::ObjectWithArgs(f) => Name {
                args: (!f.args_unspecified).then(|| {
                    f.objargs
                        .iter()
                        .filter_map(|a| match a.node.as_ref() {
                            Some(NodeEnum::TypeName(t)) => Some(type_key(t)),
                            _ => None,
                        })
                        .collect()
                }),
                ..Name::of_list(&f.objname)
            },
            _ => return None,
        })
    }
}

/// An argument type as written, `pg_catalog.` left out: the parser spells
/// `int` as `pg_catalog.int4` but `int4` as it is.
fn type_key(t: &protobuf::TypeName) -> String {
    let name = dotted(&t.names);
    let name = name.strip_prefix("pg_catalog.").unwrap_or(&name);
    format!("{name}{}", "[]".repeat(t.array_bounds.len()))
}

/// Objects created in a revision, by kind, schema (as written, or
/// `pg_temp`, or empty) and name as parsed, and how far they live: a DROP
/// (or a RENAME, or a move to another schema) of one ends it, after which
/// its name refers to some older object again. `epochs[i]` counts the
/// changes of `search_path` before statement `i`: an unqualified name
/// means the object created under it only while the search path stays as
/// it was.
#[derive(Default)]
struct Created {
    by_name: HashMap<(Kind, String, String), Vec<Creation>>,
    epochs: Vec<usize>,
}

/// One object of a name: a routine's argument types (`None` for other
/// objects), the index of the statement that created it and of the one
/// that dropped (or renamed) it, if any.
struct Creation {
    args: Option<Vec<String>>,
    at: usize,
    until: Option<usize>,
}

impl Creation {
    /// Whether the object exists, new, when statement `idx` runs: the
    /// statement that drops it still sees it.
    fn alive_at(&self, idx: usize) -> bool {
        self.at < idx && self.until.is_none_or(|until| idx <= until)
    }
}

impl Created {
    fn insert(&mut self, kind: Kind, name: Name, at: usize) {
        self.by_name
            .entry((kind, name.schema, name.name))
            .or_default()
            .push(Creation {
                args: name.args,
                at,
                until: None,
            });
    }

    fn epoch(&self, idx: usize) -> usize {
        self.epochs.get(idx).copied().unwrap_or(usize::MAX)
    }

    /// Whether `name` was created before statement `idx` and still exists
    /// then. A schema-qualified name matches only an object created under
    /// that schema; an unqualified one an object created unqualified, or a
    /// temporary relation or type, which come first on the search path, and
    /// only while the revision has not changed the search path since.
    fn before(&self, kind: Kind, name: &Name, idx: usize) -> bool {
        let under = |schema: &str, same_path: bool| {
            self.by_name
                .get(&(kind, schema.to_string(), name.name.clone()))
                .is_some_and(|all| {
                    all.iter().any(|c| {
                        c.alive_at(idx)
                            && (name.args.is_none() || c.args == name.args)
                            && (!same_path || self.epoch(c.at) == self.epoch(idx))
                    })
                })
        };
        // Schemas, extensions and roles are not looked up on the path.
        let on_path = !matches!(kind, Kind::Schema | Kind::Extension | Kind::Role);
        match name.schema.as_str() {
            "" => {
                under("", on_path)
                    || (matches!(kind, Kind::Relation | Kind::Type) && under("pg_temp", true))
            }
            schema => under(schema, false),
        }
    }

    /// Statement `idx` drops (or renames away) every object of `kind` that
    /// `name` may mean: an unqualified name the one created unqualified or
    /// as a temporary object, a qualified one the one created under that
    /// schema or unqualified. Ending too many only makes later statements
    /// count as touching older objects, which errs towards flagging.
    fn end(&mut self, kind: Kind, name: &Name, idx: usize) {
        let schemas: [&str; 2] = match name.schema.as_str() {
            "" => ["", "pg_temp"],
            schema => [schema, ""],
        };
        for schema in schemas {
            if let Some(all) = self
                .by_name
                .get_mut(&(kind, schema.to_string(), name.name.clone()))
            {
                for c in all.iter_mut().filter(|c| c.alive_at(idx)) {
                    if name.args.is_none() || c.args == name.args {
                        c.until = Some(idx);
                    }
                }
            }
        }
    }

    /// Ends every object created under `schema` (DROP SCHEMA), or every
    /// object when `schema` is `None` (DROP OWNED BY).
    fn end_all(&mut self, schema: Option<&str>, idx: usize) {
        for ((_, s, _), all) in self.by_name.iter_mut() {
            if schema.is_none_or(|schema| s == schema) {
                for c in all.iter_mut().filter(|c| c.alive_at(idx)) {
                    c.until = Some(idx);
                }
            }
        }
    }
}

/// The domains a revision (or, [`At`] `None`, an earlier one of its
/// lineage) creates or gives a CHECK or NOT NULL constraint or a DEFAULT to,
/// with the statement that did it: what
/// [`is_constrained_domain`](Revision::is_constrained_domain) and
/// [`domain_default`](Revision::domain_default) read.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct DomainConstraints {
    /// Each new domain, with its base type unless that is an array.
    created: Vec<(Name, Option<Name>, At)>,
    /// Domains given a constraint, by CREATE DOMAIN or ALTER DOMAIN.
    constrained: Vec<(Name, At)>,
    /// Domains given a default (`None`: dropped), by CREATE DOMAIN or
    /// ALTER DOMAIN; a new domain without one of its own copies its base
    /// domain's, as PostgreSQL does.
    defaults: Vec<(Name, Option<protobuf::Node>, At)>,
    /// Domains gone from their name, by DROP DOMAIN, DROP SCHEMA, or a
    /// rename or move (which records the facts under the new name): what
    /// was recorded of them before no longer stands.
    dropped: Vec<(Dropped, At)>,
}

/// The domain an `ALTER DOMAIN ... RENAME TO` or `SET SCHEMA` moves, as
/// (old name, new name).
fn domain_moved(node: &NodeEnum) -> Option<(Name, Name)> {
    let domain = ObjectType::ObjectDomain as i32;
    match node {
        NodeEnum::RenameStmt(r) if r.rename_type == domain => {
            let old = Name::of_object(r.object.as_deref()?)?;
            let new = Name::new(&old.schema, &r.newname);
            Some((old, new))
        }
        NodeEnum::AlterObjectSchemaStmt(a) if a.object_type == domain => {
            let old = Name::of_object(a.object.as_deref()?)?;
            let new = Name::new(&a.newschema, &old.name);
            Some((old, new))
        }
        _ => None,
    }
}

/// What a drop, rename or move ends. Only a certain match counts: the
/// same name as written, unqualified ones on the search path the lineage
/// starts from. A name that may mean another schema's domain ends
/// nothing, which errs towards flagging, as keeping a fact does.
#[derive(Clone, Debug, PartialEq)]
enum Dropped {
    Domain(Name),
    Schema(String),
}

impl Dropped {
    fn ends(&self, domain: &Name) -> bool {
        match self {
            Dropped::Domain(gone) => gone.schema == domain.schema && gone.name == domain.name,
            Dropped::Schema(schema) => domain.schema == *schema,
        }
    }
}

/// Where in the lineage something happened: at a statement of the revision
/// linted, or (`None`) in an earlier revision, before all of them.
pub(crate) type At = Option<usize>;

impl DomainConstraints {
    /// Records statement `idx`; `search_path_changed` when a statement
    /// before it in the revision set the search path.
    fn record(&mut self, node: &NodeEnum, idx: usize, search_path_changed: bool) {
        // An unqualified name resolves as the lineage's own only on the
        // search path it starts from.
        let certain = |name: &Name| !name.schema.is_empty() || !search_path_changed;
        let checks = |c: &protobuf::Node| {
            constraint(Some(c)).is_some_and(|c| {
                matches!(
                    constr_type(c),
                    ConstrType::ConstrCheck | ConstrType::ConstrNotnull
                )
            })
        };
        match node {
            NodeEnum::CreateDomainStmt(d) => {
                let name = Name::of_list(&d.domainname);
                let base = d
                    .type_name
                    .as_ref()
                    .filter(|t| t.array_bounds.is_empty())
                    .map(|t| Name::of_list(&t.names));
                if d.constraints.iter().any(checks) {
                    self.constrained.push((name.clone(), Some(idx)));
                }
                let own_default = d
                    .constraints
                    .iter()
                    .filter_map(|c| constraint(Some(c)))
                    .find(|c| constr_type(c) == ConstrType::ConstrDefault)
                    .and_then(|c| c.raw_expr.as_deref());
                let default = own_default.or_else(|| {
                    base.as_ref()
                        .and_then(|base| self.default_of(base, idx + 1))
                });
                if let Some(default) = default.cloned() {
                    self.defaults.push((name.clone(), Some(default), Some(idx)));
                }
                self.created.push((name, base, Some(idx)));
            }
            NodeEnum::AlterDomainStmt(d)
                if d.subtype == "O"
                    || (d.subtype == "C" && d.def.as_deref().is_some_and(checks)) =>
            {
                self.constrained
                    .push((Name::of_list(&d.type_name), Some(idx)));
            }
            NodeEnum::AlterDomainStmt(d) if d.subtype == "T" => {
                self.defaults.push((
                    Name::of_list(&d.type_name),
                    d.def.as_deref().cloned(),
                    Some(idx),
                ));
            }
            NodeEnum::DropStmt(d) if drop_type(d) == ObjectType::ObjectDomain => {
                for name in d.objects.iter().filter_map(Name::of_object) {
                    if certain(&name) {
                        self.dropped.push((Dropped::Domain(name), Some(idx)));
                    }
                }
            }
            NodeEnum::DropStmt(d) if drop_type(d) == ObjectType::ObjectSchema => {
                for schema in drop_names(d) {
                    self.dropped.push((Dropped::Schema(schema), Some(idx)));
                }
            }
            _ => {
                if let Some((old, new)) = domain_moved(node)
                    && certain(&old)
                {
                    self.moved(old, new, idx);
                }
            }
        }
    }

    /// Domain `old` is `new` from statement `idx` on: what stands of it
    /// is recorded under the new name, and ends under the old one.
    fn moved(&mut self, old: Name, new: Name, idx: usize) {
        let gone = Dropped::Domain(old);
        let renamed = |name: &Name| gone.ends(name);
        let created: Vec<_> = self
            .created
            .iter()
            .filter(|(d, _, at)| renamed(d) && self.stands(d, *at, idx))
            .map(|(_, base, _)| (new.clone(), base.clone(), Some(idx)))
            .collect();
        let constrained = self
            .constrained
            .iter()
            .any(|(d, at)| renamed(d) && self.stands(d, *at, idx));
        let default = self
            .defaults
            .iter()
            .rev()
            .find(|(d, _, at)| renamed(d) && self.stands(d, *at, idx))
            .map(|(_, default, _)| (new.clone(), default.clone(), Some(idx)));
        self.created.extend(created);
        if constrained {
            self.constrained.push((new, Some(idx)));
        }
        self.defaults.extend(default);
        self.dropped.push((gone, Some(idx)));
    }

    /// Whether what was recorded of domain `name` at `at` still stands
    /// before statement `idx`: no drop, rename or move came in between.
    fn stands(&self, name: &Name, at: At, idx: usize) -> bool {
        !self
            .dropped
            .iter()
            .any(|(gone, when)| *when > at && *when < Some(idx) && gone.ends(name))
    }

    /// All of it as an earlier revision's, for the revisions after this one.
    /// What was dropped is left out.
    pub(crate) fn as_earlier(&self) -> DomainConstraints {
        let standing = |name: &Name, at: At| self.stands(name, at, usize::MAX);
        DomainConstraints {
            created: self
                .created
                .iter()
                .filter(|(d, _, at)| standing(d, *at))
                .map(|(d, base, _)| (d.clone(), base.clone(), None))
                .collect(),
            constrained: self
                .constrained
                .iter()
                .filter(|(d, at)| standing(d, *at))
                .map(|(d, _)| (d.clone(), None))
                .collect(),
            defaults: self
                .defaults
                .iter()
                .filter(|(d, _, at)| standing(d, *at))
                .map(|(d, default, _)| (d.clone(), default.clone(), None))
                .collect(),
            dropped: Vec::new(),
        }
    }

    /// The default domain `name` was last given before statement `idx`.
    fn default_of(&self, name: &Name, idx: usize) -> Option<&protobuf::Node> {
        self.defaults
            .iter()
            .rev()
            .find(|(d, _, at)| *at < Some(idx) && d.may_be(name) && self.stands(d, *at, idx))
            .and_then(|(_, default, _)| default.as_ref())
    }

    /// Whether domain `name` has a constraint before statement `idx`, its
    /// own or its base domain's (a domain over a domain checks both).
    /// `depth` stops a chain of domains that names itself.
    fn constrained(&self, name: &Name, idx: usize, depth: usize) -> bool {
        self.constrained
            .iter()
            .any(|(d, at)| *at < Some(idx) && d.may_be(name) && self.stands(d, *at, idx))
            || (depth < 16
                && self.created.iter().any(|(d, base, at)| {
                    *at < Some(idx)
                        && d.may_be(name)
                        && self.stands(d, *at, idx)
                        && base
                            .as_ref()
                            .is_some_and(|b| self.constrained(b, idx, depth + 1))
                }))
    }
}

/// What a statement drops, renames away or moves to another schema, so
/// that later statements no longer count its name as new.
#[derive(Default)]
struct Ended {
    objects: Vec<(Kind, Name)>,
    /// Schemas dropped with everything in them.
    schemas: Vec<String>,
    /// DROP OWNED BY: everything the revision made may be gone.
    everything: bool,
}

fn ended_objects(node: &NodeEnum) -> Ended {
    let relation_kind = |t: ObjectType| match t {
        ObjectType::ObjectView | ObjectType::ObjectForeignTable => Some(Kind::Relation),
        other => Kind::of(other),
    };
    let mut ended = Ended::default();
    match node {
        NodeEnum::DropOwnedStmt(_) => ended.everything = true,
        NodeEnum::DropRoleStmt(d) => {
            for role in &d.roles {
                ended
                    .objects
                    .push((Kind::Role, Name::new("", &role_name(role))));
            }
        }
        NodeEnum::RenameStmt(r) if r.rename_type == ObjectType::ObjectRole as i32 => {
            ended.objects.push((Kind::Role, Name::new("", &r.subname)));
            ended.objects.push((Kind::Role, Name::new("", &r.newname)));
        }
        NodeEnum::DropStmt(d) => {
            let t = drop_type(d);
            for object in &d.objects {
                let Some(name) = Name::of_object(object) else {
                    continue;
                };
                if t == ObjectType::ObjectSchema {
                    ended.schemas.push(name.name.clone());
                }
                if let Some(kind) = relation_kind(t) {
                    ended.objects.push((kind, name));
                }
            }
        }
        NodeEnum::RenameStmt(r) => {
            let t = ObjectType::try_from(r.rename_type).unwrap_or(ObjectType::Undefined);
            // Renaming a column, constraint or attribute leaves the name of
            // its table or type alone.
            let kind = match t {
                ObjectType::ObjectView | ObjectType::ObjectForeignTable => Some(Kind::Relation),
                ObjectType::ObjectAttribute => None,
                other => Kind::of(other),
            };
            let old = match (&r.relation, r.object.as_deref()) {
                (Some(rv), _) => Some(Name::of_rel(rv)),
                (None, Some(object)) => Name::of_object(object),
                // ALTER SCHEMA s RENAME TO t names the schema in `subname`.
                (None, None) if kind == Some(Kind::Schema) => Some(Name::new("", &r.subname)),
                (None, None) => None,
            };
            if let (Some(kind), Some(old)) = (kind, old) {
                // What was created in a renamed schema is no longer under
                // its old name.
                if kind == Kind::Schema {
                    ended.schemas.push(old.name.clone());
                }
                let new = Name {
                    name: r.newname.clone(),
                    args: None,
                    ..old.clone()
                };
                ended.objects.push((kind, old));
                ended.objects.push((kind, new));
            }
        }
        NodeEnum::AlterObjectSchemaStmt(a) => {
            let t = ObjectType::try_from(a.object_type).unwrap_or(ObjectType::Undefined);
            let old = match &a.relation {
                Some(rv) => Some(Name::of_rel(rv)),
                None => a.object.as_deref().and_then(Name::of_object),
            };
            if let (Some(kind), Some(old)) = (relation_kind(t), old) {
                ended.objects.push((kind, old));
            }
        }
        _ => {}
    }
    ended
}

/// Whether `text` contains `word`, ignoring ASCII case: a cheap test
/// before walking a statement's tree for a function call.
pub fn mentions(text: &str, word: &str) -> bool {
    !word.is_empty()
        && text
            .as_bytes()
            .windows(word.len())
            .any(|w| w.eq_ignore_ascii_case(word.as_bytes()))
}

/// Whether a statement changes what an unqualified name resolves to:
/// `SET [LOCAL] search_path`, `RESET search_path`, `RESET ALL`, `DISCARD`,
/// `SET ROLE` and `SET SESSION AUTHORIZATION` (the search path starts with
/// `"$user"`), or `set_config` of one of them (or of a setting not given as
/// a constant).
fn changes_search_path(node: &NodeEnum, text: &str) -> bool {
    let path_setting = |name: &str| {
        ["search_path", "role", "session_authorization"]
            .iter()
            .any(|s| name.eq_ignore_ascii_case(s))
    };
    match node {
        NodeEnum::VariableSetStmt(v) => {
            path_setting(&v.name) || v.kind == VariableSetKind::VarResetAll as i32
        }
        NodeEnum::DiscardStmt(_) => true,
        _ if mentions(text, "set_config") => node.nodes().into_iter().any(|(n, _, _, _)| {
            let pg_query::NodeRef::FuncCall(call) = n else {
                return false;
            };
            set_config_setting(call).is_some_and(|setting| setting.is_none_or(path_setting))
        }),
        _ => false,
    }
}

/// A statement and every statement it runs, however deep: the queries of
/// its `WITH` clauses (`WITH moved AS (DELETE FROM t RETURNING *) ...`
/// changes rows as much as the statement it is written in), the query of
/// `EXPLAIN ANALYZE`, `COPY (...) TO`, `PREPARE ... AS`, `CREATE TABLE ...
/// AS` and `DECLARE CURSOR`, the `SELECT` of an `INSERT`, both sides of a
/// set operation and subqueries in `FROM`, `USING` and a MERGE's source.
/// Function bodies (strings, or a `BEGIN ATOMIC` body, which runs when the
/// function is called) and the actions of `CREATE RULE` (which run when the
/// rule fires) are not read.
pub fn nested_statements(node: &NodeEnum) -> Vec<&NodeEnum> {
    enum Item<'n> {
        Node(&'n NodeEnum),
        Select(&'n protobuf::SelectStmt),
    }
    fn inner(n: Option<&protobuf::Node>) -> Option<&NodeEnum> {
        n.and_then(|n| n.node.as_ref())
    }
    fn with_queries<'n>(w: Option<&'n protobuf::WithClause>, todo: &mut Vec<Item<'n>>) {
        for cte in w.map(|w| w.ctes.as_slice()).unwrap_or_default() {
            if let Some(NodeEnum::CommonTableExpr(cte)) = cte.node.as_ref()
                && let Some(query) = inner(cte.ctequery.as_deref())
            {
                todo.push(Item::Node(query));
            }
        }
    }
    // `(SELECT ...) s` in a FROM list, and both sides of a join.
    fn from_items<'n>(items: &'n [protobuf::Node], todo: &mut Vec<Item<'n>>) {
        let mut stack: Vec<&protobuf::Node> = items.iter().collect();
        while let Some(item) = stack.pop() {
            match item.node.as_ref() {
                Some(NodeEnum::RangeSubselect(r)) => {
                    todo.extend(inner(r.subquery.as_deref()).map(Item::Node))
                }
                Some(NodeEnum::JoinExpr(j)) => {
                    stack.extend(j.larg.as_deref());
                    stack.extend(j.rarg.as_deref());
                }
                _ => {}
            }
        }
    }
    let mut found = Vec::new();
    let mut todo = vec![Item::Node(node)];
    while let Some(item) = todo.pop() {
        let current = match item {
            Item::Select(s) => {
                with_queries(s.with_clause.as_ref(), &mut todo);
                todo.extend(s.larg.as_deref().map(Item::Select));
                todo.extend(s.rarg.as_deref().map(Item::Select));
                from_items(&s.from_clause, &mut todo);
                continue;
            }
            Item::Node(n) => n,
        };
        found.push(current);
        let query = match current {
            NodeEnum::SelectStmt(s) => {
                todo.push(Item::Select(s));
                None
            }
            NodeEnum::InsertStmt(s) => {
                with_queries(s.with_clause.as_ref(), &mut todo);
                s.select_stmt.as_deref()
            }
            NodeEnum::UpdateStmt(s) => {
                with_queries(s.with_clause.as_ref(), &mut todo);
                from_items(&s.from_clause, &mut todo);
                None
            }
            NodeEnum::DeleteStmt(s) => {
                with_queries(s.with_clause.as_ref(), &mut todo);
                from_items(&s.using_clause, &mut todo);
                None
            }
            NodeEnum::MergeStmt(s) => {
                with_queries(s.with_clause.as_ref(), &mut todo);
                from_items(
                    s.source_relation
                        .as_deref()
                        .map(std::slice::from_ref)
                        .unwrap_or_default(),
                    &mut todo,
                );
                None
            }
            NodeEnum::ExplainStmt(s) => s.query.as_deref(),
            NodeEnum::CopyStmt(s) => s.query.as_deref(),
            NodeEnum::PrepareStmt(s) => s.query.as_deref(),
            NodeEnum::CreateTableAsStmt(s) => s.query.as_deref(),
            NodeEnum::DeclareCursorStmt(s) => s.query.as_deref(),
            NodeEnum::ViewStmt(s) => s.query.as_deref(),
            _ => None,
        };
        todo.extend(inner(query).map(Item::Node));
    }
    found
}

/// The value of a constant expression, as far as it can be told without a
/// database: `true`, `1 = 1`, `'a' = 'a'`, `NOT false`, `x OR true`,
/// `'t'::boolean`. `None` when the value depends on a row (or on anything
/// else this does not evaluate).
#[derive(Clone, Debug, PartialEq)]
pub enum Const {
    Null,
    Bool(bool),
    Num(f64),
    /// A string literal, of a type still unknown (`'1' = 1` compares numbers).
    Str(String),
}

impl Const {
    /// As a boolean, the way PostgreSQL reads an untyped literal in a
    /// boolean position (`WHERE 't'`).
    fn as_bool(&self) -> Option<Option<bool>> {
        match self {
            Const::Null => Some(None),
            Const::Bool(b) => Some(Some(*b)),
            Const::Str(s) => match s.trim().to_ascii_lowercase().as_str() {
                "t" | "true" | "y" | "yes" | "on" | "1" => Some(Some(true)),
                "f" | "false" | "n" | "no" | "off" | "0" => Some(Some(false)),
                _ => None,
            },
            Const::Num(_) => None,
        }
    }

    fn as_num(&self) -> Option<f64> {
        match self {
            Const::Num(n) => Some(*n),
            Const::Str(s) => s.trim().parse().ok(),
            _ => None,
        }
    }
}

fn from_bool(b: Option<bool>) -> Const {
    b.map_or(Const::Null, Const::Bool)
}

pub fn const_value(n: &protobuf::Node) -> Option<Const> {
    use protobuf::a_const::Val;
    match n.node.as_ref()? {
        NodeEnum::AConst(c) if c.isnull => Some(Const::Null),
        NodeEnum::AConst(c) => match c.val.as_ref()? {
            Val::Ival(i) => Some(Const::Num(f64::from(i.ival))),
            Val::Fval(f) => f.fval.parse().ok().map(Const::Num),
            Val::Boolval(b) => Some(Const::Bool(b.boolval)),
            Val::Sval(s) => Some(Const::Str(s.sval.clone())),
            Val::Bsval(_) => None,
        },
        NodeEnum::TypeCast(t) => {
            let value = const_value(t.arg.as_deref()?)?;
            let type_name = t.type_name.as_ref()?;
            if !type_name.array_bounds.is_empty() {
                return None;
            }
            let name = type_name.names.last().and_then(string_value)?;
            match name {
                "bool" | "boolean" => match value {
                    // `1::boolean`: an integer casts to true unless 0.
                    Const::Num(n) if n.fract() == 0.0 => Some(Const::Bool(n != 0.0)),
                    v => v.as_bool().map(from_bool),
                },
                "int2" | "int4" | "int8" | "smallint" | "integer" | "bigint" | "numeric"
                | "float4" | "float8" => match value {
                    Const::Null => Some(Const::Null),
                    v => v.as_num().map(Const::Num),
                },
                "text" | "varchar" => match value {
                    Const::Str(s) => Some(Const::Str(s)),
                    Const::Null => Some(Const::Null),
                    _ => None,
                },
                _ => None,
            }
        }
        NodeEnum::BoolExpr(b) => {
            let args: Vec<Option<Option<bool>>> = b
                .args
                .iter()
                .map(|a| const_value(a).and_then(|c| c.as_bool()))
                .collect();
            match protobuf::BoolExprType::try_from(b.boolop).ok()? {
                protobuf::BoolExprType::NotExpr => {
                    Some(from_bool(args.first().copied()??.map(|b| !b)))
                }
                protobuf::BoolExprType::AndExpr => {
                    if args.contains(&Some(Some(false))) {
                        Some(Const::Bool(false))
                    } else if args.iter().all(Option::is_some) {
                        Some(from_bool(
                            args.iter().all(|a| *a == Some(Some(true))).then_some(true),
                        ))
                    } else {
                        None
                    }
                }
                protobuf::BoolExprType::OrExpr => {
                    if args.contains(&Some(Some(true))) {
                        Some(Const::Bool(true))
                    } else if args.iter().all(Option::is_some) {
                        Some(from_bool(
                            args.iter()
                                .all(|a| *a == Some(Some(false)))
                                .then_some(false),
                        ))
                    } else {
                        None
                    }
                }
                protobuf::BoolExprType::Undefined => None,
            }
        }
        NodeEnum::AExpr(e) => {
            let kind = protobuf::AExprKind::try_from(e.kind).ok()?;
            let l = const_value(e.lexpr.as_deref()?)?;
            if kind == protobuf::AExprKind::AexprIn {
                // `x IN (a, b)` (name `=`) or `x NOT IN (a, b)` (name `<>`).
                let Some(NodeEnum::List(items)) = e.rexpr.as_deref()?.node.as_ref() else {
                    return None;
                };
                let items: Vec<Const> =
                    items.items.iter().map(const_value).collect::<Option<_>>()?;
                let found = if l == Const::Null {
                    None
                } else if items
                    .iter()
                    .any(|i| *i != Const::Null && compare(&l, i) == Some(std::cmp::Ordering::Equal))
                {
                    Some(true)
                } else if items
                    .iter()
                    .all(|i| *i != Const::Null && compare(&l, i).is_some())
                {
                    Some(false)
                } else if items.contains(&Const::Null) {
                    None
                } else {
                    return None;
                };
                let negated = e.name.last().and_then(string_value) == Some("<>");
                return Some(from_bool(found.map(|f| f != negated)));
            }
            let r = const_value(e.rexpr.as_deref()?)?;
            match kind {
                protobuf::AExprKind::AexprOp => {
                    let op = e.name.last().and_then(string_value)?;
                    if l == Const::Null || r == Const::Null {
                        return matches!(op, "=" | "<>" | "!=" | "<" | ">" | "<=" | ">=")
                            .then_some(Const::Null);
                    }
                    let ordering = compare(&l, &r)?;
                    use std::cmp::Ordering::*;
                    let result = match (op, ordering) {
                        ("=", o) => o == Equal,
                        ("<>" | "!=", o) => o != Equal,
                        // Strings order by collation, which the SQL does not tell.
                        (_, _) if matches!((&l, &r), (Const::Str(_), Const::Str(_))) => {
                            return None;
                        }
                        ("<", o) => o == Less,
                        (">", o) => o == Greater,
                        ("<=", o) => o != Greater,
                        (">=", o) => o != Less,
                        _ => return None,
                    };
                    Some(Const::Bool(result))
                }
                protobuf::AExprKind::AexprDistinct | protobuf::AExprKind::AexprNotDistinct => {
                    let distinct = match (&l, &r) {
                        (Const::Null, Const::Null) => false,
                        (Const::Null, _) | (_, Const::Null) => true,
                        _ => compare(&l, &r)? != std::cmp::Ordering::Equal,
                    };
                    Some(Const::Bool(
                        distinct == (kind == protobuf::AExprKind::AexprDistinct),
                    ))
                }
                _ => None,
            }
        }
        NodeEnum::NullTest(t) => {
            let is_null = const_value(t.arg.as_deref()?)? == Const::Null;
            match protobuf::NullTestType::try_from(t.nulltesttype).ok()? {
                protobuf::NullTestType::IsNull => Some(Const::Bool(is_null)),
                protobuf::NullTestType::IsNotNull => Some(Const::Bool(!is_null)),
                protobuf::NullTestType::Undefined => None,
            }
        }
        NodeEnum::BooleanTest(t) => {
            let v = const_value(t.arg.as_deref()?)?.as_bool()?;
            use protobuf::BoolTestType::*;
            Some(Const::Bool(
                match protobuf::BoolTestType::try_from(t.booltesttype).ok()? {
                    IsTrue => v == Some(true),
                    IsNotTrue => v != Some(true),
                    IsFalse => v == Some(false),
                    IsNotFalse => v != Some(false),
                    IsUnknown => v.is_none(),
                    IsNotUnknown => v.is_some(),
                    Undefined => return None,
                },
            ))
        }
        _ => None,
    }
}

/// Two non-null constants compared as PostgreSQL would resolve their types:
/// numbers as numbers (an untyped literal beside a number is read as one),
/// booleans as booleans, two untyped literals as text.
fn compare(l: &Const, r: &Const) -> Option<std::cmp::Ordering> {
    match (l, r) {
        (Const::Str(a), Const::Str(b)) => Some(a.cmp(b)),
        (Const::Bool(_), _) | (_, Const::Bool(_)) => {
            let (a, b) = (l.as_bool()??, r.as_bool()??);
            Some(a.cmp(&b))
        }
        _ => l.as_num()?.partial_cmp(&r.as_num()?),
    }
}

/// Whether a WHERE (or ON) condition holds for every row: absent, or a
/// constant that is true (`WHERE true`, `WHERE 1 = 1`, `WHERE 'a' = 'a'`).
pub fn always_true(condition: Option<&protobuf::Node>) -> bool {
    match condition {
        None => true,
        Some(c) => const_value(c).and_then(|v| v.as_bool()) == Some(Some(true)),
    }
}

/// Why a statement cannot run inside a transaction block, if it cannot.
pub fn non_transactional(node: &NodeEnum) -> Option<&'static str> {
    match node {
        NodeEnum::IndexStmt(i) if i.concurrent => Some("CREATE INDEX CONCURRENTLY"),
        NodeEnum::DropStmt(d) if d.concurrent => Some("DROP INDEX CONCURRENTLY"),
        NodeEnum::ReindexStmt(r) if has_option(&r.params, "concurrently") => {
            Some("REINDEX CONCURRENTLY")
        }
        NodeEnum::ReindexStmt(r)
            if matches!(
                protobuf::ReindexObjectType::try_from(r.kind),
                Ok(protobuf::ReindexObjectType::ReindexObjectSystem
                    | protobuf::ReindexObjectType::ReindexObjectDatabase
                    | protobuf::ReindexObjectType::ReindexObjectSchema)
            ) =>
        {
            Some("REINDEX SCHEMA/DATABASE/SYSTEM")
        }
        NodeEnum::VacuumStmt(v) if v.is_vacuumcmd => Some("VACUUM"),
        NodeEnum::ClusterStmt(c) if c.relation.is_none() => Some("CLUSTER without a table"),
        NodeEnum::CreatedbStmt(_) => Some("CREATE DATABASE"),
        NodeEnum::DropdbStmt(_) => Some("DROP DATABASE"),
        NodeEnum::AlterSystemStmt(_) => Some("ALTER SYSTEM"),
        NodeEnum::CreateTableSpaceStmt(_) => Some("CREATE TABLESPACE"),
        NodeEnum::AlterDatabaseStmt(a)
            if a.options.iter().any(|o| {
                matches!(o.node.as_ref(), Some(NodeEnum::DefElem(d)) if d.defname == "tablespace")
            }) =>
        {
            Some("ALTER DATABASE ... SET TABLESPACE")
        }
        NodeEnum::DropTableSpaceStmt(_) => Some("DROP TABLESPACE"),
        NodeEnum::AlterTableStmt(a) if a.cmds.iter().any(|c| {
            matches!(alter_cmd(c), Some(cmd) if cmd.subtype == AlterTableType::AtDetachPartition as i32
                && matches!(cmd.def.as_deref().and_then(|d| d.node.as_ref()), Some(NodeEnum::PartitionCmd(p)) if p.concurrent))
        }) =>
        {
            Some("DETACH PARTITION CONCURRENTLY")
        }
        _ => None,
    }
}

/// Whether a utility option list (`(CONCURRENTLY, VERBOSE)`, `(FULL)`)
/// switches `name` on.
pub fn has_option(params: &[protobuf::Node], name: &str) -> bool {
    params.iter().any(|p| match p.node.as_ref() {
        Some(NodeEnum::DefElem(d)) if d.defname.eq_ignore_ascii_case(name) => {
            match d.arg.as_deref().and_then(|a| a.node.as_ref()) {
                None => true,
                Some(NodeEnum::Boolean(b)) => b.boolval,
                Some(NodeEnum::Integer(i)) => i.ival != 0,
                Some(NodeEnum::String(s)) => !matches!(
                    s.sval.to_ascii_lowercase().as_str(),
                    "false" | "off" | "0" | "no"
                ),
                Some(_) => true,
            }
        }
        _ => false,
    })
}

pub fn alter_cmd(n: &protobuf::Node) -> Option<&protobuf::AlterTableCmd> {
    match n.node.as_ref() {
        Some(NodeEnum::AlterTableCmd(c)) => Some(c),
        _ => None,
    }
}

/// Whether an ALTER ... statement alters a table (not an index, sequence,
/// view or type).
pub fn is_table_alter(alter: &protobuf::AlterTableStmt) -> bool {
    matches!(
        ObjectType::try_from(alter.objtype),
        Ok(ObjectType::ObjectTable | ObjectType::ObjectForeignTable)
    )
}

/// ALTER TABLE commands of a statement on a table (not index/sequence/view),
/// together with the target relation.
pub fn alter_table_cmds(
    node: &NodeEnum,
) -> Option<(&RangeVar, impl Iterator<Item = &protobuf::AlterTableCmd>)> {
    match node {
        NodeEnum::AlterTableStmt(a) if is_table_alter(a) => {
            let rel = a.relation.as_ref()?;
            Some((rel, a.cmds.iter().filter_map(alter_cmd)))
        }
        _ => None,
    }
}

/// A subcommand of an ALTER TABLE with the byte offset it starts at, so
/// that a finding about it points at its own line in a statement written
/// over several.
pub struct Cmd<'a> {
    pub cmd: &'a protobuf::AlterTableCmd,
    pub at: Option<usize>,
}

impl std::ops::Deref for Cmd<'_> {
    type Target = protobuf::AlterTableCmd;
    fn deref(&self) -> &protobuf::AlterTableCmd {
        self.cmd
    }
}

/// Where each of the `count` subcommands of the ALTER TABLE `s` starts:
/// the first right after the table's name, each other after a comma outside
/// parentheses and brackets. All `None` (the findings then stay at the
/// statement's start) when the tokens do not split into `count` commands.
fn cmd_starts(source: &str, s: &Stmt<'_>, rel: &RangeVar, count: usize) -> Vec<Option<usize>> {
    use protobuf::Token;
    let unknown = vec![None; count];
    let Some(text) = source.get(s.start..s.end) else {
        return unknown;
    };
    let Ok(scanned) = pg_query::scan(text) else {
        return unknown;
    };
    let tokens: Vec<(usize, Token)> = scanned
        .tokens
        .iter()
        .filter_map(|t| {
            let token = Token::try_from(t.token).ok()?;
            let at = s.start + usize::try_from(t.start).ok()?;
            (!matches!(token, Token::SqlComment | Token::CComment)).then_some((at, token))
        })
        .collect();
    let Ok(name_at) = usize::try_from(rel.location) else {
        return unknown;
    };
    let Some(name) = tokens.iter().position(|(at, _)| *at >= name_at) else {
        return unknown;
    };
    // The name, then `.name` parts, the `)` of `ONLY (name)` and a `*`.
    let mut next = name + 1;
    while tokens.get(next).is_some_and(|t| t.1 == Token::Ascii46) {
        next += 2;
    }
    let parenthesised = name > 0 && tokens.get(name - 1).is_some_and(|t| t.1 == Token::Ascii40);
    if parenthesised && tokens.get(next).is_some_and(|t| t.1 == Token::Ascii41) {
        next += 1;
    }
    if tokens.get(next).is_some_and(|t| t.1 == Token::Ascii42) {
        next += 1;
    }
    let mut starts = vec![tokens.get(next).map(|t| t.0)];
    let mut depth = 0i32;
    for (i, (_, token)) in tokens.iter().enumerate().skip(next) {
        match token {
            Token::Ascii40 | Token::Ascii91 => depth += 1,
            Token::Ascii41 | Token::Ascii93 => depth -= 1,
            Token::Ascii44 if depth == 0 => starts.push(tokens.get(i + 1).map(|t| t.0)),
            _ => {}
        }
        if depth < 0 {
            return unknown; // the name was not where it was looked for
        }
    }
    if starts.len() == count {
        starts
    } else {
        unknown
    }
}

pub fn cmd_is(cmd: &protobuf::AlterTableCmd, t: AlterTableType) -> bool {
    cmd.subtype == t as i32
}

pub fn constraint(n: Option<&protobuf::Node>) -> Option<&protobuf::Constraint> {
    match n.and_then(|n| n.node.as_ref()) {
        Some(NodeEnum::Constraint(c)) => Some(c),
        _ => None,
    }
}

pub fn column_def(n: Option<&protobuf::Node>) -> Option<&protobuf::ColumnDef> {
    match n.and_then(|n| n.node.as_ref()) {
        Some(NodeEnum::ColumnDef(c)) => Some(c),
        _ => None,
    }
}

pub fn constr_type(c: &protobuf::Constraint) -> ConstrType {
    ConstrType::try_from(c.contype).unwrap_or(ConstrType::Undefined)
}

pub fn qualified(rv: &RangeVar) -> String {
    if rv.schemaname.is_empty() {
        rv.relname.clone()
    } else {
        format!("{}.{}", rv.schemaname, rv.relname)
    }
}

/// Dotted names of the objects of a DROP statement.
pub fn drop_names(d: &DropStmt) -> Vec<String> {
    d.objects.iter().map(dotted_name).collect()
}

/// Last component of each object of a DROP statement (the relation name).
pub fn drop_relnames(d: &DropStmt) -> impl Iterator<Item = &str> {
    d.objects.iter().filter_map(|o| match o.node.as_ref() {
        Some(NodeEnum::List(l)) => l.items.last().and_then(string_value),
        Some(NodeEnum::String(s)) => Some(s.sval.as_str()),
        _ => None,
    })
}

pub fn string_value(n: &protobuf::Node) -> Option<&str> {
    match n.node.as_ref() {
        Some(NodeEnum::String(s)) => Some(&s.sval),
        _ => None,
    }
}

/// A parsed qualified name (`schema.name`), its parts joined by dots.
pub fn dotted(names: &[protobuf::Node]) -> String {
    names
        .iter()
        .filter_map(string_value)
        .collect::<Vec<_>>()
        .join(".")
}

pub fn dotted_name(o: &protobuf::Node) -> String {
    match o.node.as_ref() {
        Some(NodeEnum::List(l)) => dotted(&l.items),
        Some(NodeEnum::String(s)) => s.sval.clone(),
        Some(NodeEnum::TypeName(t)) => dotted(&t.names),
        Some(NodeEnum::ObjectWithArgs(f)) => dotted(&f.objname),
        _ => String::from("?"),
    }
}

/// A role as written: its name, or `CURRENT_USER`, `PUBLIC`, ...
pub fn role_spec_name(r: &protobuf::RoleSpec) -> String {
    use protobuf::RoleSpecType;
    if !r.rolename.is_empty() {
        return r.rolename.clone();
    }
    match RoleSpecType::try_from(r.roletype) {
        Ok(RoleSpecType::RolespecCurrentRole) => "CURRENT_ROLE",
        Ok(RoleSpecType::RolespecCurrentUser) => "CURRENT_USER",
        Ok(RoleSpecType::RolespecSessionUser) => "SESSION_USER",
        _ => "PUBLIC",
    }
    .to_string()
}

/// [`role_spec_name`] of a node holding a role.
pub fn role_name(n: &protobuf::Node) -> String {
    match n.node.as_ref() {
        Some(NodeEnum::RoleSpec(r)) => role_spec_name(r),
        Some(NodeEnum::String(s)) => s.sval.clone(),
        // The granted roles of GRANT/REVOKE role.
        Some(NodeEnum::AccessPriv(p)) => p.priv_name.clone(),
        _ => "?".to_string(),
    }
}

pub fn drop_type(d: &DropStmt) -> ObjectType {
    ObjectType::try_from(d.remove_type).unwrap_or(ObjectType::Undefined)
}

/// The existing table a statement takes a strong (blocking) lock on, if any.
/// Used to decide whether `lock_timeout` matters: these are the statements
/// that can queue behind a long transaction and block all traffic meanwhile.
pub fn strong_lock_target(rev: &Revision<'_>, idx: usize, node: &NodeEnum) -> Option<String> {
    let table = |name: String| format!("existing table `{name}`");
    let existing = |rv: Option<&RangeVar>| {
        rv.filter(|rv| rev.is_existing(Some(rv), idx))
            .map(|rv| table(qualified(rv)))
    };
    // A foreign key, even from a new table, adds triggers to the table it
    // references, under a SHARE ROW EXCLUSIVE lock that blocks its writes.
    let referenced_by_foreign_key = |node: &NodeEnum| {
        foreign_key_targets(node)
            .into_iter()
            .find(|rv| rev.is_existing(Some(rv), idx))
            .map(|rv| {
                format!(
                    "existing table `{}` (against writes, for the foreign key that references it)",
                    qualified(rv)
                )
            })
    };
    match node {
        // Checking a domain's values locks every table using it (none, for
        // a new domain no existing table uses).
        NodeEnum::AlterDomainStmt(d)
            if matches!(d.subtype.as_str(), "C" | "O" | "V")
                && !rev.is_new_unused_type(&d.type_name, idx) =>
        {
            Some(format!(
                "every table using domain `{}`",
                dotted(&d.type_name)
            ))
        }
        NodeEnum::AlterTableMoveAllStmt(m) => Some(format!(
            "every table in tablespace `{}`",
            m.orig_tablespacename
        )),
        NodeEnum::AlterTableStmt(a) => {
            existing(a.relation.as_ref()).or_else(|| referenced_by_foreign_key(node))
        }
        NodeEnum::RenameStmt(r) => existing(r.relation.as_ref()),
        NodeEnum::IndexStmt(i) if !i.concurrent => existing(i.relation.as_ref()),
        NodeEnum::CreateTrigStmt(t) => existing(t.relation.as_ref()),
        NodeEnum::DropStmt(d)
            if !d.concurrent
                && matches!(
                    drop_type(d),
                    ObjectType::ObjectTable | ObjectType::ObjectIndex
                ) =>
        {
            drop_names(d)
                .into_iter()
                .find(|n| rev.is_existing_name(n, idx))
                .map(table)
        }
        NodeEnum::TruncateStmt(t) => t.relations.iter().find_map(|r| match r.node.as_ref() {
            Some(NodeEnum::RangeVar(rv)) => existing(Some(rv)),
            _ => None,
        }),
        NodeEnum::LockStmt(l) => l.relations.iter().find_map(|r| match r.node.as_ref() {
            Some(NodeEnum::RangeVar(rv)) => existing(Some(rv)),
            _ => None,
        }),
        NodeEnum::ClusterStmt(c) => existing(c.relation.as_ref()),
        NodeEnum::CreatePolicyStmt(p) => existing(p.table.as_ref()),
        NodeEnum::AlterPolicyStmt(p) => existing(p.table.as_ref()),
        NodeEnum::RuleStmt(r) => existing(r.relation.as_ref()),
        // DROP POLICY / DROP RULE name ON table: the table comes first.
        NodeEnum::DropStmt(d)
            if matches!(
                drop_type(d),
                ObjectType::ObjectPolicy | ObjectType::ObjectRule
            ) =>
        {
            d.objects.iter().find_map(|o| match o.node.as_ref() {
                Some(NodeEnum::List(l)) if l.items.len() > 1 => {
                    let on = &l.items[..l.items.len() - 1];
                    (!rev.is_new(Kind::Relation, &Name::of_list(on), idx))
                        .then(|| table(dotted(on)))
                }
                _ => None,
            })
        }
        NodeEnum::RefreshMatViewStmt(r) if !r.concurrent => existing(r.relation.as_ref()),
        NodeEnum::AlterObjectSchemaStmt(a) => existing(a.relation.as_ref()),
        // A new partition locks its parent.
        NodeEnum::CreateStmt(c) if c.partbound.is_some() => c
            .inh_relations
            .iter()
            .find_map(|r| match r.node.as_ref() {
                Some(NodeEnum::RangeVar(rv)) => existing(Some(rv)),
                _ => None,
            })
            .or_else(|| referenced_by_foreign_key(node)),
        NodeEnum::CreateStmt(_) => referenced_by_foreign_key(node),
        NodeEnum::ReindexStmt(r) if !has_option(&r.params, "concurrently") => {
            existing(r.relation.as_ref())
        }
        NodeEnum::VacuumStmt(v) if has_option(&v.options, "full") => {
            v.rels.iter().find_map(|r| match r.node.as_ref() {
                Some(NodeEnum::VacuumRelation(vr)) => existing(vr.relation.as_ref()),
                _ => None,
            })
        }
        _ => None,
    }
}

/// The tables the foreign keys a CREATE TABLE or ALTER TABLE adds refer to.
fn foreign_key_targets(node: &NodeEnum) -> Vec<&RangeVar> {
    fn column_constraints(col: &protobuf::ColumnDef) -> Vec<&protobuf::Constraint> {
        col.constraints
            .iter()
            .filter_map(|c| constraint(Some(c)))
            .collect()
    }
    let constraints: Vec<&protobuf::Constraint> = match node {
        NodeEnum::CreateStmt(c) => c
            .table_elts
            .iter()
            .flat_map(|element| match element.node.as_ref() {
                Some(NodeEnum::Constraint(c)) => vec![&**c],
                Some(NodeEnum::ColumnDef(col)) => column_constraints(col),
                _ => Vec::new(),
            })
            .collect(),
        _ => alter_table_cmds(node)
            .map(|(_, cmds)| {
                cmds.flat_map(|cmd| {
                    let def = cmd.def.as_deref();
                    match (constraint(def), column_def(def)) {
                        (Some(c), _) => vec![c],
                        (_, Some(col)) => column_constraints(col),
                        _ => Vec::new(),
                    }
                })
                .collect()
            })
            .unwrap_or_default(),
    };
    constraints
        .into_iter()
        .filter(|c| c.contype == protobuf::ConstrType::ConstrForeign as i32)
        .filter_map(|c| c.pktable.as_ref())
        .collect()
}

/// Every table name (unqualified, as parsed: unquoted names folded to
/// lower case, quoted ones kept as written) a statement refers to. Used
/// for the deny-list; walks the parse tree, never the text.
pub fn referenced_tables(node: &NodeEnum) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut push = |s: &str| out.push(s.to_string());
    match node {
        NodeEnum::DropStmt(d)
            if matches!(
                drop_type(d),
                ObjectType::ObjectTable
                    | ObjectType::ObjectView
                    | ObjectType::ObjectMatview
                    | ObjectType::ObjectForeignTable
            ) =>
        {
            drop_relnames(d).for_each(&mut push);
        }
        NodeEnum::RenameStmt(r) => {
            if let Some(rv) = &r.relation {
                push(&rv.relname);
            }
        }
        NodeEnum::AlterObjectSchemaStmt(a) => {
            if let Some(rv) = &a.relation {
                push(&rv.relname);
            }
        }
        NodeEnum::ClusterStmt(c) => {
            if let Some(rv) = &c.relation {
                push(&rv.relname);
            }
        }
        NodeEnum::ReindexStmt(r) => {
            if let Some(rv) = &r.relation {
                push(&rv.relname);
            }
        }
        NodeEnum::CommentStmt(c) => {
            if let Some(o) = &c.object
                && let Some(name) = dotted_name(o).rsplit('.').next()
            {
                push(name);
            }
        }
        _ => {}
    }
    for (n, _, _, _) in node.nodes() {
        match n {
            pg_query::NodeRef::RangeVar(rv) => push(&rv.relname),
            pg_query::NodeRef::Constraint(c) => {
                if let Some(rv) = &c.pktable {
                    push(&rv.relname);
                }
            }
            _ => {}
        }
    }
    // pg_query's walker does not descend into ALTER TABLE commands.
    if let Some((_, cmds)) = alter_table_cmds(node) {
        for cmd in cmds {
            let def = cmd.def.as_deref();
            let constraints: Vec<&protobuf::Constraint> = match (constraint(def), column_def(def)) {
                (Some(c), _) => vec![c],
                (_, Some(col)) => col
                    .constraints
                    .iter()
                    .filter_map(|c| constraint(Some(c)))
                    .collect(),
                _ => Vec::new(),
            };
            for c in constraints {
                if let Some(rv) = &c.pktable {
                    push(&rv.relname);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rev_of(sql: &str, f: impl FnOnce(&Revision<'_>)) {
        let parsed = parse(sql).expect("parses");
        let config = LintConfig::default();
        let stmts = statements(sql, &parsed);
        let history = History::default();
        let rev = build_revision(sql, stmts, &config, false, &history);
        f(&rev);
    }

    #[test]
    fn statement_spans_skip_leading_comments() {
        let sql = "-- header\nCREATE TABLE a (id int);\n/* x */  ALTER TABLE a ADD COLUMN b int;";
        rev_of(sql, |rev| {
            assert_eq!(rev.stmts.len(), 2);
            assert_eq!(rev.stmts[0].text, "CREATE TABLE a (id int)");
            assert_eq!(rev.stmts[1].text, "ALTER TABLE a ADD COLUMN b int");
            assert!(sql[rev.stmts[1].start..].starts_with("ALTER"));
        });
    }

    #[test]
    fn findings_of_a_multi_line_alter_are_at_their_subcommand() {
        let sql = "SET lock_timeout = '1s';
ALTER TABLE ONLY public.orders
    ADD COLUMN note text DEFAULT concat('a', 'b'),
    ALTER COLUMN total TYPE numeric(12, 2) USING round(total, 2),
    -- a comment, with a comma
    SET (fillfactor = 70, autovacuum_enabled = false),
    DROP COLUMN legacy;
ALTER TABLE orders DROP COLUMN a, DROP COLUMN b;";
        let report = crate::lint(sql, Some("SELECT 1;"), &LintConfig::default());
        let at = |rule: &str| -> Vec<(u32, u32)> {
            report
                .findings
                .iter()
                .filter(|f| f.rule == rule)
                .map(|f| (f.line, f.column))
                .collect()
        };
        assert_eq!(at("alter-column-type"), vec![(4, 5)]);
        // `ONLY (name)`: the `)` closes the name, not a command.
        let report = crate::lint(
            "SET lock_timeout = '1s';\nALTER TABLE ONLY (orders)\n    ADD COLUMN price numeric(10, 2),\n    DROP COLUMN legacy;",
            Some("SELECT 1;"),
            &LintConfig::default(),
        );
        let dropped: Vec<(u32, u32)> = report
            .findings
            .iter()
            .filter(|f| f.rule == "drop-column")
            .map(|f| (f.line, f.column))
            .collect();
        assert_eq!(dropped, vec![(4, 5)]);
        assert_eq!(at("drop-column"), vec![(7, 5), (8, 20), (8, 35)]);
        rev_of(sql, |rev| {
            let starts: Vec<Option<usize>> = rev
                .alters_of_existing_tables()
                .flat_map(|(_, _, cmds)| cmds.map(|c| c.at))
                .collect();
            assert!(starts.iter().all(Option::is_some), "{starts:?}");
            assert_eq!(starts.len(), 6);
        });
    }

    #[test]
    fn created_tables_only_count_after_creation() {
        let sql = "ALTER TABLE a ADD COLUMN x int; CREATE TABLE a (id int); ALTER TABLE a ADD COLUMN y int; CREATE TABLE IF NOT EXISTS b (id int); ALTER TABLE b ADD COLUMN y int;";
        rev_of(sql, |rev| {
            assert!(rev.is_existing_name("a", 0));
            assert!(!rev.is_existing_name("a", 2));
            assert!(rev.is_existing_name("b", 4));
        });
    }

    #[test]
    fn a_new_table_hides_no_other_table_of_its_name() {
        let sql = "CREATE TABLE archive.orders (id int); CREATE TABLE \"Kegs\" (id int); CREATE TEMP TABLE sessions (id int); CREATE TABLE taps (id int); SELECT 1;";
        rev_of(sql, |rev| {
            let at = 4;
            assert!(!rev.is_existing_name("archive.orders", at));
            assert!(rev.is_existing_name("public.orders", at));
            assert!(rev.is_existing_name("orders", at));
            assert!(!rev.is_existing_name("Kegs", at));
            assert!(rev.is_existing_name("kegs", at));
            // A temporary table comes first on the search path.
            assert!(!rev.is_existing_name("sessions", at));
            assert!(rev.is_existing_name("public.sessions", at));
            assert!(!rev.is_existing_name("taps", at));
            assert!(rev.is_existing_name("public.taps", at));
        });
    }

    #[test]
    fn a_dropped_object_is_no_longer_new() {
        let flagged = |sql: &str, rule: &str| -> Vec<usize> {
            crate::rules::hits(sql, rule)
                .into_iter()
                .map(|f| f.statement_index)
                .collect()
        };
        assert_eq!(
            flagged(
                "CREATE TEMP TABLE orders (id int); DROP TABLE orders; DROP TABLE orders;",
                "drop-table"
            ),
            vec![2]
        );
        assert_eq!(
            flagged(
                "CREATE TABLE orders_new (id int, name text); DROP TABLE orders_new; ALTER TABLE orders RENAME TO orders_new; ALTER TABLE orders_new DROP COLUMN name;",
                "drop-column"
            ),
            vec![3]
        );
        // Renamed away: the old name may be given to an older table.
        assert_eq!(
            flagged(
                "CREATE TABLE staging (id int); ALTER TABLE staging RENAME TO staging_done; ALTER TABLE orders RENAME TO staging; TRUNCATE staging;",
                "truncate-table"
            ),
            vec![3]
        );
        assert_eq!(
            flagged(
                "CREATE SCHEMA scratch; CREATE TABLE scratch.t (id int); DROP SCHEMA scratch CASCADE; TRUNCATE scratch.t;",
                "truncate-table"
            ),
            vec![3]
        );
        assert_eq!(
            flagged(
                "CREATE SCHEMA scratch; CREATE TABLE scratch.t (id int); ALTER SCHEMA scratch RENAME TO scratch_old; TRUNCATE scratch.t;",
                "truncate-table"
            ),
            vec![3]
        );
        assert_eq!(
            flagged(
                "CREATE TYPE mood AS ENUM ('ok'); DROP TYPE mood; DROP TYPE mood;",
                "drop-object"
            ),
            vec![2]
        );
        assert_eq!(
            flagged(
                "CREATE FUNCTION f(int) RETURNS int LANGUAGE sql AS 'SELECT 1'; DROP FUNCTION f(int); DROP FUNCTION f(int);",
                "drop-object"
            ),
            vec![2]
        );
        // The statement that drops it still sees it new; so does a
        // statement after it is created again.
        assert!(
            flagged(
                "CREATE TABLE t (id int); DROP TABLE t; CREATE TABLE t (id int); TRUNCATE t; DROP TABLE t;",
                "truncate-table"
            )
            .is_empty()
        );
        assert!(
            flagged(
                "CREATE TABLE t (id int); DROP TABLE t; CREATE TABLE t (id int); DROP TABLE t;",
                "drop-table"
            )
            .is_empty()
        );
    }

    #[test]
    fn a_changed_search_path_hides_what_unqualified_names_meant() {
        let flagged = |sql: &str| -> Vec<usize> {
            crate::rules::hits(sql, "truncate-table")
                .into_iter()
                .map(|f| f.statement_index)
                .collect()
        };
        for sql in [
            "SET search_path = staging; CREATE TABLE orders (id int); RESET search_path; TRUNCATE orders;",
            "CREATE TABLE orders (id int); SET LOCAL search_path TO staging, public; TRUNCATE orders;",
            "CREATE TABLE orders (id int); SET search_path = DEFAULT; TRUNCATE orders;",
            "CREATE TABLE orders (id int); SET SCHEMA 'staging'; TRUNCATE orders;",
            "CREATE TABLE orders (id int); SELECT set_config('search_path', 'staging', true); TRUNCATE orders;",
            "CREATE TABLE orders (id int); SELECT pg_catalog.set_config(current_setting('x.name'), 'staging', false); TRUNCATE orders;",
            "CREATE TEMP TABLE orders (id int); SET search_path = public, pg_temp; TRUNCATE orders;",
            "CREATE TABLE orders (id int); RESET ALL; TRUNCATE orders;",
            "CREATE TABLE orders (id int); SET ROLE app_owner; TRUNCATE orders;",
        ] {
            assert_eq!(
                flagged(sql),
                vec![2.max(sql.matches(';').count() - 1)],
                "{sql}"
            );
        }
        for sql in [
            // Qualified names do not depend on the search path.
            "CREATE TABLE staging.orders (id int); SET search_path = public; TRUNCATE staging.orders;",
            // Unchanged since the table was created under it.
            "SET search_path = staging; CREATE TABLE orders (id int); TRUNCATE orders;",
            "SELECT set_config('lock_timeout', '2s', true); CREATE TABLE orders (id int); SET lock_timeout = '1s'; TRUNCATE orders;",
        ] {
            assert!(flagged(sql).is_empty(), "{sql}");
        }
    }

    #[test]
    fn created_objects_are_told_apart_by_kind_and_arguments() {
        let sql = "CREATE FUNCTION f(int, OUT r text, VARIADIC v text[]) LANGUAGE sql AS 'select 1'; CREATE TABLE t (a int); CREATE INDEX t_a ON t (a); CREATE INDEX orders_a ON orders (a); SELECT 1;";
        rev_of(sql, |rev| {
            let at = 4;
            let f = |args: Option<&[&str]>| Name {
                args: args.map(|a| a.iter().map(|s| s.to_string()).collect()),
                ..Name::new("", "f")
            };
            assert!(rev.is_new(Kind::Routine, &f(Some(&["int4", "text[]"])), at));
            assert!(rev.is_new(Kind::Routine, &f(None), at));
            assert!(!rev.is_new(Kind::Routine, &f(Some(&["int4"])), at));
            assert!(!rev.is_new(Kind::Routine, &f(Some(&["int4", "text", "text[]"])), at));
            assert!(!rev.is_new(Kind::Type, &f(None), at));
            assert!(!rev.is_new(Kind::Routine, &f(None), 0));
            // An index is new, and empty, only on a new table.
            assert!(!rev.is_existing_name("t_a", at));
            assert!(rev.is_existing_name("orders_a", at));
            assert!(!rev.is_new(Kind::Type, &Name::new("", "t"), at));
        });
    }

    #[test]
    fn set_config_sets_the_lock_timeout_too() {
        let sql = "SELECT pg_catalog.set_config('lock_timeout', '2s', true); SELECT 1; SELECT set_config('lock_timeout', '0', false); SELECT 1;";
        rev_of(sql, |rev| {
            let got: Vec<bool> = (0..rev.stmts.len())
                .map(|i| rev.lock_timeout_set_before(i))
                .collect();
            assert_eq!(got, vec![false, true, true, false]);
        });
    }

    #[test]
    fn lock_timeout_tracking() {
        let sql = "SELECT 1; SET lock_timeout = '2s'; SELECT 1; SET lock_timeout = 0; SELECT 1; SET LOCAL lock_timeout TO '1s'; SELECT 1; RESET lock_timeout; SELECT 1;";
        rev_of(sql, |rev| {
            let got: Vec<bool> = (0..rev.stmts.len())
                .map(|i| rev.lock_timeout_set_before(i))
                .collect();
            assert_eq!(
                got,
                vec![false, false, true, true, false, false, true, true, false]
            );
        });
    }

    #[test]
    fn referenced_tables_cover_ddl_and_dml() {
        let sql = "DROP TABLE public.pours; ALTER TABLE x ADD CONSTRAINT f FOREIGN KEY (a) REFERENCES pours (id); INSERT INTO y SELECT * FROM pours; ALTER TABLE pours RENAME TO p2;";
        rev_of(sql, |rev| {
            for (s, n) in rev.nodes() {
                assert!(
                    referenced_tables(n).iter().any(|t| t == "pours"),
                    "statement {} misses pours",
                    s.index
                );
            }
        });
    }
}
