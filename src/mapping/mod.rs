//! From a sheet's header and rows to [`Draft`]s: one value per canonical field, each knowing where
//! it came from (a column, the template's default or constant, or derived) so that validation can
//! name the column and the raw text a person typed.
//!
//! A template is bound to a header once ([`Binding`]); drafting a row is then index lookups and a
//! few small normalisations (domain prefix → full lowercase `.onmicrosoft.com` name, uppercase
//! country, canonical culture spelling) with no allocation beyond them. Mapping never judges a value;
//! that is `validate`'s job.

mod field;
pub mod languages;
mod template;

pub use field::{Field, normalize_header};
pub use template::{DEFAULT_TEMPLATE, Template, TemplateError};

use crate::countries;
use crate::shown::shown;
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
    #[error("{sheet}: columns `{}` and `{}` both map to `{field}`", shown(.first), shown(.second))]
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

/// Why a header is not bound: a warning for the user, never an error. `column` is `None` for a
/// note about many columns at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnNote {
    pub column: Option<String>,
    pub message: String,
}

/// Unmapped columns named one by one; past this many, the rest are counted in one note.
const NAMED_UNMAPPED: usize = 10;

/// A template applied to one header: which column feeds which field.
#[derive(Debug)]
pub struct Binding<'t> {
    template: &'t Template,
    columns: [Option<usize>; Field::COUNT],
    /// `columns` the other way round, up to the last column that feeds a field.
    fields_by_column: Vec<Option<Field>>,
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
        let mut unmapped = 0usize;
        for (index, header) in headers.iter().enumerate() {
            if header.is_empty() {
                continue;
            }
            let Some(field) = template.field_for_header(header) else {
                unmapped += 1;
                if unmapped <= NAMED_UNMAPPED {
                    notes.push(ColumnNote {
                        column: Some(header.clone()),
                        message: format!(
                            "column `{}` maps to no field and is ignored",
                            shown(header)
                        ),
                    });
                }
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
                    column: Some(header.clone()),
                    message: format!(
                        "column `{}` is ignored: the template sets `{field}` for every row",
                        shown(header)
                    ),
                });
                continue;
            }
            columns[field.index()] = Some(index);
        }
        if unmapped > NAMED_UNMAPPED {
            notes.push(ColumnNote {
                column: None,
                message: format!(
                    "{} more columns map to no field and are ignored",
                    unmapped - NAMED_UNMAPPED
                ),
            });
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
        let mut fields_by_column = vec![None; columns.iter().flatten().max().map_or(0, |c| c + 1)];
        for (field, column) in Field::ALL.iter().zip(columns) {
            if let Some(column) = column {
                fields_by_column[column] = Some(*field);
            }
        }
        Ok(Binding {
            template,
            columns,
            fields_by_column,
            headers: headers.to_vec(),
            notes,
        })
    }

    pub fn template(&self) -> &Template {
        self.template
    }

    /// Notes the rows above the header that were passed over (a title, a date): `above` holds each
    /// one's number and first non-empty cell.
    pub fn note_rows_above(&mut self, above: &[(u64, String)], header_row: u64) {
        let Some(((first, text), rest)) = above.split_first() else {
            return;
        };
        let message = if rest.is_empty() {
            format!(
                "row {first} (`{}`) is above the header (row {header_row}) and is ignored",
                shown(text)
            )
        } else {
            format!(
                "rows {first} to {} are above the header (row {header_row}) and are ignored; row {first} is `{}`",
                above[above.len() - 1].0,
                shown(text)
            )
        };
        self.notes.insert(
            0,
            ColumnNote {
                column: None,
                message,
            },
        );
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

    /// Maps one row. Empty cells fall back to the template's defaults. Normalised values are
    /// written into `scratch`, which the caller reuses from row to row so drafting allocates
    /// nothing once the buffers have grown.
    pub fn draft<'r>(&'r self, row: &'r RawRow, scratch: &'r mut Scratch) -> Draft<'r> {
        // One pass over the row's cells, in order, rather than a lookup per field.
        let mut texts = [""; Field::COUNT];
        for (text, field) in row.cells.iter().zip(&self.fields_by_column) {
            if let Some(field) = field {
                texts[field.index()] = text;
            }
        }
        let mut sources = [Source::Column; Field::COUNT];
        for &field in Field::ALL {
            let i = field.index();
            if let Some(constant) = self.template.constant_for(field) {
                (texts[i], sources[i]) = (constant, Source::Constant);
            } else if texts[i].is_empty() {
                (texts[i], sources[i]) = match self.template.default_for(field) {
                    Some(default) => (default, Source::Default),
                    None => ("", Source::Missing),
                };
            }
        }
        let mut draft = Draft {
            row: row.number,
            cells: row,
            binding: self,
            texts,
            sources,
        };
        draft.normalize(scratch);
        draft
    }

    /// A field's value as the sheet and template give it, before normalisation.
    fn pick<'r>(&'r self, field: Field, row: &'r RawRow) -> (&'r str, Source) {
        if let Some(constant) = self.template.constant_for(field) {
            return (constant, Source::Constant);
        }
        if let Some(index) = self.columns[field.index()] {
            let text = row.cell(index);
            if !text.is_empty() {
                return (text, Source::Column);
            }
        }
        match self.template.default_for(field) {
            Some(default) => (default, Source::Default),
            None => ("", Source::Missing),
        }
    }
}

/// Reusable buffers for the values normalisation rewrites. One per reader, reused for every row.
#[derive(Debug, Default)]
pub struct Scratch {
    domain: String,
    country: String,
    state: String,
    partner: String,
    language: String,
}

/// `Wingtip42` → `wingtip42.onmicrosoft.com`; a full name is only lowercased. Anything else with a
/// dot is left (lowercased) for validation to reject.
pub fn full_domain(raw: &str) -> String {
    let mut out = String::new();
    write_full_domain(raw, &mut out);
    out
}

fn write_full_domain(raw: &str, out: &mut String) {
    out.clear();
    if raw.is_ascii() {
        out.push_str(raw);
        out.make_ascii_lowercase();
    } else {
        out.push_str(&raw.to_lowercase());
    }
    if !out.contains('.') {
        out.push_str(DOMAIN_SUFFIX);
    }
}

fn write_ascii_case(raw: &str, upper: bool, out: &mut String) {
    out.clear();
    out.push_str(raw);
    if upper {
        out.make_ascii_uppercase();
    } else {
        out.make_ascii_lowercase();
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

/// [`Origin`] without the column index (the binding knows it): one byte per field in a draft.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Column,
    Default,
    Constant,
    Derived,
    Missing,
}

/// One field's value in a draft: a view, cheap to copy.
#[derive(Debug, Clone, Copy)]
pub struct Value<'a> {
    /// The value as it will be sent (normalised), `""` when missing.
    pub text: &'a str,
    pub origin: Origin,
    /// The column that could have supplied it, even when its cell was empty.
    pub column: Option<usize>,
}

impl Value<'_> {
    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }
}

/// A row mapped to the canonical fields, not yet judged: the text of every field (normalised) and
/// where it came from. Kept flat — it is built a million times for a million-row sheet.
#[derive(Debug)]
pub struct Draft<'r> {
    pub row: u64,
    cells: &'r RawRow,
    binding: &'r Binding<'r>,
    texts: [&'r str; Field::COUNT],
    sources: [Source; Field::COUNT],
}

impl<'r> Draft<'r> {
    pub fn get(&self, field: Field) -> Value<'r> {
        let column = self.binding.columns[field.index()];
        let origin = match self.sources[field.index()] {
            Source::Column => Origin::Column(column.unwrap_or_default()),
            Source::Default => Origin::Default,
            Source::Constant => Origin::Constant,
            Source::Derived => Origin::Derived,
            Source::Missing => Origin::Missing,
        };
        Value {
            text: self.texts[field.index()],
            origin,
            column,
        }
    }

    pub fn text(&self, field: Field) -> &'r str {
        self.texts[field.index()]
    }

    /// The header of the column that feeds `field`, as written in the sheet.
    pub fn column_of(&self, field: Field) -> Option<&'r str> {
        self.binding.column_of(field)
    }

    /// Every cell of the sheet's row, end to end: for checks that one pass over the row decides.
    pub fn row_text(&self) -> &'r str {
        self.cells.cells.as_slice()
    }

    /// Whether `field`'s value came from the sheet's row (rather than the template).
    pub fn from_row(&self, field: Field) -> bool {
        matches!(
            self.sources[field.index()],
            Source::Column | Source::Missing | Source::Derived
        )
    }

    /// The text as the sheet (or template) wrote it, before normalisation — for messages.
    pub fn raw(&self, field: Field) -> &'r str {
        self.binding.pick(field, self.cells).0
    }

    fn normalize(&mut self, scratch: &'r mut Scratch) {
        let Scratch {
            domain,
            country,
            state,
            partner,
            language,
        } = scratch;
        if !self.text(Field::Domain).is_empty() {
            write_full_domain(self.text(Field::Domain), domain);
            self.texts[Field::Domain.index()] = domain;
        }
        if self
            .text(Field::Country)
            .bytes()
            .any(|b| b.is_ascii_lowercase())
        {
            write_ascii_case(self.text(Field::Country), true, country);
            self.texts[Field::Country.index()] = country;
        }
        let is_us = self.text(Field::Country) == "US";
        if is_us
            && self
                .text(Field::State)
                .bytes()
                .any(|b| b.is_ascii_lowercase())
        {
            write_ascii_case(self.text(Field::State), true, state);
            self.texts[Field::State.index()] = state;
        }
        let reseller = self.text(Field::AssociatedPartnerId);
        if reseller.bytes().any(|b| b.is_ascii_uppercase()) {
            write_ascii_case(reseller, false, partner);
            self.texts[Field::AssociatedPartnerId.index()] = partner;
        }
        self.settle_culture(language);
    }

    /// A row with no culture (no cell, no template default) takes its country's own: the first
    /// culture Partner Center lists for it (`nl-NL` for NL, `en-US` for US). A defaulted culture
    /// the row's country does not accept gives way the same way (Mozambique and Suriname refuse
    /// `en-US`). A missing language is the culture's language part. Values the sheet gave are
    /// only re-spelled, never replaced.
    fn settle_culture(&mut self, language: &'r mut String) {
        let country = self.text(Field::Country);
        let culture = Field::Culture.index();
        if let Some(canonical) = countries::accepted_culture(country, self.texts[culture]) {
            self.texts[culture] = canonical;
        } else if matches!(self.sources[culture], Source::Default | Source::Missing)
            && let Some(first) = countries::default_culture(country)
        {
            self.texts[culture] = first;
            self.sources[culture] = Source::Derived;
        }
        let lang = Field::Language.index();
        let given = self.texts[lang];
        if given.is_empty() && !self.texts[culture].is_empty() {
            write_ascii_case(countries::language_of(self.texts[culture]), false, language);
            self.texts[lang] = language;
            self.sources[lang] = Source::Derived;
        } else if given.bytes().any(|b| b.is_ascii_uppercase()) {
            write_ascii_case(given, false, language);
            self.texts[lang] = language;
        }
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
        let mut scratch = Scratch::default();
        let draft = binding.draft(&raw, &mut scratch);
        assert_eq!(draft.text(Field::Domain), "wingtip42.onmicrosoft.com");
        assert_eq!(draft.text(Field::Country), "US");
        assert_eq!(draft.text(Field::Culture), "en-US");
        assert_eq!(draft.get(Field::Culture).origin, Origin::Derived);
        assert_eq!(draft.raw(Field::Domain), "Wingtip42");
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
        let mut scratch = Scratch::default();
        let draft = binding.draft(&raw, &mut scratch);
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
