//! Which text encoding a delimited file is in — decided from its bytes, and only when the bytes
//! leave no doubt.
//!
//! Text decoded in the wrong encoding reaches Partner Center as a garbled company name that no
//! later run can rename (`台北烘焙坊` read as Windows-1252 is `¥x¥_¯MµH`). So:
//! - A BOM names the encoding (UTF-8, UTF-16 LE/BE).
//! - UTF-16 without a BOM shows itself by its NUL bytes (ASCII text has one in every other byte).
//! - Bytes that are valid UTF-8 are UTF-8.
//! - Anything else goes to `chardetng`, the detector Firefox uses, and its answer is taken only
//!   when it holds up: it is one of the encodings tested here ([`DETECTABLE`]), the text decodes
//!   in it without a single replacement or C1 control character, and every line with enough
//!   non-ASCII bytes to say something, guessed on its own, reads the same. Otherwise the file is
//!   refused, naming the encodings it could be, and the user says which with `--encoding`.
//!   (chardetng gives no confidence figure; agreement between the whole and its lines is the
//!   check. Tested on Big5, GBK, Shift_JIS, EUC-KR, Windows-1250/1251/1252 and ISO-8859-2
//!   sheets: each read right or refused, never garbled — tests/it/encodings.rs.)

use chardetng::{EncodingDetector, Iso2022JpDetection, Utf8Detection};
use encoding_rs::{
    BIG5, EUC_KR, Encoding, GBK, ISO_8859_2, SHIFT_JIS, UTF_8, UTF_16BE, UTF_16LE, WINDOWS_1250,
    WINDOWS_1251, WINDOWS_1252,
};

/// The encodings a guess may land on. Any other guess is refused with its name, for the user to
/// confirm with `--encoding`.
pub const DETECTABLE: [&Encoding; 8] = [
    BIG5,
    GBK,
    SHIFT_JIS,
    EUC_KR,
    WINDOWS_1251,
    WINDOWS_1250,
    ISO_8859_2,
    WINDOWS_1252,
];

/// A line takes part in the check only with at least this many non-ASCII bytes.
const LINE_VOTE: usize = 3;

/// How the encoding was decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Basis {
    /// `--encoding`.
    Named,
    /// A byte order mark.
    Bom,
    /// The sample was valid UTF-8: a later byte may still prove it wrong.
    ValidUtf8,
    /// UTF-16 recognised by its NUL bytes.
    Nuls,
    /// chardetng's guess, checked.
    Detected,
}

#[derive(Debug, Clone, Copy)]
pub struct Decided {
    pub encoding: &'static Encoding,
    pub basis: Basis,
}

/// Why the bytes did not decide.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Undecided {
    /// The encodings the bytes could be in, likeliest first.
    pub candidates: Vec<&'static Encoding>,
    /// What gave the doubt away, for the message.
    pub why: String,
}

/// The encoding of a file from its first bytes (`sample`, up to a few dozen KiB; `whole` when the
/// sample is the whole file).
pub fn decide(sample: &[u8], whole: bool) -> Result<Decided, Undecided> {
    if let Some((encoding, _)) = Encoding::for_bom(sample) {
        return Ok(Decided {
            encoding,
            basis: Basis::Bom,
        });
    }
    if let Some(encoding) = utf16_by_nuls(sample) {
        return Ok(Decided {
            encoding,
            basis: Basis::Nuls,
        });
    }
    let valid_utf8 = match std::str::from_utf8(sample) {
        Ok(_) => true,
        // A multi-byte character cut by the end of the sample is not evidence against UTF-8.
        Err(e) => e.error_len().is_none() && !whole,
    };
    if valid_utf8 {
        return Ok(Decided {
            encoding: UTF_8,
            basis: Basis::ValidUtf8,
        });
    }
    detect(sample).map(|encoding| Decided {
        encoding,
        basis: Basis::Detected,
    })
}

/// chardetng's guess for text that is not UTF-8, accepted only when it holds up (module docs).
pub fn detect(sample: &[u8]) -> Result<&'static Encoding, Undecided> {
    // Whole lines only: a sample cut inside a double-byte character would decode with an error.
    let sample = match sample.iter().rposition(|b| *b == b'\n') {
        Some(end) if end > 0 => &sample[..=end],
        _ => sample,
    };
    let guess = guess(sample);
    let refuse = |candidates: Vec<&'static Encoding>, why: String| Undecided { candidates, why };
    if !DETECTABLE.contains(&guess) {
        return Err(refuse(
            vec![guess],
            format!(
                "it looks like {}, which csp-onboard does not guess",
                guess.name()
            ),
        ));
    }
    let Some(text) = guess.decode_without_bom_handling_and_without_replacement(sample) else {
        return Err(refuse(
            vec![guess],
            format!(
                "it looks like {}, but is not valid {}",
                guess.name(),
                guess.name()
            ),
        ));
    };
    if let Some(c) = text.chars().find(|c| ('\u{80}'..='\u{9f}').contains(c)) {
        return Err(refuse(
            vec![guess],
            format!(
                "read as {} it holds the control character U+{:04X}",
                guess.name(),
                c as u32
            ),
        ));
    }
    let mut candidates = vec![guess];
    let mut first_disagreement = None;
    for (index, line) in sample.split(|b| *b == b'\n').enumerate() {
        if line.iter().filter(|b| **b >= 0x80).count() < LINE_VOTE {
            continue;
        }
        let alone = self::guess(line);
        if alone == guess {
            continue;
        }
        let agrees =
            alone.decode_without_bom_handling(line).0 == guess.decode_without_bom_handling(line).0;
        if !agrees {
            if !candidates.contains(&alone) {
                candidates.push(alone);
            }
            first_disagreement.get_or_insert(index + 1);
        }
    }
    match first_disagreement {
        None => Ok(guess),
        Some(line) => Err(refuse(
            candidates.clone(),
            format!(
                "it reads as {}, but line {line} alone reads as {}",
                guess.name(),
                candidates[1].name()
            ),
        )),
    }
}

fn guess(bytes: &[u8]) -> &'static Encoding {
    let mut detector = EncodingDetector::new(Iso2022JpDetection::Deny);
    detector.feed(bytes, true);
    // No top-level domain: no regional bias.
    detector.guess(None, Utf8Detection::Allow)
}

/// UTF-16 without a BOM: text that is mostly ASCII has a NUL in every other byte — the high byte
/// of each unit, first in big-endian, second in little-endian. Sheets are mostly ASCII (headers,
/// domains, emails), so a third of the units carrying a NUL on one side and almost none on the
/// other is unmistakable; 8-bit text never has NULs.
fn utf16_by_nuls(sample: &[u8]) -> Option<&'static Encoding> {
    let units = sample.len() / 2;
    if units < 8 {
        return None;
    }
    let (mut even, mut odd) = (0usize, 0usize);
    for pair in sample.chunks_exact(2) {
        even += usize::from(pair[0] == 0);
        odd += usize::from(pair[1] == 0);
    }
    let encoding = if odd * 3 >= units && even * 50 <= units {
        UTF_16LE
    } else if even * 3 >= units && odd * 50 <= units {
        UTF_16BE
    } else {
        return None;
    };
    // And it must decode as such: no unpaired surrogates (a cut last unit is not evidence).
    let whole = &sample[..units * 2];
    encoding
        .decode_without_bom_handling_and_without_replacement(whole)
        .map(|_| encoding)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf16_without_a_bom_is_known_by_its_nuls() {
        let text = "domain,company_name\nwingtip,Wingtip Toys\n";
        let le: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
        let be: Vec<u8> = text.encode_utf16().flat_map(u16::to_be_bytes).collect();
        assert_eq!(decide(&le, true).unwrap().encoding, UTF_16LE);
        assert_eq!(decide(&be, true).unwrap().encoding, UTF_16BE);
        assert_eq!(decide(&le, true).unwrap().basis, Basis::Nuls);
        assert_eq!(decide(text.as_bytes(), true).unwrap().encoding, UTF_8);
    }

    #[test]
    fn a_guess_outside_the_tested_encodings_is_refused_with_its_name() {
        // Greek in windows-1253: chardetng knows it, csp-onboard does not take its word for it.
        let (bytes, _, _) = encoding_rs::WINDOWS_1253
            .encode("domain,company_name,city\nathens1,Αθηναϊκή Εταιρεία Λογισμικού,Αθήνα\nthess2,Θεσσαλονίκη Τεχνολογίες,Θεσσαλονίκη\n");
        let undecided = decide(&bytes, true).unwrap_err();
        assert!(
            !DETECTABLE.contains(&undecided.candidates[0]),
            "{undecided:?}"
        );
        assert!(undecided.why.contains("does not guess"), "{undecided:?}");
    }
}
