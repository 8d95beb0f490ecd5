//! `set-not-null`: ALTER COLUMN ... SET NOT NULL on an existing table scans
//! the whole table under an ACCESS EXCLUSIVE lock (blocking reads too),
//! unless a valid CHECK constraint already proves the column has no nulls:
//! PostgreSQL 12+ then skips the scan. Such a proof is recognised when it
//! is valid before the SET NOT NULL, made by this revision or an earlier
//! one of its lineage (the [`History`](crate::History) the revision is
//! linted after): a CHECK of `col IS NOT NULL` (alone or ANDed with other
//! conditions) added without NOT VALID, added NOT VALID and then
//! validated, or written in the table's CREATE TABLE. The finding then
//! stays as info saying so: the scan happened where the check was
//! validated, and `constraint-missing-not-valid` reports that one. Conditions PostgreSQL does not take as proof
//! (`col > 0`, an OR) are not taken as one here either.

use super::{Hit, Rule, RuleInfo};
use crate::analysis::{
    AlterTableType, At, Revision, cmd_is, constr_type, constraint, drop_names, drop_relnames,
    drop_type, is_table_alter, qualified, string_value,
};
use crate::history::NotNullProof;
use crate::{Category, Severity};
use pg_query::NodeEnum;
use pg_query::protobuf::{
    self, BoolExprType, ConstrType, NullTestType, ObjectType, RangeVar, RenameStmt,
};

pub struct SetNotNull;

pub static INFO: RuleInfo = RuleInfo {
    id: "set-not-null",
    severity: Severity::Warning,
    category: Category::Locking,
    message: "SET NOT NULL scans the whole table under an ACCESS EXCLUSIVE lock",
    help: "prove the column first, over separate revisions: one adds CONSTRAINT <col>_not_null \
           CHECK (<col> IS NOT NULL) NOT VALID (instant); a later one runs VALIDATE CONSTRAINT \
           <col>_not_null (a scan under a SHARE UPDATE EXCLUSIVE lock: reads and writes go on), then \
           SET NOT NULL (PostgreSQL 12+ sees the validated check and skips the scan), then DROP \
           CONSTRAINT <col>_not_null, which the NOT NULL makes redundant. A check made by an \
           earlier revision counts where the revision is linted after its lineage: at submit, and \
           by `sgctl lint` on a file of its revisions directory",
};

/// A CHECK the revision or an earlier one added that proves columns of a
/// table have no nulls.
struct Proof<'a> {
    /// The table's schema as written (empty: unqualified) and name.
    schema: &'a str,
    table: &'a str,
    /// The statement that added it.
    made_at: At,
    constraint: String,
    columns: Vec<String>,
    /// The statement after which the check is valid: the one that added
    /// it without NOT VALID, or the one that validated it.
    valid_from: Option<At>,
    /// The check tests nothing but that `columns` are not null.
    only_not_null: bool,
    /// Those of `columns` set NOT NULL since the check was added.
    set_not_null: Vec<String>,
}

impl<'a> Proof<'a> {
    /// Whether `rel` at statement `idx` is certainly the table the proof
    /// was made on: written the same way, and an unqualified name under
    /// the same search path. Anything else errs towards flagging.
    fn is_on(&self, rev: &Revision<'_>, rel: &RangeVar, idx: usize) -> bool {
        self.schema == rel.schemaname
            && self.table == rel.relname
            // Each revision starts on the default search path, that of
            // its first statement.
            && (!rel.schemaname.is_empty()
                || rev.same_search_path(self.made_at.unwrap_or(0), idx))
    }

    /// One an earlier revision left.
    fn earlier(proof: &'a NotNullProof) -> Proof<'a> {
        Proof {
            schema: &proof.schema,
            table: &proof.table,
            made_at: None,
            constraint: proof.constraint.clone(),
            columns: proof.columns.clone(),
            valid_from: proof.valid.then_some(None),
            only_not_null: proof.only_not_null,
            set_not_null: Vec::new(),
        }
    }
}

/// The columns a CHECK expression proves not null, as PostgreSQL's proof
/// reads it (`col IS NOT NULL`, or an AND with such terms), and whether
/// the expression tests nothing else.
fn not_null_columns(expr: &protobuf::Node) -> (Vec<String>, bool) {
    match expr.node.as_ref() {
        Some(NodeEnum::NullTest(t))
            if t.nulltesttype == NullTestType::IsNotNull as i32 && !t.argisrow =>
        {
            match t.arg.as_deref().and_then(|a| a.node.as_ref()) {
                Some(NodeEnum::ColumnRef(c)) if c.fields.len() == 1 => (
                    c.fields
                        .iter()
                        .filter_map(string_value)
                        .map(str::to_string)
                        .collect(),
                    true,
                ),
                _ => (Vec::new(), false),
            }
        }
        Some(NodeEnum::BoolExpr(b)) if b.boolop == BoolExprType::AndExpr as i32 => b
            .args
            .iter()
            .map(not_null_columns)
            .fold((Vec::new(), true), |(mut all, only), (columns, alone)| {
                all.extend(columns);
                (all, only && alone)
            }),
        _ => (Vec::new(), false),
    }
}

/// The CHECK constraints a CREATE TABLE writes, on its columns or on the
/// table, but for NO INHERIT ones (its children's SET NOT NULL would still
/// scan).
fn created_checks(create: &protobuf::CreateStmt) -> impl Iterator<Item = &protobuf::Constraint> {
    create
        .table_elts
        .iter()
        .flat_map(|element| match element.node.as_ref() {
            Some(NodeEnum::ColumnDef(column)) => column.constraints.iter().collect(),
            Some(NodeEnum::Constraint(_)) => vec![element],
            _ => Vec::new(),
        })
        .filter_map(|c| constraint(Some(c)))
        .filter(|c| constr_type(c) == ConstrType::ConstrCheck && !c.is_no_inherit)
}

/// Follows a rename of a proof's constraint or column; a renamed table
/// ends its proofs, since its old name may come to mean another table.
fn follow_rename(proofs: &mut Vec<Proof<'_>>, rev: &Revision<'_>, r: &RenameStmt, idx: usize) {
    let Some(rel) = r.relation.as_ref() else {
        return;
    };
    match ObjectType::try_from(r.rename_type) {
        Ok(ObjectType::ObjectTabconstraint) => {
            for p in proofs.iter_mut().filter(|p| p.is_on(rev, rel, idx)) {
                if p.constraint == r.subname {
                    p.constraint.clone_from(&r.newname);
                }
            }
        }
        Ok(ObjectType::ObjectColumn) => {
            for p in proofs.iter_mut().filter(|p| p.is_on(rev, rel, idx)) {
                for column in p.columns.iter_mut().filter(|c| **c == r.subname) {
                    column.clone_from(&r.newname);
                }
            }
        }
        Ok(ObjectType::ObjectTable) => {
            proofs.retain(|p| p.table != rel.relname && p.table != r.newname)
        }
        _ => {}
    }
}

impl Rule for SetNotNull {
    fn info(&self) -> &'static RuleInfo {
        &INFO
    }

    fn check(&self, rev: &Revision<'_>, out: &mut Vec<Hit>) {
        out.extend(walk(rev).hits);
    }
}

/// The checks a revision drops once the NOT NULL columns they tested have
/// made them redundant, the last step of the pattern the help teaches, as
/// (statement, constraint name): `drop-constraint` leaves them alone, since
/// they guarded nothing the columns do not.
pub(crate) fn redundant_drops(rev: &Revision<'_>) -> Vec<(usize, String)> {
    walk(rev).redundant_drops
}

/// The proofs a revision leaves to the revisions after it: made at the
/// default search path (or naming the table's schema), and not dropped.
pub(crate) fn proofs_left(rev: &Revision<'_>) -> Vec<NotNullProof> {
    walk(rev)
        .proofs
        .into_iter()
        .filter(|p| !p.schema.is_empty() || p.made_at.is_none_or(|at| rev.same_search_path(0, at)))
        .map(|p| NotNullProof {
            schema: p.schema.to_string(),
            table: p.table.to_string(),
            constraint: p.constraint,
            columns: p.columns,
            only_not_null: p.only_not_null,
            valid: p.valid_from.is_some(),
        })
        .collect()
}

struct Walk<'a> {
    hits: Vec<Hit>,
    redundant_drops: Vec<(usize, String)>,
    /// The proofs still standing after the last statement.
    proofs: Vec<Proof<'a>>,
}

/// Follows the revision's checks that prove columns not null, statement by
/// statement, to the SET NOT NULLs they prove and the drops they end in.
fn walk<'a>(rev: &Revision<'a>) -> Walk<'a> {
    let mut out = Vec::new();
    let mut redundant_drops = Vec::new();
    let mut proofs: Vec<Proof<'a>> = rev.history().proofs.iter().map(Proof::earlier).collect();
    {
        // In statement order, like `nodes()`.
        let mut alters = rev.alters();
        for (s, node) in rev.nodes() {
            let alter = match node {
                NodeEnum::AlterTableStmt(alter) if is_table_alter(alter) => alter,
                // The name may mean another table afterwards.
                NodeEnum::DropStmt(d) if drop_type(d) == ObjectType::ObjectTable => {
                    for name in drop_relnames(d) {
                        proofs.retain(|p| p.table != name);
                    }
                    continue;
                }
                // Its tables go with it; an unqualified name may mean one.
                NodeEnum::DropStmt(d) if drop_type(d) == ObjectType::ObjectSchema => {
                    for schema in drop_names(d) {
                        proofs.retain(|p| !p.schema.is_empty() && p.schema != schema);
                    }
                    continue;
                }
                NodeEnum::AlterObjectSchemaStmt(a) => {
                    if let Some(rel) = &a.relation {
                        proofs.retain(|p| p.table != rel.relname);
                    }
                    continue;
                }
                NodeEnum::RenameStmt(r) => {
                    follow_rename(&mut proofs, rev, r, s.index);
                    continue;
                }
                // A new table's checks are valid from its creation on:
                // PostgreSQL marks them so, NOT VALID or not, as it has
                // no row to check. IF NOT EXISTS may create nothing.
                NodeEnum::CreateStmt(create) if !create.if_not_exists => {
                    if let Some(rel) = &create.relation {
                        proofs.extend(created_checks(create).filter_map(|c| {
                            let (columns, only_not_null) =
                                c.raw_expr.as_deref().map(not_null_columns)?;
                            (!columns.is_empty()).then(|| Proof {
                                schema: &rel.schemaname,
                                table: &rel.relname,
                                made_at: Some(s.index),
                                constraint: c.conname.clone(),
                                columns,
                                valid_from: Some(Some(s.index)),
                                only_not_null,
                                set_not_null: Vec::new(),
                            })
                        }));
                    }
                    continue;
                }
                _ => continue,
            };
            let (Some(rel), Some((_, _, cmds))) = (
                alter.relation.as_ref(),
                alters.find(|(a, _, _)| a.index == s.index),
            ) else {
                continue;
            };
            let cmds: Vec<_> = cmds.collect();
            // PostgreSQL drops constraints before it sets columns NOT NULL,
            // whatever their order in the ALTER TABLE.
            // An unnamed check may be any constraint dropped.
            let dropped_here = |name: &str| {
                cmds.iter().any(|c| {
                    cmd_is(c, AlterTableType::AtDropConstraint)
                        && (name.is_empty() || c.name == name)
                })
            };
            // The columns this ALTER TABLE leaves NOT NULL, wherever it says so.
            let set_here: Vec<&str> = cmds
                .iter()
                .filter(|c| cmd_is(c, AlterTableType::AtSetNotNull))
                .map(|c| c.name.as_str())
                .collect();
            for cmd in cmds.iter() {
                if cmd_is(cmd, AlterTableType::AtAddConstraint) {
                    // Through `cmd.cmd`: the proof outlives this `Cmd`.
                    // A NO INHERIT check leaves the children SET NOT NULL
                    // also scans unproven; one added or validated ONLY is
                    // not taken either, which errs towards flagging.
                    if let Some(c) = constraint(cmd.cmd.def.as_deref())
                        && constr_type(c) == ConstrType::ConstrCheck
                        && rel.inh
                        && !c.is_no_inherit
                    {
                        let (columns, only_not_null) = c
                            .raw_expr
                            .as_deref()
                            .map(not_null_columns)
                            .unwrap_or_default();
                        if !columns.is_empty() {
                            proofs.push(Proof {
                                schema: &rel.schemaname,
                                table: &rel.relname,
                                made_at: Some(s.index),
                                constraint: c.conname.clone(),
                                columns,
                                valid_from: (!c.skip_validation).then_some(Some(s.index)),
                                only_not_null,
                                set_not_null: Vec::new(),
                            });
                        }
                    }
                } else if cmd_is(cmd, AlterTableType::AtValidateConstraint) {
                    for p in proofs.iter_mut().filter(|p| {
                        rel.inh
                            && p.is_on(rev, rel, s.index)
                            && p.constraint == cmd.name
                            && p.valid_from.is_none()
                    }) {
                        p.valid_from = Some(Some(s.index));
                    }
                } else if cmd_is(cmd, AlterTableType::AtDropConstraint) {
                    let dropped = |p: &Proof<'_>| {
                        p.is_on(rev, rel, s.index)
                            && !p.constraint.is_empty()
                            && p.constraint == cmd.name
                    };
                    // An unnamed check got a name PostgreSQL chose, which
                    // the linter cannot know for sure (`kegs_tap_id_check`,
                    // or with a number when taken): any constraint dropped
                    // from its table may be it.
                    let maybe_dropped =
                        |p: &Proof<'_>| p.is_on(rev, rel, s.index) && p.constraint.is_empty();
                    if proofs.iter().any(|p| {
                        dropped(p)
                            && p.only_not_null
                            && p.columns.iter().all(|c| {
                                p.set_not_null.contains(c) || set_here.contains(&c.as_str())
                            })
                    }) {
                        redundant_drops.push((s.index, cmd.name.clone()));
                    }
                    proofs.retain(|p| !dropped(p) && !maybe_dropped(p));
                } else if cmd_is(cmd, AlterTableType::AtDropColumn) {
                    // The column's checks go with it.
                    proofs
                        .retain(|p| !(p.is_on(rev, rel, s.index) && p.columns.contains(&cmd.name)));
                } else if cmd_is(cmd, AlterTableType::AtSetNotNull) {
                    for p in proofs
                        .iter_mut()
                        .filter(|p| p.is_on(rev, rel, s.index) && p.columns.contains(&cmd.name))
                    {
                        p.set_not_null.push(cmd.name.clone());
                    }
                    if !rev.is_existing(Some(rel), s.index) {
                        continue;
                    }
                    // Valid before this statement: a check added or
                    // validated in the same ALTER TABLE does not spare the
                    // scan, which then runs under this command's lock.
                    let proof = proofs.iter().find(|p| {
                        p.is_on(rev, rel, s.index)
                            && p.columns.contains(&cmd.name)
                            && p.valid_from.is_some_and(|from| from < Some(s.index))
                            && !dropped_here(&p.constraint)
                    });
                    let target = format!("`{}`.`{}`", qualified(rel), cmd.name);
                    let hit = match proof {
                        Some(p) => Hit {
                            severity: Some(Severity::Info),
                            ..Hit::new(
                                s.index,
                                format!(
                                    "SET NOT NULL on {target} is proven: {}, valid {}, shows the column has no nulls, so PostgreSQL 12+ skips the scan; drop the check once the column is NOT NULL",
                                    if p.constraint.is_empty() {
                                        format!("a CHECK ({} IS NOT NULL)", cmd.name)
                                    } else {
                                        format!("CHECK `{}`", p.constraint)
                                    },
                                    match p.valid_from {
                                        Some(Some(_)) => "earlier in this revision",
                                        _ => "since an earlier revision",
                                    }
                                ),
                            )
                        },
                        None => Hit::new(
                            s.index,
                            format!(
                                "SET NOT NULL on {target} scans the table under an ACCESS EXCLUSIVE lock"
                            ),
                        ),
                    };
                    out.push(hit.at(cmd.at));
                }
            }
        }
    }
    Walk {
        hits: out,
        redundant_drops,
        proofs,
    }
}

#[cfg(test)]
mod tests {
    use crate::Severity;
    use crate::rules::hits;

    const ID: &str = "set-not-null";

    #[test]
    fn flags_set_not_null_on_existing_table() {
        assert_eq!(
            hits("ALTER TABLE kegs ALTER COLUMN tap_id SET NOT NULL;", ID).len(),
            1
        );
        assert!(
            hits(
                "CREATE TABLE k (a int); ALTER TABLE k ALTER COLUMN a SET NOT NULL;",
                ID
            )
            .is_empty()
        );
        // Also with a CHECK added without NOT VALID: a new table is empty.
        assert!(
            hits(
                "CREATE TABLE k (a int); ALTER TABLE k ADD CONSTRAINT a_nn CHECK (a IS NOT NULL); ALTER TABLE k ALTER COLUMN a SET NOT NULL;",
                ID
            )
            .is_empty()
        );
    }

    #[test]
    fn a_check_valid_earlier_in_the_revision_proves_the_column() {
        for sql in [
            "ALTER TABLE kegs ADD CONSTRAINT tap_nn CHECK (tap_id IS NOT NULL) NOT VALID;
             ALTER TABLE kegs VALIDATE CONSTRAINT tap_nn;
             ALTER TABLE kegs ALTER COLUMN tap_id SET NOT NULL;",
            // Validated as it is added (a scan of its own, flagged by
            // constraint-missing-not-valid).
            "ALTER TABLE kegs ADD CONSTRAINT tap_nn CHECK (tap_id IS NOT NULL);
             ALTER TABLE kegs ALTER COLUMN tap_id SET NOT NULL;",
            "ALTER TABLE public.kegs ADD CHECK (volume_ml > 0 AND tap_id IS NOT NULL);
             ALTER TABLE public.kegs ALTER COLUMN tap_id SET NOT NULL;",
            // Renames are followed.
            "ALTER TABLE kegs ADD CONSTRAINT c1 CHECK (tap IS NOT NULL) NOT VALID;
             ALTER TABLE kegs RENAME CONSTRAINT c1 TO tap_nn;
             ALTER TABLE kegs RENAME COLUMN tap TO tap_id;
             ALTER TABLE kegs VALIDATE CONSTRAINT tap_nn;
             ALTER TABLE kegs ALTER COLUMN tap_id SET NOT NULL;",
        ] {
            let h = hits(sql, ID);
            assert_eq!(h.len(), 1, "{sql}");
            assert_eq!(h[0].severity, Severity::Info, "{sql}");
            assert!(h[0].message.contains("is proven"), "{}", h[0].message);
        }
        let report = crate::lint(
            "SET lock_timeout = '2s';
             ALTER TABLE kegs ADD CONSTRAINT tap_nn CHECK (tap_id IS NOT NULL);
             ALTER TABLE kegs ALTER COLUMN tap_id SET NOT NULL;
             ALTER TABLE kegs DROP CONSTRAINT tap_nn;",
            Some("SELECT 1;"),
            &crate::LintConfig::default(),
        );
        assert!(
            report
                .findings
                .iter()
                .all(|f| f.rule != ID || f.severity == Severity::Info),
            "{:?}",
            report.findings
        );
        assert!(
            crate::rules::rule_by_id(ID)
                .unwrap()
                .help()
                .contains("NOT VALID")
        );
    }

    #[test]
    fn a_check_that_is_not_yet_valid_or_proves_nothing_does_not_count() {
        for sql in [
            // Never validated.
            "ALTER TABLE kegs ADD CONSTRAINT tap_nn CHECK (tap_id IS NOT NULL) NOT VALID;
             ALTER TABLE kegs ALTER COLUMN tap_id SET NOT NULL;",
            // In the same ALTER TABLE: PostgreSQL still scans.
            "ALTER TABLE kegs ADD CONSTRAINT tap_nn CHECK (tap_id IS NOT NULL), ALTER COLUMN tap_id SET NOT NULL;",
            "ALTER TABLE kegs ADD CONSTRAINT tap_nn CHECK (tap_id IS NOT NULL) NOT VALID;
             ALTER TABLE kegs VALIDATE CONSTRAINT tap_nn, ALTER COLUMN tap_id SET NOT NULL;",
            // Conditions PostgreSQL 15 does not take as proof.
            "ALTER TABLE kegs ADD CHECK (tap_id > 0); ALTER TABLE kegs ALTER COLUMN tap_id SET NOT NULL;",
            "ALTER TABLE kegs ADD CHECK (tap_id IS NOT NULL OR volume_ml > 0); ALTER TABLE kegs ALTER COLUMN tap_id SET NOT NULL;",
            // Another column, another table, another schema's table.
            "ALTER TABLE kegs ADD CHECK (volume_ml IS NOT NULL); ALTER TABLE kegs ALTER COLUMN tap_id SET NOT NULL;",
            "ALTER TABLE taps ADD CHECK (tap_id IS NOT NULL); ALTER TABLE kegs ALTER COLUMN tap_id SET NOT NULL;",
            "ALTER TABLE archive.kegs ADD CHECK (tap_id IS NOT NULL); ALTER TABLE kegs ALTER COLUMN tap_id SET NOT NULL;",
            // Dropped again, or the name now means another table.
            "ALTER TABLE kegs ADD CONSTRAINT tap_nn CHECK (tap_id IS NOT NULL); ALTER TABLE kegs DROP CONSTRAINT tap_nn; ALTER TABLE kegs ALTER COLUMN tap_id SET NOT NULL;",
            "ALTER TABLE kegs ADD CHECK (tap_id IS NOT NULL); SET search_path = archive; ALTER TABLE kegs ALTER COLUMN tap_id SET NOT NULL;",
            "ALTER TABLE kegs ADD CHECK (tap_id IS NOT NULL); ALTER TABLE kegs RENAME TO kegs_old; ALTER TABLE kegs_new RENAME TO kegs; ALTER TABLE kegs ALTER COLUMN tap_id SET NOT NULL;",
            // Made or validated for the parent alone.
            "ALTER TABLE ONLY kegs ADD CHECK (tap_id IS NOT NULL); ALTER TABLE kegs ALTER COLUMN tap_id SET NOT NULL;",
            "ALTER TABLE kegs ADD CHECK (tap_id IS NOT NULL) NO INHERIT; ALTER TABLE kegs ALTER COLUMN tap_id SET NOT NULL;",
            "ALTER TABLE kegs ADD CONSTRAINT tap_nn CHECK (tap_id IS NOT NULL) NOT VALID; ALTER TABLE ONLY kegs VALIDATE CONSTRAINT tap_nn; ALTER TABLE kegs ALTER COLUMN tap_id SET NOT NULL;",
            // Dropped in the same ALTER TABLE: PostgreSQL drops it first.
            "ALTER TABLE kegs ADD CONSTRAINT tap_nn CHECK (tap_id IS NOT NULL); ALTER TABLE kegs ALTER COLUMN tap_id SET NOT NULL, DROP CONSTRAINT tap_nn;",
            // The validation comes after.
            "ALTER TABLE kegs ADD CONSTRAINT tap_nn CHECK (tap_id IS NOT NULL) NOT VALID; ALTER TABLE kegs ALTER COLUMN tap_id SET NOT NULL; ALTER TABLE kegs VALIDATE CONSTRAINT tap_nn;",
        ] {
            let h = hits(sql, ID);
            assert_eq!(h.len(), 1, "{sql}");
            assert_eq!(h[0].severity, Severity::Warning, "{sql}");
            assert!(h[0].message.contains("scans the table"), "{}", h[0].message);
        }
    }
}
