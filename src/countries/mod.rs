//! Country facts Partner Center enforces: which cultures a country accepts, which countries need an
//! organization registration number, the US state codes and the ISO 639-1 languages; and, in
//! [`postal`] and [`names`], each country's postal code formats and the names people write for
//! countries and states instead of their codes.
//!
//! The cultures table is `supported-cultures.tsv`, embedded at build time so the binary never reads
//! it from the working directory. It is parsed once, on first use, into a small map; lookups after
//! that are a hash probe and a short slice scan.

mod names;
mod postal;

pub use names::{country_for_name, is_subdivision_code, subdivision_for_name};
pub use postal::{PostalVerdict, check_postal_code};

use std::sync::OnceLock;

const CULTURES_TSV: &str = include_str!("../data/supported-cultures.tsv");

/// USPS codes: the states, DC, the territories and the military "states".
pub const US_STATES: [&str; 59] = [
    "AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "FL", "GA", "HI", "ID", "IL", "IN", "IA", "KS",
    "KY", "LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH", "NJ", "NM", "NY",
    "NC", "ND", "OH", "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT", "VT", "VA", "WA", "WV",
    "WI", "WY", "DC", "PR", "GU", "VI", "AS", "MP", "AA", "AE", "AP",
];

/// ISO 639-1 two-letter language codes.
const ISO_639_1: &str = "aa ab ae af ak am an ar as av ay az ba be bg bh bi bm bn bo br bs ca ce ch \
co cr cs cu cv cy da de dv dz ee el en eo es et eu fa ff fi fj fo fr fy ga gd gl gn gu gv ha he hi \
ho hr ht hu hy hz ia id ie ig ii ik io is it iu ja jv ka kg ki kj kk kl km kn ko kr ks ku kv kw ky \
la lb lg li ln lo lt lu lv mg mh mi mk ml mn mr ms mt my na nb nd ne ng nl nn no nr nv ny oc oj om \
or os pa pi pl ps pt qu rm rn ro ru rw sa sc sd se sg si sk sl sm sn so sq sr ss st su sv sw ta te \
tg th ti tk tl tn to tr ts tt tw ty ug uk ur uz ve vi vo wa wo xh yi yo za zh zu";

/// Cultures per country, indexed by the two letters of the code (`A`..`Z` × `A`..`Z`): a lookup is
/// two subtractions, which matters when a million rows each ask several times.
type CultureTable = Vec<Option<Vec<&'static str>>>;

pub(crate) fn slot(country: &str) -> Option<usize> {
    match country.as_bytes() {
        [a @ b'A'..=b'Z', b @ b'A'..=b'Z'] => Some((a - b'A') as usize * 26 + (b - b'A') as usize),
        _ => None,
    }
}

fn cultures_table() -> &'static CultureTable {
    static TABLE: OnceLock<CultureTable> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut table = vec![None; 26 * 26];
        for (country, cultures) in CULTURES_TSV
            .lines()
            .skip(1)
            .filter_map(|line| line.split_once('\t'))
        {
            if let Some(i) = slot(country.trim()) {
                table[i] = Some(cultures.trim().split(',').collect());
            }
        }
        table
    })
}

/// The cultures Partner Center accepts for an (uppercase ISO alpha-2) country, in the table's
/// order; `None` when the country is not one Partner Center supports.
pub fn cultures_for(country: &str) -> Option<&'static [&'static str]> {
    cultures_table()[slot(country)?].as_deref()
}

pub fn is_supported_country(country: &str) -> bool {
    cultures_for(country).is_some()
}

/// `Some(canonical spelling)` when `culture` (any case) is accepted for `country`.
pub fn accepted_culture(country: &str, culture: &str) -> Option<&'static str> {
    cultures_for(country)?
        .iter()
        .copied()
        .find(|c| c.eq_ignore_ascii_case(culture))
}

/// Countries where the table's first culture is not the one to assume for a customer who gave
/// none: the US lists `es-US` first, Canada only `fr-CA` besides `en-US`, and Belgium, Switzerland
/// and Luxembourg have several languages of their own. These take the neutral `en-US`.
const NEUTRAL_DEFAULT: [&str; 5] = ["US", "CA", "BE", "CH", "LU"];

/// The culture a row of `country` gets when neither the sheet nor the template gives one: the
/// country's own (its first listed culture: `nl-NL` for NL, `zh-TW` for TW, `pt-PT` for
/// Mozambique), or `en-US` where that is not one language (see [`NEUTRAL_DEFAULT`]).
pub fn default_culture(country: &str) -> Option<&'static str> {
    let cultures = cultures_for(country)?;
    if NEUTRAL_DEFAULT.contains(&country)
        && let Some(neutral) = cultures.iter().find(|c| **c == "en-US")
    {
        return Some(neutral);
    }
    cultures.first().copied()
}

/// Countries whose companies must send an organization registration number *and* a phone number,
/// and the only countries that may send a registration number at all (partner-center-api.md §3.4).
pub fn requires_registration_number(country: &str) -> bool {
    matches!(
        country.as_bytes(),
        b"AM"
            | b"AZ"
            | b"BY"
            | b"HU"
            | b"KZ"
            | b"KG"
            | b"MD"
            | b"RU"
            | b"TJ"
            | b"UZ"
            | b"UA"
            | b"IN"
            | b"BR"
            | b"ZA"
            | b"PL"
            | b"AE"
            | b"SA"
            | b"TR"
            | b"TH"
            | b"VN"
            | b"MM"
            | b"IQ"
            | b"SS"
            | b"VE"
    )
}

pub fn requires_state(country: &str) -> bool {
    matches!(country.as_bytes(), b"US" | b"CA" | b"AU")
}

pub fn is_us_state(code: &str) -> bool {
    code.len() == 2 && US_STATES.contains(&code)
}

pub fn is_iso_639_1(code: &str) -> bool {
    let [a, b] = code.as_bytes() else {
        return false;
    };
    let (a, b) = (a.to_ascii_lowercase(), b.to_ascii_lowercase());
    if !a.is_ascii_lowercase() || !b.is_ascii_lowercase() {
        return false;
    }
    ISO_639_1_SET[(a - b'a') as usize] & (1 << (b - b'a')) != 0
}

/// [`ISO_639_1`] as one bit per code: a row for each first letter, a bit for each second.
const ISO_639_1_SET: [u32; 26] = {
    let mut set = [0u32; 26];
    let codes = ISO_639_1.as_bytes();
    let mut i = 0;
    while i + 1 < codes.len() {
        set[(codes[i] - b'a') as usize] |= 1 << (codes[i + 1] - b'a');
        i += 3;
    }
    set
};

/// The language part of a culture name: `nl-NL` → `nl`, `az-Latn-AZ` → `az`.
pub fn language_of(culture: &str) -> &str {
    culture.split('-').next().unwrap_or(culture)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_country_but_mozambique_and_suriname_accepts_en_us() {
        let refusing: Vec<String> = cultures_table()
            .iter()
            .enumerate()
            .filter(|(_, cultures)| cultures.as_ref().is_some_and(|c| !c.contains(&"en-US")))
            .map(|(i, _)| {
                let letters = [b'A' + (i / 26) as u8, b'A' + (i % 26) as u8];
                String::from_utf8(letters.to_vec()).unwrap()
            })
            .collect();
        assert_eq!(refusing, ["MZ", "SR"]);
        assert_eq!(CULTURES_TSV.lines().skip(1).count(), 248);
        assert_eq!(cultures_table().iter().flatten().count(), 248);
    }

    #[test]
    fn default_cultures_are_the_countrys_own_language() {
        for (country, culture) in [
            ("NL", "nl-NL"),
            ("SE", "sv-SE"),
            ("FR", "fr-FR"),
            ("TW", "zh-TW"),
            ("DE", "de-DE"),
            ("GB", "en-GB"),
            ("US", "en-US"),
            ("CA", "en-US"),
            ("BE", "en-US"),
            ("CH", "en-US"),
            ("MZ", "pt-PT"),
        ] {
            assert_eq!(default_culture(country), Some(culture), "{country}");
        }
        assert_eq!(default_culture("XX"), None);
    }

    #[test]
    fn cultures_compare_case_insensitively() {
        assert_eq!(accepted_culture("NL", "NL-nl"), Some("nl-NL"));
        assert_eq!(accepted_culture("NL", "sv-SE"), None);
    }

    #[test]
    fn languages_are_iso_639_1() {
        assert!(is_iso_639_1("nl"));
        assert!(is_iso_639_1("SV"));
        assert!(!is_iso_639_1("xx"));
        assert!(!is_iso_639_1("eng"));
        assert!(!is_iso_639_1("n1"));
        // The bitmap holds exactly the listed codes, every pair of letters checked.
        let listed: Vec<&str> = ISO_639_1.split_whitespace().collect();
        for a in b'a'..=b'z' {
            for b in b'a'..=b'z' {
                let code = String::from_utf8(vec![a, b]).unwrap();
                assert_eq!(
                    is_iso_639_1(&code),
                    listed.contains(&code.as_str()),
                    "{code}"
                );
            }
        }
    }
}
