//! Header names in the languages of Partner Center's markets: one embedded table
//! (`src/data/header-aliases.tsv`), read once. English names live with the fields
//! ([`Field::builtin_aliases`]); the table adds Dutch, French, Swedish, German, Traditional and
//! Simplified Chinese, Japanese, Korean, Spanish, Italian, Portuguese, Danish, Norwegian, Finnish
//! and Polish.
//!
//! Invariant (a unit test checks it): after [`normalize_header`], a name means one field in every
//! language, English included — so no header is matched by guessing which language the sheet is in.

use std::sync::OnceLock;

use super::field::{Field, normalize_header};

const TABLE: &str = include_str!("../data/header-aliases.tsv");

/// One language's header names.
#[derive(Debug)]
pub struct Language {
    /// The BCP 47 tag the table uses (`nl`, `zh-Hant`).
    pub tag: &'static str,
    /// Per field, its names as written (the first is what `template --lang` writes).
    names: Vec<Vec<&'static str>>,
}

impl Language {
    /// The name a sample sheet in this language gives `field`'s column: the table's first one, or
    /// the contract's English name where the language has none of its own.
    pub fn header_for(&self, field: Field) -> &'static str {
        self.names[field.index()]
            .first()
            .copied()
            .unwrap_or(field.name())
    }

    pub fn names(&self, field: Field) -> &[&'static str] {
        &self.names[field.index()]
    }
}

/// Every language of the table, in its order.
pub fn languages() -> &'static [Language] {
    static PARSED: OnceLock<Vec<Language>> = OnceLock::new();
    PARSED.get_or_init(|| parse(TABLE))
}

/// The language a `--lang` value names: its tag, case-insensitively, or a region-less form
/// (`zh-TW` → `zh-Hant`, `zh-CN` → `zh-Hans`, `nb` → `no`).
pub fn language(tag: &str) -> Option<&'static Language> {
    let tag = tag.trim();
    let wanted = match tag.to_ascii_lowercase().as_str() {
        "zh-tw" | "zh-hk" | "zh-mo" | "zh-hant-tw" => "zh-hant".to_string(),
        "zh" | "zh-cn" | "zh-sg" | "zh-hans-cn" => "zh-hans".to_string(),
        "nb" | "nn" | "nb-no" | "nn-no" => "no".to_string(),
        other => other.split(['-', '_']).next().unwrap_or(other).to_string(),
    };
    languages()
        .iter()
        .find(|l| l.tag.eq_ignore_ascii_case(&wanted) || l.tag.eq_ignore_ascii_case(tag))
}

/// Every (normalised name, field) pair of the table.
pub fn aliases() -> impl Iterator<Item = (String, Field)> {
    languages().iter().flat_map(|language| {
        Field::ALL.iter().flat_map(move |&field| {
            language
                .names(field)
                .iter()
                .map(move |name| (normalize_header(name), field))
        })
    })
}

fn parse(table: &'static str) -> Vec<Language> {
    let mut languages: Vec<Language> = Vec::new();
    for line in table.lines() {
        if line.starts_with('#') || line.starts_with("lang\t") || line.trim().is_empty() {
            continue;
        }
        let mut parts = line.split('\t');
        let (Some(tag), Some(field), Some(names)) = (parts.next(), parts.next(), parts.next())
        else {
            panic!("header-aliases.tsv: a line without three columns: {line}");
        };
        let field = Field::from_name(field)
            .unwrap_or_else(|| panic!("header-aliases.tsv: `{field}` is not a field"));
        let index = match languages.iter().position(|l| l.tag == tag) {
            Some(index) => index,
            None => {
                languages.push(Language {
                    tag,
                    names: vec![Vec::new(); Field::COUNT],
                });
                languages.len() - 1
            }
        };
        languages[index].names[field.index()].extend(names.split('|'));
    }
    languages
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn every_name_means_one_field_in_every_language() {
        let mut seen: HashMap<String, (Field, &str)> = Field::ALL
            .iter()
            .flat_map(|&f| {
                f.builtin_aliases()
                    .iter()
                    .map(move |a| (a.to_string(), (f, "en")))
            })
            .collect();
        for language in languages() {
            for &field in Field::ALL {
                for name in language.names(field) {
                    let key = normalize_header(name);
                    assert!(
                        !key.is_empty(),
                        "{}: `{name}` normalises to nothing",
                        language.tag
                    );
                    if let Some((other, tag)) = seen.insert(key.clone(), (field, language.tag)) {
                        assert_eq!(
                            other, field,
                            "`{name}` ({}) is `{field}`, but `{key}` ({tag}) is `{other}`",
                            language.tag
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn every_language_names_the_required_fields() {
        for language in languages() {
            for &field in Field::REQUIRED.iter().chain([&Field::AssociatedPartnerId]) {
                assert!(
                    !language.names(field).is_empty(),
                    "{} has no name for `{field}`",
                    language.tag
                );
            }
        }
        assert!(languages().len() >= 15);
    }

    #[test]
    fn tags_resolve_with_or_without_a_region() {
        assert_eq!(language("nl").unwrap().tag, "nl");
        assert_eq!(language("nl-BE").unwrap().tag, "nl");
        assert_eq!(language("ZH-tw").unwrap().tag, "zh-Hant");
        assert_eq!(language("zh-Hans").unwrap().tag, "zh-Hans");
        assert_eq!(language("nb").unwrap().tag, "no");
        assert!(language("xx").is_none());
    }

    #[test]
    fn french_nom_is_the_last_name() {
        let fr = language("fr").unwrap();
        assert_eq!(fr.header_for(Field::LastName), "Nom");
        assert_eq!(fr.header_for(Field::CompanyName), "Raison sociale");
    }
}
