//! `restrict-access`: changes of who may see or do what, which take access
//! away from running clients (or hand rows to roles that should not see
//! them): row level security switched on, forced, off or un-forced on a
//! table, policies created, altered or dropped, REVOKE of privileges or of
//! a role's membership, ALTER DEFAULT PRIVILEGES ... REVOKE, a change of an
//! object's owner (the old owner loses the owner's privileges), and ALTER
//! ROLE. GRANT is additive and not flagged, and nor is any of these on a
//! table, schema, routine, type or role created earlier in the revision.

use super::{Hit, Rule, RuleInfo};
use crate::analysis::{
    AlterTableType, Kind, Name, Revision, cmd_is, dotted_name, qualified, role_name, role_spec_name,
};
use crate::{Category, Severity};
use pg_query::NodeEnum;
use pg_query::protobuf::{self, GrantTargetType, ObjectType, RoleSpecType};

pub struct RestrictAccess;

pub static INFO: RuleInfo = RuleInfo {
    id: "restrict-access",
    severity: Severity::Error,
    category: Category::Destructive,
    message: "the statement changes who may see or change data, which takes access away from running clients (or gives rows to roles that must not see them)",
    help: "add access before taking any away: GRANT to the role that will need it (and CREATE \
           POLICY for every role that reads the table before ENABLE ROW LEVEL SECURITY), release \
           the clients that use the new role or policy, then REVOKE, change the owner or tighten \
           the policy in a later revision with an exemption naming the clients checked; never \
           DISABLE ROW LEVEL SECURITY on a table holding rows some roles must not see",
};

/// `TABLE`, `SEQUENCE`, `SCHEMA`, ... as a GRANT or ALTER ... OWNER names
/// the kind of object.
fn kind_name(t: ObjectType) -> &'static str {
    match t {
        ObjectType::ObjectTable => "TABLE",
        ObjectType::ObjectSequence => "SEQUENCE",
        ObjectType::ObjectView => "VIEW",
        ObjectType::ObjectMatview => "MATERIALIZED VIEW",
        ObjectType::ObjectForeignTable => "FOREIGN TABLE",
        ObjectType::ObjectSchema => "SCHEMA",
        ObjectType::ObjectFunction => "FUNCTION",
        ObjectType::ObjectProcedure => "PROCEDURE",
        ObjectType::ObjectRoutine => "ROUTINE",
        ObjectType::ObjectAggregate => "AGGREGATE",
        ObjectType::ObjectType => "TYPE",
        ObjectType::ObjectDomain => "DOMAIN",
        ObjectType::ObjectDatabase => "DATABASE",
        ObjectType::ObjectLanguage => "LANGUAGE",
        ObjectType::ObjectLargeobject => "LARGE OBJECT",
        ObjectType::ObjectForeignServer => "SERVER",
        ObjectType::ObjectFdw => "FOREIGN DATA WRAPPER",
        ObjectType::ObjectTablespace => "TABLESPACE",
        ObjectType::ObjectParameterAcl => "PARAMETER",
        ObjectType::ObjectPublication => "PUBLICATION",
        ObjectType::ObjectSubscription => "SUBSCRIPTION",
        ObjectType::ObjectCollation => "COLLATION",
        ObjectType::ObjectConversion => "CONVERSION",
        ObjectType::ObjectOperator => "OPERATOR",
        ObjectType::ObjectOpclass => "OPERATOR CLASS",
        ObjectType::ObjectOpfamily => "OPERATOR FAMILY",
        ObjectType::ObjectStatisticExt => "STATISTICS",
        ObjectType::ObjectTsconfiguration => "TEXT SEARCH CONFIGURATION",
        ObjectType::ObjectTsdictionary => "TEXT SEARCH DICTIONARY",
        ObjectType::ObjectEventTrigger => "EVENT TRIGGER",
        _ => "OBJECT",
    }
}

fn object_type(t: i32) -> ObjectType {
    ObjectType::try_from(t).unwrap_or(ObjectType::Undefined)
}

/// Whether an object a GRANT/REVOKE or ALTER ... OWNER names was created
/// earlier in the revision: nobody uses it yet.
fn is_new_object(rev: &Revision<'_>, t: ObjectType, o: &protobuf::Node, idx: usize) -> bool {
    if let Some(NodeEnum::RangeVar(rv)) = o.node.as_ref() {
        return rev.is_new(Kind::Relation, &Name::of_rel(rv), idx);
    }
    let kind = match t {
        ObjectType::ObjectTable
        | ObjectType::ObjectSequence
        | ObjectType::ObjectView
        | ObjectType::ObjectMatview => Kind::Relation,
        ObjectType::ObjectType | ObjectType::ObjectDomain => Kind::Type,
        other => match Kind::of(other) {
            Some(kind) => kind,
            None => return false,
        },
    };
    Name::of_object(o).is_some_and(|name| rev.is_new(kind, &name, idx))
}

fn object_name(o: &protobuf::Node) -> String {
    match o.node.as_ref() {
        Some(NodeEnum::RangeVar(rv)) => qualified(rv),
        Some(NodeEnum::Integer(i)) => i.ival.to_string(),
        _ => dotted_name(o),
    }
}

/// Whether every role named is one created earlier in the revision (PUBLIC
/// and CURRENT_USER never are).
fn all_new_roles(rev: &Revision<'_>, roles: &[protobuf::Node], idx: usize) -> bool {
    !roles.is_empty()
        && roles.iter().all(|r| match r.node.as_ref() {
            Some(NodeEnum::RoleSpec(spec)) => {
                spec.roletype == RoleSpecType::RolespecCstring as i32
                    && rev.is_new_role(&spec.rolename, idx)
            }
            _ => false,
        })
}

fn roles(list: &[protobuf::Node]) -> String {
    list.iter().map(role_name).collect::<Vec<_>>().join(", ")
}

/// A REVOKE, or ALTER DEFAULT PRIVILEGES ... REVOKE when `defaults`.
fn revoke_message(rev: &Revision<'_>, g: &protobuf::GrantStmt, idx: usize) -> Option<String> {
    if g.is_grant || all_new_roles(rev, &g.grantees, idx) {
        return None;
    }
    let t = object_type(g.objtype);
    let what = if g.privileges.is_empty() {
        "ALL".to_string()
    } else {
        g.privileges
            .iter()
            .filter_map(|p| match p.node.as_ref() {
                Some(NodeEnum::AccessPriv(p)) => Some(p.priv_name.to_uppercase()),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let grant_option = if g.grant_option {
        "GRANT OPTION FOR "
    } else {
        ""
    };
    let from = roles(&g.grantees);
    let target = GrantTargetType::try_from(g.targtype).unwrap_or(GrantTargetType::Undefined);
    Some(match target {
        GrantTargetType::AclTargetDefaults => format!(
            "ALTER DEFAULT PRIVILEGES ... REVOKE {grant_option}{what} ON {}S FROM {from}: objects created from now on no longer give {from} that access, so clients break on the next new {}",
            kind_name(t),
            kind_name(t).to_lowercase()
        ),
        // Every table of a schema the revision created is new too.
        GrantTargetType::AclTargetAllInSchema
            if g.objects
                .iter()
                .all(|o| Name::of_object(o).is_some_and(|n| rev.is_new(Kind::Schema, &n, idx))) =>
        {
            return None;
        }
        GrantTargetType::AclTargetAllInSchema => format!(
            "REVOKE {grant_option}{what} ON ALL {}S IN SCHEMA {} FROM {from} takes that access away from running clients at once",
            kind_name(t),
            g.objects
                .iter()
                .map(object_name)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        _ => {
            let old: Vec<String> = g
                .objects
                .iter()
                .filter(|o| !is_new_object(rev, t, o, idx))
                .map(object_name)
                .collect();
            if old.is_empty() {
                return None;
            }
            format!(
                "REVOKE {grant_option}{what} ON {} {} FROM {from} takes that access away from running clients at once",
                kind_name(t),
                old.join(", ")
            )
        }
    })
}

impl Rule for RestrictAccess {
    fn info(&self) -> &'static RuleInfo {
        &INFO
    }

    fn check(&self, rev: &Revision<'_>, out: &mut Vec<Hit>) {
        // ALTER TABLE ... ROW LEVEL SECURITY / OWNER TO.
        for (s, alter, cmds) in rev.alters() {
            if !rev.is_existing(alter.relation.as_ref(), s.index) {
                continue;
            }
            let table = alter.relation.as_ref().map(qualified).unwrap_or_default();
            for cmd in cmds {
                let message = if cmd_is(&cmd, AlterTableType::AtEnableRowSecurity) {
                    format!(
                        "ENABLE ROW LEVEL SECURITY on `{table}`: every role but the owner (and superusers and BYPASSRLS roles) sees and changes only the rows a policy allows, none while it has no policy; the statement also locks `{table}` against reads and writes (ACCESS EXCLUSIVE)"
                    )
                } else if cmd_is(&cmd, AlterTableType::AtForceRowSecurity) {
                    format!(
                        "FORCE ROW LEVEL SECURITY on `{table}`: its owner too sees and changes only the rows a policy allows (none while it has no policy, once row level security is enabled); the statement also locks `{table}` against reads and writes (ACCESS EXCLUSIVE)"
                    )
                } else if cmd_is(&cmd, AlterTableType::AtDisableRowSecurity) {
                    format!(
                        "DISABLE ROW LEVEL SECURITY on `{table}`: its policies stop applying, so every role with privileges on it sees and changes every row"
                    )
                } else if cmd_is(&cmd, AlterTableType::AtNoForceRowSecurity) {
                    format!(
                        "NO FORCE ROW LEVEL SECURITY on `{table}`: its owner is no longer held to its policies and sees and changes every row"
                    )
                } else if cmd_is(&cmd, AlterTableType::AtChangeOwner) {
                    let owner = cmd
                        .newowner
                        .as_ref()
                        .map(role_spec_name)
                        .unwrap_or_default();
                    format!(
                        "changing the owner of `{table}` to {owner}: the old owner loses every privilege it held as owner, and clients running as it fail"
                    )
                } else {
                    continue;
                };
                out.push(Hit::new(s.index, message).at(cmd.at));
            }
        }
        for (s, node) in rev.nodes() {
            let idx = s.index;
            let message = match node {
                NodeEnum::CreatePolicyStmt(p) if rev.is_existing(p.table.as_ref(), idx) => {
                    let table = p.table.as_ref().map(qualified).unwrap_or_default();
                    format!(
                        "CREATE POLICY {} ON {table} changes which rows roles see and change where row level security is enabled (a permissive policy adds rows, a restrictive one takes them away), and locks `{table}` against reads and writes (ACCESS EXCLUSIVE)",
                        p.policy_name
                    )
                }
                NodeEnum::AlterPolicyStmt(p) if rev.is_existing(p.table.as_ref(), idx) => {
                    let table = p.table.as_ref().map(qualified).unwrap_or_default();
                    format!(
                        "ALTER POLICY {} ON {table} changes which rows roles see and change, and locks `{table}` against reads and writes (ACCESS EXCLUSIVE)",
                        p.policy_name
                    )
                }
                NodeEnum::DropStmt(d) if d.remove_type == ObjectType::ObjectPolicy as i32 => {
                    let old: Vec<String> = d
                        .objects
                        .iter()
                        .filter_map(|o| match o.node.as_ref() {
                            Some(NodeEnum::List(l)) if !l.items.is_empty() => Some(l),
                            _ => None,
                        })
                        .filter(|l| {
                            let table = &l.items[..l.items.len() - 1];
                            !rev.is_new(Kind::Relation, &Name::of_list(table), idx)
                        })
                        .map(|l| {
                            let (policy, table) = l.items.split_last().expect("not empty");
                            format!(
                                "{} ON {}",
                                crate::analysis::string_value(policy).unwrap_or("?"),
                                crate::analysis::dotted(table)
                            )
                        })
                        .collect();
                    if old.is_empty() {
                        continue;
                    }
                    format!(
                        "DROP POLICY {}: roles that relied on the policy lose those rows (a restrictive policy dropped exposes rows instead), and the table is locked against reads and writes (ACCESS EXCLUSIVE)",
                        old.join(", ")
                    )
                }
                NodeEnum::GrantStmt(g) => match revoke_message(rev, g, idx) {
                    Some(m) => m,
                    None => continue,
                },
                NodeEnum::AlterDefaultPrivilegesStmt(a) => {
                    match a.action.as_ref().and_then(|g| revoke_message(rev, g, idx)) {
                        Some(m) => m,
                        None => continue,
                    }
                }
                NodeEnum::GrantRoleStmt(g)
                    if !g.is_grant && !all_new_roles(rev, &g.grantee_roles, idx) =>
                {
                    format!(
                        "REVOKE {} FROM {}: clients running as {} lose every privilege they had through the role",
                        roles(&g.granted_roles),
                        roles(&g.grantee_roles),
                        roles(&g.grantee_roles)
                    )
                }
                NodeEnum::AlterOwnerStmt(a) => {
                    let t = object_type(a.object_type);
                    let new = match (&a.relation, a.object.as_deref()) {
                        (Some(rv), _) => rev.is_new(Kind::Relation, &Name::of_rel(rv), idx),
                        (None, Some(o)) => is_new_object(rev, t, o, idx),
                        _ => false,
                    };
                    if new {
                        continue;
                    }
                    let name = match (&a.relation, a.object.as_deref()) {
                        (Some(rv), _) => qualified(rv),
                        (None, Some(o)) => object_name(o),
                        _ => String::new(),
                    };
                    format!(
                        "changing the owner of {} {name} to {}: the old owner loses every privilege it held as owner, and clients running as it fail",
                        kind_name(t),
                        a.newowner.as_ref().map(role_spec_name).unwrap_or_default()
                    )
                }
                NodeEnum::ReassignOwnedStmt(r) => format!(
                    "REASSIGN OWNED BY {} TO {}: {} loses every privilege it held as owner of those objects, and clients running as it fail",
                    roles(&r.roles),
                    r.newrole.as_ref().map(role_spec_name).unwrap_or_default(),
                    roles(&r.roles)
                ),
                NodeEnum::AlterRoleStmt(a) => {
                    let role = a.role.as_ref().map(role_spec_name).unwrap_or_default();
                    if a.role
                        .as_ref()
                        .is_some_and(|r| rev.is_new_role(&r.rolename, idx))
                    {
                        continue;
                    }
                    format!(
                        "ALTER ROLE {role} changes how clients running as {role} log in or what they may do (LOGIN, PASSWORD, VALID UNTIL, CONNECTION LIMIT, membership)"
                    )
                }
                NodeEnum::AlterRoleSetStmt(a) => {
                    let role = a
                        .role
                        .as_ref()
                        .map(role_spec_name)
                        .unwrap_or_else(|| "ALL".to_string());
                    if a.role
                        .as_ref()
                        .is_some_and(|r| rev.is_new_role(&r.rolename, idx))
                    {
                        continue;
                    }
                    format!(
                        "ALTER ROLE {role} SET/RESET changes the settings of every new session of {role}"
                    )
                }
                NodeEnum::RenameStmt(r)
                    if r.rename_type == ObjectType::ObjectRole as i32
                        && !rev.is_new_role(&r.subname, idx) =>
                {
                    format!(
                        "renaming role {} to {} breaks every client that logs in as, or sets, the old name (and clears an MD5 password)",
                        r.subname, r.newname
                    )
                }
                _ => continue,
            };
            out.push(Hit::new(idx, message));
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::hits;

    const ID: &str = "restrict-access";

    #[test]
    fn flags_row_level_security_changes() {
        for (sql, start) in [
            (
                "ALTER TABLE orders ENABLE ROW LEVEL SECURITY;",
                "ENABLE ROW LEVEL SECURITY on `orders`",
            ),
            (
                "ALTER TABLE orders FORCE ROW LEVEL SECURITY;",
                "FORCE ROW LEVEL SECURITY on `orders`",
            ),
            (
                "ALTER TABLE orders DISABLE ROW LEVEL SECURITY;",
                "DISABLE ROW LEVEL SECURITY on `orders`",
            ),
            (
                "ALTER TABLE orders NO FORCE ROW LEVEL SECURITY;",
                "NO FORCE ROW LEVEL SECURITY",
            ),
            (
                "CREATE POLICY own ON orders USING (venue = current_setting('app.venue'));",
                "CREATE POLICY own ON orders",
            ),
            (
                "ALTER POLICY own ON orders USING (false);",
                "ALTER POLICY own ON orders",
            ),
            (
                "DROP POLICY own ON public.orders;",
                "DROP POLICY own ON public.orders",
            ),
        ] {
            let h = hits(sql, ID);
            assert_eq!(h.len(), 1, "{sql}");
            assert!(h[0].message.starts_with(start), "{sql}: {}", h[0].message);
        }
        let h = hits("ALTER TABLE orders ENABLE ROW LEVEL SECURITY;", ID);
        assert!(
            h[0].message.contains("none while it has no policy"),
            "{}",
            h[0].message
        );
        assert!(
            h[0].message.contains("ACCESS EXCLUSIVE"),
            "{}",
            h[0].message
        );
    }

    #[test]
    fn flags_revokes_owner_changes_and_role_changes() {
        for (sql, start) in [
            (
                "REVOKE SELECT ON orders FROM reporting;",
                "REVOKE SELECT ON TABLE orders FROM reporting",
            ),
            (
                "REVOKE ALL ON SEQUENCE order_number FROM app;",
                "REVOKE ALL ON SEQUENCE order_number FROM app",
            ),
            (
                "REVOKE USAGE ON SCHEMA billing FROM PUBLIC;",
                "REVOKE USAGE ON SCHEMA billing FROM PUBLIC",
            ),
            (
                "REVOKE EXECUTE ON FUNCTION touch() FROM app;",
                "REVOKE EXECUTE ON FUNCTION touch FROM app",
            ),
            (
                "REVOKE GRANT OPTION FOR SELECT ON orders FROM app;",
                "REVOKE GRANT OPTION FOR SELECT",
            ),
            (
                "REVOKE SELECT ON ALL TABLES IN SCHEMA public FROM reporting;",
                "REVOKE SELECT ON ALL TABLES IN SCHEMA public",
            ),
            (
                "ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE SELECT ON TABLES FROM reporting;",
                "ALTER DEFAULT PRIVILEGES ... REVOKE SELECT ON TABLES FROM reporting",
            ),
            (
                "REVOKE app_writer FROM backend;",
                "REVOKE app_writer FROM backend",
            ),
            (
                "ALTER TABLE orders OWNER TO billing_owner;",
                "changing the owner of `orders` to billing_owner",
            ),
            (
                "ALTER FUNCTION touch() OWNER TO billing_owner;",
                "changing the owner of FUNCTION touch to billing_owner",
            ),
            (
                "ALTER SCHEMA billing OWNER TO billing_owner;",
                "changing the owner of SCHEMA billing",
            ),
            (
                "REASSIGN OWNED BY legacy TO billing_owner;",
                "REASSIGN OWNED BY legacy TO billing_owner",
            ),
            ("ALTER ROLE backend NOLOGIN;", "ALTER ROLE backend changes"),
            (
                "ALTER ROLE backend SET statement_timeout = '1s';",
                "ALTER ROLE backend SET/RESET",
            ),
            (
                "ALTER ROLE backend RENAME TO backend_v2;",
                "renaming role backend to backend_v2",
            ),
        ] {
            let h = hits(sql, ID);
            assert_eq!(h.len(), 1, "{sql}");
            assert!(h[0].message.starts_with(start), "{sql}: {}", h[0].message);
        }
    }

    #[test]
    fn ignores_grants_and_what_the_revision_created() {
        for sql in [
            "GRANT SELECT ON orders TO reporting;",
            "GRANT reporting TO backend;",
            "ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO reporting;",
            "CREATE TABLE t (id int); ALTER TABLE t ENABLE ROW LEVEL SECURITY; CREATE POLICY p ON t USING (true); ALTER TABLE t OWNER TO app; REVOKE ALL ON t FROM PUBLIC; DROP POLICY p ON t;",
            "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1'; REVOKE EXECUTE ON FUNCTION f() FROM PUBLIC; ALTER FUNCTION f() OWNER TO app;",
            "CREATE SCHEMA s; REVOKE ALL ON SCHEMA s FROM PUBLIC;",
            "CREATE SCHEMA s; CREATE TABLE s.t (id int); REVOKE ALL ON ALL TABLES IN SCHEMA s FROM PUBLIC;",
            "CREATE ROLE reporting NOLOGIN; ALTER ROLE reporting SET search_path = public; REVOKE SELECT ON orders FROM reporting; ALTER ROLE reporting LOGIN;",
            "ALTER TABLE orders ADD COLUMN note text;",
        ] {
            assert!(hits(sql, ID).is_empty(), "{sql}");
        }
    }

    #[test]
    fn a_revoke_makes_the_revision_destructive() {
        let report = crate::lint(
            "REVOKE SELECT ON orders FROM reporting;",
            Some("GRANT SELECT ON orders TO reporting;"),
            &crate::LintConfig::default(),
        );
        assert_eq!(report.risk, crate::RiskClass::Destructive);
    }
}
