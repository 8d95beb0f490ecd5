//! `drop-schema`: DROP SCHEMA.

use super::{Hit, Rule, RuleInfo};
use crate::analysis::{Revision, drop_names, drop_type};
use crate::{Category, Severity};
use pg_query::NodeEnum;
use pg_query::protobuf::ObjectType;

pub struct DropSchema;

pub static INFO: RuleInfo = RuleInfo {
    id: "drop-schema",
    severity: Severity::Error,
    category: Category::Destructive,
    message: "dropping a schema deletes everything in it (with CASCADE) or fails (without)",
    help: "drop the objects in it one by one in earlier revisions, then drop the empty schema \
           with an exemption",
};

impl Rule for DropSchema {
    fn info(&self) -> &'static RuleInfo {
        &INFO
    }

    fn check(&self, rev: &Revision<'_>, out: &mut Vec<Hit>) {
        for (s, node) in rev.nodes() {
            if let NodeEnum::DropStmt(d) = node
                && drop_type(d) == ObjectType::ObjectSchema
            {
                out.push(Hit::new(
                    s.index,
                    format!(
                        "DROP SCHEMA {} deletes every object in it",
                        drop_names(d).join(", ")
                    ),
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::hits;

    #[test]
    fn flags_drop_schema() {
        assert_eq!(hits("DROP SCHEMA billing CASCADE;", "drop-schema").len(), 1);
        assert!(hits("DROP TABLE billing;", "drop-schema").is_empty());
        assert!(hits("CREATE SCHEMA billing;", "drop-schema").is_empty());
    }
}
