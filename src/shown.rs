//! How text from a sheet is shown in a message: escaped and cut.
//!
//! A cell or a header is the user's data, not ours: it may hold an escape sequence that would
//! recolour or rewrite the terminal, a NUL, or ten megabytes. Every message that quotes one goes
//! through [`shown`]: control and invisible formatting characters come out as `\u{1b}`-style
//! escapes, and anything past [`MAX_SHOWN`] characters is cut with a note of the full length. The
//! JSON report carries values the same way (serde escapes control characters itself; the cut is
//! ours).

use std::fmt;

/// The most characters of one value a message shows.
pub const MAX_SHOWN: usize = 200;

/// `text` as a message shows it.
pub fn shown(text: &str) -> Shown<'_> {
    Shown(text)
}

/// `text` cut to [`MAX_SHOWN`] characters (with a note of its length), nothing escaped: for
/// structured output (JSON, CSV) that escapes by itself.
pub fn cut(text: &str) -> std::borrow::Cow<'_, str> {
    match text.char_indices().nth(MAX_SHOWN) {
        None => text.into(),
        Some((end, _)) => format!("{}… ({} characters)", &text[..end], text.chars().count()).into(),
    }
}

/// Whether `c` must not reach Partner Center or a terminal as it is: C0 and C1 controls, DEL,
/// and the invisible characters that change how text around them reads (bidirectional
/// overrides and isolates, zero-width space, the byte order mark).
pub fn is_hidden(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{200B}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}'
        )
}

pub struct Shown<'a>(&'a str);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (count, c) in self.0.chars().enumerate() {
            if count == MAX_SHOWN {
                return write!(f, "… ({} characters)", self.0.chars().count());
            }
            if is_hidden(c) {
                write!(f, "\\u{{{:x}}}", c as u32)?;
            } else {
                write!(f, "{c}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_and_long_text_is_cut() {
        assert_eq!(shown("Wingtip Toys").to_string(), "Wingtip Toys");
        assert_eq!(
            shown("a\u{1b}[31mred\0").to_string(),
            "a\\u{1b}[31mred\\u{0}"
        );
        assert_eq!(shown("x\u{202e}y\nz").to_string(), "x\\u{202e}y\\u{a}z");
        let long = "é".repeat(10_000);
        let text = shown(&long).to_string();
        assert!(text.ends_with("… (10000 characters)"), "{text}");
        assert_eq!(text.chars().filter(|c| *c == 'é').count(), MAX_SHOWN);
        assert_eq!(cut(&long).chars().filter(|c| *c == 'é').count(), MAX_SHOWN);
        assert_eq!(cut("short"), "short");
        assert_eq!(shown(&"a".repeat(MAX_SHOWN)).to_string().len(), MAX_SHOWN);
    }
}
