//! The names people write instead of codes: countries (`USA`, `Nederland`, `台灣`,
//! `src/data/country-names.tsv`) and the states and provinces of the US, Canada and Australia
//! (`Massachusetts`, `src/data/subdivisions.tsv`). Used for suggestions only: a name is never
//! turned into a code without the user.

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::folding::normalize_header;

const COUNTRIES: &str = include_str!("../data/country-names.tsv");
const SUBDIVISIONS: &str = include_str!("../data/subdivisions.tsv");

fn rows(table: &'static str) -> impl Iterator<Item = Vec<&'static str>> {
    table
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .skip(1)
        .map(|l| l.split('\t').collect())
}

/// The country code a name stands for: `USA` → `US`, `Deutschland` → `DE`.
pub fn country_for_name(name: &str) -> Option<&'static str> {
    static BY_NAME: OnceLock<HashMap<String, &'static str>> = OnceLock::new();
    let by_name = BY_NAME.get_or_init(|| {
        rows(COUNTRIES)
            .flat_map(|row| {
                let code = row[0];
                row[1].split('|').map(move |n| (normalize_header(n), code))
            })
            .collect()
    });
    by_name.get(&normalize_header(name)).copied()
}

/// The code of a state or province of `country` a name stands for: (`US`, `Massachusetts`) → `MA`.
pub fn subdivision_for_name(country: &str, name: &str) -> Option<&'static str> {
    static BY_NAME: OnceLock<HashMap<(&'static str, String), &'static str>> = OnceLock::new();
    let by_name = BY_NAME.get_or_init(|| {
        rows(SUBDIVISIONS)
            .flat_map(|row| {
                let (country, code) = (row[0], row[1]);
                row[2]
                    .split('|')
                    .map(move |n| ((country, normalize_header(n)), code))
            })
            .collect()
    });
    let country = match country {
        "US" => "US",
        "CA" => "CA",
        "AU" => "AU",
        _ => return None,
    };
    by_name.get(&(country, normalize_header(name))).copied()
}

/// Whether `code` is one of the table's codes for `country` (CA and AU; the US has its own list).
pub fn is_subdivision_code(country: &str, code: &str) -> bool {
    rows(SUBDIVISIONS).any(|row| row[0] == country && row[1].eq_ignore_ascii_case(code))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn country_names_and_variants_suggest_their_code() {
        for (name, code) in [
            ("USA", "US"),
            ("United States", "US"),
            ("u.s.a.", "US"),
            ("Nederland", "NL"),
            ("The Netherlands", "NL"),
            ("Deutschland", "DE"),
            ("台灣", "TW"),
            ("臺灣", "TW"),
            ("Sverige", "SE"),
            ("Österreich", "AT"),
            ("Oesterreich", "AT"),
            ("NLD", "NL"),
            ("España", "ES"),
            ("Espana", "ES"),
        ] {
            assert_eq!(country_for_name(name), Some(code), "{name}");
        }
        assert_eq!(country_for_name("Atlantis"), None);
    }

    #[test]
    fn every_named_country_is_one_partner_center_supports() {
        for row in rows(COUNTRIES) {
            assert!(super::super::is_supported_country(row[0]), "{}", row[0]);
        }
    }

    #[test]
    fn state_names_suggest_their_code() {
        assert_eq!(subdivision_for_name("US", "Massachusetts"), Some("MA"));
        assert_eq!(subdivision_for_name("US", "new york"), Some("NY"));
        assert_eq!(subdivision_for_name("CA", "Québec"), Some("QC"));
        assert_eq!(subdivision_for_name("CA", "Quebec"), Some("QC"));
        assert_eq!(subdivision_for_name("AU", "New South Wales"), Some("NSW"));
        assert_eq!(subdivision_for_name("GB", "Kent"), None);
        assert!(is_subdivision_code("AU", "nsw"));
        assert!(is_subdivision_code("CA", "ON"));
        assert!(!is_subdivision_code("CA", "Ontario"));
    }
}
