//! A copy of a workbook with columns appended to one sheet (the write-back): every other part of
//! the package is copied byte for byte, and in the sheet's part only the rows that get cells change.
//!
//! So the distributor's file keeps what it had — other sheets, styles, number formats, formulas,
//! widths, filters — and its own cells are untouched: the new cells are inline strings (never
//! formulas, whatever their text) placed after the sheet's last used column. A row's optional
//! `spans` hint is dropped where the row grows, and the `<dimension>` is widened.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;

use quick_xml::events::{BytesEnd, BytesStart, Event};
use zip::ZipArchive;
use zip::write::{SimpleFileOptions, ZipWriter};

use super::diagnose::{find, reference, sheet_part};
use super::package::xml_reader;
use super::rows::MAX_COLUMNS;

/// Why a workbook could not be copied.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    #[error("cannot read the workbook: {0}")]
    Read(String),
    #[error("the workbook has no sheet `{0}`")]
    NoSheet(String),
    #[error("the sheet's columns end too near Excel's last column to add {0} more")]
    Full(usize),
    #[error("cannot write the copy: {0}")]
    Write(String),
}

/// The letters of 0-based column `index` (`0` → `A`, `26` → `AA`).
pub fn column_letters(index: u64) -> String {
    let mut n = index + 1;
    let mut letters = Vec::new();
    while n > 0 {
        let rem = ((n - 1) % 26) as u8;
        letters.push(b'A' + rem);
        n = (n - 1) / 26;
    }
    letters.reverse();
    String::from_utf8(letters).expect("ASCII")
}

/// Writes to `out` a copy of the workbook at `path` whose sheet `sheet` has, in each row `cells`
/// gives values for, those values in new columns after its last used one. `width` is how many
/// columns are added (rows given fewer leave the rest empty).
pub fn append_columns(
    path: &Path,
    sheet: &str,
    out: &Path,
    width: usize,
    cells: &dyn Fn(u64) -> Option<Vec<String>>,
) -> Result<(), AppendError> {
    let read = |e: &dyn std::fmt::Display| AppendError::Read(e.to_string());
    let file = File::open(path).map_err(|e| read(&e))?;
    let mut zip = ZipArchive::new(BufReader::new(file)).map_err(|e| read(&e))?;
    let part = sheet_part(&mut zip, sheet).ok_or_else(|| AppendError::NoSheet(sheet.into()))?;
    let index = find(&zip, &part).ok_or_else(|| AppendError::NoSheet(sheet.into()))?;
    let mut xml = Vec::new();
    zip.by_index(index)
        .map_err(|e| read(&e))?
        .read_to_end(&mut xml)
        .map_err(|e| read(&e))?;
    let first_new = last_column(&xml).map_err(|e| read(&e))?;
    if first_new + width as u64 > u64::from(MAX_COLUMNS) {
        return Err(AppendError::Full(width));
    }
    let amended = amend(&xml, first_new, width, cells).map_err(|e| read(&e))?;

    let write = |e: &dyn std::fmt::Display| AppendError::Write(e.to_string());
    let target = File::create(out).map_err(|e| write(&e))?;
    let mut copy = ZipWriter::new(BufWriter::new(target));
    for i in 0..zip.len() {
        if i == index {
            let name = zip
                .by_index_raw(i)
                .map_err(|e| read(&e))?
                .name()
                .map_err(|e| read(&e))?
                .into_owned();
            copy.start_file(
                name,
                SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated),
            )
            .map_err(|e| write(&e))?;
            copy.write_all(&amended).map_err(|e| write(&e))?;
        } else {
            let entry = zip.by_index_raw(i).map_err(|e| read(&e))?;
            copy.raw_copy_file(entry).map_err(|e| write(&e))?;
        }
    }
    copy.finish()
        .map_err(|e| write(&e))?
        .flush()
        .map_err(|e| write(&e))
}

fn attribute(e: &BytesStart<'_>, name: &str) -> Option<String> {
    e.attributes()
        .with_checks(false)
        .flatten()
        .find(|a| a.key.local_name().as_ref() == name)
        .map(|a| a.value.into_owned())
}

/// One past the last used 0-based column of the sheet (0 when it has no cells).
fn last_column(xml: &[u8]) -> Result<u64, quick_xml::Error> {
    let mut reader = xml_reader(xml);
    let mut buf = Vec::new();
    let mut next_column = 0u64;
    let mut end = 0u64;
    loop {
        buf.clear();
        match reader.read_event_into(&mut buf)? {
            Event::Start(e) | Event::Empty(e) if e.local_name().as_ref() == "row" => {
                next_column = 0;
            }
            Event::Start(e) | Event::Empty(e) if e.local_name().as_ref() == "c" => {
                let column = attribute(&e, "r")
                    .and_then(|r| reference(&r))
                    .and_then(|(_, c)| c)
                    .map_or(next_column, |c| c - 1);
                next_column = column + 1;
                end = end.max(column + 1);
            }
            Event::Eof => return Ok(end),
            _ => {}
        }
    }
}

/// The sheet's XML with the new cells in the rows that get them.
fn amend(
    xml: &[u8],
    first_new: u64,
    width: usize,
    cells: &dyn Fn(u64) -> Option<Vec<String>>,
) -> Result<Vec<u8>, quick_xml::Error> {
    let mut reader = xml_reader(xml);
    let mut writer = quick_xml::Writer::new(Vec::with_capacity(xml.len() + xml.len() / 4));
    let mut buf = Vec::new();
    // The row being copied: its `r`, or one after the previous row's.
    let mut row = 0u64;
    // The row being copied, and the cells it gets.
    let mut pending: Option<(String, Vec<String>)> = None;
    loop {
        buf.clear();
        let event = reader.read_event_into(&mut buf)?;
        match event {
            Event::Start(e) if e.local_name().as_ref() == "row" => {
                row = row_number(&e, row);
                match cells(row) {
                    Some(values) => {
                        writer.write_event(Event::Start(without_spans(&e)))?;
                        pending = Some((qualified(&e), values));
                    }
                    None => writer.write_event(Event::Start(e))?,
                }
            }
            Event::Empty(e) if e.local_name().as_ref() == "row" => {
                row = row_number(&e, row);
                match cells(row) {
                    Some(values) => {
                        let name = qualified(&e);
                        writer.write_event(Event::Start(without_spans(&e)))?;
                        write_cells(&mut writer, &name, row, first_new, width, &values)?;
                        writer.write_event(Event::End(BytesEnd::new(name)))?;
                    }
                    None => writer.write_event(Event::Empty(e))?,
                }
            }
            Event::End(e) if e.local_name().as_ref() == "row" => {
                if let Some((name, values)) = pending.take() {
                    write_cells(&mut writer, &name, row, first_new, width, &values)?;
                }
                writer.write_event(Event::End(e))?;
            }
            Event::Empty(e) if e.local_name().as_ref() == "dimension" => {
                writer.write_event(Event::Empty(widened(&e, first_new + width as u64)))?;
            }
            Event::Eof => break,
            other => writer.write_event(other)?,
        }
    }
    Ok(writer.into_inner())
}

fn row_number(e: &BytesStart<'_>, previous: u64) -> u64 {
    attribute(e, "r")
        .and_then(|r| r.trim().parse().ok())
        .unwrap_or(previous + 1)
}

/// The element's name as written (`row`, or `x:row` in a file that prefixes the namespace).
fn qualified(e: &BytesStart<'_>) -> String {
    e.name().as_ref().to_owned()
}

/// `<row>` without its `spans` hint, which the new cells would contradict.
fn without_spans(e: &BytesStart<'_>) -> BytesStart<'static> {
    let mut row = BytesStart::new(qualified(e));
    for a in e.attributes().with_checks(false).flatten() {
        if a.key.local_name().as_ref() != "spans" {
            row.push_attribute(a);
        }
    }
    row.into_owned()
}

/// `<dimension ref="A1:F9"/>` reaching column `end` (1-based last column).
fn widened(e: &BytesStart<'_>, end: u64) -> BytesStart<'static> {
    let mut dimension = BytesStart::new(qualified(e));
    for a in e.attributes().with_checks(false).flatten() {
        if a.key.local_name().as_ref() == "ref" {
            let value = a.value.to_string();
            let (start, last) = value
                .split_once(':')
                .unwrap_or((value.as_str(), value.as_str()));
            let last_row: String = last.chars().filter(char::is_ascii_digit).collect();
            let widened = format!("{start}:{}{last_row}", column_letters(end - 1));
            dimension.push_attribute(("ref", widened.as_str()));
        } else {
            dimension.push_attribute(a);
        }
    }
    dimension.into_owned()
}

/// The new cells of a row: inline strings, from column `first_new` on.
fn write_cells(
    writer: &mut quick_xml::Writer<Vec<u8>>,
    row_name: &str,
    row: u64,
    first_new: u64,
    width: usize,
    values: &[String],
) -> Result<(), quick_xml::Error> {
    // The cell elements take the row's namespace prefix, if it has one.
    let prefix = row_name
        .split_once(':')
        .map_or(String::new(), |(p, _)| format!("{p}:"));
    for (i, value) in values.iter().take(width).enumerate() {
        if value.is_empty() {
            continue;
        }
        let reference = format!("{}{row}", column_letters(first_new + i as u64));
        let text: String = value
            .chars()
            .filter(|c| matches!(c, '\t' | '\n' | '\r') || !c.is_control())
            .collect();
        let cell = format!(
            "<{prefix}c r=\"{reference}\" t=\"inlineStr\"><{prefix}is><{prefix}t xml:space=\"preserve\">{}</{prefix}t></{prefix}is></{prefix}c>",
            quick_xml::escape::escape(text.as_str())
        );
        writer.get_mut().extend_from_slice(cell.as_bytes());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_letters_count_as_spreadsheets_do() {
        let table = [
            (0, "A"),
            (25, "Z"),
            (26, "AA"),
            (51, "AZ"),
            (52, "BA"),
            (701, "ZZ"),
            (702, "AAA"),
            (16_383, "XFD"),
        ];
        for (index, letters) in table {
            assert_eq!(column_letters(index), letters);
        }
    }

    #[test]
    fn cells_go_after_the_last_column_and_only_rows_that_get_them_change() {
        let xml = br#"<worksheet><dimension ref="A1:C3"/><sheetData><row r="1" spans="1:3"><c r="A1" t="s"><v>0</v></c><c r="C1"><v>2</v></c></row><row r="2"><c r="B2"><v>5</v></c></row><row r="3"/></sheetData></worksheet>"#;
        assert_eq!(last_column(xml).unwrap(), 3);
        let cells = |row: u64| match row {
            1 => Some(vec!["state".to_string(), "a<b & \"c\"".to_string()]),
            3 => Some(vec!["created".to_string()]),
            _ => None,
        };
        let amended = String::from_utf8(amend(xml, 3, 2, &cells).unwrap()).unwrap();
        assert_eq!(
            amended,
            r#"<worksheet><dimension ref="A1:E3"/><sheetData><row r="1"><c r="A1" t="s"><v>0</v></c><c r="C1"><v>2</v></c><c r="D1" t="inlineStr"><is><t xml:space="preserve">state</t></is></c><c r="E1" t="inlineStr"><is><t xml:space="preserve">a&lt;b &amp; &quot;c&quot;</t></is></c></row><row r="2"><c r="B2"><v>5</v></c></row><row r="3"><c r="D3" t="inlineStr"><is><t xml:space="preserve">created</t></is></c></row></sheetData></worksheet>"#
        );
    }

    #[test]
    fn cells_without_references_are_placed_after_the_previous_one() {
        let xml = br#"<x:worksheet><x:sheetData><x:row><x:c><x:v>1</x:v></x:c><x:c><x:v>2</x:v></x:c></x:row></x:sheetData></x:worksheet>"#;
        assert_eq!(last_column(xml).unwrap(), 2);
        let amended =
            String::from_utf8(amend(xml, 2, 1, &|_| Some(vec!["x".into()])).unwrap()).unwrap();
        assert!(
            amended.contains(r#"<x:c r="C1" t="inlineStr"><x:is><x:t xml:space="preserve">x</x:t></x:is></x:c></x:row>"#),
            "{amended}"
        );
    }
}
