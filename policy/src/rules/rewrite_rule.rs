//! `rewrite-rule`: CREATE RULE, ALTER TABLE ... ENABLE/DISABLE RULE and
//! DROP RULE on a table that existed before the revision. A rule rewrites
//! the writes clients send (`DO INSTEAD NOTHING` silently discards them:
//! the client sees success and nothing is stored), so adding, switching or
//! removing one changes what every client's statements do; each also locks
//! the table against reads and writes (ACCESS EXCLUSIVE).

use super::{Hit, Rule, RuleInfo};
use crate::analysis::{
    AlterTableType, Kind, Name, Revision, cmd_is, dotted, qualified, string_value,
};
use crate::{Category, Severity};
use pg_query::NodeEnum;
use pg_query::protobuf::{CmdType, ObjectType};

pub struct RewriteRule;

pub static INFO: RuleInfo = RuleInfo {
    id: "rewrite-rule",
    severity: Severity::Error,
    category: Category::Destructive,
    message: "a rewrite rule changes what clients' statements on the table do (DO INSTEAD NOTHING silently discards them), and creating, switching or dropping one locks the table against reads and writes",
    help: "use a trigger, a view or a change in the application instead of a rule; to retire a \
           rule, first release clients that no longer depend on its rewriting, then drop it in a \
           revision of its own with an exemption, after `SET lock_timeout`",
};

fn event(e: i32) -> &'static str {
    match CmdType::try_from(e) {
        Ok(CmdType::CmdSelect) => "SELECT",
        Ok(CmdType::CmdInsert) => "INSERT",
        Ok(CmdType::CmdUpdate) => "UPDATE",
        Ok(CmdType::CmdDelete) => "DELETE",
        _ => "statement",
    }
}

impl Rule for RewriteRule {
    fn info(&self) -> &'static RuleInfo {
        &INFO
    }

    fn check(&self, rev: &Revision<'_>, out: &mut Vec<Hit>) {
        for (s, node) in rev.nodes() {
            let message = match node {
                NodeEnum::RuleStmt(r) if rev.is_existing(r.relation.as_ref(), s.index) => {
                    let table = r.relation.as_ref().map(qualified).unwrap_or_default();
                    let on = event(r.event);
                    let which = if r.where_clause.is_some() {
                        format!("every {on} on `{table}` that matches its WHERE")
                    } else {
                        format!("every {on} on `{table}`")
                    };
                    let does = if r.instead && r.actions.is_empty() {
                        format!(
                            "silently discards {which} (DO INSTEAD NOTHING: clients see success and nothing is stored)"
                        )
                    } else if r.instead {
                        format!("replaces {which} by its actions (DO INSTEAD)")
                    } else {
                        format!("adds its actions to {which} (DO ALSO)")
                    };
                    let verb = if r.replace {
                        "CREATE OR REPLACE"
                    } else {
                        "CREATE"
                    };
                    format!(
                        "{verb} RULE {} {does}, and locks `{table}` against reads and writes (ACCESS EXCLUSIVE)",
                        r.rulename
                    )
                }
                NodeEnum::DropStmt(d) if d.remove_type == ObjectType::ObjectRule as i32 => {
                    let old: Vec<String> = d
                        .objects
                        .iter()
                        .filter_map(|o| match o.node.as_ref() {
                            Some(NodeEnum::List(l)) => l.items.split_last(),
                            _ => None,
                        })
                        .filter(|(_, table)| {
                            !table.is_empty()
                                && !rev.is_new(Kind::Relation, &Name::of_list(table), s.index)
                        })
                        .map(|(rule, table)| {
                            format!("{} ON {}", string_value(rule).unwrap_or("?"), dotted(table))
                        })
                        .collect();
                    if old.is_empty() {
                        continue;
                    }
                    format!(
                        "DROP RULE {}: the statements the rule rewrote (or discarded) reach the table as written again, and the table is locked against reads and writes (ACCESS EXCLUSIVE)",
                        old.join(", ")
                    )
                }
                _ => continue,
            };
            out.push(Hit::new(s.index, message));
        }
        for (s, table, cmds) in rev.alters_of_existing_tables() {
            let table = qualified(table);
            for cmd in cmds {
                let message = if cmd_is(&cmd, AlterTableType::AtDisableRule) {
                    format!(
                        "DISABLE RULE {} on `{table}`: the statements it rewrote (or discarded) reach `{table}` as written, and the table is locked against reads and writes (ACCESS EXCLUSIVE)",
                        cmd.name
                    )
                } else if cmd_is(&cmd, AlterTableType::AtEnableRule)
                    || cmd_is(&cmd, AlterTableType::AtEnableAlwaysRule)
                    || cmd_is(&cmd, AlterTableType::AtEnableReplicaRule)
                {
                    format!(
                        "ENABLE RULE {} on `{table}`: the rule rewrites (or discards) clients' statements on `{table}` again, and the table is locked against reads and writes (ACCESS EXCLUSIVE)",
                        cmd.name
                    )
                } else {
                    continue;
                };
                out.push(Hit::new(s.index, message).at(cmd.at));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::hits;

    const ID: &str = "rewrite-rule";

    #[test]
    fn flags_rules_on_existing_tables() {
        for (sql, part) in [
            (
                "CREATE RULE no_writes AS ON INSERT TO orders DO INSTEAD NOTHING;",
                "CREATE RULE no_writes silently discards every INSERT on `orders`",
            ),
            (
                "CREATE OR REPLACE RULE audit AS ON UPDATE TO orders DO ALSO INSERT INTO audit VALUES (1);",
                "CREATE OR REPLACE RULE audit adds its actions to every UPDATE on `orders`",
            ),
            (
                "CREATE RULE redirect AS ON DELETE TO orders WHERE old.archived DO INSTEAD UPDATE orders SET hidden = true WHERE id = old.id;",
                "replaces every DELETE on `orders` that matches its WHERE",
            ),
            (
                "ALTER TABLE orders DISABLE RULE no_writes;",
                "DISABLE RULE no_writes on `orders`",
            ),
            (
                "ALTER TABLE orders ENABLE ALWAYS RULE no_writes;",
                "ENABLE RULE no_writes on `orders`",
            ),
            (
                "DROP RULE no_writes ON orders;",
                "DROP RULE no_writes ON orders",
            ),
        ] {
            let h = hits(sql, ID);
            assert_eq!(h.len(), 1, "{sql}");
            assert!(h[0].message.contains(part), "{sql}: {}", h[0].message);
            assert!(h[0].message.contains("ACCESS EXCLUSIVE"), "{sql}");
        }
    }

    #[test]
    fn ignores_rules_of_new_tables() {
        for sql in [
            "CREATE TABLE t (id int); CREATE RULE r AS ON INSERT TO t DO INSTEAD NOTHING; ALTER TABLE t DISABLE RULE r; DROP RULE r ON t;",
            "CREATE VIEW v AS SELECT 1 AS one;",
            "ALTER TABLE orders DISABLE TRIGGER orders_touch;",
        ] {
            assert!(hits(sql, ID).is_empty(), "{sql}");
        }
    }
}
