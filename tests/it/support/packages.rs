//! Workbook files made by hand: xlsx and ods packages whose XML a test writes itself (cells out
//! of order, references past Excel's grid, a table that never ends), zips whose directory lies,
//! and mangled copies of the xls fixture.

use std::io::Write;
use std::path::Path;

/// A zip archive of these (name, contents) entries, stored uncompressed.
pub fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, bytes) in entries {
        zip.start_file(*name, options).unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

/// Makes the zip directory (and local header) of `zip` declare `size` uncompressed bytes for
/// the entry `name`, whatever it really holds.
pub fn declare_size(zip: &mut [u8], name: &str, size: u32) {
    let mut patched = 0;
    for (signature, size_at, name_len_at, name_at) in
        [(b"PK\x01\x02", 24, 28, 46), (b"PK\x03\x04", 22, 26, 30)]
    {
        let mut at = 0;
        while let Some(i) = find(&zip[at..], signature) {
            let start = at + i;
            let name_len =
                u16::from_le_bytes([zip[start + name_len_at], zip[start + name_len_at + 1]]);
            let entry = &zip[start + name_at..start + name_at + name_len as usize];
            if entry == name.as_bytes() {
                zip[start + size_at..start + size_at + 4].copy_from_slice(&size.to_le_bytes());
                patched += 1;
            }
            at = start + 4;
        }
    }
    assert_eq!(patched, 2, "`{name}` is in the zip once");
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// An inline-string cell: `<c r="B2" t="inlineStr"><is><t>text</t></is></c>`.
pub fn inline(reference: &str, text: &str) -> String {
    let text = text
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    format!(r#"<c r="{reference}" t="inlineStr"><is><t>{text}</t></is></c>"#)
}

/// A `<row>` with these cells.
pub fn row(number: u64, cells: &[String]) -> String {
    format!(r#"<row r="{number}">{}</row>"#, cells.concat())
}

/// The cells of a row written left to right, one per non-empty value, from column A.
pub fn cells_of(number: u64, values: &[impl AsRef<str>]) -> Vec<String> {
    values
        .iter()
        .enumerate()
        .filter(|(_, v)| !v.as_ref().is_empty())
        .map(|(i, v)| inline(&format!("{}{number}", column_name(i)), v.as_ref()))
        .collect()
}

/// `A`, `B`, ... `Z`, `AA`, ... for a 0-based column.
pub fn column_name(column: usize) -> String {
    let mut n = column + 1;
    let mut name = Vec::new();
    while n > 0 {
        name.push(b'A' + ((n - 1) % 26) as u8);
        n = (n - 1) / 26;
    }
    name.reverse();
    String::from_utf8(name).unwrap()
}

/// An xlsx package with one sheet, `Customers`, whose `<sheetData>` holds `rows` (XML text), and
/// any `extra` parts.
pub fn xlsx_package(rows: &str, extra: &[(&str, &[u8])]) -> Vec<u8> {
    const MAIN: &str = "http://schemas.openxmlformats.org/spreadsheetml/2006/main";
    const RELS: &str = "http://schemas.openxmlformats.org/package/2006/relationships";
    const DOC: &str = "http://schemas.openxmlformats.org/officeDocument/2006/relationships";
    let package_rels = format!(
        r#"<?xml version="1.0"?><Relationships xmlns="{RELS}"><Relationship Id="rId1" Type="{DOC}/officeDocument" Target="xl/workbook.xml"/></Relationships>"#
    );
    let workbook = format!(
        r#"<?xml version="1.0"?><workbook xmlns="{MAIN}" xmlns:r="{DOC}"><sheets><sheet name="Customers" sheetId="1" r:id="rId1"/></sheets></workbook>"#
    );
    let workbook_rels = format!(
        r#"<?xml version="1.0"?><Relationships xmlns="{RELS}"><Relationship Id="rId1" Type="{DOC}/worksheet" Target="worksheets/sheet1.xml"/></Relationships>"#
    );
    let sheet = format!(
        r#"<?xml version="1.0"?><worksheet xmlns="{MAIN}"><sheetData>{rows}</sheetData></worksheet>"#
    );
    let mut entries: Vec<(&str, &[u8])> = vec![
        ("_rels/.rels", package_rels.as_bytes()),
        ("xl/workbook.xml", workbook.as_bytes()),
        ("xl/_rels/workbook.xml.rels", workbook_rels.as_bytes()),
        ("xl/worksheets/sheet1.xml", sheet.as_bytes()),
    ];
    entries.extend_from_slice(extra);
    zip_of(&entries)
}

/// An ods package whose `content.xml` is `content`.
pub fn ods_package(content: &str) -> Vec<u8> {
    let manifest = r#"<?xml version="1.0"?><manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"><manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/></manifest:manifest>"#;
    zip_of(&[
        (
            "mimetype",
            b"application/vnd.oasis.opendocument.spreadsheet".as_slice(),
        ),
        ("META-INF/manifest.xml", manifest.as_bytes()),
        ("content.xml", content.as_bytes()),
    ])
}

/// The `content.xml` of an ods with these sheets, each a list of rows of string cells.
pub fn ods_content(sheets: &[(&str, Vec<Vec<&str>>)]) -> String {
    let mut body = String::new();
    for (name, rows) in sheets {
        body.push_str(&format!(r#"<table:table table:name="{name}">"#));
        for row in rows {
            body.push_str("<table:table-row>");
            for cell in row {
                let cell = cell
                    .replace('&', "&amp;")
                    .replace('<', "&lt;")
                    .replace('>', "&gt;");
                body.push_str(&format!(
                    r#"<table:table-cell office:value-type="string"><text:p>{cell}</text:p></table:table-cell>"#
                ));
            }
            body.push_str("</table:table-row>");
        }
        body.push_str("</table:table>");
    }
    format!(
        r#"<?xml version="1.0"?><office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"><office:body><office:spreadsheet>{body}</office:spreadsheet></office:body></office:document-content>"#
    )
}

/// The xls fixture (`tests/fixtures/legacy.xls`).
pub fn legacy_xls() -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/legacy.xls");
    std::fs::read(path).unwrap()
}

/// The xls fixture with its sheet's DIMENSIONS record claiming 10 million rows by 256 columns:
/// calamine reserves room for every cell of that before reading one.
pub fn xls_dimensions_bomb() -> Vec<u8> {
    let mut xls = legacy_xls();
    // Record 0x0200 (DIMENSIONS), 14 bytes: first row, last row + 1 (u32), first, last column + 1.
    let at = find(&xls, &[0x00, 0x02, 0x0E, 0x00]).expect("a DIMENSIONS record") + 4;
    xls[at + 4..at + 8].copy_from_slice(&10_000_000u32.to_le_bytes());
    xls[at + 10..at + 12].copy_from_slice(&255u16.to_le_bytes());
    xls
}

/// Peak resident memory of this process's finished children (and theirs), in MiB.
pub fn children_peak_rss_mib() -> u64 {
    // SAFETY: getrusage only writes the struct we hand it.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage);
        usage
    };
    usage.ru_maxrss as u64 / 1024
}
