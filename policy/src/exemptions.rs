//! `-- schemagate:allow <rule-id> reason="..."` comments.
//!
//! Comments are found with PostgreSQL's own scanner, so text inside string
//! literals or dollar-quoted function bodies never counts as a comment. An
//! allow comment applies to the statement it sits in, else to the statement
//! on the same line before it, else to the next statement.

use crate::analysis::Stmt;
use crate::rules::{Hit, position, rule_by_id};
use crate::source::LineIndex;
use pg_query::protobuf::Token;

const MARKER: &str = "schemagate:allow";

/// A well-formed allow comment and the statement it applies to.
#[derive(Clone, Debug)]
pub struct Allow {
    pub rule: String,
    pub reason: String,
    pub statement_index: usize,
    pub line: u32,
    /// Byte offset of the comment.
    pub offset: usize,
}

/// Finds allow comments. Malformed ones come back as `invalid-exemption`
/// hits (paired with that rule's position in `RULES`).
pub fn collect(source: &str, stmts: &[Stmt<'_>]) -> (Vec<Allow>, Vec<(usize, Hit)>) {
    let mut allows = Vec::new();
    let mut invalid = Vec::new();
    // Cheap gate: scanning again is only worth it when the marker occurs.
    if !source.contains(MARKER) {
        return (allows, invalid);
    }
    let Ok(scan) = pg_query::scan(source) else {
        return (allows, invalid);
    };
    let index = LineIndex::new(source);
    let invalid_pos = position(crate::rules::invalid_exemption::INFO.id);
    for tok in &scan.tokens {
        if tok.token != Token::SqlComment as i32 && tok.token != Token::CComment as i32 {
            continue;
        }
        let (Ok(start), Ok(end)) = (usize::try_from(tok.start), usize::try_from(tok.end)) else {
            continue;
        };
        let Some(text) = source.get(start..end) else {
            continue;
        };
        let Some(body) = comment_body(text) else {
            continue;
        };
        let Some(rest) = body.strip_prefix(MARKER) else {
            continue;
        };
        let (line, _) = index.line_col(start);
        let target = target_statement(source, stmts, start);
        let statement = target.unwrap_or(stmts.len().saturating_sub(1));
        let mut bad = |message: String| {
            invalid.push((invalid_pos, Hit::new(statement, message).at(Some(start))));
        };
        let parsed = parse_allow(rest);
        let (ids, reason) = match parsed {
            Ok(v) => v,
            Err(why) => {
                bad(why);
                continue;
            }
        };
        if target.is_none() {
            bad("`schemagate:allow` is not followed by any statement".to_string());
            continue;
        }
        for id in ids {
            match rule_by_id(&id) {
                None => bad(format!("`schemagate:allow` names unknown rule `{id}`")),
                Some(r) if !r.exemptible() => {
                    bad(format!("rule `{id}` cannot be exempted"));
                }
                Some(_) => allows.push(Allow {
                    rule: id,
                    reason: reason.clone(),
                    statement_index: statement,
                    line,
                    offset: start,
                }),
            }
        }
    }
    (allows, invalid)
}

/// Comment text without its delimiters, trimmed.
fn comment_body(text: &str) -> Option<&str> {
    let body = if let Some(rest) = text.strip_prefix("--") {
        rest
    } else {
        let inner = text.strip_prefix("/*")?;
        inner.strip_suffix("*/").unwrap_or(inner)
    };
    Some(body.trim())
}

/// Parses `<id>[, <id>...] reason="..."` (the part after the marker).
fn parse_allow(rest: &str) -> Result<(Vec<String>, String), String> {
    if !rest.is_empty() && !rest.starts_with(char::is_whitespace) {
        return Err(format!("malformed `{MARKER}` comment"));
    }
    let (ids_part, reason_part) = match rest.find("reason=") {
        Some(i) => (&rest[..i], Some(&rest[i + "reason=".len()..])),
        None => (rest, None),
    };
    let ids: Vec<String> = ids_part
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    if ids.is_empty() {
        return Err(format!("`{MARKER}` names no rule id"));
    }
    let Some(reason_part) = reason_part else {
        return Err(format!(
            "`{MARKER} {}` has no reason=\"...\"",
            ids.join(",")
        ));
    };
    let reason_part = reason_part.trim_start();
    let reason = match reason_part.chars().next() {
        Some(q @ ('"' | '\'')) => {
            let inner = &reason_part[1..];
            match inner.find(q) {
                Some(end) => &inner[..end],
                None => return Err("unterminated reason=\"...\"".to_string()),
            }
        }
        _ => return Err("reason must be quoted: reason=\"...\"".to_string()),
    };
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(format!("`{MARKER} {}` has an empty reason", ids.join(",")));
    }
    Ok((ids, reason.to_string()))
}

fn target_statement(source: &str, stmts: &[Stmt<'_>], at: usize) -> Option<usize> {
    if let Some(s) = stmts.iter().find(|s| s.start < at && at < s.end) {
        return Some(s.index);
    }
    let line_start = source[..at].rfind('\n').map_or(0, |i| i + 1);
    let code_before = !source[line_start..at].trim().is_empty();
    if code_before && let Some(s) = stmts.iter().rev().find(|s| s.start < at) {
        return Some(s.index);
    }
    stmts.iter().find(|s| s.start > at).map(|s| s.index)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_allow_comment() {
        assert_eq!(
            parse_allow(" drop-table reason=\"gone since v2\""),
            Ok((vec!["drop-table".to_string()], "gone since v2".to_string()))
        );
        assert_eq!(
            parse_allow(" drop-table, drop-column reason='x'"),
            Ok((
                vec!["drop-table".to_string(), "drop-column".to_string()],
                "x".to_string()
            ))
        );
        assert!(parse_allow(" drop-table").is_err());
        assert!(parse_allow(" drop-table reason=\"  \"").is_err());
        assert!(parse_allow(" drop-table reason=unquoted").is_err());
        assert!(parse_allow("").is_err());
        assert!(parse_allow("x drop-table reason=\"y\"").is_err());
    }

    #[test]
    fn comment_bodies() {
        assert_eq!(comment_body("-- a "), Some("a"));
        assert_eq!(comment_body("/* b */"), Some("b"));
        assert_eq!(comment_body("x"), None);
    }
}
