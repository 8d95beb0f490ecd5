//! `unused-exemption`: a valid `schemagate:allow` comment that matches no
//! finding of its statement. Usually a typo'd statement position or a stale
//! comment; left silent it would quietly cover a later change. Raised by the
//! engine after exemptions are applied; cannot itself be exempted.

use super::{Hit, Rule, RuleInfo};
use crate::analysis::Revision;
use crate::{Category, Severity};

pub struct UnusedExemption;

pub static INFO: RuleInfo = RuleInfo {
    id: "unused-exemption",
    severity: Severity::Warning,
    category: Category::Hygiene,
    message: "`schemagate:allow` comment matches no finding",
    help: "remove the comment, or move it directly above the statement it is meant for",
};

impl Rule for UnusedExemption {
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

    #[test]
    fn reports_allow_without_matching_finding() {
        let h = hits(
            "-- schemagate:allow drop-table reason=\"x\"\nCREATE TABLE a (id int);",
            "unused-exemption",
        );
        assert_eq!(h.len(), 1);
        assert_eq!(h[0].line, 1);
    }
}
