//! Where pg_query's parse trees are built, walked and dropped: a thread of
//! its own, with a stack sized for the deepest tree pg_query returns.
//!
//! PostgreSQL runs expressions nested hundreds of levels deep (`a || b || …`
//! nests one level per term, two protobuf messages). pg_query's C parser
//! refuses deeper SQL on its own stack limit ("stack depth limit exceeded":
//! about 750 terms of a sum, 250 nested subqueries), as the server's does.
//! Up to there, decoding, walking, printing and dropping the tree all
//! recurse once per level, which a runtime worker's 2 MiB stack does not
//! hold; prost's default decode limit of 100 messages, which used to guard
//! this, refused a 48-term sum as unparsable. So the limit is lifted (the
//! policy crate enables prost's `no-recursion-limit` for pg_query's prost)
//! and every use of a tree runs here instead. The thread's stack is reserved
//! address space: only the pages a deep tree touches are ever committed.

/// The parser thread's stack. At the deepest trees pg_query returns, the
/// Rust side used about 8 MiB in a release build and 24 MiB in a debug one
/// (libpg_query itself stops at 2 MiB plus its 512 KiB slop); this leaves a
/// margin of ten.
pub const PARSER_STACK_BYTES: usize = 256 * 1024 * 1024;

/// Why work given to a parser thread returned nothing.
#[derive(Debug)]
pub enum ParserFailure {
    /// It panicked (pg_query's summary pass does on tree shapes it does not
    /// expect); the process's panic hook reported it, as any other.
    Panicked,
    /// No thread could be started: the process is out of memory or threads.
    NoThread(std::io::Error),
}

impl std::fmt::Display for ParserFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ParserFailure::Panicked => f.write_str("internal error in the SQL parser"),
            ParserFailure::NoThread(err) => {
                write!(f, "no thread could be started to parse the SQL: {err}")
            }
        }
    }
}

/// Runs `work` on a parser thread and returns what it returns.
pub fn on_parser_stack<R: Send>(work: impl FnOnce() -> R + Send) -> Result<R, ParserFailure> {
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("sql-parser".to_string())
            .stack_size(PARSER_STACK_BYTES)
            .spawn_scoped(scope, work)
            .map_err(ParserFailure::NoThread)?
            .join()
            .map_err(|_| ParserFailure::Panicked)
    })
}

/// Parses `sql` on a parser thread and hands its statements to `inspect`;
/// `None` when the SQL does not parse or the parser panicked.
pub fn with_statements<R: Send>(
    sql: &str,
    inspect: impl FnOnce(&[pg_query::protobuf::RawStmt]) -> R + Send,
) -> Option<R> {
    on_parser_stack(|| {
        let parsed = pg_query::parse(sql, 0).ok()?;
        Some(inspect(&parsed.protobuf.stmts))
    })
    .ok()
    .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_on_the_parser_thread_is_a_failure() {
        let failure = on_parser_stack(|| -> u8 { panic!("tree shape") }).unwrap_err();
        assert!(matches!(failure, ParserFailure::Panicked));
        assert_eq!(failure.to_string(), "internal error in the SQL parser");
        assert_eq!(on_parser_stack(|| 7).ok(), Some(7));
    }

    #[test]
    fn statements_of_sql_that_does_not_parse_are_none() {
        assert_eq!(with_statements("SELEC 1", <[_]>::len), None);
        assert_eq!(with_statements("SELECT 1; SELECT 2", <[_]>::len), Some(2));
    }

    /// For each shape, the deepest tree pg_query returns (it refuses deeper
    /// SQL itself, "stack depth limit exceeded") decodes, prints and drops on
    /// the parser thread, called from a thread with a small stack.
    #[test]
    fn the_deepest_trees_pg_query_returns_fit_the_parser_stack() {
        fn sql(shape: &str, depth: usize) -> String {
            let nest = |open: &str, inner: &str, close: &str| {
                format!(
                    "SELECT {}{inner}{};",
                    open.repeat(depth),
                    close.repeat(depth)
                )
            };
            match shape {
                "a sum" => format!("SELECT 1{};", "+1".repeat(depth)),
                "a concatenation" => format!("SELECT 'a'{};", " || 'b'".repeat(depth)),
                "function calls" => nest("f(", "1", ")"),
                "subqueries" => nest("(SELECT ", "1", ")"),
                "CASE" => nest("CASE WHEN true THEN ", "1", " END"),
                _ => format!("SELECT {}true;", "NOT ".repeat(depth)),
            }
        }
        let small = std::thread::Builder::new().stack_size(256 * 1024);
        small
            .spawn(|| {
                for shape in [
                    "a sum",
                    "a concatenation",
                    "function calls",
                    "subqueries",
                    "CASE",
                    "NOT",
                ] {
                    let mut depth = 50;
                    while with_statements(&sql(shape, depth), |stmts| format!("{stmts:?}").len())
                        .is_some()
                    {
                        depth += 25;
                        assert!(depth < 20_000, "{shape}: pg_query parses any depth");
                    }
                    assert!(depth > 200, "{shape}: refused at depth {depth}");
                }
            })
            .expect("a thread")
            .join()
            .expect("no overflow, no panic");
    }
}
