//! From a sheet's header and rows to [`Draft`]s: one value per canonical field, each knowing where
//! it came from (a column, the template's default or constant, or derived) so that validation can
//! name the column and the raw text a person typed.
//!
//! A template is bound to a header once ([`Binding`]); drafting a row is then index lookups and a
//! few small normalisations (domain prefix → full lowercase `.onmicrosoft.com` name, uppercase
//! country, canonical culture spelling) with no allocation beyond them. Mapping never judges a value;
//! that is `validate`'s job.

mod field;
mod template;

use std::borrow::Cow;

pub use field::{Field, normalize_header};
pub use template::{DEFAULT_TEMPLATE, Template, TemplateError};

use crate::countries;
use crate::source::RawRow;

pub const DOMAIN_SUFFIX: &str = ".onmicrosoft.com";

/// A header that cannot be worked with.
#[derive(Debug, thiserror::Error)]
pub enum MappingError {
    #[error("{}: no column for {}; the header row (row {header_row}) has {}", .sheet, list_fields(.missing), crate::source::quote_list(.headers))]
    MissingColumns {
        sheet: String,
        header_row: u64,
        missing: Vec<Field>,
        headers: Vec<String>,
    },
    #[error("{sheet}: columns `{first}` and `{second}` both map to `{field}`")]
    AmbiguousColumns {
        sheet: String,
        field: Field,
        first: String,
        second: String,
    },
}

impl MappingError {
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            MappingError::MissingColumns { .. } => {
                "rename the columns, or map them with `[aliases]` in a template (`--template`); see docs/templates.md".into()
            }
            MappingError::AmbiguousColumns { .. } => {
                "rename or delete one of them, or map one elsewhere with `[aliases]` in a template".into()
            }
        })
    }
}

fn list_fields(fields: &[Field]) -> String {
    fields
        .iter()
        .map(|f| format!("`{f}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Why a header is not bound: a warning for the user, never an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnNote {
    pub column: String,
    pub message: String,
}

/// A template applied to one header: which column feeds which field.
#[derive(Debug)]
pub struct Binding<'t> {
    template: &'t Template,
    columns: [Option<usize>; Field::COUNT],
    headers: Vec<String>,
    notes: Vec<ColumnNote>,
}

impl<'t> Binding<'t> {
    /// Binds `template` to a header row. `sheet` names the input in error messages.
    pub fn new(
        template: &'t Template,
        headers: &[String],
        header_row: u64,
        sheet: &str,
    ) -> Result<Binding<'t>, MappingError> {
        let mut columns: [Option<usize>; Field::COUNT] = [None; Field::COUNT];
        let mut notes = Vec::new();
        for (index, header) in headers.iter().enumerate() {
            if header.is_empty() {
                continue;
            }
            let Some(field) = template.field_for_header(header) else {
                notes.push(ColumnNote {
                    column: header.clone(),
                    message: format!("column `{header}` maps to no field and is ignored"),
                });
                continue;
            };
            if let Some(first) = columns[field.index()] {
                return Err(MappingError::AmbiguousColumns {
                    sheet: sheet.to_string(),
                    field,
                    first: headers[first].clone(),
                    second: header.clone(),
                });
            }
            if template.constant_for(field).is_some() {
                notes.push(ColumnNote {
                    column: header.clone(),
                    message: format!(
                        "column `{header}` is ignored: the template sets `{field}` for every row"
                    ),
                });
                continue;
            }
            columns[field.index()] = Some(index);
        }
        let missing: Vec<Field> = template
            .required_fields()
            .filter(|f| {
                columns[f.index()].is_none()
                    && template.constant_for(*f).is_none()
                    && template.default_for(*f).is_none()
            })
            .collect();
        if !missing.is_empty() {
            return Err(MappingError::MissingColumns {
                sheet: sheet.to_string(),
                header_row,
                missing,
                headers: headers.iter().filter(|h| !h.is_empty()).cloned().collect(),
            });
        }
        Ok(Binding {
            template,
            columns,
            headers: headers.to_vec(),
            notes,
        })
    }

    pub fn template(&self) -> &Template {
        self.template
    }

    /// Columns that feed nothing, for warnings.
    pub fn notes(&self) -> &[ColumnNote] {
        &self.notes
    }

    /// The header of the column that feeds `field`, as written in the sheet.
    pub fn column_of(&self, field: Field) -> Option<&str> {
        self.columns[field.index()].map(|i| self.headers[i].as_str())
    }

    /// The header as written of a column index.
    pub fn header(&self, column: usize) -> Option<&str> {
        self.headers.get(column).map(String::as_str)
    }

    /// Maps one row. Empty cells fall back to the template's defaults.
    pub fn draft<'r>(&'r self, row: &'r RawRow) -> Draft<'r> {
        let mut values: [Value<'r>; Field::COUNT] = Default::default();
        for &field in Field::ALL {
            values[field.index()] = self.pick(field, row);
        }
        let mut draft = Draft {
            row: row.number,
            values,
        };
        self.normalize(&mut draft);
        draft
    }

    fn pick<'r>(&'r self, field: Field, row: &'r RawRow) -> Value<'r> {
        if let Some(constant) = self.template.constant_for(field) {
            return Value::new(constant, Origin::Constant);
        }
        if let Some(column) = self.columns[field.index()] {
            let text = row.cell(column);
            if !text.is_empty() {
                return Value::new(text, Origin::Column(column));
            }
        }
        match self.template.default_for(field) {
            Some(default) => Value::new(default, Origin::Default),
            None => Value::missing(self.columns[field.index()]),
        }
    }

    fn normalize(&self, draft: &mut Draft<'_>) {
        let domain = &mut draft.values[Field::Domain.index()];
        if !domain.is_empty() {
            domain.text = Cow::Owned(full_domain(&domain.text));
        }
        let country = &mut draft.values[Field::Country.index()];
        if country.text.bytes().any(|b| b.is_ascii_lowercase()) {
            country.text = Cow::Owned(country.text.to_ascii_uppercase());
        }
        let country = draft.values[Field::Country.index()].text.clone();
        let state = &mut draft.values[Field::State.index()];
        if country == "US" && state.text.bytes().any(|b| b.is_ascii_lowercase()) {
            state.text = Cow::Owned(state.text.to_ascii_uppercase());
        }
        let partner = &mut draft.values[Field::AssociatedPartnerId.index()];
        if partner.text.bytes().any(|b| b.is_ascii_uppercase()) {
            partner.text = Cow::Owned(partner.text.to_ascii_lowercase());
        }
        self.settle_culture(draft, &country);
    }

    /// A defaulted culture the row's country does not accept gives way to the country's first
    /// listed culture (Mozambique and Suriname refuse `en-US`); a missing language is the
    /// culture's language part. Values the sheet gave are only re-spelled, never replaced.
    fn settle_culture(&self, draft: &mut Draft<'_>, country: &str) {
        let culture = &mut draft.values[Field::Culture.index()];
        if let Some(canonical) = countries::accepted_culture(country, &culture.text) {
            if culture.text != canonical {
                culture.text = Cow::Borrowed(canonical);
            }
        } else if culture.origin == Origin::Default
            && let Some(first) = countries::cultures_for(country).and_then(|c| c.first())
        {
            *culture = Value::new(first, Origin::Derived);
        }
        let culture_text = draft.values[Field::Culture.index()].text.clone();
        let language = &mut draft.values[Field::Language.index()];
        if language.is_empty() && !culture_text.is_empty() {
            let derived = countries::language_of(&culture_text).to_ascii_lowercase();
            *language = Value {
                text: Cow::Owned(derived),
                raw: "",
                origin: Origin::Derived,
                column: language.column,
            };
        } else if language.text.bytes().any(|b| b.is_ascii_uppercase()) {
            language.text = Cow::Owned(language.text.to_ascii_lowercase());
        }
    }
}

/// `Wingtip42` → `wingtip42.onmicrosoft.com`; a full name is only lowercased. Anything else with a
/// dot is left (lowercased) for validation to reject.
pub fn full_domain(raw: &str) -> String {
    let lower = raw.to_lowercase();
    if lower.ends_with(DOMAIN_SUFFIX) || lower.contains('.') {
        lower
    } else {
        lower + DOMAIN_SUFFIX
    }
}

/// Where a value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Origin {
    /// The sheet's column at this index.
    Column(usize),
    /// The template's default (the cell was empty, or there is no column).
    Default,
    /// The template's constant.
    Constant,
    /// Worked out from other fields (language from culture).
    Derived,
    /// Nothing: no column, or an empty cell, and no default.
    #[default]
    Missing,
}

/// One field's value in a draft.
#[derive(Debug, Clone, Default)]
pub struct Value<'r> {
    /// The value as it will be sent (normalised), `""` when missing.
    pub text: Cow<'r, str>,
    /// The text as the sheet or template wrote it, for messages.
    pub raw: &'r str,
    pub origin: Origin,
    /// The column that could have supplied it, even when its cell was empty.
    pub column: Option<usize>,
}

impl<'r> Value<'r> {
    fn new(text: &'r str, origin: Origin) -> Value<'r> {
        let column = match origin {
            Origin::Column(i) => Some(i),
            _ => None,
        };
        Value {
            text: Cow::Borrowed(text),
            raw: text,
            origin,
            column,
        }
    }

    fn missing(column: Option<usize>) -> Value<'r> {
        Value {
            text: Cow::Borrowed(""),
            raw: "",
            origin: Origin::Missing,
            column,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }
}

/// A row mapped to the canonical fields, not yet judged.
#[derive(Debug)]
pub struct Draft<'r> {
    pub row: u64,
    values: [Value<'r>; Field::COUNT],
}

impl<'r> Draft<'r> {
    pub fn get(&self, field: Field) -> &Value<'r> {
        &self.values[field.index()]
    }

    pub fn text(&self, field: Field) -> &str {
        &self.values[field.index()].text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(number: u64, cells: &[&str]) -> RawRow {
        RawRow {
            number,
            cells: csv::StringRecord::from(cells.to_vec()),
        }
    }

    fn headers(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    const HEADERS: &[&str] = &[
        "Domain",
        "Company",
        "E-mail",
        "First Name",
        "Last Name",
        "Street",
        "City",
        "ZIP",
        "Country",
        "Reseller ID",
    ];

    #[test]
    fn aliases_bind_and_values_normalize() {
        let template = Template::builtin();
        let binding = Binding::new(&template, &headers(HEADERS), 1, "t.csv").unwrap();
        let raw = row(
            2,
            &[
                "Wingtip42",
                "Wingtip",
                "a@b.com",
                "A",
                "B",
                "1 Way",
                "Redmond",
                "98052",
                "us",
                "5D1E7A90-3B2C-4F6E-9A81-1C2D3E4F5A01",
            ],
        );
        let draft = binding.draft(&raw);
        assert_eq!(draft.text(Field::Domain), "wingtip42.onmicrosoft.com");
        assert_eq!(draft.text(Field::Country), "US");
        assert_eq!(draft.text(Field::Culture), "en-US");
        assert_eq!(draft.get(Field::Culture).origin, Origin::Default);
        assert_eq!(draft.text(Field::Language), "en");
        assert_eq!(
            draft.text(Field::AssociatedPartnerId),
            "5d1e7a90-3b2c-4f6e-9a81-1c2d3e4f5a01"
        );
        assert_eq!(binding.column_of(Field::PostalCode), Some("ZIP"));
    }

    #[test]
    fn mozambique_gets_its_own_culture_by_default() {
        let template = Template::builtin();
        let binding = Binding::new(&template, &headers(HEADERS), 1, "t.csv").unwrap();
        let raw = row(
            2,
            &[
                "x", "X", "a@b.com", "A", "B", "1", "Maputo", "1100", "MZ", "g",
            ],
        );
        let draft = binding.draft(&raw);
        assert_eq!(draft.text(Field::Culture), "pt-PT");
        assert_eq!(draft.text(Field::Language), "pt");
    }

    #[test]
    fn missing_required_columns_are_named_with_the_headers_found() {
        let template = Template::builtin();
        let err = Binding::new(
            &template,
            &headers(&["Company Name", "Domain"]),
            1,
            "bad.csv",
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "bad.csv: no column for `email`, `first_name`, `last_name`, `address_line1`, `city`, \
             `postal_code`, `country`, `associated_partner_id`; the header row (row 1) has \
             `Company Name`, `Domain`"
        );
    }

    #[test]
    fn a_direct_template_needs_no_reseller_column() {
        let template = Template::parse("direct = true\n", "direct.toml").unwrap();
        assert!(Binding::new(&template, &headers(&HEADERS[..9]), 1, "t.csv").is_ok());
    }

    #[test]
    fn two_columns_for_one_field_is_an_error() {
        let template = Template::builtin();
        let mut names = headers(HEADERS);
        names.push("Zip code".into());
        let err = Binding::new(&template, &names, 1, "t.csv").unwrap_err();
        assert!(
            err.to_string()
                .contains("`ZIP` and `Zip code` both map to `postal_code`")
        );
    }
}
