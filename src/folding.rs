//! How names people write are compared — headers, country and state names: case, spaces and
//! punctuation ignored, accents on Latin letters folded. Shared by `mapping` (headers) and
//! `countries` (names for codes), so that both match the same way.

/// A header as matching sees it: lowercase letters and digits of any script, nothing else —
/// `E-mail`, `e_mail` and `EMAIL ` all become `email`. A Latin letter with an accent is folded to
/// its base letter (`Prénom` = `Prenom`, `Län` = `Lan`); letters that are their own letter and not
/// an accented one (`ß`, `ø`, `æ`, `ł`) and every other script are kept as they are, so that
/// folding never joins two different words of Chinese, Japanese or Korean.
pub fn normalize_header(header: &str) -> String {
    let mut out = String::with_capacity(header.len());
    for c in header.chars() {
        if c.is_ascii() {
            if c.is_ascii_alphanumeric() {
                out.push(c.to_ascii_lowercase());
            }
            continue;
        }
        let c = if is_accented_latin(c) {
            let mut base = None;
            unicode_normalization::char::decompose_canonical(c, |part| {
                base.get_or_insert(part);
            });
            base.unwrap_or(c)
        } else {
            c
        };
        if c.is_alphanumeric() {
            out.extend(c.to_lowercase());
        }
    }
    out
}

/// Latin-1 Supplement, Latin Extended-A and -B, Latin Extended Additional (Vietnamese).
fn is_accented_latin(c: char) -> bool {
    matches!(c, '\u{00C0}'..='\u{024F}' | '\u{1E00}'..='\u{1EFF}')
}
