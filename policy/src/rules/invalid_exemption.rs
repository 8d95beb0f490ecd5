//! `invalid-exemption`: a `schemagate:allow` comment without a quoted,
//! non-empty reason, naming an unknown rule, or followed by no statement.
//! Raised by the exemption parser (`crate::exemptions`), not by a tree walk;
//! it cannot itself be exempted.

use super::{Hit, Rule, RuleInfo};
use crate::analysis::Revision;
use crate::{Category, Severity};

pub struct InvalidExemption;

pub static INFO: RuleInfo = RuleInfo {
    id: "invalid-exemption",
    severity: Severity::Error,
    category: Category::Hygiene,
    message: "malformed `schemagate:allow` comment",
    help: "write `-- schemagate:allow <rule-id> reason=\"why this is safe\"` directly above the \
           statement, with a rule id from `sgctl lint --list-rules`",
};

impl Rule for InvalidExemption {
    fn info(&self) -> &'static RuleInfo {
        &INFO
    }

    fn check(&self, _rev: &Revision<'_>, _out: &mut Vec<Hit>) {}

    fn exemptible(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::hits;

    const ID: &str = "invalid-exemption";

    #[test]
    fn reports_bad_allow_comments() {
        assert_eq!(
            hits("-- schemagate:allow drop-table\nDROP TABLE kegs;", ID).len(),
            1
        );
        assert_eq!(
            hits(
                "-- schemagate:allow no-such-rule reason=\"x\"\nSELECT 1;",
                ID
            )
            .len(),
            1
        );
        assert_eq!(
            hits(
                "-- schemagate:allow invalid-exemption reason=\"x\"\nSELECT 1;",
                ID
            )
            .len(),
            1
        );
        assert_eq!(
            hits(
                "SELECT 1;\n-- schemagate:allow drop-table reason=\"x\"\n",
                ID
            )
            .len(),
            1
        );
    }

    #[test]
    fn valid_allow_is_not_reported() {
        assert!(
            hits(
                "-- schemagate:allow drop-table reason=\"retired in v3\"\nDROP TABLE kegs;",
                ID
            )
            .is_empty()
        );
    }
}
