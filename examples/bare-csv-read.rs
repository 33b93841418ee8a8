//! The yardstick `validate` is measured against: a bare `csv` `ByteRecord` read of a file, as
//! `benches/intake.rs` does in-process, but as a program of its own, so both can be timed from
//! outside the same way (docs/performance.md):
//!
//! ```text
//! cargo build --release --examples
//! farm-bench -n 15 --vs 'target/release/examples/bare-csv-read FILE' -- \
//!     target/release/csp-onboard validate FILE --format json
//! ```

fn main() {
    let path = std::env::args_os()
        .nth(1)
        .expect("usage: bare-csv-read FILE");
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(path)
        .expect("the file opens");
    let mut record = csv::ByteRecord::new();
    let mut records = 0u64;
    while reader
        .read_byte_record(&mut record)
        .expect("the file reads")
    {
        records += 1;
    }
    println!("{records} records");
}
