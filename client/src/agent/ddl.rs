//! DDL normalization for the journal's table fingerprints, so that two
//! controllers whose tables are the same compare equal even when the
//! software that created them spaced or cased the statement differently.
//!
//! The rule, applied to the `sql` text SQLite keeps in `sqlite_schema`:
//! - comments (`-- …` to end of line, `/* … */`) count as whitespace;
//! - outside quotes, ASCII letters are lowercased and any run of whitespace
//!   becomes one space, which is then kept only between two word characters
//!   (letters, digits, `_`, `$`), so `pours(id INTEGER)` and `pours ( id integer )`
//!   are the same;
//! - quoted text (`'…'`, `"…"`, `` `…` ``, `[…]`) is kept byte for byte, so a
//!   default value or a quoted identifier that differs still differs.
//!
//! The fingerprint is the hex sha256 of the normalized text.

use sha2::{Digest, Sha256};

/// The normalized form of one CREATE statement.
pub fn normalize(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    let mut pending_space = false;
    while let Some(c) = chars.next() {
        let close = match c {
            '\'' => Some('\''),
            '"' => Some('"'),
            '`' => Some('`'),
            '[' => Some(']'),
            _ => None,
        };
        if let Some(close) = close {
            push_space_if_needed(&mut out, &mut pending_space, c);
            out.push(c);
            // A doubled closing quote is an escaped quote inside the text.
            while let Some(q) = chars.next() {
                out.push(q);
                if q == close {
                    if close != ']' && chars.peek() == Some(&close) {
                        if let Some(escaped) = chars.next() {
                            out.push(escaped);
                        }
                        continue;
                    }
                    break;
                }
            }
            continue;
        }
        if c == '-' && chars.peek() == Some(&'-') {
            for skipped in chars.by_ref() {
                if skipped == '\n' {
                    break;
                }
            }
            pending_space = true;
            continue;
        }
        if c == '/' && chars.peek() == Some(&'*') {
            chars.next();
            let mut previous = '\0';
            for skipped in chars.by_ref() {
                if previous == '*' && skipped == '/' {
                    break;
                }
                previous = skipped;
            }
            pending_space = true;
            continue;
        }
        if c.is_whitespace() {
            pending_space = true;
            continue;
        }
        push_space_if_needed(&mut out, &mut pending_space, c);
        out.push(c.to_ascii_lowercase());
    }
    out
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '$'
}

/// Emits the one space a run of whitespace collapsed into, only where it
/// separates two words (or a word and a quoted token, which may need it).
fn push_space_if_needed(out: &mut String, pending_space: &mut bool, next: char) {
    if std::mem::take(pending_space)
        && let Some(last) = out.chars().last()
        && (is_word(last) || matches!(last, '\'' | '"' | '`' | ']'))
        && (is_word(next) || matches!(next, '\'' | '"' | '`' | '['))
    {
        out.push(' ');
    }
}

/// Hex sha256 of the normalized statement.
pub fn fingerprint(sql: &str) -> String {
    hex::encode(Sha256::digest(normalize(sql).as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spacing_case_and_comments_do_not_matter() {
        let a = "CREATE TABLE pours (\n    id INTEGER PRIMARY KEY, -- row id\n    poured_at TEXT NOT NULL\n)";
        let b = "create table pours(id integer primary key,/* x */poured_at text not null)";
        assert_eq!(normalize(a), normalize(b));
        assert_eq!(
            normalize(a),
            "create table pours(id integer primary key,poured_at text not null)"
        );
        assert_eq!(fingerprint(a), fingerprint(b));
    }

    #[test]
    fn quoted_text_is_kept() {
        assert_eq!(
            normalize("CREATE TABLE \"Pours\" (Note TEXT DEFAULT 'A  b''C')"),
            "create table \"Pours\"(note text default 'A  b''C')"
        );
        assert_ne!(
            fingerprint("CREATE TABLE t (a TEXT DEFAULT 'x')"),
            fingerprint("CREATE TABLE t (a TEXT DEFAULT 'X')")
        );
        assert_eq!(
            normalize("CREATE TABLE [my table] ( [a b] INT )"),
            "create table [my table]([a b] int)"
        );
    }

    #[test]
    fn an_extra_column_changes_the_fingerprint() {
        assert_ne!(
            fingerprint("CREATE TABLE pours (id INTEGER)"),
            fingerprint("CREATE TABLE pours (id INTEGER, temperature_c REAL)")
        );
    }
}
