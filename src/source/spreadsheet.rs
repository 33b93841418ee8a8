//! Workbooks through calamine: xlsx/xlsm streamed cell by cell, xlsb/xls/ods loaded whole.
//!
//! Cells become the text a person sees in the spreadsheet program: integer-valued numbers without
//! `.0` and never in scientific notation, zero-padded when the cell's number format pads them (a
//! ZIP formatted `00000`), dates as ISO `YYYY-MM-DD`, formulas by their cached value, booleans as
//! `TRUE`/`FALSE`, error cells as Excel shows them (`#N/A`). Number formats are only visible for
//! xlsx/xlsm; a US ZIP that lost its zero elsewhere is caught by validation's hint instead.

use std::fmt::Write as _;
use std::io::{Read, Seek};
use std::path::Path;

use calamine::{Data, DataRef, ExcelDateTime, Range, Reader, Sheets, Xlsx, open_workbook_auto};

use super::{Header, RawRow, RowVisitor, SheetChoice, SourceError, SourceInfo, SourceOptions};

pub fn read<V: RowVisitor>(
    path: &Path,
    options: &SourceOptions,
    visitor: &mut V,
) -> Result<SourceInfo, V::Error> {
    let workbook_error = |message: String| SourceError::Workbook {
        path: path.to_path_buf(),
        message,
    };
    let mut workbook = open_workbook_auto(path).map_err(|e| workbook_error(e.to_string()))?;
    let names = workbook.sheet_names();
    if names.is_empty() {
        return Err(workbook_error("the workbook has no sheets".into()).into());
    }
    let format = match workbook {
        Sheets::Xlsx(_) => "xlsx",
        Sheets::Xlsb(_) => "xlsb",
        Sheets::Xls(_) => "xls",
        Sheets::Ods(_) => "ods",
    };
    let mut book = Book {
        path,
        workbook: &mut workbook,
    };
    let sheet = choose_sheet(&mut book, &names, &options.sheet, visitor)?;
    let mut header_seen = false;
    book.rows::<V::Error>(&sheet, &mut |row| {
        if header_seen {
            visitor.row(row)?;
        } else {
            header_seen = true;
            visitor.header(&Header {
                number: row.number,
                cells: row.cells.iter().map(str::to_owned).collect(),
                sheet: Some(sheet.clone()),
            })?;
        }
        Ok(Flow::Continue)
    })?;
    if !header_seen {
        return Err(SourceError::NoHeader {
            path: path.to_path_buf(),
        }
        .into());
    }
    Ok(SourceInfo {
        format,
        sheet: Some(sheet),
        encoding: None,
        encoding_basis: None,
        delimiter: None,
    })
}

fn choose_sheet<V: RowVisitor, RS: Read + Seek>(
    book: &mut Book<'_, RS>,
    names: &[String],
    choice: &SheetChoice,
    visitor: &V,
) -> Result<String, V::Error> {
    match choice {
        SheetChoice::Named(wanted) => {
            if names.contains(wanted) {
                return Ok(wanted.clone());
            }
            wanted
                .parse::<usize>()
                .ok()
                .and_then(|n| names.get(n.checked_sub(1)?))
                .cloned()
                .ok_or_else(|| {
                    SourceError::SheetNotFound {
                        path: book.path.to_path_buf(),
                        wanted: wanted.clone(),
                        available: names.to_vec(),
                    }
                    .into()
                })
        }
        // With one sheet there is nothing to choose: the visitor's own complaint about its header
        // (which columns are missing) says more than "no sheet matched".
        SheetChoice::FirstRecognized if names.len() == 1 => Ok(names[0].clone()),
        SheetChoice::FirstRecognized => {
            for name in names {
                if let Some(first) = book.first_row(name)?
                    && visitor.recognizes(&first)
                {
                    return Ok(name.clone());
                }
            }
            Err(SourceError::NoRecognizedSheet {
                path: book.path.to_path_buf(),
                sheets: names.to_vec(),
            }
            .into())
        }
    }
}

enum Flow {
    Continue,
    Stop,
}

struct Book<'a, RS> {
    path: &'a Path,
    workbook: &'a mut Sheets<RS>,
}

impl<RS: Read + Seek> Book<'_, RS> {
    /// The first non-empty row of a sheet.
    fn first_row(&mut self, sheet: &str) -> Result<Option<Vec<String>>, SourceError> {
        let mut first = None;
        self.rows(sheet, &mut |row| {
            first = Some(row.cells.iter().map(str::to_owned).collect());
            Ok::<_, SourceError>(Flow::Stop)
        })?;
        Ok(first)
    }

    /// Calls `each` with every non-empty row of `sheet`, until it says stop.
    fn rows<E: From<SourceError>>(
        &mut self,
        sheet: &str,
        each: &mut dyn FnMut(&RawRow) -> Result<Flow, E>,
    ) -> Result<(), E> {
        let path = self.path;
        let workbook_error = |message: String| SourceError::Workbook {
            path: path.to_path_buf(),
            message: format!("sheet `{sheet}`: {message}"),
        };
        match &mut *self.workbook {
            Sheets::Xlsx(xlsx) => stream_xlsx(xlsx, sheet, each, &workbook_error),
            other => {
                let range = other
                    .worksheet_range(sheet)
                    .map_err(|e| workbook_error(e.to_string()))?;
                walk_range(&range, each)
            }
        }
    }
}

fn stream_xlsx<RS: Read + Seek, E: From<SourceError>>(
    xlsx: &mut Xlsx<RS>,
    sheet: &str,
    each: &mut dyn FnMut(&RawRow) -> Result<Flow, E>,
    workbook_error: &dyn Fn(String) -> SourceError,
) -> Result<(), E> {
    let mut cells = xlsx
        .worksheet_cells_reader(sheet)
        .map_err(|e| workbook_error(e.to_string()))?;
    let padding: Vec<Option<Padding>> = cells
        .styles()
        .iter()
        .map(|style| {
            style
                .number_format
                .as_ref()
                .and_then(|f| Padding::from_format(&f.format_code))
        })
        .collect();
    let mut row = RawRow::default();
    let mut current: Option<u32> = None;
    let mut text = String::new();
    loop {
        let next = cells
            .next_cell_with_style_id()
            .map_err(|e| workbook_error(e.to_string()))?;
        let Some((cell, style)) = next else { break };
        let (r, c) = cell.get_position();
        if current != Some(r) {
            if current.is_some() && !row.is_blank() && matches!(each(&row)?, Flow::Stop) {
                return Ok(());
            }
            current = Some(r);
            row.number = u64::from(r) + 1;
            row.cells.clear();
        }
        text.clear();
        let pad = padding.get(style).copied().flatten();
        write_cell(&mut text, &value_of_ref(cell.get_value()), pad);
        while row.cells.len() < c as usize {
            row.cells.push_field("");
        }
        row.cells.push_field(text.trim());
    }
    if current.is_some() && !row.is_blank() {
        each(&row)?;
    }
    Ok(())
}

fn walk_range<E>(
    range: &Range<Data>,
    each: &mut dyn FnMut(&RawRow) -> Result<Flow, E>,
) -> Result<(), E> {
    let first_row = range.start().map_or(0, |(r, _)| r);
    let mut row = RawRow::default();
    let mut text = String::new();
    for (i, cells) in range.rows().enumerate() {
        row.number = u64::from(first_row) + i as u64 + 1;
        row.cells.clear();
        for cell in cells {
            text.clear();
            write_cell(&mut text, &value_of(cell), None);
            row.cells.push_field(text.trim());
        }
        if !row.is_blank() && matches!(each(&row)?, Flow::Stop) {
            break;
        }
    }
    Ok(())
}

/// A cell's value, whichever calamine type it came in.
enum Value<'a> {
    Text(&'a str),
    Int(i64),
    Float(f64),
    Bool(bool),
    Date(ExcelDateTime),
    Iso(&'a str),
    Error(String),
    Empty,
}

fn value_of_ref<'a>(data: &'a DataRef<'_>) -> Value<'a> {
    match data {
        DataRef::String(s) => Value::Text(s),
        DataRef::SharedString(s) => Value::Text(s),
        DataRef::Int(i) => Value::Int(*i),
        DataRef::Float(f) => Value::Float(*f),
        DataRef::Bool(b) => Value::Bool(*b),
        DataRef::DateTime(d) => Value::Date(*d),
        DataRef::DateTimeIso(s) | DataRef::DurationIso(s) => Value::Iso(s),
        DataRef::Error(e) => Value::Error(e.to_string()),
        DataRef::Empty => Value::Empty,
    }
}

fn value_of(data: &Data) -> Value<'_> {
    match data {
        Data::String(s) => Value::Text(s),
        Data::Int(i) => Value::Int(*i),
        Data::Float(f) => Value::Float(*f),
        Data::Bool(b) => Value::Bool(*b),
        Data::DateTime(d) => Value::Date(*d),
        Data::DateTimeIso(s) | Data::DurationIso(s) => Value::Iso(s),
        Data::Error(e) => Value::Error(e.to_string()),
        Data::Empty => Value::Empty,
    }
}

fn write_cell(out: &mut String, value: &Value<'_>, pad: Option<Padding>) {
    match value {
        Value::Text(s) => out.push_str(s),
        Value::Int(i) => write_integer(out, *i, pad),
        Value::Float(f) => write_number(out, *f, pad),
        Value::Bool(true) => out.push_str("TRUE"),
        Value::Bool(false) => out.push_str("FALSE"),
        Value::Date(d) => write_date(out, d),
        Value::Iso(s) => out.push_str(s.strip_suffix("T00:00:00").unwrap_or(s)),
        Value::Error(e) => out.push_str(e),
        Value::Empty => {}
    }
}

/// Integer-valued numbers print as integers; others with at most 15 significant digits, as Excel
/// shows them under the General format (`0.1 + 0.2` is `0.3`), never in scientific notation.
fn write_number(out: &mut String, f: f64, pad: Option<Padding>) {
    if f.fract() == 0.0 && f.abs() < 1e17 {
        write_integer(out, f as i64, pad);
        return;
    }
    let magnitude = if f == 0.0 {
        0
    } else {
        f.abs().log10().floor() as i32
    };
    let decimals = (14 - magnitude).clamp(0, 30) as usize;
    let start = out.len();
    let _ = write!(out, "{f:.decimals$}");
    if out[start..].contains('.') {
        let trimmed = out.trim_end_matches('0').trim_end_matches('.').len();
        out.truncate(trimmed);
    }
}

fn write_integer(out: &mut String, i: i64, pad: Option<Padding>) {
    match pad {
        Some(padding) if i >= 0 => padding.write(out, i as u64),
        _ => {
            let _ = write!(out, "{i}");
        }
    }
}

fn write_date(out: &mut String, d: &ExcelDateTime) {
    if d.is_duration() {
        let total = (d.as_f64() * 86_400.0).round() as i64;
        let _ = write!(
            out,
            "{}:{:02}:{:02}",
            total / 3600,
            (total / 60) % 60,
            total % 60
        );
        return;
    }
    let (year, month, day, hour, minute, second, _) = d.to_ymd_hms_milli();
    let _ = write!(out, "{year:04}-{month:02}-{day:02}");
    if (hour, minute, second) != (0, 0, 0) {
        let _ = write!(out, "T{hour:02}:{minute:02}:{second:02}");
    }
}

/// A number format that shows integers with leading zeros: `00000` (ZIP), `00000-0000` (ZIP+4),
/// `0000000000`. Digits fill the zeros from the right; other characters are literal.
#[derive(Clone, Copy)]
struct Padding {
    digits: u8,
    /// Position (counted from the right, in digits) of a literal `-`, if any.
    dash_after: Option<u8>,
}

impl Padding {
    fn from_format(code: &str) -> Option<Padding> {
        let code = code.trim();
        if code.len() < 2 || code.len() > 20 || !code.starts_with('0') {
            return None;
        }
        let dashes = code.matches('-').count();
        if dashes > 1 || !code.chars().all(|c| c == '0' || c == '-') {
            return None;
        }
        let digits = code.matches('0').count() as u8;
        let dash_after = code
            .rfind('-')
            .map(|i| code[i + 1..].matches('0').count() as u8);
        Some(Padding { digits, dash_after })
    }

    fn write(self, out: &mut String, n: u64) {
        let plain = format!("{n:0width$}", width = self.digits as usize);
        match self.dash_after {
            Some(tail) if plain.len() > tail as usize => {
                let split = plain.len() - tail as usize;
                out.push_str(&plain[..split]);
                out.push('-');
                out.push_str(&plain[split..]);
            }
            _ => out.push_str(&plain),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn number(f: f64, format: Option<&str>) -> String {
        let mut out = String::new();
        write_number(&mut out, f, format.and_then(Padding::from_format));
        out
    }

    #[test]
    fn numbers_read_as_people_see_them() {
        assert_eq!(number(4255550101.0, None), "4255550101");
        assert_eq!(number(98052.0, None), "98052");
        assert_eq!(number(0.1 + 0.2, None), "0.3");
        assert_eq!(number(1234.5, None), "1234.5");
        assert_eq!(number(-7.0, None), "-7");
    }

    #[test]
    fn zero_padding_formats_restore_leading_zeros() {
        assert_eq!(number(2134.0, Some("00000")), "02134");
        assert_eq!(number(21344567.0, Some("00000-0000")), "02134-4567");
        assert_eq!(number(98052.0, Some("General")), "98052");
        assert_eq!(number(2134.0, Some("0.00")), "2134");
    }
}
