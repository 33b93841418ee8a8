//! `validate` against a bare read of the same file (issue: "validate at most 3× a bare CSV read,
//! peak RSS under 100 MiB; a 100,000-row xlsx at most 1.5× a bare calamine load").
//!
//! Run: `cargo bench --bench intake` (add `-- --rows N` for another CSV size). The sheets are
//! generated once into `target/bench-data/`. Times are the best of three; the validate figure
//! includes process start, template parsing and writing the JSON report.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use calamine::{Reader, open_workbook_auto};

const RESELLERS: [&str; 3] = [
    "5d1e7a90-3b2c-4f6e-9a81-1c2d3e4f5a01",
    "6e2f8b01-4c3d-4a7f-8b92-2d3e4f5a6b02",
    "7f309c12-5d4e-4b80-9ca3-3e4f5a6b7c03",
];
const HEADER: &str = "domain,company_name,email,first_name,last_name,address_line1,address_line2,city,state,postal_code,country,phone_number,culture,language,associated_partner_id,organization_registration_number,external_id";

fn main() {
    let rows = std::env::args()
        .skip_while(|a| a != "--rows")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000_000usize);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-data");
    std::fs::create_dir_all(&dir).unwrap();

    let csv = csv_sheet(&dir, rows);
    let size = std::fs::metadata(&csv).unwrap().len();
    let bare = best_of(3, || bare_csv_read(&csv));
    let (validate, rss) = validate_binary(&csv);
    println!(
        "csv  {rows} rows, {:.0} MB: bare read {:.3} s, validate {:.3} s = {:.2}x (target <= 3x), peak RSS {:.1} MiB (target < 100)",
        size as f64 / 1e6,
        bare.as_secs_f64(),
        validate.as_secs_f64(),
        validate.as_secs_f64() / bare.as_secs_f64(),
        rss as f64 / 1024.0,
    );

    let xlsx = xlsx_sheet(&dir, 100_000);
    let bare = best_of(3, || bare_xlsx_load(&xlsx));
    let (validate, rss) = validate_binary(&xlsx);
    println!(
        "xlsx 100000 rows: bare calamine load {:.3} s, validate {:.3} s = {:.2}x (target <= 1.5x), peak RSS {:.1} MiB",
        bare.as_secs_f64(),
        validate.as_secs_f64(),
        validate.as_secs_f64() / bare.as_secs_f64(),
        rss as f64 / 1024.0,
    );
}

fn best_of(n: usize, mut f: impl FnMut()) -> Duration {
    (0..n)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .min()
        .unwrap()
}

fn row(i: usize) -> [String; 17] {
    let (country, state, zip, culture) = match i % 4 {
        0 => ("US", "WA", format!("{:05}", 10000 + i % 89999), "en-US"),
        1 => ("NL", "", "1016 BR".to_string(), "nl-NL"),
        2 => ("GB", "", "EC2A 1AF".to_string(), "en-GB"),
        _ => ("DE", "", "10117".to_string(), "de-DE"),
    };
    [
        format!("benchcustomer{i:08}"),
        format!("Bench Customer {i} Holding B.V."),
        format!("billing{i}@benchcustomer{i}.com"),
        "Gena".into(),
        "Soto".into(),
        format!("{} Microsoft Way", i % 1000 + 1),
        if i.is_multiple_of(3) {
            "Suite 100".into()
        } else {
            String::new()
        },
        "Redmond".into(),
        state.into(),
        zip,
        country.into(),
        format!("425555{:04}", i % 10000),
        culture.into(),
        culture[..2].into(),
        RESELLERS[i % 3].into(),
        String::new(),
        format!("EXT-{i:08}"),
    ]
}

fn csv_sheet(dir: &Path, rows: usize) -> PathBuf {
    let path = dir.join(format!("customers-{rows}.csv"));
    if path.exists() {
        return path;
    }
    let mut writer = csv::Writer::from_path(&path).unwrap();
    writer.write_record(HEADER.split(',')).unwrap();
    for i in 0..rows {
        writer.write_record(row(i)).unwrap();
    }
    writer.flush().unwrap();
    path
}

fn xlsx_sheet(dir: &Path, rows: usize) -> PathBuf {
    let path = dir.join(format!("customers-{rows}.xlsx"));
    if path.exists() {
        return path;
    }
    let mut workbook = rust_xlsxwriter::Workbook::new();
    let sheet = workbook.add_worksheet();
    let zip = rust_xlsxwriter::Format::new().set_num_format("00000");
    for (c, h) in HEADER.split(',').enumerate() {
        sheet.write_string(0, c as u16, h).unwrap();
    }
    for i in 0..rows {
        let r = i as u32 + 1;
        for (c, value) in row(i).iter().enumerate() {
            let c = c as u16;
            match c {
                // ZIPs and phones as numbers, as spreadsheets hold them.
                9 if value.bytes().all(|b| b.is_ascii_digit()) => {
                    sheet
                        .write_number_with_format(r, c, value.parse::<f64>().unwrap(), &zip)
                        .unwrap();
                }
                11 => {
                    sheet
                        .write_number(r, c, value.parse::<f64>().unwrap())
                        .unwrap();
                }
                _ if value.is_empty() => {}
                _ => {
                    sheet.write_string(r, c, value).unwrap();
                }
            }
        }
    }
    workbook.save(&path).unwrap();
    path
}

fn bare_csv_read(path: &Path) {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(path)
        .unwrap();
    let mut record = csv::ByteRecord::new();
    let mut n = 0u64;
    while reader.read_byte_record(&mut record).unwrap() {
        n += 1;
    }
    assert!(n > 0);
}

fn bare_xlsx_load(path: &Path) {
    let mut workbook = open_workbook_auto(path).unwrap();
    let first = workbook.sheet_names()[0].clone();
    let range = workbook.worksheet_range(&first).unwrap();
    assert!(range.height() > 0);
}

/// Best wall time of three `validate` runs, and the peak RSS (KiB) of the children.
fn validate_binary(path: &Path) -> (Duration, i64) {
    let time = best_of(3, || {
        let status = Command::new(env!("CARGO_BIN_EXE_csp-onboard"))
            .arg("validate")
            .arg(path)
            .args(["--format", "json"])
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert_eq!(status.code(), Some(0), "the bench sheet must be valid");
    });
    // SAFETY: getrusage only writes the struct we hand it.
    let rss = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage);
        usage.ru_maxrss
    };
    (time, rss)
}
