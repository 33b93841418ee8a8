//! Sheets: the canonical headers and reseller ids, customer rows and the CSV text they make, xlsx
//! cells, and reading a sheet back (through the library's reader, or a CSV by hand).

use std::path::Path;

/// The canonical headers, in the order the sample sheet uses.
pub const HEADERS: [&str; 17] = [
    "domain",
    "company_name",
    "email",
    "first_name",
    "last_name",
    "address_line1",
    "address_line2",
    "city",
    "state",
    "postal_code",
    "country",
    "phone_number",
    "culture",
    "language",
    "associated_partner_id",
    "organization_registration_number",
    "external_id",
];

pub const ADATUM: &str = "5d1e7a90-3b2c-4f6e-9a81-1c2d3e4f5a01";
pub const LITWARE: &str = "6e2f8b01-4c3d-4a7f-8b92-2d3e4f5a6b02";

/// A customer row, valid until a test changes it.
#[derive(Debug, Clone)]
pub struct Customer {
    values: Vec<String>,
}

impl Customer {
    pub fn valid(prefix: &str) -> Customer {
        let values = [
            prefix,
            "Wingtip Toys",
            "gena@wingtiptoys.com",
            "Gena",
            "Soto",
            "One Microsoft Way",
            "",
            "Redmond",
            "WA",
            "98052",
            "US",
            "4255550101",
            "en-US",
            "en",
            ADATUM,
            "",
            "",
        ];
        Customer {
            values: values.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// Sets a canonical field.
    pub fn with(mut self, field: &str, value: &str) -> Customer {
        let index = HEADERS
            .iter()
            .position(|h| *h == field)
            .unwrap_or_else(|| panic!("no field {field}"));
        self.values[index] = value.to_string();
        self
    }

    pub fn cells(&self) -> Vec<String> {
        self.values.clone()
    }

    pub fn csv_line(&self) -> String {
        let mut writer = csv::WriterBuilder::new()
            .terminator(csv::Terminator::Any(b'\n'))
            .from_writer(Vec::new());
        writer.write_record(&self.values).unwrap();
        String::from_utf8(writer.into_inner().unwrap()).unwrap()
    }
}

/// A CSV text with the canonical header and these customers.
pub fn csv_text(customers: &[Customer]) -> String {
    let mut text = HEADERS.join(",") + "\n";
    for c in customers {
        text.push_str(&c.csv_line());
    }
    text
}

/// A cell of an xlsx fixture.
#[derive(Debug, Clone)]
pub enum Cell {
    Text(String),
    Number(f64),
    /// A number shown through a number format, e.g. `00000`.
    Formatted(f64, &'static str),
    /// A formula with its cached result.
    Formula(&'static str, f64),
    Bool(bool),
    /// A date as Excel stores it (serial days), formatted `yyyy-mm-dd`.
    Date(f64),
}

pub fn text(s: &str) -> Cell {
    Cell::Text(s.to_string())
}

/// A sheet as the reader delivered it.
#[derive(Debug)]
pub struct ReadSheet {
    pub header: csp_onboard::source::Header,
    /// (row number, cells)
    pub rows: Vec<(u64, Vec<String>)>,
    pub info: csp_onboard::source::SourceInfo,
}

impl ReadSheet {
    pub fn numbers(&self) -> Vec<u64> {
        self.rows.iter().map(|(n, _)| *n).collect()
    }

    /// The cell of a row (by its sheet number) under a header.
    pub fn cell(&self, row: u64, header: &str) -> &str {
        let column = self
            .header
            .cells
            .iter()
            .position(|h| h == header)
            .unwrap_or_else(|| panic!("no header {header} in {:?}", self.header.cells));
        let (_, cells) = self
            .rows
            .iter()
            .find(|(n, _)| *n == row)
            .unwrap_or_else(|| panic!("no row {row} in {:?}", self.numbers()));
        cells.get(column).map(String::as_str).unwrap_or("")
    }
}

/// Reads a sheet through the library's source module; a sheet is recognized when its first row has
/// a `domain` column.
pub fn read_sheet(
    path: &Path,
    options: &csp_onboard::source::SourceOptions,
) -> Result<ReadSheet, csp_onboard::source::SourceError> {
    use csp_onboard::source::{Header, RawRow, RowVisitor, SourceError};

    struct Collect {
        header: Option<Header>,
        rows: Vec<(u64, Vec<String>)>,
    }
    impl RowVisitor for Collect {
        type Error = SourceError;
        fn recognizes(&self, header: &[String]) -> bool {
            header.iter().any(|h| h.eq_ignore_ascii_case("domain"))
        }
        fn header(&mut self, header: &Header) -> Result<(), SourceError> {
            self.header = Some(header.clone());
            Ok(())
        }
        fn row(&mut self, row: &RawRow) -> Result<(), SourceError> {
            self.rows
                .push((row.number, row.cells.iter().map(str::to_owned).collect()));
            Ok(())
        }
    }
    let mut collect = Collect {
        header: None,
        rows: Vec::new(),
    };
    let info = csp_onboard::source::read(path, options, &mut collect)?;
    Ok(ReadSheet {
        header: collect.header.expect("a header"),
        rows: collect.rows,
        info,
    })
}

pub fn read_csv(path: &Path) -> Vec<std::collections::HashMap<String, String>> {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let headers = reader.headers().unwrap().clone();
    reader
        .records()
        .map(|r| {
            headers
                .iter()
                .map(str::to_owned)
                .zip(r.unwrap().iter().map(str::to_owned))
                .collect()
        })
        .collect()
}

/// `n` valid customers with distinct domains `{prefix}{i}`.
pub fn customers(prefix: &str, n: usize) -> Vec<Customer> {
    (0..n)
        .map(|i| Customer::valid(&format!("{prefix}{i}")))
        .collect()
}
