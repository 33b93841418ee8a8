//! After calamine panicked on a sheet: find what in the sheet made it, to name it.
//!
//! The panics a worksheet can cause are arithmetic overflows on forged numbers — a cell reference
//! or row number past `u32` (`A4294967297`, `ZZZZZZZ20`), a `<dimension>` that ends before it starts
//! — and calamine's message ("attempt to multiply with overflow") names none of them. This reads
//! the sheet's part again with quick-xml (the package checks have bounded its events) and returns
//! the first reference that lies outside Excel's grid, in the words the row assembler uses. It runs
//! only on the failure path, so its cost does not matter; when it finds nothing, the caller reports
//! where calamine failed instead.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Read, Seek};
use std::path::Path;

use quick_xml::events::{BytesStart, Event};
use zip::ZipArchive;

use super::package::{normalized, office_document, unescaped, xml_reader};
use super::rows::{MAX_COLUMNS, MAX_ROWS};

/// Why `sheet` of the workbook at `path` cannot be read, if a reference or dimension says so.
pub fn explain(path: &Path, sheet: &str) -> Option<String> {
    let file = File::open(path).ok()?;
    let mut zip = ZipArchive::new(BufReader::new(file)).ok()?;
    let part = sheet_part(&mut zip, sheet)?;
    let index = find(&zip, &part)?;
    let mut xml = xml_reader(zip.by_index(index).ok()?);
    let mut buf = Vec::new();
    // A row past the grid is named by its first cell, when it has one with a reference.
    let mut bad_row = None;
    loop {
        buf.clear();
        match xml.read_event_into(&mut buf) {
            Ok(Event::Start(e) | Event::Empty(e)) => {
                let in_grid = matches!(e.local_name().as_ref(), "c" | "row");
                match check_element(&e) {
                    Some(Problem::Row(reason)) if bad_row.is_none() => bad_row = Some(reason),
                    Some(Problem::Row(_)) => {}
                    Some(Problem::Other(reason)) => return Some(reason),
                    // The element after a bad row names nothing better.
                    None if in_grid && bad_row.is_some() => return bad_row,
                    None => {}
                }
            }
            Ok(Event::Eof) | Err(_) => return bad_row,
            _ => {}
        }
    }
}

enum Problem {
    /// A `<row>` past the grid (its cells may name it better).
    Row(String),
    Other(String),
}

fn check_element(e: &BytesStart<'_>) -> Option<Problem> {
    let name = e.local_name();
    let (attribute, what) = match name.as_ref() {
        "c" => ("r", What::Cell),
        "row" => ("r", What::Row),
        "dimension" => ("ref", What::Dimension),
        _ => return None,
    };
    let value = e
        .attributes()
        .with_checks(false)
        .flatten()
        .find(|a| a.key.local_name().as_ref() == attribute)?
        .value;
    let text: &str = &value;
    let shown = crate::shown::shown(text);
    match what {
        What::Cell => {
            let (row, column) = reference(text)?;
            if column.is_some_and(|c| c > u64::from(MAX_COLUMNS)) {
                Some(Problem::Other(format!(
                    "cell `{shown}` lies past Excel's last column (`XFD`)"
                )))
            } else if row > u64::from(MAX_ROWS) {
                Some(Problem::Other(format!(
                    "cell `{shown}` lies past Excel's last row ({MAX_ROWS})"
                )))
            } else {
                None
            }
        }
        What::Row => {
            let (row, _) = reference(text)?;
            (row > u64::from(MAX_ROWS)).then(|| {
                Problem::Row(format!(
                    "row {shown} lies past Excel's last row ({MAX_ROWS})"
                ))
            })
        }
        What::Dimension => {
            let (start, end) = text.split_once(':')?;
            let (start, end) = (reference(start)?, reference(end)?);
            let past = |(row, column): (u64, Option<u64>)| {
                row > u64::from(MAX_ROWS) || column.is_some_and(|c| c > u64::from(MAX_COLUMNS))
            };
            if past(start) || past(end) {
                Some(Problem::Other(format!(
                    "its dimension `{shown}` lies past Excel's grid"
                )))
            } else if end.0 < start.0 || end.1 < start.1 {
                Some(Problem::Other(format!(
                    "its dimension `{shown}` ends before it starts"
                )))
            } else {
                None
            }
        }
    }
}

enum What {
    Cell,
    Row,
    Dimension,
}

/// A reference's 1-based row and column (`None` without letters), saturating instead of
/// overflowing; `None` when it is not letters followed by digits.
pub(super) fn reference(text: &str) -> Option<(u64, Option<u64>)> {
    let bytes = text.as_bytes();
    let letters = bytes.iter().take_while(|b| b.is_ascii_alphabetic()).count();
    let digits = &bytes[letters..];
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let column = bytes[..letters].iter().fold(0u64, |n, b| {
        n.saturating_mul(26)
            .saturating_add(u64::from(b.to_ascii_uppercase() - b'A') + 1)
    });
    let row = digits.iter().fold(0u64, |n, b| {
        n.saturating_mul(10).saturating_add(u64::from(b - b'0'))
    });
    Some((row, (letters > 0).then_some(column)))
}

/// The part holding `sheet`, found as calamine finds it: the workbook part names the sheet's
/// relationship, the workbook's relationships name its target.
pub(super) fn sheet_part<R: Read + Seek>(zip: &mut ZipArchive<R>, sheet: &str) -> Option<String> {
    let rels = zip.index_for_name("_rels/.rels")?;
    let (xl, workbook) = office_document(zip, rels).ok()?;
    let rel_id = {
        let index = find(zip, &format!("{xl}{workbook}"))?;
        let mut xml = xml_reader(zip.by_index(index).ok()?);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match xml.read_event_into(&mut buf).ok()? {
                Event::Start(e) | Event::Empty(e) if e.local_name().as_ref() == "sheet" => {
                    let attrs: HashMap<String, String> = e
                        .attributes()
                        .with_checks(false)
                        .flatten()
                        .map(|a| (a.key.as_ref().to_owned(), unescaped(&a.value)))
                        .collect();
                    if attrs.get("name").map(String::as_str) == Some(sheet) {
                        break attrs
                            .iter()
                            .find(|(k, _)| *k == "id" || k.ends_with(":id"))
                            .map(|(_, v)| v.clone())?;
                    }
                }
                Event::Eof => return None,
                _ => {}
            }
        }
    };
    let index = find(zip, &format!("{xl}_rels/{workbook}.rels"))?;
    let mut xml = xml_reader(zip.by_index(index).ok()?);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match xml.read_event_into(&mut buf).ok()? {
            Event::Start(e) | Event::Empty(e) if e.local_name().as_ref() == "Relationship" => {
                let mut id = None;
                let mut target = None;
                for a in e.attributes().with_checks(false).flatten() {
                    match a.key.as_ref() {
                        "Id" => id = Some(a.value.into_owned()),
                        "Target" => {
                            target = Some(a.value.into_owned());
                        }
                        _ => {}
                    }
                }
                if id.as_deref() == Some(rel_id.as_str()) {
                    let target = target?;
                    let path = match target.strip_prefix('/') {
                        Some(absolute) => absolute.to_owned(),
                        None => format!("{xl}{target}"),
                    };
                    return Some(normalized(&path));
                }
            }
            Event::Eof => return None,
            _ => {}
        }
    }
}

/// The index of the part named `name`, compared as calamine compares (case-insensitively).
pub(super) fn find<R: Read + Seek>(zip: &ZipArchive<R>, name: &str) -> Option<usize> {
    let wanted = normalized(name);
    (0..zip.len()).find(|&i| {
        zip.by_index_data(i)
            .is_ok_and(|e| normalized(&String::from_utf8_lossy(e.name_raw())) == wanted)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_saturate_instead_of_wrapping() {
        assert_eq!(reference("A1"), Some((1, Some(1))));
        assert_eq!(reference("xfd1048576"), Some((1_048_576, Some(16_384))));
        assert_eq!(reference("A4294967297"), Some((4_294_967_297, Some(1))));
        assert_eq!(reference("7"), Some((7, None)));
        assert_eq!(reference("ZZZZZZZZZZZZZZZZ1").unwrap().1, Some(u64::MAX));
        assert_eq!(reference("A1B"), None);
        assert_eq!(reference("A"), None);
    }
}
