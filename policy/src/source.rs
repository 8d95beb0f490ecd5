//! Byte-offset to line/column mapping and skipping of leading SQL trivia.
//!
//! pg_query reports byte offsets; people read lines and columns. Columns are
//! counted in characters so that a caret lines up under non-ASCII text.

/// Precomputed line starts for one source text.
pub struct LineIndex<'a> {
    src: &'a str,
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    pub fn new(src: &'a str) -> Self {
        let mut starts = Vec::with_capacity(src.len() / 32 + 1);
        starts.push(0);
        starts.extend(memchr_newlines(src.as_bytes()));
        LineIndex { src, starts }
    }

    /// 1-based (line, column) of a byte offset; offsets past the end or inside
    /// a multi-byte character are clamped rather than trusted.
    pub fn line_col(&self, offset: usize) -> (u32, u32) {
        let offset = clamp_to_char_boundary(self.src, offset);
        let line = match self.starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i.saturating_sub(1),
        };
        let start = self.starts.get(line).copied().unwrap_or(0);
        let col = self.src.get(start..offset).map_or(0, |s| s.chars().count());
        (to_u32(line + 1), to_u32(col + 1))
    }

    /// The text of a 1-based line, without its line terminator.
    pub fn line_text(&self, line: u32) -> &'a str {
        let i = (line as usize).saturating_sub(1);
        let Some(&start) = self.starts.get(i) else {
            return "";
        };
        let end = self.starts.get(i + 1).copied().unwrap_or(self.src.len());
        let text = self.src.get(start..end).unwrap_or("");
        text.trim_end_matches(['\n', '\r'])
    }
}

fn memchr_newlines(bytes: &[u8]) -> impl Iterator<Item = usize> + '_ {
    bytes
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .map(|(i, _)| i + 1)
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

pub fn clamp_to_char_boundary(s: &str, mut offset: usize) -> usize {
    if offset >= s.len() {
        return s.len();
    }
    while offset > 0 && !s.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

/// Byte offset of the first character index `chars` (0-based) in `s`.
pub fn char_to_byte(s: &str, chars: usize) -> usize {
    s.char_indices().nth(chars).map_or(s.len(), |(i, _)| i)
}

/// Skips whitespace, `--` line comments and (nested) `/* */` block comments
/// starting at `from`, returning the offset of the first real token. Only
/// trivia is skipped here; everything else is the parser's business.
pub fn skip_trivia(src: &str, from: usize, to: usize) -> usize {
    let bytes = src.as_bytes();
    let to = to.min(bytes.len());
    let mut i = from.min(to);
    while i < to {
        let b = bytes[i];
        if b.is_ascii_whitespace() {
            i += 1;
        } else if b == b'-' && bytes.get(i + 1) == Some(&b'-') {
            while i < to && bytes[i] != b'\n' {
                i += 1;
            }
        } else if b == b'/' && bytes.get(i + 1) == Some(&b'*') {
            let mut depth = 1usize;
            i += 2;
            while i < to && depth > 0 {
                if bytes[i] == b'/' && bytes.get(i + 1) == Some(&b'*') {
                    depth += 1;
                    i += 2;
                } else if bytes[i] == b'*' && bytes.get(i + 1) == Some(&b'/') {
                    depth -= 1;
                    i += 2;
                } else {
                    i += 1;
                }
            }
        } else {
            break;
        }
    }
    clamp_to_char_boundary(src, i.min(to))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_chars() {
        let src = "a\nbé c\n\nd";
        let idx = LineIndex::new(src);
        assert_eq!(idx.line_col(0), (1, 1));
        assert_eq!(idx.line_col(2), (2, 1));
        assert_eq!(idx.line_col(6), (2, 4)); // the 'c' after a 2-byte char
        assert_eq!(idx.line_col(9), (4, 1));
        assert_eq!(idx.line_col(999), (4, 2));
        assert_eq!(idx.line_text(2), "bé c");
        assert_eq!(idx.line_text(3), "");
        assert_eq!(idx.line_text(42), "");
    }

    #[test]
    fn skips_comments_and_whitespace() {
        let src = "  -- hi\n /* a /* nested */ b */\n  SELECT 1";
        let at = skip_trivia(src, 0, src.len());
        assert_eq!(&src[at..], "SELECT 1");
        let unterminated = "/* never closed";
        assert_eq!(
            skip_trivia(unterminated, 0, unterminated.len()),
            unterminated.len()
        );
    }
}
