//! Mapping templates: TOML files that say which sheet columns feed which canonical fields, and what
//! to use where the sheet says nothing. The format is documented in `docs/templates.md`.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::field::{Field, normalize_header};
use super::languages;

/// The built-in template, also written out by `csp-onboard template`.
pub const DEFAULT_TEMPLATE: &str = include_str!("../../templates/default.toml");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TemplateFile {
    name: Option<String>,
    #[serde(default)]
    direct: bool,
    #[serde(default)]
    attest_mca: bool,
    #[serde(default)]
    aliases: BTreeMap<String, Aliases>,
    #[serde(default)]
    defaults: BTreeMap<String, String>,
    #[serde(default)]
    constants: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Aliases {
    One(String),
    Many(Vec<String>),
}

/// A loaded, checked template.
#[derive(Debug, Clone)]
pub struct Template {
    pub name: String,
    /// Where it came from: a path, or `built-in`.
    pub origin: String,
    /// The sheet lists direct customers of the provider: no reseller column is needed.
    pub direct: bool,
    /// Attest the Microsoft Customer Agreement for each customer created (as `--attest-mca`).
    pub attest_mca: bool,
    aliases: HashMap<String, Field>,
    defaults: Vec<Option<String>>,
    constants: Vec<Option<String>>,
}

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("cannot read template `{}`", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("template `{origin}` is not valid TOML: {message}")]
    Syntax { origin: String, message: String },
    #[error("template `{origin}`, section `[{section}]`: `{name}` is not a field")]
    UnknownField {
        origin: String,
        section: &'static str,
        name: String,
    },
}

impl TemplateError {
    pub fn hint(&self) -> Option<String> {
        match self {
            TemplateError::UnknownField { .. } => Some(format!(
                "the fields are {}",
                Field::ALL
                    .iter()
                    .map(|f| format!("`{f}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            TemplateError::Syntax { .. } => Some("see docs/templates.md for the format".into()),
            TemplateError::Read { .. } => None,
        }
    }
}

impl Template {
    pub fn builtin() -> Template {
        Template::build(DEFAULT_TEMPLATE, "built-in", None)
            .expect("the built-in template is checked by a unit test")
    }

    pub fn load(path: &Path) -> Result<Template, TemplateError> {
        let text = std::fs::read_to_string(path).map_err(|source| TemplateError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Template::parse(&text, &path.display().to_string())
    }

    /// A template file, on top of the built-in one: its aliases add to the built-in names, its
    /// defaults replace the built-in ones field by field (an empty value removes one).
    pub fn parse(text: &str, origin: &str) -> Result<Template, TemplateError> {
        Template::build(text, origin, Some(&Template::builtin()))
    }

    fn build(text: &str, origin: &str, base: Option<&Template>) -> Result<Template, TemplateError> {
        let file: TemplateFile = toml::from_str(text).map_err(|e| TemplateError::Syntax {
            origin: origin.to_string(),
            message: e.message().to_string(),
        })?;
        let field = |section: &'static str, name: &str| {
            Field::from_name(name.trim()).ok_or_else(|| TemplateError::UnknownField {
                origin: origin.to_string(),
                section,
                name: name.to_string(),
            })
        };

        let mut aliases = builtin_aliases().clone();
        // The template's own aliases win over built-in ones: a user who says `Reference` is the
        // domain means it.
        for (name, spelled) in &file.aliases {
            let target = field("aliases", name)?;
            let list = match spelled {
                Aliases::One(one) => std::slice::from_ref(one),
                Aliases::Many(many) => many.as_slice(),
            };
            for alias in list {
                aliases.insert(normalize_header(alias), target);
            }
        }

        let mut defaults = match base {
            Some(base) => base.defaults.clone(),
            None => vec![None; Field::COUNT],
        };
        for (name, value) in &file.defaults {
            defaults[field("defaults", name)?.index()] = non_empty(value);
        }
        let mut constants = vec![None; Field::COUNT];
        for (name, value) in &file.constants {
            constants[field("constants", name)?.index()] = non_empty(value);
        }

        Ok(Template {
            name: file.name.unwrap_or_else(|| origin.to_string()),
            origin: origin.to_string(),
            direct: file.direct,
            attest_mca: file.attest_mca,
            aliases,
            defaults,
            constants,
        })
    }

    /// The field a header (as written in the sheet) maps to.
    pub fn field_for_header(&self, header: &str) -> Option<Field> {
        self.aliases.get(&normalize_header(header)).copied()
    }

    pub fn default_for(&self, field: Field) -> Option<&str> {
        self.defaults[field.index()].as_deref()
    }

    pub fn constant_for(&self, field: Field) -> Option<&str> {
        self.constants[field.index()].as_deref()
    }

    /// The fields a sheet must supply a column for under this template.
    pub fn required_fields(&self) -> impl Iterator<Item = Field> + '_ {
        let reseller = (!self.direct).then_some(Field::AssociatedPartnerId);
        Field::REQUIRED.iter().copied().chain(reseller)
    }
}

/// The header names every template knows: English ([`Field::builtin_aliases`]) and the other
/// languages' ([`languages`]), built once.
fn builtin_aliases() -> &'static HashMap<String, Field> {
    static ALIASES: std::sync::OnceLock<HashMap<String, Field>> = std::sync::OnceLock::new();
    ALIASES.get_or_init(|| {
        Field::ALL
            .iter()
            .flat_map(|&f| f.builtin_aliases().iter().map(move |a| (a.to_string(), f)))
            .chain(languages::aliases())
            .collect()
    })
}

fn non_empty(value: &str) -> Option<String> {
    let value = value.trim();
    (!value.is_empty()).then(|| value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_template_loads() {
        let template = Template::builtin();
        // No default culture: each row's country gives its own (mapping::Draft::settle_culture).
        assert_eq!(template.default_for(Field::Culture), None);
        assert!(!template.direct);
    }

    #[test]
    fn templates_inherit_and_may_remove_defaults() {
        let base = Template::parse(
            "[defaults]\nculture = \"en-GB\"\ncity = \"Utrecht\"\n",
            "a.toml",
        )
        .unwrap();
        assert_eq!(base.default_for(Field::Culture), Some("en-GB"));
        let only_aliases =
            Template::parse("[aliases]\ncompany_name = \"Klant\"\n", "b.toml").unwrap();
        assert_eq!(
            only_aliases.field_for_header("Klant"),
            Some(Field::CompanyName)
        );
        assert_eq!(
            only_aliases.field_for_header("Bedrijfsnaam"),
            Some(Field::CompanyName)
        );
        assert_eq!(
            only_aliases.field_for_header("Raison sociale"),
            Some(Field::CompanyName)
        );
    }

    #[test]
    fn headers_in_other_languages_are_built_in() {
        let template = Template::builtin();
        for (header, field) in [
            ("Bedrijfsnaam", Field::CompanyName),
            ("E-mailadres", Field::Email),
            ("Plaats", Field::City),
            ("Land", Field::Country),
            ("Prénom", Field::FirstName),
            ("PRENOM", Field::FirstName),
            ("Nom", Field::LastName),
            ("Code postal", Field::PostalCode),
            ("Postnummer", Field::PostalCode),
            ("Förnamn", Field::FirstName),
            ("PLZ", Field::PostalCode),
            ("Straße", Field::AddressLine1),
            ("公司名稱", Field::CompanyName),
            ("郵遞區號", Field::PostalCode),
            ("会社名", Field::CompanyName),
            ("우편번호", Field::PostalCode),
            ("Código postal", Field::PostalCode),
            ("Nazwisko", Field::LastName),
        ] {
            assert_eq!(template.field_for_header(header), Some(field), "{header}");
        }
        assert_eq!(template.field_for_header("Name"), None);
        assert_eq!(template.field_for_header("Namn"), None);
    }

    #[test]
    fn unknown_fields_are_named() {
        let err = Template::parse("[defaults]\nculure = \"nl-NL\"\n", "t.toml").unwrap_err();
        assert_eq!(
            err.to_string(),
            "template `t.toml`, section `[defaults]`: `culure` is not a field"
        );
    }

    #[test]
    fn user_aliases_extend_and_override_builtin_ones() {
        let template = Template::parse(
            "[aliases]\npostal_code = [\"Postcode NL\"]\ndomain = \"Reference\"\n",
            "t.toml",
        )
        .unwrap();
        assert_eq!(
            template.field_for_header("postcode-nl"),
            Some(Field::PostalCode)
        );
        assert_eq!(template.field_for_header("Reference"), Some(Field::Domain));
        assert_eq!(template.field_for_header("ZIP"), Some(Field::PostalCode));
    }
}
