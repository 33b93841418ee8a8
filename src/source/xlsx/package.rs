//! Whether an xlsx package is safe to hand to calamine.
//!
//! [`check_xlsx`] reads the zip central directory and refuses, before calamine allocates anything,
//! the parts whose declared uncompressed size could exhaust memory. zip (9.0.1 and later) stops any
//! read that passes an entry's central-directory size ("File is larger than its declared
//! uncompressed size"), so the declared sizes are real bounds. calamine loads some parts whole —
//! the package and workbook relationships, the workbook part, the shared strings (3 to 5 times
//! their XML size in memory), the styles (one 152-byte `Style` per `<xf>`, each with its own copy
//! of a font name and a number format) and the theme — and streams the worksheets:
//!
//! | part | at most (uncompressed) | and |
//! | --- | --- | --- |
//! | shared strings | 64 MiB | a `uniqueCount` it could hold (calamine reserves that many strings up front) |
//! | styles | 16 MiB | [`STYLES_BUDGET`] for the styles calamine builds from it |
//! | worksheets (parts in a `worksheets/` folder) | 2 GiB | above 16 MiB, no XML event over 1 MiB ([`super::xml_scan`]) |
//! | any other part | 16 MiB | |
//!
//! The parts calamine loads whole are found the way calamine finds them (the package
//! relationships name the workbook part and its folder), so a forged package cannot pass its
//! workbook part or shared strings off as a streamed worksheet. Parts at most 16 MiB are not
//! scanned: quick-xml's buffers for one event of that size stay under 50 MiB.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use quick_xml::events::Event;
use zip::ZipArchive;

use super::xml_scan::{EventScanner, MAX_EVENT_BYTES};
use crate::source::SourceError;

const MIB: u64 = 1 << 20;
/// The shared strings table, loaded whole.
pub const MAX_SHARED_STRINGS: u64 = 64 * MIB;
/// Any part calamine loads whole, and any part that is not a worksheet.
pub const MAX_PART: u64 = 16 * MIB;
/// A worksheet, streamed.
pub const MAX_WORKSHEET: u64 = 2048 * MIB;
/// What calamine may build from the styles part (see [`check_styles`]), in bytes.
pub const STYLES_BUDGET: u64 = 64 * MIB;
/// At most this many entries in the package: the zip index and calamine's path cache grow with them.
pub const MAX_ENTRIES: usize = 65_536;

fn io_error(path: &Path, source: std::io::Error) -> SourceError {
    SourceError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// One entry of the package, as the central directory declares it.
struct Entry {
    index: usize,
    name: String,
    size: u64,
}

/// The worksheets over 16 MiB, which [`scan_worksheets`] must pass before calamine reads them.
#[derive(Debug, Default)]
pub struct ToScan(Vec<(usize, String)>);

impl ToScan {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Checks an xlsx/xlsm package's declared part sizes, its shared strings header and its styles,
/// and lists the large worksheets still to scan. Nothing here trusts calamine; everything is
/// bounded.
pub fn check_xlsx(path: &Path) -> Result<ToScan, SourceError> {
    let too_large = |what: String| SourceError::TooLarge {
        path: path.to_path_buf(),
        what,
    };
    let damaged = |detail: String| SourceError::Damaged {
        path: path.to_path_buf(),
        detail,
    };
    let mut file = File::open(path).map_err(|source| io_error(path, source))?;
    if let Some(entries) = declared_entries(&mut file).map_err(|source| io_error(path, source))?
        && entries > MAX_ENTRIES as u64
    {
        return Err(too_large(format!(
            "its zip directory lists {entries} parts (a workbook has tens; at most {MAX_ENTRIES} are read)"
        )));
    }
    file.seek(SeekFrom::Start(0))
        .map_err(|source| io_error(path, source))?;
    let mut zip = ZipArchive::new(BufReader::new(file))
        .map_err(|e| damaged(format!("its zip archive cannot be read ({e})")))?;
    if zip.len() > MAX_ENTRIES {
        return Err(too_large(format!(
            "its zip directory lists {} parts (at most {MAX_ENTRIES} are read)",
            zip.len()
        )));
    }
    let mut entries = Vec::with_capacity(zip.len());
    for index in 0..zip.len() {
        let entry = zip
            .by_index_data(index)
            .map_err(|e| damaged(format!("its zip directory is damaged ({e})")))?;
        entries.push(Entry {
            index,
            name: normalized(&String::from_utf8_lossy(entry.name_raw())),
            size: entry.size(),
        });
    }
    let by_name: HashMap<&str, &Entry> = entries.iter().map(|e| (e.name.as_str(), e)).collect();

    // The package relationships are small whatever they point at; read them first.
    let package_rels = by_name.get("_rels/.rels").copied();
    if let Some(rels) = package_rels
        && rels.size > MAX_PART
    {
        return Err(part_too_large(path, rels, MAX_PART));
    }
    let (xl, workbook) = match package_rels {
        Some(rels) => office_document(&mut zip, rels.index)
            .map_err(|e| damaged(format!("its package relationships cannot be read ({e})")))?,
        None => ("xl/".to_owned(), "workbook.xml".to_owned()),
    };
    let shared_strings = normalized(&format!("{xl}sharedStrings.xml"));
    let styles = normalized(&format!("{xl}styles.xml"));
    let whole: Vec<String> = [
        format!("{xl}{workbook}"),
        format!("{xl}_rels/{workbook}.rels"),
        format!("{xl}theme/theme1.xml"),
    ]
    .iter()
    .map(|p| normalized(p))
    .chain([styles.clone()])
    .collect();

    let mut to_scan = Vec::new();
    for entry in &entries {
        let name = entry.name.as_str();
        let limit = if name == shared_strings {
            MAX_SHARED_STRINGS
        } else if whole.iter().any(|w| w == name) || !is_worksheet(name) {
            MAX_PART
        } else {
            if entry.size > MAX_PART {
                to_scan.push(entry);
            }
            MAX_WORKSHEET
        };
        if entry.size > limit {
            return Err(part_too_large(path, entry, limit));
        }
    }

    if let Some(entry) = by_name.get(shared_strings.as_str()) {
        check_shared_strings(&mut zip, entry).map_err(|e| e.into_error(path, &entry.name))?;
    }
    if let Some(entry) = by_name.get(styles.as_str()) {
        check_styles(&mut zip, entry).map_err(|e| e.into_error(path, &entry.name))?;
    }
    Ok(ToScan(
        to_scan
            .into_iter()
            .map(|e| (e.index, e.name.clone()))
            .collect(),
    ))
}

/// Scans the worksheets [`check_xlsx`] listed: no XML event of theirs may pass 1 MiB. It opens the
/// file itself, so it can run on a thread of its own while calamine opens the workbook.
pub fn scan_worksheets(path: &Path, parts: &ToScan) -> Result<(), SourceError> {
    let file = File::open(path).map_err(|source| io_error(path, source))?;
    let mut zip = ZipArchive::new(BufReader::new(file)).map_err(|e| SourceError::Damaged {
        path: path.to_path_buf(),
        detail: format!("its zip archive cannot be read ({e})"),
    })?;
    for (index, name) in &parts.0 {
        scan_events(&mut zip, *index).map_err(|e| e.into_error(path, name))?;
    }
    Ok(())
}

/// quick-xml configured as calamine configures it (lenient about end names and comments).
pub(super) fn xml_reader<R: Read>(r: R) -> quick_xml::Reader<BufReader<R>> {
    let mut xml = quick_xml::Reader::from_reader(BufReader::new(r));
    let config = xml.config_mut();
    config.check_end_names = false;
    config.check_comments = false;
    config.trim_text(false);
    xml
}

/// An attribute value with its entities replaced, as calamine's `decode_attr` does (or as it
/// stands, when an entity is unknown: calamine would fail on it later anyway).
pub(super) fn unescaped(value: &str) -> String {
    quick_xml::escape::unescape(value)
        .map(|v| v.into_owned())
        .unwrap_or_else(|_| value.to_owned())
}

/// A part name as calamine looks it up: `/` separators, lower case.
pub(super) fn normalized(name: &str) -> String {
    name.replace('\\', "/").to_ascii_lowercase()
}

/// A part in a folder named `worksheets`, where every writer puts them.
fn is_worksheet(name: &str) -> bool {
    name.split('/')
        .rev()
        .skip(1)
        .any(|folder| folder == "worksheets")
}

fn part_too_large(path: &Path, entry: &Entry, limit: u64) -> SourceError {
    SourceError::TooLarge {
        path: path.to_path_buf(),
        what: format!(
            "its part `{}` unpacks to {}; csp-onboard reads such parts up to {}",
            crate::shown::shown(&entry.name),
            size_text(entry.size),
            size_text(limit)
        ),
    }
}

fn size_text(bytes: u64) -> String {
    if bytes >= 10 * MIB {
        format!("{} MiB", bytes / MIB)
    } else if bytes >= 10 << 10 {
        format!("{} KiB", bytes >> 10)
    } else {
        format!("{bytes} bytes")
    }
}

/// What a check of one part found wrong.
pub(super) enum PartProblem {
    /// The part cannot be what it claims: the file is damaged or forged.
    Damaged(String),
    /// Reading it as calamine would could exhaust memory.
    TooLarge(String),
}

impl PartProblem {
    fn into_error(self, path: &Path, name: &str) -> SourceError {
        let part = crate::shown::shown(name);
        match self {
            PartProblem::Damaged(detail) => SourceError::Damaged {
                path: path.to_path_buf(),
                detail: format!("its part `{part}`: {detail}"),
            },
            PartProblem::TooLarge(what) => SourceError::TooLarge {
                path: path.to_path_buf(),
                what: format!("its part `{part}`: {what}"),
            },
        }
    }
}

impl std::fmt::Display for PartProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PartProblem::Damaged(what) | PartProblem::TooLarge(what) => f.write_str(what),
        }
    }
}

impl From<zip::result::ZipError> for PartProblem {
    fn from(e: zip::result::ZipError) -> PartProblem {
        PartProblem::Damaged(format!("cannot be unpacked ({e})"))
    }
}

impl From<std::io::Error> for PartProblem {
    fn from(e: std::io::Error) -> PartProblem {
        PartProblem::Damaged(format!("cannot be unpacked ({e})"))
    }
}

impl From<quick_xml::Error> for PartProblem {
    fn from(e: quick_xml::Error) -> PartProblem {
        match e {
            quick_xml::Error::Io(e) => PartProblem::Damaged(format!("cannot be unpacked ({e})")),
            e => PartProblem::Damaged(format!("is not well-formed XML ({e})")),
        }
    }
}

/// The folder and name of the workbook part, from the package relationships, exactly as calamine
/// derives them (the last `officeDocument` relationship wins; default `xl/workbook.xml`).
pub(super) fn office_document<R: Read + Seek>(
    zip: &mut ZipArchive<R>,
    index: usize,
) -> Result<(String, String), PartProblem> {
    let part = zip.by_index(index)?;
    let mut xml = xml_reader(part);
    let mut buf = Vec::new();
    let mut target = None;
    loop {
        buf.clear();
        match xml.read_event_into(&mut buf)? {
            Event::Start(e) | Event::Empty(e) if e.local_name().as_ref() == "Relationship" => {
                let mut is_office = false;
                let mut this_target = None;
                for attr in e.attributes().with_checks(false).flatten() {
                    match attr.key.local_name().as_ref() {
                        "Type" => {
                            is_office = attr.value.ends_with("/relationships/officeDocument");
                        }
                        "Target" => {
                            this_target = Some(unescaped(&attr.value));
                        }
                        _ => {}
                    }
                }
                if is_office && let Some(t) = this_target {
                    target = Some(t);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    let Some(target) = target else {
        return Ok(("xl/".to_owned(), "workbook.xml".to_owned()));
    };
    let (dir, name) = match target.rfind('/') {
        Some(i) => target.split_at(i + 1),
        None => ("", target.as_str()),
    };
    let dir = dir.strip_prefix('/').unwrap_or(dir).to_owned();
    let name = if name.is_empty() {
        "workbook.xml".to_owned()
    } else {
        name.to_owned()
    };
    Ok((dir, name))
}

/// calamine reserves `uniqueCount` strings before reading one: a 1.5 KB part declaring 10^11 of
/// them aborts the process. No table holds more strings than it has bytes for (`<si/>` is five).
fn check_shared_strings<R: Read + Seek>(
    zip: &mut ZipArchive<R>,
    entry: &Entry,
) -> Result<(), PartProblem> {
    const HEAD: u64 = 64 << 10;
    let part = zip.by_index(entry.index)?;
    let mut xml = xml_reader(part.take(HEAD));
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match xml.read_event_into(&mut buf)? {
            Event::Start(e) | Event::Empty(e) if e.local_name().as_ref() == "sst" => {
                let Some(count) = e
                    .attributes()
                    .with_checks(false)
                    .flatten()
                    .find(|a| a.key.as_ref() == "uniqueCount")
                else {
                    return Ok(());
                };
                let count = count.value.trim().parse::<u64>().ok();
                return match count {
                    Some(n) if n > entry.size / 5 => Err(PartProblem::Damaged(format!(
                        "it declares {n} strings in {}",
                        size_text(entry.size)
                    ))),
                    _ => Ok(()),
                };
            }
            Event::Eof => {
                return Err(PartProblem::Damaged(
                    "its string table does not start in its first 64 KiB".into(),
                ));
            }
            _ => {}
        }
    }
}

/// Estimates what calamine builds from the styles part: about 64 bytes per element, and for each
/// `<xf>` a 160-byte style holding its own copy of a font name and a number format (each at most
/// the longest such attribute in the part). Excel's limits (64,000 formats, 255-character format
/// codes, 31-character font names) come to about 28 MiB; the budget is 64 MiB.
fn check_styles<R: Read + Seek>(zip: &mut ZipArchive<R>, entry: &Entry) -> Result<(), PartProblem> {
    let part = zip.by_index(entry.index)?;
    let mut xml = xml_reader(part);
    let mut buf = Vec::new();
    let (mut elements, mut xfs, mut font_name, mut format_code) = (0u64, 0u64, 0u64, 0u64);
    loop {
        buf.clear();
        match xml.read_event_into(&mut buf)? {
            Event::Start(e) | Event::Empty(e) => {
                elements += 1;
                let name = e.local_name();
                match name.as_ref() {
                    "xf" => xfs += 1,
                    "name" | "numFmt" => {
                        for attr in e.attributes().with_checks(false).flatten() {
                            let len = attr.value.len() as u64;
                            match attr.key.local_name().as_ref() {
                                "val" => font_name = font_name.max(len),
                                "formatCode" => format_code = format_code.max(len),
                                _ => {}
                            }
                        }
                    }
                    _ => {}
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    let estimate = elements * 64 + xfs * (160 + font_name + format_code);
    if estimate > STYLES_BUDGET {
        return Err(PartProblem::TooLarge(format!(
            "its {elements} elements and {xfs} cell formats would take about {} to load (at most {})",
            size_text(estimate),
            size_text(STYLES_BUDGET)
        )));
    }
    Ok(())
}

/// A streamed worksheet over 16 MiB: no event quick-xml would buffer may pass 1 MiB.
fn scan_events<R: Read + Seek>(zip: &mut ZipArchive<R>, index: usize) -> Result<(), PartProblem> {
    let mut part = zip.by_index(index)?;
    let mut scanner = EventScanner::new(MAX_EVENT_BYTES);
    let mut chunk = vec![0u8; 256 << 10];
    loop {
        let n = match part.read(&mut chunk) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        };
        scanner
            .feed(&chunk[..n])
            .map_err(|e| PartProblem::TooLarge(e.to_string()))?;
    }
}

/// The number of entries the zip's end-of-central-directory record declares (the zip64 record's,
/// when there is one), read before the zip crate indexes them all. `None` when there is no record;
/// the zip crate will then refuse the file itself. Every candidate record in the tail counts, so a
/// decoy record cannot hide the real one.
fn declared_entries(file: &mut File) -> std::io::Result<Option<u64>> {
    const EOCD: &[u8] = b"PK\x05\x06";
    let len = file.seek(SeekFrom::End(0))?;
    let tail_len = len.min(22 + 65_535);
    file.seek(SeekFrom::Start(len - tail_len))?;
    let mut tail = vec![0u8; tail_len as usize];
    file.read_exact(&mut tail)?;
    let mut most: Option<u64> = None;
    for at in memchr::memmem::rfind_iter(&tail, EOCD) {
        let Some(record) = tail.get(at..at + 22) else {
            continue;
        };
        let mut entries = u64::from(u16::from_le_bytes([record[10], record[11]]));
        if let Some(n) = zip64_entries(file, len - tail_len + at as u64) {
            entries = entries.max(n);
        }
        most = Some(most.map_or(entries, |m| m.max(entries)));
    }
    Ok(most)
}

/// Entries in the zip64 end record that the locator just before the record at `eocd` points to.
fn zip64_entries(file: &mut File, eocd: u64) -> Option<u64> {
    let mut locator = [0u8; 20];
    file.seek(SeekFrom::Start(eocd.checked_sub(20)?)).ok()?;
    file.read_exact(&mut locator).ok()?;
    if &locator[..4] != b"PK\x06\x07" {
        return None;
    }
    let at = u64::from_le_bytes(locator[8..16].try_into().ok()?);
    let mut record = [0u8; 40];
    file.seek(SeekFrom::Start(at)).ok()?;
    file.read_exact(&mut record).ok()?;
    if &record[..4] != b"PK\x06\x06" {
        return None;
    }
    Some(u64::from_le_bytes(record[32..40].try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worksheets_are_parts_in_a_worksheets_folder() {
        assert!(is_worksheet("xl/worksheets/sheet1.xml"));
        assert!(!is_worksheet("xl/worksheets"));
        assert!(!is_worksheet("xl/sharedstrings.xml"));
        assert!(!is_worksheet("xl/media/worksheets.png"));
    }

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(size_text(MAX_SHARED_STRINGS), "64 MiB");
        assert_eq!(size_text(2 << 30), "2048 MiB");
        assert_eq!(size_text(1500), "1500 bytes");
    }
}
