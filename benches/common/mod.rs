//! Sheets for the benchmarks, generated once into `target/bench-data/`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

pub const RESELLERS: [&str; 3] = [
    "5d1e7a90-3b2c-4f6e-9a81-1c2d3e4f5a01",
    "6e2f8b01-4c3d-4a7f-8b92-2d3e4f5a6b02",
    "7f309c12-5d4e-4b80-9ca3-3e4f5a6b7c03",
];
pub const HEADER: &str = "domain,company_name,email,first_name,last_name,address_line1,address_line2,city,state,postal_code,country,phone_number,culture,language,associated_partner_id,organization_registration_number,external_id";

pub fn row(i: usize) -> [String; 17] {
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

pub fn csv_sheet(dir: &Path, rows: usize) -> PathBuf {
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

pub fn xlsx_sheet(dir: &Path, rows: usize) -> PathBuf {
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

pub fn data_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-data");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `--rows N` from the bench's arguments, or `default`.
pub fn rows_arg(default: usize) -> usize {
    std::env::args()
        .skip_while(|a| a != "--rows")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(default)
}
