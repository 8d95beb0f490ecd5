//! PostgreSQL schema introspection: the canonical model of a database's
//! schema ([`Schema`]), reading it from a live database ([`introspect`]), its
//! fingerprint ([`Schema::fingerprint`]) and the comparison of an expected
//! schema with a live one ([`diff`]). Used by the release gate (drift check),
//! the executor (fingerprint after each revision) and onboarding (parity
//! check). What is compared and what is ignored is described in
//! `docs/onboarding.md`.

mod counts;
mod diff;
mod incremental;
mod introspect;
mod model;
mod stamp;

pub use counts::{CatalogRows, CatalogWrites, Counted, count, only_writer};
pub use diff::{Difference, diff};
pub use incremental::{
    Incremental, SqlTraits, Triggers, introspect_after, is_traceable, only_commit_between,
};
pub use introspect::{Reading, introspect, introspect_counted, introspect_stamped};
pub use model::{
    Column, Constraint, ConstraintKind, EventTrigger, Identity, Index, Info, Schema, Sequence,
    Table, TriggerMode, View,
};
pub use stamp::{CATALOG_WRITES, catalog_stamp};

/// Splits a qualified, quoted name (`public."a.b"`) at the dot between its
/// schema and its object name.
pub(crate) fn split_qualified(name: &str) -> (&str, &str) {
    let mut quoted = false;
    for (at, c) in name.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '.' if !quoted => return (&name[..at], &name[at + 1..]),
            _ => {}
        }
    }
    ("", name)
}

#[cfg(test)]
mod tests {
    use super::split_qualified;

    #[test]
    fn qualified_names_split_outside_quotes() {
        assert_eq!(split_qualified("public.pours"), ("public", "pours"));
        assert_eq!(split_qualified("\"a.b\".\"c.d\""), ("\"a.b\"", "\"c.d\""));
        assert_eq!(split_qualified("pours"), ("", "pours"));
    }
}
