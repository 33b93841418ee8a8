//! Postal code formats per country (`src/data/postal-codes.tsv`, its source named there and in
//! docs/templates.md), and the check of a code against them.
//!
//! Notation: `9` a digit, `A` a letter, `?` either, anything else itself. A space or hyphen of
//! the format may be left out; letters may be lower case; a leading country prefix (`LT-`, `L-`,
//! `FI-`) is allowed. A country the table does not list is not checked offline.

use std::sync::OnceLock;

use super::slot;

const TABLE: &str = include_str!("../data/postal-codes.tsv");

/// One country's line of the table.
#[derive(Debug, Clone)]
struct Formats {
    formats: Vec<&'static str>,
    leading_zero: bool,
}

/// The formats per country, indexed like the cultures table.
fn formats_table() -> &'static [Option<Formats>] {
    static PARSED: OnceLock<Vec<Option<Formats>>> = OnceLock::new();
    PARSED.get_or_init(|| {
        let mut table = vec![None; 26 * 26];
        for line in TABLE.lines() {
            if line.starts_with('#') || line.starts_with("country\t") || line.is_empty() {
                continue;
            }
            let [country, formats, zero] = line.split('\t').collect::<Vec<_>>()[..] else {
                panic!("postal-codes.tsv: a line without three columns: {line}");
            };
            let i = slot(country).unwrap_or_else(|| panic!("postal-codes.tsv: `{country}`"));
            table[i] = Some(Formats {
                formats: formats.split('|').collect(),
                leading_zero: zero == "yes",
            });
        }
        table
    })
}

/// The formats a country's postal codes follow, if the table knows them.
pub fn formats(country: &str) -> Option<&'static [&'static str]> {
    Some(&formats_table()[slot(country)?].as_ref()?.formats)
}

fn may_begin_with_zero(country: &str) -> bool {
    slot(country)
        .and_then(|i| formats_table()[i].as_ref())
        .is_some_and(|f| f.leading_zero)
}

/// What the table says of a postal code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PostalVerdict {
    /// It fits a format, or the country is not in the table.
    Fits,
    /// All digits, and as many zeros short of the country's all-digit format as Excel drops from a
    /// number: `suggestion` is the code with them put back.
    LostLeadingZero { suggestion: String },
    /// It fits none of the formats, which are listed as people write them (`1234 AB`).
    Wrong { examples: Vec<String> },
}

/// Checks `code` (as the sheet gives it, trimmed) for `country` (upper case).
pub fn check_postal_code(country: &str, code: &str) -> PostalVerdict {
    let Some(formats) = formats(country) else {
        return PostalVerdict::Fits;
    };
    let code = strip_country_prefix(country, code);
    if formats.iter().any(|f| fits(f, code)) {
        return PostalVerdict::Fits;
    }
    if may_begin_with_zero(country) && !code.is_empty() && code.bytes().all(|b| b.is_ascii_digit())
    {
        let digits_only = formats
            .iter()
            .filter(|f| f.bytes().all(|b| b == b'9'))
            .map(|f| f.len())
            .find(|&len| len > code.len());
        if let Some(len) = digits_only {
            return PostalVerdict::LostLeadingZero {
                suggestion: format!("{code:0>len$}"),
            };
        }
    }
    PostalVerdict::Wrong {
        examples: formats.iter().map(|f| example(f)).collect(),
    }
}

fn strip_country_prefix<'c>(country: &str, code: &'c str) -> &'c str {
    let Some(prefix) = code.get(..2).filter(|p| p.eq_ignore_ascii_case(country)) else {
        // Luxembourg writes `L-1234`.
        if country == "LU"
            && let Some(rest) = code.strip_prefix("L-").or_else(|| code.strip_prefix("l-"))
        {
            return rest;
        }
        return code;
    };
    let rest = &code[prefix.len()..];
    let rest = rest
        .strip_prefix('-')
        .or_else(|| rest.strip_prefix(' '))
        .unwrap_or(rest);
    // Only a prefix if what follows starts like a code: `SE-114 55`, not `SE1 9AA` in the UK.
    if rest.bytes().next().is_some_and(|b| b.is_ascii_digit()) && country != "GB" {
        rest
    } else {
        code
    }
}

/// Whether `code` fits `format`: separators of the format optional, letters in any case.
fn fits(format: &str, code: &str) -> bool {
    let (format, code) = (format.as_bytes(), code.as_bytes());
    let (mut f, mut c) = (0, 0);
    while f < format.len() {
        let want = format[f];
        let got = code.get(c).copied();
        let matched = match want {
            b'9' => got.is_some_and(|b| b.is_ascii_digit()),
            b'A' => got.is_some_and(|b| b.is_ascii_alphabetic()),
            b'?' => got.is_some_and(|b| b.is_ascii_alphanumeric()),
            b' ' | b'-' => {
                if got == Some(want) {
                    c += 1;
                }
                f += 1;
                continue;
            }
            literal => got.is_some_and(|b| b.eq_ignore_ascii_case(&literal)),
        };
        if !matched {
            return false;
        }
        f += 1;
        c += 1;
    }
    c == code.len()
}

/// A format as a person reads it: `9999 AA` → `1234 AB`.
fn example(format: &str) -> String {
    let mut digit = b'1';
    let mut letter = b'A';
    format
        .bytes()
        .map(|b| match b {
            b'9' => {
                let d = digit;
                digit = if digit == b'9' { b'0' } else { digit + 1 };
                d as char
            }
            b'A' | b'?' => {
                let l = letter;
                letter = if letter == b'Z' { b'A' } else { letter + 1 };
                l as char
            }
            other => other as char,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zero(suggestion: &str) -> PostalVerdict {
        PostalVerdict::LostLeadingZero {
            suggestion: suggestion.into(),
        }
    }

    #[test]
    fn codes_are_checked_against_their_country() {
        for (country, code) in [
            ("NL", "3511 AB"),
            ("NL", "3511ab"),
            ("DE", "01067"),
            ("FR", "75002"),
            ("SE", "114 55"),
            ("SE", "11455"),
            ("SE", "SE-114 55"),
            ("GB", "SW1A 1AA"),
            ("GB", "M1 1AE"),
            ("CA", "K1A 0B1"),
            ("JP", "100-0001"),
            ("PL", "00-950"),
            ("LU", "L-1234"),
            ("LT", "LT-01100"),
            ("TW", "106"),
            ("TW", "10617"),
            ("IE", "D02 X285"),
            ("XX", "anything"),
            ("HK", ""),
        ] {
            assert_eq!(
                check_postal_code(country, code),
                PostalVerdict::Fits,
                "{country} {code}"
            );
        }
    }

    #[test]
    fn digits_short_of_an_all_digit_format_lost_their_zeros() {
        assert_eq!(check_postal_code("DE", "1067"), zero("01067"));
        assert_eq!(check_postal_code("FR", "7502"), zero("07502"));
        assert_eq!(check_postal_code("FI", "2150"), zero("02150"));
        assert_eq!(check_postal_code("NO", "150"), zero("0150"));
    }

    #[test]
    fn wrong_codes_list_the_formats_as_examples() {
        assert_eq!(
            check_postal_code("NL", "3511"),
            PostalVerdict::Wrong {
                examples: vec!["1234 AB".into()]
            }
        );
        assert_eq!(
            check_postal_code("DE", "010677"),
            PostalVerdict::Wrong {
                examples: vec!["12345".into()]
            }
        );
        // Indian codes never begin with 0: five digits are not a cut six.
        assert_eq!(
            check_postal_code("IN", "98052"),
            PostalVerdict::Wrong {
                examples: vec!["123456".into()]
            }
        );
        assert!(matches!(
            check_postal_code("GB", "12345"),
            PostalVerdict::Wrong { .. }
        ));
    }

    #[test]
    fn the_table_parses_and_every_country_is_supported() {
        for line in TABLE.lines().filter(|l| !l.starts_with('#')).skip(1) {
            let country = line.split('\t').next().unwrap();
            assert!(super::super::is_supported_country(country), "{country}");
            assert!(formats(country).is_some());
        }
    }
}
