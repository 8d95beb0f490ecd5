//! Reading only what one revision changed. A full read deparses every
//! column, constraint and index of the database, so its cost grows with the
//! schema; after a revision most of that is known already. The catalog rows
//! a transaction wrote carry its transaction id (`xmin`), so the relations
//! they belong to can be found and read again alone, and merged into the
//! schema read before the revision.
//!
//! That is exact only when the revision created or changed objects without
//! renaming or removing any: a rename changes the text other objects
//! deparse to (an index or a foreign key naming the table) without touching
//! their rows, and a removal leaves no row to find.
//! [`SqlTraits::traceable`] admits only statements of that kind; anything
//! else is read in full. User code can run any DDL on a revision's behalf,
//! so the executor reads in full whenever such code may have run without
//! being called ([`Triggers`]: an event trigger exists, or a function behind
//! an operator, cast, operator class or domain check, or a row trigger does
//! and the revision has data statements) and whenever the revision may have
//! called a function on a target that has code to call
//! ([`Schema::has_callable_code`], [`SqlTraits::may_call_functions`]).
//!
//! It is exact only when no other transaction changed the catalogs between
//! the read before the revision and the read after it: what another
//! transaction changed is not among the relations the revision wrote.
//! [`only_commit_between`] tells that no other transaction committed at all,
//! from the two reads' snapshots; on a target where an application commits
//! all the time, the catalogs' row counts tell that none of those commits
//! wrote a catalog ([`counts`](super::counts)).

use super::counts::{self, CatalogWrites, Snapshot};
use super::introspect::{self, Reading};
use super::model::Schema;
use super::stamp;
use pg_query::NodeEnum;
use pg_query::protobuf::{AlterTableType, ObjectType, RawStmt};
use schemagate_policy::parser_stack::with_statements;
use sqlx::PgConnection;
use sqlx::postgres::types::Oid;
use std::collections::BTreeSet;

/// What the incremental read needs to know of a revision's SQL, from one
/// parse. SQL that does not parse is [`SqlTraits::UNPARSED`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SqlTraits {
    /// Every statement only creates objects or changes existing ones in
    /// place, so that [`introspect_after`] gives exactly what a full read
    /// would.
    pub traceable: bool,
    /// A top-level data statement, which may fire a row trigger.
    pub data_statement: bool,
    /// Running it may call a function: a data statement (which calls one
    /// directly, or through a column default, a check or a trigger) or a
    /// function call anywhere (a volatile default or a check evaluated on
    /// existing rows, an index expression, `USING`). It errs towards yes: a
    /// view naming a function calls nothing. A function reached without a
    /// call (behind an operator, a cast or a domain's check) is told by the
    /// target's catalogs instead: [`Triggers::implicit`].
    pub may_call_functions: bool,
    /// An `ALTER TABLE` changes a column in place (its default, its
    /// nullability, type, identity, statistics target, storage or
    /// compression), which may leave
    /// a trace in `pg_attribute` alone. Only then does [`introspect_after`]
    /// scan that catalog, the largest it reads: every other change the
    /// incremental read follows writes a row that names its relation in
    /// another catalog (`pg_class` for a new relation or column, `pg_index`,
    /// `pg_constraint`, `pg_attrdef`, `pg_trigger`...).
    pub changes_columns_in_place: bool,
}

impl SqlTraits {
    /// Not traceable, and it may do anything.
    pub const UNPARSED: SqlTraits = SqlTraits {
        traceable: false,
        data_statement: true,
        may_call_functions: true,
        changes_columns_in_place: true,
    };

    /// Whether what this SQL changed can be read incrementally on a target
    /// whose schema is `schema`: it is traceable, and it cannot call code
    /// of the target's, which could run DDL of any kind. (User code it may
    /// run without calling it, [`Triggers`], is told by the target's
    /// catalogs at the read.)
    pub fn readable_incrementally_on(&self, schema: &Schema) -> bool {
        self.traceable && !(self.may_call_functions && schema.has_callable_code())
    }

    /// Parses `sql` on a [parser thread](with_statements).
    pub fn of(sql: &str) -> SqlTraits {
        with_statements(sql, SqlTraits::of_statements).unwrap_or(SqlTraits::UNPARSED)
    }

    /// The traits of parsed statements; the caller is on a parser thread.
    pub fn of_statements(stmts: &[RawStmt]) -> SqlTraits {
        let nodes = || {
            stmts
                .iter()
                .map(|raw| raw.stmt.as_ref().and_then(|stmt| stmt.node.as_ref()))
        };
        let data_statement = nodes().flatten().any(is_data_statement);
        SqlTraits {
            traceable: nodes().all(|node| node.is_none_or(is_traceable)),
            data_statement,
            // pg_query's node walker skips some fields (a column default's
            // expression); the printed tree names every node, however deep.
            // A string constant spelling a node's name only errs towards
            // yes. A large revision is mostly data statements, which answer
            // before the tree is printed.
            may_call_functions: data_statement
                || prints_any(
                    stmts,
                    &["FuncCall(", "InsertStmt(", "UpdateStmt(", "DeleteStmt("],
                ),
            changes_columns_in_place: nodes().flatten().any(changes_columns_in_place),
        }
    }
}

/// Whether `value`'s `Debug` output contains one of `needles`. The output is
/// scanned as it is written and never held whole (a large revision's tree
/// prints to hundreds of megabytes), and printing stops at the first match.
fn prints_any(value: &(impl std::fmt::Debug + ?Sized), needles: &[&str]) -> bool {
    use std::fmt::Write;
    /// The end of what was written so far, long enough to hold a needle
    /// split across two writes.
    struct Scan<'a> {
        needles: &'a [&'a str],
        keep: usize,
        tail: String,
        found: bool,
    }
    impl Write for Scan<'_> {
        fn write_str(&mut self, text: &str) -> std::fmt::Result {
            self.tail.push_str(text);
            if self.needles.iter().any(|needle| self.tail.contains(needle)) {
                self.found = true;
                // Stops the printing.
                return Err(std::fmt::Error);
            }
            let mut cut = self.tail.len().saturating_sub(self.keep);
            while !self.tail.is_char_boundary(cut) {
                cut -= 1;
            }
            self.tail.drain(..cut);
            Ok(())
        }
    }
    let mut scan = Scan {
        needles,
        keep: needles.iter().map(|needle| needle.len()).max().unwrap_or(0),
        tail: String::new(),
        found: false,
    };
    let _stopped_or_done = write!(scan, "{value:?}");
    scan.found
}

/// Whether `node` only creates objects or changes existing ones in place.
pub fn is_traceable(node: &NodeEnum) -> bool {
    match node {
        NodeEnum::CreateStmt(_)
        | NodeEnum::CreateTableAsStmt(_)
        | NodeEnum::IndexStmt(_)
        | NodeEnum::CreateSeqStmt(_)
        | NodeEnum::AlterSeqStmt(_)
        | NodeEnum::CreateSchemaStmt(_)
        | NodeEnum::CreateEnumStmt(_)
        | NodeEnum::CreateTrigStmt(_)
        | NodeEnum::CreateStatsStmt(_)
        | NodeEnum::CommentStmt(_)
        | NodeEnum::GrantStmt(_)
        | NodeEnum::VariableSetStmt(_)
        | NodeEnum::InsertStmt(_)
        | NodeEnum::UpdateStmt(_)
        | NodeEnum::DeleteStmt(_) => true,
        NodeEnum::CreateFunctionStmt(f) => !f.replace,
        // ADD VALUE; RENAME VALUE names the old label.
        NodeEnum::AlterEnumStmt(e) => e.old_val.is_empty(),
        NodeEnum::ViewStmt(v) => !v.replace,
        // ALTER TYPE ... ADD ATTRIBUTE changes a composite type, one of the
        // global objects, which the read takes in full.
        NodeEnum::AlterTableStmt(alter) if alter.objtype == ObjectType::ObjectType as i32 => false,
        NodeEnum::AlterTableStmt(alter) => alter.cmds.iter().all(|cmd| {
            let Some(NodeEnum::AlterTableCmd(cmd)) = cmd.node.as_ref() else {
                return false;
            };
            matches!(
                AlterTableType::try_from(cmd.subtype),
                Ok(AlterTableType::AtAddColumn
                    | AlterTableType::AtColumnDefault
                    | AlterTableType::AtSetNotNull
                    | AlterTableType::AtDropNotNull
                    | AlterTableType::AtAddIndex
                    | AlterTableType::AtAddConstraint
                    | AlterTableType::AtValidateConstraint
                    | AlterTableType::AtAlterColumnType
                    | AlterTableType::AtAddIdentity
                    | AlterTableType::AtSetStatistics
                    | AlterTableType::AtSetStorage
                    | AlterTableType::AtSetCompression)
            )
        }),
        _ => false,
    }
}

/// Whether `node` is an `ALTER TABLE` with a subcommand other than those
/// known to write a row naming the table outside `pg_attribute`: adding a
/// column (which updates the table's `pg_class` row), an index or a
/// constraint, or validating one.
fn changes_columns_in_place(node: &NodeEnum) -> bool {
    let NodeEnum::AlterTableStmt(alter) = node else {
        return false;
    };
    alter.cmds.iter().any(|cmd| {
        let Some(NodeEnum::AlterTableCmd(cmd)) = cmd.node.as_ref() else {
            return true;
        };
        !matches!(
            AlterTableType::try_from(cmd.subtype),
            Ok(AlterTableType::AtAddColumn
                | AlterTableType::AtAddIndex
                | AlterTableType::AtAddConstraint
                | AlterTableType::AtValidateConstraint)
        )
    })
}

fn is_data_statement(node: &NodeEnum) -> bool {
    matches!(
        node,
        NodeEnum::InsertStmt(_) | NodeEnum::UpdateStmt(_) | NodeEnum::DeleteStmt(_)
    )
}

/// Whether transaction `xid` (a `xid8`, as `pg_current_xact_id()` prints
/// it) is the only one that finished between two snapshots, as
/// `pg_current_snapshot()` prints them (`xmin:xmax:xip,...`): of the
/// transactions not finished in `before` (those in progress, and those from
/// its `xmax` on), every one but `xid` is still in progress in `after`, and
/// `xid` is not. Transactions that started after `before` and are still in
/// progress (the executor's next revision, whose commit waits for this
/// reading) changed nothing either snapshot sees. Anything else (another
/// commit or abort, a subtransaction of `xid`, more than 10,000
/// transactions started in between, text that does not parse) is `false`,
/// which only means "read in full".
pub fn only_commit_between(before: &str, after: &str, xid: &str) -> bool {
    let (Some(before), Some(after), Ok(xid)) = (
        Snapshot::parse(before),
        Snapshot::parse(after),
        xid.parse::<u64>(),
    ) else {
        return false;
    };
    if after.xmax < before.xmax || after.xmax - before.xmax > 10_000 {
        return false;
    }
    let mut finished = before
        .running
        .iter()
        .copied()
        .chain(before.xmax..after.xmax)
        .filter(|transaction| !after.running.contains(transaction));
    finished.next() == Some(xid) && finished.next().is_none()
}

/// The schema after the transaction `xid` (a `xid8`) committed, given
/// `before`, the reading right before it, for a revision whose SQL is
/// [traceable](SqlTraits::traceable) and has the traits `sql`; `writes` is
/// what `xid` wrote to the catalogs ([`CatalogWrites`]). Reads, in one
/// snapshot, the relations `xid` wrote rows for (sequences included;
/// columns only when [the SQL may have changed one in
/// place](SqlTraits::changes_columns_in_place)) and the sequences a column
/// of one of them owns, those relations alone, and the schemas, extensions,
/// enums, domains, functions and event triggers only when `xid` changed one of them.
///
/// The result is exact when `xid` was the only transaction to change the
/// catalogs since `before` was read, which [`Incremental::alone`] tells:
/// either no other transaction committed at all
/// ([`only_commit_between`]), or, when some did and `before` has its
/// catalogs' row counts, the catalogs counted again prove that none of the
/// others wrote them ([`only_writer`](super::only_writer)).
/// The reading has no [catalog stamp](super::catalog_stamp) (it is empty):
/// digesting every catalog would cost more than the rest of the read. It
/// comes with the [`Triggers`] that exist, which may have run more than the
/// revision's own statements.
pub async fn introspect_after(
    conn: &mut PgConnection,
    before: Reading,
    xid: &str,
    sql: &SqlTraits,
    writes: Option<&CatalogWrites>,
) -> Result<Incremental, sqlx::Error> {
    let mut tx = introspect::begin_read(conn).await?;
    let pass = stamp::Pass::ChangesOf {
        xid,
        columns: sql.changes_columns_in_place,
    };
    let changes = stamp::read(&mut tx, pass).await?;
    let (alone, rows) = if only_commit_between(&before.snapshot, &changes.snapshot, xid) {
        let rows = before.rows.as_ref().zip(writes);
        (true, rows.and_then(|(rows, writes)| rows.after(writes)))
    } else if let (Some(rows), Some(writes)) = (&before.rows, writes) {
        match counts::count(&mut tx, Some(xid), &before.snapshot).await? {
            Some(counted) => (
                counts::only_writer(&before.snapshot, rows, &counted, Some(writes)),
                Some(counted.rows),
            ),
            None => (false, None),
        }
    } else {
        (false, None)
    };
    let mut schema = before.schema;
    if changes.globals {
        introspect::read_globals(&mut tx, &mut schema).await?;
    }
    if !changes.relations.is_empty() {
        let only = introspect::Only {
            oids: &changes.relations,
            tables_only: changes.tables_only,
        };
        let mut relations = introspect::read_relations(&mut tx, Some(only)).await?;
        let names: BTreeSet<String> = std::mem::take(&mut relations.names)
            .into_iter()
            .map(|relation| relation.name)
            .collect();
        for name in &names {
            schema.tables.remove(name);
            schema.views.remove(name);
            schema.sequences.remove(name);
        }
        schema.indexes.retain(|index| !names.contains(&index.table));
        relations.merge_into(&mut schema);
    }
    tx.rollback().await?;
    let triggers = changes.triggers;
    let tables_only = changes.tables_only;
    let mut reading = changes.reading(schema);
    reading.rows = rows;
    Ok(Incremental {
        reading,
        triggers,
        alone,
        tables_only,
    })
}

/// What [`introspect_after`] read.
pub struct Incremental {
    pub reading: Reading,
    pub triggers: Triggers,
    /// No other transaction changed the catalogs since the reading before,
    /// so that `reading` is exact (given no trigger fired).
    pub alone: bool,
    /// The relations the transaction touched were all tables and indexes
    /// without user triggers or extended statistics, and were read with
    /// the statement of those parts alone.
    pub tables_only: bool,
}

/// The relations a transaction wrote catalog rows for and whether it
/// changed a schema, extension, enum, domain, function or event trigger; or the
/// stamp of the
/// snapshot they were read in.
pub(super) struct Changes {
    /// Empty when the changes of a transaction were read.
    pub stamp: String,
    /// `pg_current_snapshot()` of the transaction the stamp was read in.
    pub snapshot: String,
    pub relations: Vec<Oid>,
    pub globals: bool,
    /// Every relation touched is a table or an index, and none has a user
    /// trigger or extended statistics.
    pub tables_only: bool,
    pub triggers: Triggers,
}

/// User code a transaction may have run besides its own statements, which
/// can run DDL of any kind: a row trigger (fired by a data statement), an
/// enabled event trigger (fired by DDL), or a function reached with no call
/// in the SQL.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Triggers {
    /// A user trigger exists on some table or view.
    pub row: bool,
    /// An enabled event trigger exists.
    pub event: bool,
    /// A function that is not built in (a user's or an extension's) backs
    /// an operator, a cast, an operator class or a domain's check. Any
    /// statement may run it without naming it: a default, a check or an
    /// index built over existing rows, a column converted to a domain.
    pub implicit: bool,
}

impl Triggers {
    /// Whether running SQL of these traits may have run any of them, so
    /// that an incremental read after it cannot be trusted: any event
    /// trigger or implicitly called function, or a row trigger when the SQL
    /// has a data statement.
    pub fn may_have_fired(self, sql: &SqlTraits) -> bool {
        self.event || self.implicit || (self.row && sql.data_statement)
    }
}

impl Changes {
    /// `schema`, sorted, as read in the snapshot of these changes.
    pub fn reading(self, mut schema: Schema) -> Reading {
        schema.sort();
        Reading {
            stamp: self.stamp,
            snapshot: self.snapshot,
            schema,
            rows: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{SqlTraits, only_commit_between, prints_any};

    fn traceable(sql: &str) -> bool {
        SqlTraits::of(sql).traceable
    }

    fn may_call_functions(sql: &str) -> bool {
        SqlTraits::of(sql).may_call_functions
    }

    #[test]
    fn only_a_lone_commit_of_the_revision_lets_it_be_read_incrementally() {
        // Nothing else ran: the revision took the next id and was the last to finish.
        assert!(only_commit_between("700:700:", "701:701:", "700"));
        // A transaction in progress throughout, before and after.
        assert!(only_commit_between("650:700:650", "650:701:650", "700"));
        // One that took an id before the revision and is still in progress
        // changed nothing either snapshot sees...
        assert!(only_commit_between("700:700:", "700:702:700", "701"));
        // ...and so did the next revision, in progress beside the reading
        // (its id is at or past `after`'s xmax, or listed as in progress).
        assert!(only_commit_between("700:700:", "701:701:", "700"));
        assert!(only_commit_between("700:700:", "701:702:701", "700"));
        // Another transaction finished between the two (committed or not;
        // a subtransaction of the revision takes an id of its own)...
        assert!(!only_commit_between("700:700:", "702:702:", "701"));
        assert!(!only_commit_between("700:700:", "702:702:", "700"));
        // ...or one in progress before has finished, or the revision itself
        // had finished before.
        assert!(!only_commit_between("650:700:650", "701:701:", "700"));
        assert!(!only_commit_between("701:701:", "702:702:", "700"));
        // Too many started in between to list.
        assert!(!only_commit_between("700:700:", "20701:20701:", "700"));
        // Text that is no snapshot.
        assert!(!only_commit_between("", "701:701:", "700"));
        assert!(!only_commit_between("700:700:", "701:701:", "x"));
        assert!(!only_commit_between("700:700:x", "701:701:", "700"));
    }

    #[test]
    fn creating_and_extending_objects_is_traceable() {
        for sql in [
            "CREATE TABLE t (id bigint PRIMARY KEY, name text NOT NULL DEFAULT '')",
            "CREATE INDEX t_name_idx ON t (name)",
            "ALTER TABLE t ADD COLUMN note text, ADD CONSTRAINT note_short CHECK (length(note) < 80)",
            "ALTER TABLE t ALTER COLUMN note SET DEFAULT 'none'",
            "CREATE TYPE mood AS ENUM ('ok', 'sad'); CREATE SEQUENCE s",
            "ALTER TYPE mood ADD VALUE 'calm' BEFORE 'sad'",
            "CREATE VIEW v AS SELECT id FROM t",
            "CREATE VIEW w WITH (security_barrier) AS SELECT id FROM t WITH LOCAL CHECK OPTION",
            "CREATE TRIGGER v_insert INSTEAD OF INSERT ON v FOR EACH ROW EXECUTE FUNCTION f()",
            "CREATE TABLE u (note text) INHERITS (t)",
            "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1'",
            "SET lock_timeout = '2s'; INSERT INTO t VALUES (1, 'a'); UPDATE t SET name = 'b'",
            "COMMENT ON TABLE t IS 'taps'",
            "CREATE STATISTICS t_stats (dependencies) ON id, name FROM t",
            "ALTER TABLE t ALTER COLUMN name SET COMPRESSION lz4, ALTER COLUMN name SET STORAGE EXTERNAL",
            "ALTER SEQUENCE s OWNED BY t.id",
        ] {
            assert!(traceable(sql), "{sql}");
        }
    }

    #[test]
    fn a_data_statement_or_a_function_call_may_call_user_code() {
        for sql in [
            "INSERT INTO t VALUES (1)",
            "CREATE TABLE log (id int); UPDATE t SET a = 2",
            "DELETE FROM t",
            "CREATE TABLE log (at int DEFAULT relabel_now())",
            "ALTER TABLE t ADD COLUMN at int DEFAULT relabel_now()",
            "ALTER TABLE t ADD COLUMN at int GENERATED ALWAYS AS (twice(a)) STORED",
            "ALTER TABLE t ADD CONSTRAINT positive CHECK (check_it(a))",
            "CREATE INDEX ON t (lower(name))",
            "ALTER TABLE t ALTER COLUMN a TYPE bigint USING convert_it(a)",
            "INSERT INTO t VALUES (",
        ] {
            assert!(may_call_functions(sql), "{sql}");
        }
        for sql in [
            "CREATE TABLE log (id int NOT NULL DEFAULT 0)",
            "ALTER TABLE t ADD COLUMN note text",
            "CREATE INDEX ON t (name)",
            "SET lock_timeout = '2s'; COMMENT ON TABLE t IS 'taps'",
        ] {
            assert!(!may_call_functions(sql), "{sql}");
        }
    }

    #[test]
    fn changing_a_column_in_place_is_told_from_adding_to_a_table() {
        let in_place = |sql| SqlTraits::of(sql).changes_columns_in_place;
        for sql in [
            "ALTER TABLE t ALTER COLUMN a SET NOT NULL",
            "ALTER TABLE t ALTER COLUMN a DROP NOT NULL",
            "ALTER TABLE t ALTER COLUMN a DROP DEFAULT",
            "ALTER TABLE t ALTER COLUMN a SET DEFAULT 0",
            "ALTER TABLE t ALTER COLUMN a TYPE bigint",
            "ALTER TABLE t ALTER COLUMN a ADD GENERATED ALWAYS AS IDENTITY",
            "ALTER TABLE t ALTER COLUMN a SET STATISTICS 500",
            "ALTER TABLE t ALTER COLUMN a SET STORAGE EXTERNAL",
            "ALTER TABLE t ALTER COLUMN a SET COMPRESSION lz4",
            "CREATE TABLE u (id int); ALTER TABLE t ADD COLUMN b int, ALTER COLUMN b SET NOT NULL",
            "ALTER TABLE t (",
        ] {
            assert!(in_place(sql), "{sql}");
        }
        for sql in [
            "CREATE TABLE t (id int NOT NULL DEFAULT 0)",
            "CREATE INDEX ON t (a)",
            "ALTER TABLE t ADD COLUMN b int NOT NULL DEFAULT 0",
            "ALTER TABLE t ADD CONSTRAINT positive CHECK (a > 0) NOT VALID, ADD PRIMARY KEY (id)",
            "ALTER TABLE t VALIDATE CONSTRAINT positive",
            "CREATE VIEW v AS SELECT a FROM t; INSERT INTO t VALUES (1)",
        ] {
            assert!(!in_place(sql), "{sql}");
        }
    }

    #[test]
    fn a_printed_value_is_scanned_across_writes() {
        // A derived Debug writes a variant's name and its "(" apart.
        #[derive(Debug)]
        #[allow(dead_code, reason = "only printed")]
        enum Node {
            FuncCall(u8),
            List(Vec<Node>),
        }
        let call = Node::List(vec![Node::List(vec![]), Node::FuncCall(1)]);
        assert!(prints_any(&call, &["FuncCall("]));
        assert!(!prints_any(
            &Node::List(vec![Node::List(vec![])]),
            &["FuncCall("]
        ));
        // What is kept between writes is cut on a character boundary.
        assert!(!prints_any(
            &vec!["\u{e9}b"; 1000],
            &["FuncCall(", "Insert"]
        ));
        assert!(prints_any(&vec!["\u{e9}b"; 1000], &["b\", \"\u{e9}"]));
        assert!(!prints_any(&"", &["FuncCall("]));
    }

    #[test]
    fn renames_removals_and_replacements_are_not() {
        for sql in [
            "DROP TABLE t",
            "DROP INDEX t_name_idx",
            "ALTER TABLE t RENAME TO u",
            "ALTER TABLE t RENAME COLUMN a TO b",
            "ALTER TABLE t DROP COLUMN note",
            "ALTER TABLE t DROP CONSTRAINT note_short",
            "ALTER TABLE t SET SCHEMA other",
            "ALTER TYPE mood RENAME VALUE 'ok' TO 'fine'",
            // Changes no row that names the relations whose text or state
            // they change, or none the incremental read looks for.
            "ALTER TABLE t DISABLE TRIGGER ALL",
            "ALTER TABLE t DISABLE TRIGGER t_guard",
            "ALTER TABLE t ENABLE REPLICA TRIGGER t_guard",
            "ALTER TABLE t ENABLE ALWAYS TRIGGER t_guard",
            "ALTER TABLE u INHERIT t",
            "ALTER TABLE u NO INHERIT t",
            "ALTER TABLE p DETACH PARTITION p_2026",
            "ALTER VIEW v SET (security_invoker = true)",
            "ALTER VIEW v RESET (check_option)",
            "ALTER LANGUAGE plpgsql RENAME TO plpgsql2",
            "CREATE OR REPLACE VIEW v AS SELECT id FROM t",
            "CREATE OR REPLACE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 2'",
            "CREATE EXTENSION pgcrypto",
            "DROP STATISTICS t_stats",
            "CREATE EVENT TRIGGER audit ON ddl_command_end EXECUTE FUNCTION f()",
            "ALTER EVENT TRIGGER audit DISABLE",
            // Composite and range types are global objects, read in full.
            "CREATE TYPE pair AS (a int, b int)",
            "CREATE TYPE span AS RANGE (subtype = int4)",
            "ALTER TYPE pair ADD ATTRIBUTE c int",
            "ALTER TYPE pair ALTER ATTRIBUTE a TYPE bigint",
            "DO $$ BEGIN EXECUTE 'DROP TABLE t'; END $$",
            "SELECT f()",
            "CREATE TABLE t (",
        ] {
            assert!(!traceable(sql), "{sql}");
        }
    }
}
