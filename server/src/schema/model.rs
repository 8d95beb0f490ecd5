//! The canonical schema model: what a PostgreSQL database's schema is, for
//! Schemagate, and its fingerprint. Every collection is ordered (maps by
//! name, vectors sorted by definition) so two databases built from the same
//! DDL give equal values and the same fingerprint.
//!
//! Names PostgreSQL may generate (constraint names, index names) are carried
//! as [`Info`]: they appear in messages and reconcile SQL but never make two
//! schemas differ and are not part of the fingerprint. Column order is not
//! part of the schema either (the attribute number is kept as [`Info`] to
//! rebuild a table in its original order).

use serde::{Deserialize, Serialize, Serializer};
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet};

/// Version of the canonical serialization; part of every fingerprint, bumped
/// whenever the model changes what it compares.
///
/// Not bumped for what the model learned since (trigger modes, constraints
/// whose triggers are disabled or fire always, inheritance, view triggers
/// and options, sequence ownership, column storage, compression and
/// statistics targets, extended statistics, modes of triggers cloned onto
/// partitions, event triggers, domain collations, composite types, range
/// types):
/// each of those fields is left out of the serialization at its usual state,
/// so a schema without them serializes, and fingerprints, exactly as before
/// and the fingerprints recorded then stay valid.
const CANONICAL_VERSION: &str = "schemagate-schema/1\n";

/// A value carried for messages and reconcile SQL only. It never makes two
/// schemas differ (`==` always holds between two `Info`s) and is written as
/// its type's default (cleared) in the serialization the fingerprint hashes.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(transparent)]
pub struct Info<T>(pub T);

thread_local! {
    /// Set while [`Schema::fingerprint`] serializes on this thread.
    static CANONICAL: Cell<bool> = const { Cell::new(false) };
}

impl<T: Serialize + Default> Serialize for Info<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if CANONICAL.get() {
            T::default().serialize(serializer)
        } else {
            self.0.serialize(serializer)
        }
    }
}

/// Serializes in canonical form ([`Info`] cleared) until dropped.
struct CanonicalForm;

impl CanonicalForm {
    fn enter() -> CanonicalForm {
        CANONICAL.set(true);
        CanonicalForm
    }
}

impl Drop for CanonicalForm {
    fn drop(&mut self) {
        CANONICAL.set(false);
    }
}

/// Feeds what is written into a hash.
struct HashWriter(Sha256);

impl std::io::Write for HashWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.update(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<T> PartialEq for Info<T> {
    fn eq(&self, _: &Info<T>) -> bool {
        true
    }
}

impl<T> Eq for Info<T> {}

/// The schema of one database: every user schema except `pg_catalog`,
/// `information_schema`, `pg_toast*`, `pg_temp*` and `schemagate`. Objects
/// that belong to an extension are left to the extension. All names are
/// qualified and quoted as PostgreSQL quotes identifiers (`public.pours`,
/// `public."Odd Name"`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Schema {
    /// Namespaces, including empty ones (`public`).
    pub schemas: BTreeSet<String>,
    /// Installed extensions by name (versions are ignored).
    pub extensions: BTreeSet<String>,
    /// Enum types and their labels in sort order.
    pub enums: BTreeMap<String, Vec<String>>,
    /// Functions and procedures by `schema.name(identity arguments)`, with
    /// their `pg_get_functiondef` text.
    pub functions: BTreeMap<String, String>,
    /// Stand-alone sequences (identity sequences are part of their column).
    pub sequences: BTreeMap<String, Sequence>,
    /// Ordinary and partitioned tables.
    pub tables: BTreeMap<String, Table>,
    /// Indexes that do not back a constraint, sorted by definition. An index
    /// is identified by its definition; its name is information.
    pub indexes: Vec<Index>,
    /// Views and materialized views.
    pub views: BTreeMap<String, View>,
    /// Event triggers by quoted name (they belong to the database, not to
    /// a schema).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub event_triggers: BTreeMap<String, EventTrigger>,
    /// Domains by qualified name. Last, and left out when there are none,
    /// so that a schema without domains fingerprints as it did before they
    /// were compared.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub domains: BTreeMap<String, Domain>,
    /// Composite types (`CREATE TYPE ... AS (...)`) by qualified name, with
    /// their attributes in order. Left out when there are none, as domains.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub composites: BTreeMap<String, Vec<Attribute>>,
    /// Range types (`CREATE TYPE ... AS RANGE`) by qualified name. Their
    /// constructor functions are theirs, not in [`Schema::functions`].
    /// Left out when there are none, as domains.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub ranges: BTreeMap<String, Range>,
}

/// A range type: what `CREATE TYPE ... AS RANGE (...)` says of it, each
/// option `None` where it is the default.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Range {
    /// As `format_type` prints it.
    pub subtype: String,
    /// Qualified, when not the subtype's default B-tree operator class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subtype_opclass: Option<String>,
    /// Qualified, when not the subtype's default collation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collation: Option<String>,
    /// Qualified function names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canonical: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subtype_diff: Option<String>,
}

/// An attribute of a composite type.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Attribute {
    /// Quoted where it needs to be, as in SQL.
    pub name: String,
    /// As `format_type` prints it: `numeric(8,2)`.
    pub data_type: String,
    /// Its collation, qualified, when it is not its type's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collation: Option<String>,
}

/// A domain (`CREATE DOMAIN`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Domain {
    /// The base type, with its modifiers: `numeric(8,2)`.
    pub data_type: String,
    /// Its own collation (`COLLATE`), qualified, when it differs from its
    /// base type's: `pg_catalog."C"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collation: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub not_null: bool,
    /// CHECK constraints by quoted name, with their `pg_get_constraintdef`
    /// text (`CHECK ((VALUE > 0))`, `NOT VALID` when not validated).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub checks: BTreeMap<String, String>,
}

/// An event trigger (`CREATE EVENT TRIGGER`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct EventTrigger {
    /// `ddl_command_start`, `ddl_command_end`, `sql_drop` or `table_rewrite`.
    pub event: String,
    /// The function it runs, qualified: `public.audit_ddl`.
    pub function: String,
    /// The command tags of its `WHEN TAG IN (...)`, as written; empty
    /// without one.
    pub tags: Vec<String>,
    /// How it fires when not as created (`ALTER EVENT TRIGGER ... DISABLE`,
    /// `ENABLE REPLICA`, `ENABLE ALWAYS`); `None` when enabled.
    pub mode: Option<TriggerMode>,
}

/// Settings of a sequence. The current value and the cache size are not
/// part of the schema.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Sequence {
    pub data_type: String,
    pub start: i64,
    pub increment: i64,
    pub min: i64,
    pub max: i64,
    pub cycle: bool,
    /// The column that owns the sequence (`OWNED BY`, dropped with it),
    /// `public.pours.id`, unless that column's default draws from the
    /// sequence, as a `serial` column's does: that is how a sequence is
    /// owned, and how it was read before ownership was. So a sequence that
    /// a column's default draws from reads alike whether that column owns
    /// it or none does (`OWNED BY NONE` on a `serial` column's sequence is
    /// not seen); that keeps the fingerprints of schemas with such
    /// sequences, common both ways, as they were.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owned_by: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Table {
    /// Columns by quoted name; order is not compared.
    pub columns: BTreeMap<String, Column>,
    /// Primary key, unique, check, foreign key and exclusion constraints,
    /// sorted by kind and definition. Identified by definition; the name is
    /// information.
    pub constraints: Vec<Constraint>,
    /// User triggers by quoted name, with their `pg_get_triggerdef` text.
    pub triggers: BTreeMap<String, String>,
    /// `RANGE (poured_at)` for a partitioned table.
    pub partition_key: Option<String>,
    /// `public.pours FOR VALUES FROM (...) TO (...)` for a partition.
    pub partition_of: Option<String>,
    /// User triggers not enabled as they were created (to fire in ordinary
    /// sessions), by quoted name: disabled, or set to fire for replicas only
    /// or always. A trigger not listed is enabled.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub trigger_modes: BTreeMap<String, TriggerMode>,
    /// The tables this one inherits from (`INHERITS`), qualified; not the
    /// parent of a partition, which is [`Table::partition_of`].
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub inherits: BTreeSet<String>,
    /// Extended statistics on the table (`CREATE STATISTICS`), by qualified
    /// name, with their `pg_get_statisticsobjdef` text.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub statistics: BTreeMap<String, String>,
    /// On a partition, the triggers cloned from its parent's that fire
    /// otherwise than the parent's (`ALTER TABLE partition DISABLE
    /// TRIGGER`), by quoted name, with how they fire (`None`: enabled).
    /// The clones themselves follow from the parent's definition and are
    /// not listed; changing the parent's trigger changes them alike.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub cloned_trigger_modes: BTreeMap<String, Option<TriggerMode>>,
}

/// How a trigger fires when not as created (`ALTER TABLE ... DISABLE
/// TRIGGER`, `ENABLE REPLICA TRIGGER`, `ENABLE ALWAYS TRIGGER`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TriggerMode {
    Disabled,
    /// Fires only where `session_replication_role` is `replica`.
    Replica,
    /// Fires whatever the `session_replication_role`.
    Always,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Column {
    /// `format_type` text: `numeric(8,2)`, `timestamp with time zone`, `public.mood`.
    pub data_type: String,
    /// Only when it differs from the type's default collation.
    pub collation: Option<String>,
    pub not_null: bool,
    /// Default expression (`pg_get_expr`), not for generated columns.
    pub default: Option<String>,
    /// Expression of a `GENERATED ALWAYS AS (...) STORED` column.
    pub generated: Option<String>,
    pub identity: Option<Identity>,
    /// Attribute number, to rebuild the table in its original column order.
    pub position: Info<i16>,
    /// `ALTER COLUMN ... SET STORAGE`: `PLAIN`, `MAIN`, `EXTERNAL` or
    /// `EXTENDED`, only when it differs from the type's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<String>,
    /// `ALTER COLUMN ... SET COMPRESSION`: `pglz` or `lz4`, when set
    /// (unset, values are compressed by `default_toast_compression`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compression: Option<String>,
    /// `ALTER COLUMN ... SET STATISTICS`, when set (unset, `ANALYZE` takes
    /// `default_statistics_target`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statistics: Option<i32>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Identity {
    /// `ALWAYS` or `BY DEFAULT`.
    pub generation: String,
    pub sequence: Sequence,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConstraintKind {
    PrimaryKey,
    Unique,
    Check,
    ForeignKey,
    Exclusion,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Constraint {
    pub kind: ConstraintKind,
    /// `pg_get_constraintdef` text, e.g. `FOREIGN KEY (tap_id) REFERENCES
    /// public.taps(id) ON DELETE CASCADE DEFERRABLE`.
    pub definition: String,
    /// Quoted constraint name.
    pub name: Info<String>,
    /// Some of the constraint's internal triggers are disabled or fire for
    /// replicas only (`ALTER TABLE ... DISABLE TRIGGER ALL`), so that rows
    /// it forbids can be written: those of a foreign key (on the referencing
    /// or the referenced table, or a partition of either), or the one that
    /// checks a deferrable unique, primary key or exclusion constraint when
    /// deferred.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub triggers_disabled: bool,
    /// The modes, other than disabled, that some of those internal triggers
    /// fire in: `ENABLE REPLICA TRIGGER` (which also makes
    /// [`Constraint::triggers_disabled`] true), `ENABLE ALWAYS TRIGGER` (the
    /// constraint is then checked for replicas too, as it is not by
    /// default).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub trigger_modes: BTreeSet<TriggerMode>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Index {
    /// Qualified table (or materialized view) name.
    pub table: String,
    /// `pg_get_indexdef` with the index name removed:
    /// `CREATE INDEX ON public.pours USING btree (tap_id)`.
    pub definition: String,
    /// False for an index left invalid by a failed `CREATE INDEX CONCURRENTLY`.
    pub valid: bool,
    /// Qualified index name.
    pub name: Info<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct View {
    pub materialized: bool,
    /// `pg_get_viewdef` text, without the trailing semicolon.
    pub definition: String,
    /// Triggers on a view (`INSTEAD OF`) by quoted name, with their
    /// `pg_get_triggerdef` text. A view's triggers cannot be disabled.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub triggers: BTreeMap<String, String>,
    /// Options of a (not materialized) view, `name=value` in name order:
    /// `check_option=local`, `security_barrier=true`,
    /// `security_invoker=true`. A boolean option is written `true`,
    /// and left out when false, as it is by default.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
}

impl Index {
    /// The definition with the index name put back, as `CREATE INDEX` takes it.
    pub fn named_definition(&self) -> String {
        let (_, bare) = super::split_qualified(&self.name.0);
        // Index names are not schema-qualified in CREATE INDEX; the table is.
        match self.definition.find("INDEX ON ") {
            Some(at) => format!(
                "{}INDEX {bare} ON {}",
                &self.definition[..at],
                &self.definition[at + "INDEX ON ".len()..]
            ),
            None => self.definition.clone(),
        }
    }
}

impl Schema {
    /// Whether the schema has code a statement may call that can run DDL: a
    /// user function or procedure, or an extension besides PL/pgSQL (whose
    /// functions the model does not list).
    pub fn has_callable_code(&self) -> bool {
        !self.functions.is_empty() || self.extensions.iter().any(|name| name != "plpgsql")
    }

    /// Hex SHA-256 of the canonical serialization: a versioned JSON form of
    /// the model with every [`Info`] cleared and every vector sorted.
    /// Equal schemas (`==`) have equal fingerprints.
    ///
    /// A sorted schema (as every reading is) is hashed as it is, streamed
    /// into the hash without a copy: sorted with its names, its vectors are
    /// in canonical order up to elements that differ only in an [`Info`],
    /// which serialize alike once cleared.
    pub fn fingerprint(&self) -> String {
        let schema = if self.is_sorted() {
            Cow::Borrowed(self)
        } else {
            let mut copy = self.clone();
            copy.sort();
            Cow::Owned(copy)
        };
        let mut hash = HashWriter(Sha256::new());
        hash.0.update(CANONICAL_VERSION.as_bytes());
        {
            let _canonical = CanonicalForm::enter();
            // Serializing plain structs, strings, integers and B-tree maps
            // into a hash cannot fail; an empty hash input would still be
            // deterministic.
            let _ = serde_json::to_writer(&mut hash, &*schema);
        }
        hex::encode(hash.0.finalize())
    }

    /// True when the database holds no objects besides (possibly empty)
    /// schemas and extensions: a freshly created database is empty.
    pub fn is_empty(&self) -> bool {
        self.enums.is_empty()
            && self.functions.is_empty()
            && self.sequences.is_empty()
            && self.tables.is_empty()
            && self.indexes.is_empty()
            && self.views.is_empty()
            && self.event_triggers.is_empty()
            && self.domains.is_empty()
            && self.composites.is_empty()
            && self.ranges.is_empty()
    }

    /// Puts vectors in canonical order (by definition, then by name).
    pub(crate) fn sort(&mut self) {
        for table in self.tables.values_mut() {
            table.constraints.sort_by(Constraint::order);
        }
        self.indexes.sort_by(Index::order);
    }

    fn is_sorted(&self) -> bool {
        self.tables
            .values()
            .all(|table| table.constraints.is_sorted_by(|a, b| a.order(b).is_le()))
            && self.indexes.is_sorted_by(|a, b| a.order(b).is_le())
    }
}

impl Constraint {
    fn order(&self, other: &Constraint) -> std::cmp::Ordering {
        (
            self.kind,
            &self.definition,
            self.triggers_disabled,
            &self.trigger_modes,
            &self.name.0,
        )
            .cmp(&(
                other.kind,
                &other.definition,
                other.triggers_disabled,
                &other.trigger_modes,
                &other.name.0,
            ))
    }
}

impl Index {
    fn order(&self, other: &Index) -> std::cmp::Ordering {
        (&self.table, &self.definition, self.valid, &self.name.0).cmp(&(
            &other.table,
            &other.definition,
            other.valid,
            &other.name.0,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn functions_and_extensions_other_than_plpgsql_are_callable_code() {
        let mut schema = Schema::default();
        schema.extensions.insert("plpgsql".into());
        assert!(!schema.has_callable_code(), "every database has PL/pgSQL");
        schema.extensions.insert("pg_partman".into());
        assert!(schema.has_callable_code());
        let mut schema = Schema::default();
        schema
            .functions
            .insert("public.relabel_now()".into(), String::new());
        assert!(schema.has_callable_code());
    }

    #[test]
    fn names_and_positions_do_not_change_equality_or_fingerprint() {
        let mut a = Schema::default();
        let mut table = Table::default();
        table.columns.insert(
            "id".into(),
            Column {
                data_type: "bigint".into(),
                not_null: true,
                position: Info(1),
                ..Column::default()
            },
        );
        table.constraints.push(Constraint {
            kind: ConstraintKind::PrimaryKey,
            definition: "PRIMARY KEY (id)".into(),
            name: Info("t_pkey".into()),
            triggers_disabled: false,
            trigger_modes: BTreeSet::new(),
        });
        a.tables.insert("public.t".into(), table);
        a.indexes.push(Index {
            table: "public.t".into(),
            definition: "CREATE INDEX ON public.t USING btree (id)".into(),
            valid: true,
            name: Info("public.t_id_idx".into()),
        });
        let mut b = a.clone();
        let t = b.tables.get_mut("public.t").expect("table");
        t.constraints[0].name = Info("other".into());
        t.columns.get_mut("id").expect("column").position = Info(7);
        b.indexes[0].name = Info("public.t_id_idx1".into());
        assert_eq!(a, b);
        assert_eq!(a.fingerprint(), b.fingerprint());
        assert_eq!(a.fingerprint().len(), 64);
        b.tables
            .get_mut("public.t")
            .expect("table")
            .columns
            .get_mut("id")
            .expect("column")
            .data_type = "integer".into();
        assert_ne!(a, b);
        assert_ne!(a.fingerprint(), b.fingerprint());
        assert!(!a.is_empty());
        assert!(Schema::default().is_empty());
    }

    /// The fingerprint as it was first defined: a copy with every `Info`
    /// cleared, sorted, serialized, hashed. Fingerprints recorded in a
    /// catalog must stay comparable, so the streamed one must equal it.
    fn reference_fingerprint(schema: &Schema) -> String {
        let mut copy = schema.clone();
        for table in copy.tables.values_mut() {
            for column in table.columns.values_mut() {
                column.position = Info(0);
            }
            for constraint in &mut table.constraints {
                constraint.name = Info(String::new());
            }
        }
        for index in &mut copy.indexes {
            index.name = Info(String::new());
        }
        copy.sort();
        let mut hasher = Sha256::new();
        hasher.update(CANONICAL_VERSION.as_bytes());
        hasher.update(serde_json::to_vec(&copy).expect("json"));
        hex::encode(hasher.finalize())
    }

    #[test]
    fn the_fingerprint_is_the_hash_of_the_cleared_sorted_copy() {
        let check = |name| Constraint {
            kind: ConstraintKind::Check,
            definition: "CHECK ((ml > 0))".into(),
            name: Info(name),
            triggers_disabled: false,
            trigger_modes: BTreeSet::new(),
        };
        let index = |name: &str, column: &str| Index {
            table: "public.pours".into(),
            definition: format!("CREATE INDEX ON public.pours USING btree ({column})"),
            valid: true,
            name: Info(name.into()),
        };
        let mut schema = Schema::default();
        let mut table = Table::default();
        table.columns.insert(
            "ml".into(),
            Column {
                data_type: "integer".into(),
                position: Info(3),
                ..Column::default()
            },
        );
        // Two constraints that differ by name alone, and an unsorted pair.
        table.constraints = vec![check("pours_ml_check1".into()), check("a_ml_check".into())];
        schema.tables.insert("public.pours".into(), table);
        schema.indexes = vec![index("public.z_idx", "tap_id"), index("public.a_idx", "ml")];

        let unsorted = schema.clone();
        assert!(!unsorted.is_sorted());
        assert_eq!(unsorted.fingerprint(), reference_fingerprint(&unsorted));
        let mut sorted = schema;
        sorted.sort();
        assert!(sorted.is_sorted());
        assert_eq!(sorted.fingerprint(), reference_fingerprint(&sorted));
        assert_eq!(sorted.fingerprint(), unsorted.fingerprint());
        // Serialized for the catalog, the names are kept.
        let json = serde_json::to_string(&sorted).expect("json");
        assert!(
            json.contains("pours_ml_check1") && json.contains("public.z_idx"),
            "{json}"
        );
    }

    /// A small schema with a table, a partition, a foreign key, a trigger
    /// and a view, none using what the model learned later.
    fn fixed_schema() -> Schema {
        let mut schema = Schema::default();
        schema.schemas.insert("public".into());
        let mut taps = Table::default();
        taps.columns.insert(
            "id".into(),
            Column {
                data_type: "bigint".into(),
                not_null: true,
                position: Info(1),
                ..Column::default()
            },
        );
        taps.constraints.push(Constraint {
            kind: ConstraintKind::PrimaryKey,
            definition: "PRIMARY KEY (id)".into(),
            name: Info("taps_pkey".into()),
            triggers_disabled: false,
            trigger_modes: BTreeSet::new(),
        });
        let mut pours = Table {
            partition_key: Some("RANGE (at)".into()),
            ..Table::default()
        };
        pours.columns.insert(
            "tap_id".into(),
            Column {
                data_type: "bigint".into(),
                position: Info(1),
                ..Column::default()
            },
        );
        pours.constraints.push(Constraint {
            kind: ConstraintKind::ForeignKey,
            definition: "FOREIGN KEY (tap_id) REFERENCES public.taps(id)".into(),
            name: Info("pours_tap_id_fkey".into()),
            triggers_disabled: false,
            trigger_modes: BTreeSet::new(),
        });
        pours.triggers.insert(
            "pours_guard".into(),
            "CREATE TRIGGER pours_guard BEFORE INSERT ON public.pours FOR EACH ROW EXECUTE FUNCTION public.guard()".into(),
        );
        let partition = Table {
            partition_of: Some("public.pours FOR VALUES FROM (1) TO (2)".into()),
            ..Table::default()
        };
        schema.tables.insert("public.taps".into(), taps);
        schema.tables.insert("public.pours".into(), pours);
        schema.tables.insert("public.pours_1".into(), partition);
        schema.views.insert(
            "public.v".into(),
            View {
                definition: "SELECT 1".into(),
                ..View::default()
            },
        );
        schema
    }

    /// [`fixed_schema`] as it was serialized, and its fingerprint, before the
    /// model learned trigger modes, foreign keys whose triggers are
    /// disabled, inheritance, view triggers and view options (and what it
    /// learned after those: see [`CANONICAL_VERSION`]).
    const FIXED_JSON: &str = r#"{"schemas":["public"],"extensions":[],"enums":{},"functions":{},"sequences":{},"tables":{"public.pours":{"columns":{"tap_id":{"data_type":"bigint","collation":null,"not_null":false,"default":null,"generated":null,"identity":null,"position":1}},"constraints":[{"kind":"foreign_key","definition":"FOREIGN KEY (tap_id) REFERENCES public.taps(id)","name":"pours_tap_id_fkey"}],"triggers":{"pours_guard":"CREATE TRIGGER pours_guard BEFORE INSERT ON public.pours FOR EACH ROW EXECUTE FUNCTION public.guard()"},"partition_key":"RANGE (at)","partition_of":null},"public.pours_1":{"columns":{},"constraints":[],"triggers":{},"partition_key":null,"partition_of":"public.pours FOR VALUES FROM (1) TO (2)"},"public.taps":{"columns":{"id":{"data_type":"bigint","collation":null,"not_null":true,"default":null,"generated":null,"identity":null,"position":1}},"constraints":[{"kind":"primary_key","definition":"PRIMARY KEY (id)","name":"taps_pkey"}],"triggers":{},"partition_key":null,"partition_of":null}},"indexes":[],"views":{"public.v":{"materialized":false,"definition":"SELECT 1"}}}"#;
    const FIXED_FINGERPRINT: &str =
        "8fd5dc2e13defceb5970bc2cbdb08890a350117b1c6df8300d42f658f7262cca";

    #[test]
    fn a_schema_without_the_later_features_fingerprints_as_before() {
        let schema = fixed_schema();
        assert_eq!(schema.fingerprint(), FIXED_FINGERPRINT);
        assert_eq!(serde_json::to_string(&schema).expect("json"), FIXED_JSON);
        let stored: Schema = serde_json::from_str(FIXED_JSON).expect("old JSON reads");
        assert_eq!(stored, schema);

        // Each of them, present, changes the fingerprint.
        let changed = |change: fn(&mut Schema)| {
            let mut schema = fixed_schema();
            change(&mut schema);
            schema.fingerprint()
        };
        for fingerprint in [
            changed(|s| {
                let pours = s.tables.get_mut("public.pours").expect("pours");
                pours
                    .trigger_modes
                    .insert("pours_guard".into(), TriggerMode::Disabled);
            }),
            changed(|s| {
                let pours = s.tables.get_mut("public.pours").expect("pours");
                pours.constraints[0].triggers_disabled = true;
            }),
            changed(|s| {
                let taps = s.tables.get_mut("public.taps").expect("taps");
                taps.inherits.insert("public.pours".into());
            }),
            changed(|s| {
                let v = s.views.get_mut("public.v").expect("view");
                v.triggers
                    .insert("v_insert".into(), "CREATE TRIGGER v_insert ...".into());
            }),
            changed(|s| {
                let v = s.views.get_mut("public.v").expect("view");
                v.options.push("security_invoker=true".into());
            }),
            changed(|s| {
                s.sequences.insert(
                    "public.s".into(),
                    Sequence {
                        owned_by: Some("public.taps.id".into()),
                        ..Sequence::default()
                    },
                );
            }),
            changed(|s| {
                let taps = s.tables.get_mut("public.taps").expect("taps");
                let id = taps.columns.get_mut("id").expect("id");
                id.storage = Some("EXTERNAL".into());
            }),
            changed(|s| {
                let taps = s.tables.get_mut("public.taps").expect("taps");
                let id = taps.columns.get_mut("id").expect("id");
                id.compression = Some("lz4".into());
            }),
            changed(|s| {
                let taps = s.tables.get_mut("public.taps").expect("taps");
                let id = taps.columns.get_mut("id").expect("id");
                id.statistics = Some(500);
            }),
            changed(|s| {
                let taps = s.tables.get_mut("public.taps").expect("taps");
                taps.statistics.insert(
                    "public.taps_stats".into(),
                    "CREATE STATISTICS public.taps_stats ON id, id FROM public.taps".into(),
                );
            }),
            changed(|s| {
                let partition = s.tables.get_mut("public.pours_1").expect("partition");
                partition
                    .cloned_trigger_modes
                    .insert("pours_guard".into(), Some(TriggerMode::Disabled));
            }),
            changed(|s| {
                let pours = s.tables.get_mut("public.pours").expect("pours");
                pours.constraints[0]
                    .trigger_modes
                    .insert(TriggerMode::Always);
            }),
            changed(|s| {
                s.event_triggers.insert(
                    "audit".into(),
                    EventTrigger {
                        event: "ddl_command_end".into(),
                        function: "public.audit()".into(),
                        ..EventTrigger::default()
                    },
                );
            }),
            changed(|s| {
                s.domains.insert(
                    "public.positive".into(),
                    Domain {
                        data_type: "integer".into(),
                        checks: [("positive_check".into(), "CHECK ((VALUE > 0))".into())].into(),
                        ..Domain::default()
                    },
                );
            }),
            changed(|s| {
                s.ranges.insert(
                    "public.span".into(),
                    Range {
                        subtype: "integer".into(),
                        ..Range::default()
                    },
                );
            }),
            changed(|s| {
                s.composites.insert(
                    "public.pair".into(),
                    vec![Attribute {
                        name: "a".into(),
                        data_type: "integer".into(),
                        collation: None,
                    }],
                );
            }),
        ] {
            assert_ne!(fingerprint, FIXED_FINGERPRINT);
        }
    }

    /// A domain read before collations of domains were: its stored JSON
    /// reads back, and it fingerprints the same as it is read now.
    #[test]
    fn a_domain_without_a_collation_of_its_own_fingerprints_as_before() {
        let stored = r#"{"data_type":"text","not_null":true}"#;
        let domain: Domain = serde_json::from_str(stored).expect("old JSON reads");
        assert_eq!(domain.collation, None);
        assert_eq!(serde_json::to_string(&domain).expect("json"), stored);
        let with = |collation: Option<&str>| {
            let mut schema = fixed_schema();
            schema.domains.insert(
                "public.code".into(),
                Domain {
                    collation: collation.map(Into::into),
                    ..domain.clone()
                },
            );
            schema.fingerprint()
        };
        assert_ne!(with(None), with(Some("pg_catalog.\"C\"")));
    }

    #[test]
    fn named_definition_puts_the_name_back() {
        let index = Index {
            table: "public.pours".into(),
            definition: "CREATE UNIQUE INDEX ON public.pours USING btree (tap_id)".into(),
            valid: true,
            name: Info("public.pours_tap_idx".into()),
        };
        assert_eq!(
            index.named_definition(),
            "CREATE UNIQUE INDEX pours_tap_idx ON public.pours USING btree (tap_id)"
        );
    }
}
