//! A small Rust tokenizer for the OS-cfg check: identifiers, punctuation
//! and opaque literals, with comments skipped.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind<'a> {
    Ident(&'a str),
    Punct(char),
    /// A string, char or number literal; its contents do not matter.
    Literal,
}

/// One token and the 1-based line it starts on.
#[derive(Debug, Clone, Copy)]
pub struct Token<'a> {
    pub kind: Kind<'a>,
    pub line: usize,
}

/// Just enough of Rust's lexer to find identifiers and brackets outside
/// comments and literals: nested block comments, (raw, byte, C) strings,
/// char literals versus lifetimes, raw identifiers.
pub fn tokenize(source: &str) -> Vec<Token<'_>> {
    let bytes = source.as_bytes();
    let mut tokens = Vec::new();
    let mut line = 1;
    let mut i = 0;
    // Advances `i` to `end`, counting the newlines passed.
    let skip_to = |i: &mut usize, end: usize, line: &mut usize| {
        let end = end.min(bytes.len());
        *line += bytes[*i..end].iter().filter(|&&b| b == b'\n').count();
        *i = end;
    };
    while i < bytes.len() {
        let b = bytes[i];
        let next = bytes.get(i + 1).copied();
        match b {
            b'\n' => {
                line += 1;
                i += 1;
            }
            b'/' if next == Some(b'/') => {
                let end = source[i..].find('\n').map_or(bytes.len(), |n| i + n);
                i = end;
            }
            b'/' if next == Some(b'*') => {
                let end = block_comment_end(bytes, i);
                skip_to(&mut i, end, &mut line);
            }
            b'"' => {
                let end = string_end(bytes, i + 1);
                tokens.push(Token {
                    kind: Kind::Literal,
                    line,
                });
                skip_to(&mut i, end, &mut line);
            }
            b'\'' => match char_literal_end(source, i) {
                Some(end) => {
                    tokens.push(Token {
                        kind: Kind::Literal,
                        line,
                    });
                    i = end;
                }
                // A lifetime or label: its name follows as an identifier.
                None => i += 1,
            },
            b if b.is_ascii_alphabetic() || b == b'_' || b >= 0x80 => {
                let start = i;
                while i < bytes.len()
                    && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_' || bytes[i] >= 0x80)
                {
                    i += 1;
                }
                let word = &source[start..i];
                let after = bytes.get(i).copied();
                match (word, after) {
                    ("b" | "c", Some(b'"')) => {
                        tokens.push(Token {
                            kind: Kind::Literal,
                            line,
                        });
                        let end = string_end(bytes, i + 1);
                        skip_to(&mut i, end, &mut line);
                    }
                    ("b", Some(b'\'')) => {
                        tokens.push(Token {
                            kind: Kind::Literal,
                            line,
                        });
                        i = char_literal_end(source, i).unwrap_or(i + 1);
                    }
                    ("r" | "br" | "cr", Some(b'"' | b'#')) if raw_string_start(bytes, i) => {
                        tokens.push(Token {
                            kind: Kind::Literal,
                            line,
                        });
                        let end = raw_string_end(bytes, i);
                        skip_to(&mut i, end, &mut line);
                    }
                    // A raw identifier `r#name`: the name is lexed next.
                    ("r", Some(b'#')) => i += 1,
                    _ => tokens.push(Token {
                        kind: Kind::Ident(word),
                        line,
                    }),
                }
            }
            b if b.is_ascii_digit() => {
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
                tokens.push(Token {
                    kind: Kind::Literal,
                    line,
                });
            }
            b if b.is_ascii_whitespace() => i += 1,
            _ => {
                tokens.push(Token {
                    kind: Kind::Punct(char::from(b)),
                    line,
                });
                i += 1;
            }
        }
    }
    tokens
}

/// The end (exclusive) of the block comment starting at `start`; they nest.
fn block_comment_end(bytes: &[u8], start: usize) -> usize {
    let mut depth = 0usize;
    let mut i = start;
    while i + 1 < bytes.len() {
        match (bytes[i], bytes[i + 1]) {
            (b'/', b'*') => {
                depth += 1;
                i += 2;
            }
            (b'*', b'/') => {
                depth -= 1;
                i += 2;
                if depth == 0 {
                    return i;
                }
            }
            _ => i += 1,
        }
    }
    bytes.len()
}

/// The end (exclusive) of a string whose contents start at `start`.
fn string_end(bytes: &[u8], start: usize) -> usize {
    let mut i = start;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    bytes.len()
}

/// Whether `#`s then `"` follow at `at` (after `r`, `br` or `cr`).
fn raw_string_start(bytes: &[u8], at: usize) -> bool {
    let hashes = bytes[at..].iter().take_while(|&&b| b == b'#').count();
    bytes.get(at + hashes) == Some(&b'"')
}

/// The end (exclusive) of a raw string whose `#`s (or `"`) start at `at`.
fn raw_string_end(bytes: &[u8], at: usize) -> usize {
    let hashes = bytes[at..].iter().take_while(|&&b| b == b'#').count();
    let mut i = at + hashes + 1;
    while i < bytes.len() {
        if bytes[i] == b'"'
            && bytes[i + 1..]
                .iter()
                .take(hashes)
                .filter(|&&b| b == b'#')
                .count()
                == hashes
        {
            return i + 1 + hashes;
        }
        i += 1;
    }
    bytes.len()
}

/// The end (exclusive) of the char literal whose `'` is at `quote`, or
/// `None` for a lifetime or label.
fn char_literal_end(source: &str, quote: usize) -> Option<usize> {
    let rest = source.get(quote + 1..)?;
    if rest.starts_with('\\') {
        // An escape: `'\n'`, `'\''`, `'\u{1F600}'`; ends at the next quote
        // after the escaped character.
        let close = rest.get(2..)?.find('\'')?;
        return Some(quote + 1 + 2 + close + 1);
    }
    let c = rest.chars().next()?;
    rest[c.len_utf8()..]
        .starts_with('\'')
        .then(|| quote + 1 + c.len_utf8() + 1)
}
