//! Locating syntax errors.
//!
//! The `pg_query` crate keeps only the error message and drops libpg_query's
//! `cursorpos`, so on the (rare) error path we ask libpg_query directly for the
//! error once more, through the C API the crate already links. If that ever
//! yields nothing usable we fall back to finding the quoted token of the
//! message (`at or near "X"`) in the source.

use crate::ParseError;
use crate::source::{LineIndex, char_to_byte};
use std::ffi::{CStr, CString, c_char, c_int};

#[repr(C)]
struct PgQueryError {
    message: *mut c_char,
    funcname: *mut c_char,
    filename: *mut c_char,
    lineno: c_int,
    cursorpos: c_int,
    context: *mut c_char,
}

#[repr(C)]
struct PgQuerySplitStmt {
    stmt_location: c_int,
    stmt_len: c_int,
}

#[repr(C)]
struct PgQuerySplitResult {
    stmts: *mut *mut PgQuerySplitStmt,
    n_stmts: c_int,
    stderr_buffer: *mut c_char,
    error: *mut PgQueryError,
}

// SAFETY: these are the signatures of libpg_query's public header
// (pg_query.h) as vendored by pg_query 18.1; the static library is linked by
// the pg_query crate.
unsafe extern "C" {
    fn pg_query_split_with_parser(input: *const c_char) -> PgQuerySplitResult;
    fn pg_query_free_split_result(result: PgQuerySplitResult);
}

/// Runs libpg_query's parser and returns `(message, cursorpos)` of its
/// error, if any. `cursorpos` is 1-based in characters, 0 when unknown.
fn raw_error(sql: &CStr) -> Option<(String, usize)> {
    // SAFETY: `sql` is a valid NUL-terminated string for the duration of the
    // call; the result is only read while alive and freed exactly once.
    unsafe {
        let result = pg_query_split_with_parser(sql.as_ptr());
        let out = if result.error.is_null() {
            None
        } else {
            let err = &*result.error;
            let message = if err.message.is_null() {
                String::from("syntax error")
            } else {
                CStr::from_ptr(err.message).to_string_lossy().into_owned()
            };
            Some((message, usize::try_from(err.cursorpos).unwrap_or(0)))
        };
        pg_query_free_split_result(result);
        out
    }
}

/// Builds a located `ParseError` for `sql`, given the message `pg_query`
/// already reported (used if the C API disagrees or has no position).
pub fn locate(sql: &str, fallback_message: &str) -> ParseError {
    let index = LineIndex::new(sql);
    let Ok(c_sql) = CString::new(sql) else {
        // Interior NUL bytes: PostgreSQL would reject the text as well.
        let at = sql.find('\0').unwrap_or(0);
        let (line, column) = index.line_col(at);
        return ParseError {
            message: "SQL text contains a NUL byte".to_string(),
            line,
            column,
        };
    };
    let (message, byte) = match raw_error(&c_sql) {
        Some((message, cursor)) if cursor > 0 => {
            let mut byte = char_to_byte(sql, cursor - 1);
            if message.contains("at end of input") {
                // PostgreSQL points past trailing whitespace; the reader wants
                // the spot right after the last token.
                byte = byte.min(sql.trim_end().len());
            }
            (message, Some(byte))
        }
        Some((message, _)) => {
            let guess = guess_offset(sql, &message);
            (message, guess)
        }
        None => (
            fallback_message.to_string(),
            guess_offset(sql, fallback_message),
        ),
    };
    let (line, column) = index.line_col(byte.unwrap_or(0));
    ParseError {
        message,
        line,
        column,
    }
}

/// Best-effort position from the message alone.
fn guess_offset(sql: &str, message: &str) -> Option<usize> {
    if message.contains("at end of input") {
        return Some(sql.trim_end().len());
    }
    let near = message.split("at or near \"").nth(1)?;
    let token = near.strip_suffix('"').unwrap_or(near);
    if token.is_empty() {
        return None;
    }
    sql.find(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locates_syntax_error_token() {
        let sql = "CREATE TABLE a (id int);\n\nALTER TABLE a ADD COLUM x int;\n";
        let e = locate(sql, "unused");
        assert!(e.message.contains("syntax error"), "{}", e.message);
        assert_eq!((e.line, e.column), (3, 27)); // at "int": COLUM is taken as the column name
    }

    #[test]
    fn locates_error_after_multibyte_text() {
        let sql = "SELECT 'é';\nSELEC 1;";
        let e = locate(sql, "unused");
        assert_eq!((e.line, e.column), (2, 1));
    }

    #[test]
    fn unterminated_string_and_nul() {
        let e = locate("SELECT 'abc", "unused");
        assert!(e.message.contains("unterminated"), "{}", e.message);
        assert_eq!(e.line, 1);
        let e = locate("SELECT 1;\n\0", "unused");
        assert_eq!((e.line, e.column), (2, 1));
    }

    #[test]
    fn end_of_input() {
        let sql = "CREATE TABLE t (\n  id int";
        let e = locate(sql, "unused");
        assert!(e.message.contains("end of input"), "{}", e.message);
        assert_eq!(e.line, 2);
    }
}
