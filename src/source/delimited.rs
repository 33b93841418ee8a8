//! Delimited text: CSV, and the text exports Excel writes (semicolon CSV in many locales,
//! "Unicode text" = UTF-16 LE with a BOM and tabs).
//!
//! The encoding is decided from the first 64 KiB by [`super::encoding`] (a BOM, UTF-16's NULs,
//! valid UTF-8, or a detector's guess that holds up — else the file is refused). A guessed legacy
//! encoding is checked again on samples from the middle and the end of a large file, so a file
//! pasted together from two encodings is refused rather than half garbled. The delimiter is the
//! candidate that splits the sampled records into the most columns consistently. The file is then
//! streamed; a byte sequence that does not decode stops the read. If a byte past the sample proves
//! the UTF-8 guess wrong, the encoding is decided again from the bytes where UTF-8 broke, and the
//! file is read again from the start, skipping the records already visited — which is only sound if
//! they were plain ASCII (identical in every encoding detected); otherwise the file mixes encodings
//! and the user is told which rows disagree.

use std::fs::File;
use std::io::{self, Read, Seek};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;

use csv::StringRecord;
use encoding_rs::{Encoding, UTF_8, UTF_16BE, UTF_16LE};
use encoding_rs_io::DecodeReaderBytesBuilder;

use super::encoding::{self, Basis, Decided, Undecided};
use super::lines::LfLines;
use super::{Header, RawRow, RowVisitor, SourceError, SourceInfo, SourceOptions};

const SAMPLE_BYTES: usize = 64 * 1024;
/// The longest record read. A real row is a few hundred bytes; past this, the file is not a sheet
/// (or a quote was never closed) and reading on would only grow one cell without bound.
pub const MAX_RECORD_BYTES: u64 = 1 << 20;
/// The parser's buffer: how far the stream may run ahead of the last record it finished.
const PARSE_BUFFER: usize = 256 * 1024;
const DELIMITERS: [u8; 4] = [b',', b';', b'\t', b'|'];

pub fn read<V: RowVisitor>(
    path: &Path,
    options: &SourceOptions,
    visitor: &mut V,
) -> Result<SourceInfo, V::Error> {
    let io_error = |source| SourceError::Io {
        path: path.to_path_buf(),
        source,
    };
    let unsure = |undecided: Undecided| SourceError::UnsureEncoding {
        path: path.to_path_buf(),
        candidates: undecided.candidates.iter().map(|e| e.name()).collect(),
        why: undecided.why,
    };
    let sample = read_at(path, 0, SAMPLE_BYTES).map_err(io_error)?;
    let mut decided = match options.encoding {
        Some(named) => Decided {
            encoding: named,
            basis: Basis::Named,
        },
        None => {
            let whole = sample.len() < SAMPLE_BYTES;
            let decided = encoding::decide(&sample, whole).map_err(unsure)?;
            if decided.basis == Basis::Detected {
                confirm_throughout(path, decided.encoding).map_err(|e| match e {
                    Confirm::Io(e) => io_error(e),
                    Confirm::Unsure(u) => unsure(u),
                })?;
            }
            decided
        }
    };
    let decoded = decode_sample(&sample, decided.encoding);
    let sep = sep_directive(&decoded);
    let delimiter = options
        .delimiter
        .or(sep)
        .unwrap_or_else(|| detect_delimiter(&decoded));

    visitor.expect_records(expected_records(path, &sample));
    let mut skip = 0;
    loop {
        let outcome = read_records(
            path,
            decided.encoding,
            delimiter,
            skip,
            Flags {
                untrimmed: options.untrimmed,
                sep_line: sep.is_some(),
            },
            visitor,
        )?;
        match outcome {
            Outcome::Done => {
                return Ok(SourceInfo {
                    format: "delimited text",
                    sheet: None,
                    encoding: Some(decided.encoding.name()),
                    encoding_basis: Some(decided.basis),
                    delimiter: Some(delimiter as char),
                    sep_directive: sep.is_some(),
                });
            }
            Outcome::InvalidUtf8 {
                records,
                row,
                first_non_ascii_row,
            } => {
                if decided.basis != Basis::ValidUtf8 {
                    return Err(SourceError::NotDecodable {
                        path: path.to_path_buf(),
                        row,
                        encoding: "UTF-8",
                    }
                    .into());
                }
                if let Some(utf8_row) = first_non_ascii_row {
                    return Err(SourceError::MixedEncoding {
                        path: path.to_path_buf(),
                        bad_row: row,
                        utf8_row,
                    }
                    .into());
                }
                // Everything so far was ASCII: decide from the bytes where UTF-8 broke.
                let at = first_invalid_utf8(path).map_err(io_error)?.unwrap_or(0);
                let from = at.saturating_sub(4096);
                let mut window = read_at(path, from, SAMPLE_BYTES).map_err(io_error)?;
                if from > 0
                    && let Some(line_start) = window.iter().position(|b| *b == b'\n')
                {
                    window.drain(..=line_start);
                }
                decided = Decided {
                    encoding: encoding::detect(&window).map_err(unsure)?,
                    basis: Basis::Detected,
                };
                skip = records;
            }
        }
    }
}

/// How many records a file of this size holds if its records are as long as the sample's.
fn expected_records(path: &Path, sample: &[u8]) -> u64 {
    let lines = memchr::memchr_iter(b'\n', sample).count().max(1) as u64;
    let length = std::fs::metadata(path).map_or(sample.len() as u64, |m| m.len());
    length.saturating_mul(lines) / (sample.len() as u64).max(1)
}

enum Confirm {
    Io(io::Error),
    Unsure(Undecided),
}

/// A guess made from the start of a large file must hold in its middle and at its end too.
fn confirm_throughout(path: &Path, guessed: &'static Encoding) -> Result<(), Confirm> {
    let length = std::fs::metadata(path).map_err(Confirm::Io)?.len();
    if length <= 3 * SAMPLE_BYTES as u64 {
        return Ok(());
    }
    for from in [length / 2, length - SAMPLE_BYTES as u64] {
        let mut window = read_at(path, from, SAMPLE_BYTES).map_err(Confirm::Io)?;
        // Start at a line: the window may begin inside a character.
        if let Some(line_start) = window.iter().position(|b| *b == b'\n') {
            window.drain(..=line_start);
        }
        if window.is_ascii() {
            continue;
        }
        match encoding::detect(&window) {
            Ok(found) if found == guessed => {}
            Ok(found) => {
                return Err(Confirm::Unsure(Undecided {
                    candidates: vec![guessed, found],
                    why: format!(
                        "its start reads as {}, but byte {from} on reads as {}",
                        guessed.name(),
                        found.name()
                    ),
                }));
            }
            Err(mut undecided) => {
                undecided.candidates.insert(0, guessed);
                undecided.candidates.dedup();
                return Err(Confirm::Unsure(undecided));
            }
        }
    }
    Ok(())
}

/// Up to `len` bytes of `path` from byte `from`.
fn read_at(path: &Path, from: u64, len: usize) -> io::Result<Vec<u8>> {
    let mut file = File::open(path)?;
    file.seek(io::SeekFrom::Start(from))?;
    let mut bytes = Vec::with_capacity(len);
    file.take(len as u64).read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Where the first byte that is not UTF-8 is, if any.
fn first_invalid_utf8(path: &Path) -> io::Result<Option<u64>> {
    let mut file = File::open(path)?;
    let mut buffer = vec![0u8; 1 << 20];
    let (mut offset, mut carried) = (0u64, 0usize);
    loop {
        let n = file.read(&mut buffer[carried..])?;
        let filled = carried + n;
        match std::str::from_utf8(&buffer[..filled]) {
            Ok(_) if n == 0 => return Ok(None),
            Ok(_) => {
                offset += filled as u64;
                carried = 0;
            }
            Err(e) if e.error_len().is_some() || n == 0 => {
                return Ok(Some(offset + e.valid_up_to() as u64));
            }
            Err(e) => {
                // A character cut by the end of the buffer: carry it into the next read.
                let valid = e.valid_up_to();
                buffer.copy_within(valid..filled, 0);
                offset += valid as u64;
                carried = filled - valid;
            }
        }
    }
}

/// The delimiter Excel's `sep=;` first line names, if the file starts with one. Excel writes it
/// for files it is to open with another delimiter than the locale's, and hides it: the line is a
/// directive, not a row, and the rows under it are numbered as Excel shows them (the header 1).
fn sep_directive(sample: &str) -> Option<u8> {
    let line = sample.lines().next()?.trim_matches(' ');
    let line = line
        .strip_prefix('"')
        .and_then(|l| l.strip_suffix('"'))
        .unwrap_or(line);
    let rest = line
        .get(..4)?
        .eq_ignore_ascii_case("sep=")
        .then(|| &line[4..])?;
    let &first = rest.as_bytes().first()?;
    // `sep=;;;;` when a program padded the line to the sheet's width.
    let valid = first.is_ascii_punctuation() || first == b'\t';
    (valid && first != b'"' && rest.bytes().all(|b| b == first)).then_some(first)
}

fn decode_sample(sample: &[u8], encoding: &'static Encoding) -> String {
    encoding.decode_with_bom_removal(sample).0.into_owned()
}

/// The delimiter that splits the sample's records into the most columns, consistently.
fn detect_delimiter(sample: &str) -> u8 {
    let mut best = (false, 0usize, b',');
    for delimiter in DELIMITERS {
        let (consistent, columns) = delimiter_score(sample, delimiter);
        if columns > 1 && (consistent, columns) > (best.0, best.1) {
            best = (consistent, columns, delimiter);
        }
    }
    best.2
}

fn delimiter_score(sample: &str, delimiter: u8) -> (bool, usize) {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .from_reader(sample.as_bytes());
    let mut lengths = Vec::new();
    let mut record = StringRecord::new();
    while lengths.len() < 50 {
        match reader.read_record(&mut record) {
            Ok(true) if record.iter().all(|f| f.trim().is_empty()) => continue,
            Ok(true) => lengths.push(record.len()),
            _ => break,
        }
    }
    // The last sampled record may be cut by the end of the sample.
    if lengths.len() > 2 {
        lengths.pop();
    }
    let Some(&header) = lengths.first() else {
        return (false, 0);
    };
    let agreeing = lengths.iter().filter(|&&n| n == header).count();
    (agreeing * 10 >= lengths.len() * 9, header)
}

fn open_stream(path: &Path, encoding: &'static Encoding) -> io::Result<Box<dyn Read + Send>> {
    let mut file = File::open(path)?;
    if encoding == UTF_8 {
        let mut bom = [0u8; 3];
        let n = file.read(&mut bom)?;
        let keep: Box<dyn Read + Send> = if bom[..n] == [0xEF, 0xBB, 0xBF] {
            Box::new(file)
        } else {
            Box::new(io::Cursor::new(bom[..n].to_vec()).chain(file))
        };
        return Ok(Box::new(LfLines::new(keep)));
    }
    let bom_aware = encoding == UTF_16LE || encoding == UTF_16BE;
    let decoded = DecodeReaderBytesBuilder::new()
        .encoding(Some(encoding))
        .bom_override(bom_aware)
        .strip_bom(true)
        .build(file);
    Ok(Box::new(LfLines::new(decoded)))
}

enum Outcome {
    Done,
    InvalidUtf8 {
        /// Records read (blank ones included) before the bad one.
        records: u64,
        row: u64,
        first_non_ascii_row: Option<u64>,
    },
}

/// Rows travel from the parser thread to the visitor in batches; the emptied row buffers travel
/// back, so a steady state allocates nothing.
const BATCH: usize = 3072;

struct Batch {
    rows: Vec<RawRow>,
    len: usize,
}

/// How records are read beyond their delimiter.
#[derive(Debug, Clone, Copy)]
struct Flags {
    /// Cells as the file has them (see [`SourceOptions::untrimmed`]).
    untrimmed: bool,
    /// The first line is Excel's `sep=` directive: not a row, and not counted.
    sep_line: bool,
}

/// Streams the records of `path` and visits the non-empty ones from the header on, a batch at a
/// time ([`RowVisitor::rows`]); the first `skip` records were visited by an earlier pass.
///
/// Parsing runs on a thread of its own while this one visits: on a million-row sheet the visitor
/// (mapping and checking, itself spread over the cores) costs about as much as the parsing, so
/// the pipeline takes little more than the slower of them.
fn read_records<V: RowVisitor>(
    path: &Path,
    encoding: &'static Encoding,
    delimiter: u8,
    skip: u64,
    flags: Flags,
    visitor: &mut V,
) -> Result<Outcome, V::Error> {
    let stream = open_stream(path, encoding).map_err(|source| SourceError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let parser = Parser {
        path,
        delimiter,
        skip,
        untrimmed: flags.untrimmed,
        sep_line: flags.sep_line,
        check_ascii: encoding == UTF_8,
        decoded_from: (encoding != UTF_8).then(|| encoding.name()),
    };
    std::thread::scope(|scope| {
        let (full_tx, full_rx) = mpsc::sync_channel::<Batch>(4);
        let (empty_tx, empty_rx) = mpsc::channel::<Vec<RawRow>>();
        let parsing = scope.spawn(move || parser.run(stream, &full_tx, &empty_rx));

        let mut header_seen = skip > 0;
        let mut failure = None;
        for batch in full_rx.iter() {
            let mut rows = &batch.rows[..batch.len];
            if !header_seen && let Some((first, rest)) = rows.split_first() {
                header_seen = true;
                rows = rest;
                if let Err(error) = visitor.header(&Header {
                    number: first.number,
                    cells: first.cells.iter().map(str::to_owned).collect(),
                    sheet: None,
                }) {
                    failure = Some(error);
                    break;
                }
            }
            if let Err(error) = visitor.rows(rows) {
                failure = Some(error);
                break;
            }
            let _ = empty_tx.send(batch.rows);
        }
        // Dropping the receiver makes the parser's next send fail, which stops it.
        drop(full_rx);
        let parsed = parsing
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        if let Some(error) = failure {
            return Err(error);
        }
        let outcome = parsed?;
        if matches!(outcome, Outcome::Done) && !header_seen {
            return Err(SourceError::NoHeader {
                path: path.to_path_buf(),
            }
            .into());
        }
        Ok(outcome)
    })
}

struct Parser<'a> {
    path: &'a Path,
    delimiter: u8,
    skip: u64,
    /// Cells as the file has them (see [`SourceOptions::untrimmed`]).
    untrimmed: bool,
    /// See [`Flags::sep_line`].
    sep_line: bool,
    /// Track the first non-ASCII row, to know whether a restart in another encoding is sound.
    check_ascii: bool,
    /// The encoding the stream is decoded from, when it is not UTF-8: a byte sequence it cannot
    /// decode comes out as U+FFFD, which must stop the read rather than reach a customer's name.
    decoded_from: Option<&'static str>,
}

impl Parser<'_> {
    fn run(
        &self,
        stream: Box<dyn Read + Send>,
        full: &mpsc::SyncSender<Batch>,
        empty: &mpsc::Receiver<Vec<RawRow>>,
    ) -> Result<Outcome, SourceError> {
        let record_start = Arc::new(AtomicU64::new(0));
        let stream = Bounded {
            inner: stream,
            delivered: 0,
            record_start: record_start.clone(),
        };
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .delimiter(self.delimiter)
            .buffer_capacity(PARSE_BUFFER)
            .from_reader(stream);
        let fresh = || Vec::with_capacity(BATCH);
        let mut numbering = RowNumbering::default();
        let mut raw = StringRecord::new();
        let mut rows: Vec<RawRow> = fresh();
        let mut len = 0;
        let mut records = 0u64;
        let mut first_non_ascii_row = None;
        loop {
            match reader.read_record(&mut raw) {
                Ok(true) => {}
                Ok(false) => break,
                Err(error) => {
                    let row = numbering.next_guess() - u64::from(self.sep_line);
                    // Rows parsed before the bad one are still visited (and counted in `records`).
                    let _ = full.send(Batch { rows, len });
                    if let csv::ErrorKind::Io(io) = error.kind()
                        && io.get_ref().is_some_and(|e| e.is::<TooLong>())
                    {
                        return Err(SourceError::RowTooLong {
                            path: self.path.to_path_buf(),
                            row,
                            limit: MAX_RECORD_BYTES,
                        });
                    }
                    return match error.kind() {
                        csv::ErrorKind::Utf8 { .. } => Ok(Outcome::InvalidUtf8 {
                            records,
                            row,
                            first_non_ascii_row,
                        }),
                        _ => Err(SourceError::Malformed {
                            path: self.path.to_path_buf(),
                            row,
                            message: error.to_string(),
                        }),
                    };
                }
            }
            records += 1;
            record_start.store(reader.position().byte(), Ordering::Relaxed);
            let mut number = numbering.number(reader.position().line(), &raw);
            if self.sep_line {
                if records == 1 {
                    continue;
                }
                number -= 1;
            }
            if self.check_ascii && first_non_ascii_row.is_none() && !raw.as_slice().is_ascii() {
                first_non_ascii_row = Some(number);
            }
            if let Some(encoding) = self.decoded_from
                && memchr::memmem::find(raw.as_slice().as_bytes(), "\u{FFFD}".as_bytes()).is_some()
            {
                let _ = full.send(Batch { rows, len });
                return Err(SourceError::NotDecodable {
                    path: self.path.to_path_buf(),
                    row: number,
                    encoding,
                });
            }
            if records <= self.skip || raw.iter().all(|f| f.trim().is_empty()) {
                continue;
            }
            if len == rows.len() {
                rows.push(RawRow::default());
            }
            let row = &mut rows[len];
            row.number = number;
            if !self.untrimmed && raw.iter().any(needs_trim) {
                row.cells.clear();
                for field in raw.iter() {
                    row.cells.push_field(field.trim());
                }
            } else {
                std::mem::swap(&mut row.cells, &mut raw);
            }
            len += 1;
            if len == BATCH {
                if full.send(Batch { rows, len }).is_err() {
                    return Ok(Outcome::Done); // the visitor stopped; its error wins
                }
                rows = empty.try_recv().unwrap_or_else(|_| fresh());
                len = 0;
            }
        }
        let _ = full.send(Batch { rows, len });
        Ok(Outcome::Done)
    }
}

/// The stream the parser reads, refusing to run more than [`MAX_RECORD_BYTES`] (plus the parser's
/// buffer) past the end of the last record: memory stays bounded whatever the file holds.
struct Bounded {
    inner: Box<dyn Read + Send>,
    delivered: u64,
    /// Where the last record the parser finished ends (bytes into this stream).
    record_start: Arc<AtomicU64>,
}

#[derive(Debug)]
struct TooLong;

impl std::fmt::Display for TooLong {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "a record over {MAX_RECORD_BYTES} bytes")
    }
}

impl std::error::Error for TooLong {}

impl Read for Bounded {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let ahead = self.delivered - self.record_start.load(Ordering::Relaxed);
        if ahead > MAX_RECORD_BYTES + PARSE_BUFFER as u64 {
            return Err(io::Error::new(io::ErrorKind::InvalidData, TooLong));
        }
        let n = self.inner.read(buf)?;
        self.delivered += n as u64;
        Ok(n)
    }
}

/// Whether a cell has whitespace to trim at either end (checked on bytes: any non-ASCII end byte
/// may be Unicode whitespace, so it goes the careful way).
fn needs_trim(field: &str) -> bool {
    let bytes = field.as_bytes();
    let suspicious = |b: &u8| b.is_ascii_whitespace() || !b.is_ascii();
    bytes.first().is_some_and(suspicious) || bytes.last().is_some_and(suspicious)
}

/// Turns the parser's line count into spreadsheet row numbers: a record counts one whatever line
/// breaks its cells hold, and a blank line counts one.
#[derive(Default)]
struct RowNumbering {
    /// The parser's line after the previous record (1 before any).
    last_line: u64,
    /// Line breaks inside the cells of all records so far.
    embedded: u64,
    last_number: u64,
}

impl RowNumbering {
    /// `line_after` is the reader's line after reading `record` (the stream ends every record with
    /// a line break, see [`LfLines`]), so the record's last line is `line_after - 1`.
    fn number(&mut self, line_after: u64, record: &StringRecord) -> u64 {
        let previous = self.last_line.max(1);
        if line_after - previous > 1 {
            self.embedded +=
                memchr::memchr_iter(b'\n', record.as_slice().as_bytes()).count() as u64;
        }
        self.last_line = line_after;
        // Every record is a row of its own. (A quote never closed runs to the end of the stream,
        // whose last line break then sits inside the cell: counted as embedded, it would number
        // the record one row too low — row 0 for a first record.)
        self.last_number = (line_after - 1 - self.embedded).max(self.last_number + 1);
        self.last_number
    }

    /// The likely number of a record that failed to parse, for error messages.
    fn next_guess(&self) -> u64 {
        self.last_number + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excel_sep_lines_name_the_delimiter() {
        assert_eq!(sep_directive("sep=;\r\nA;B\n"), Some(b';'));
        assert_eq!(sep_directive("SEP=,\nA,B"), Some(b','));
        assert_eq!(sep_directive("\"sep=|\"\nA|B"), Some(b'|'));
        assert_eq!(sep_directive("sep=;;;;\nA;B"), Some(b';'));
        assert_eq!(sep_directive("sep=\t\nA\tB"), Some(b'\t'));
        assert_eq!(sep_directive("sep=\n"), None);
        assert_eq!(sep_directive("separator;B\n"), None);
        assert_eq!(sep_directive("Domain;sep=;\n"), None);
        assert_eq!(sep_directive("sep=a\n"), None);
    }
}
