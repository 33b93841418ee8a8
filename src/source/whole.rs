//! xls, xlsb and ods: workbooks calamine loads whole, read as a stream of [`Message`]s.
//!
//! calamine has no streaming reader for these formats, and loading them is where the worst of
//! its hostile-input behaviour lives (allocations sized by forged headers, panics, loops that
//! never end: see `docs/upstream/README.md`). So reading is split in two halves that talk in
//! messages: [`produce`] opens the workbook and emits its sheet names, then rows (already written
//! as cell text, exactly as the xlsx reader writes them); a [`Picker`] consumes them and drives the
//! visitor, choosing the sheet as [`SheetChoice`] says. In a normal run the producer is a child
//! process ([`super::isolated`]) under memory and CPU limits and the messages cross a pipe as JSON
//! lines; in tests, fuzzing and benchmarks they are handed over in-process, under the panic guard.
//! Either way the same two halves run, so what the child does is what the fuzz targets exercise.
//!
//! The producer streams every sheet in order when no sheet is named, and the picker takes the
//! first whose first non-empty row the visitor recognizes (with one sheet, that sheet), ignoring
//! the rows of the sheets before it — the same choice the xlsx reader makes by peeking at each
//! sheet's first row.

use std::path::Path;

use calamine::{Data, Range, Reader, Sheets, open_workbook_auto};
use serde::{Deserialize, Serialize};

use super::cell_text::{value_of, write_cell};
use super::guard::contain;
use super::spreadsheet::named;
use super::{Header, RawRow, RowVisitor, SheetChoice, SourceError, SourceInfo};

/// The most text one row may hold, as for xlsx and CSV.
const MAX_ROW_BYTES: usize = 1 << 20;

/// What the producer found, in order: `Opened`, then for each sheet read `Sheet` and its `Row`s,
/// then `End` — or `Failed` at any point, and nothing after it.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Message {
    Opened { format: String, sheets: Vec<String> },
    Sheet { name: String },
    Row { number: u64, cells: Vec<String> },
    Failed { failure: Failure },
    End,
}

/// Why the producer could not go on.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Failure {
    /// calamine refused the workbook or a sheet.
    Workbook {
        message: String,
    },
    /// calamine panicked: the file is damaged (the panic's message and place).
    Damaged {
        detail: String,
    },
    RowTooLong {
        row: u64,
    },
}

impl Failure {
    pub fn into_error(self, path: &Path) -> SourceError {
        let path = path.to_path_buf();
        match self {
            Failure::Workbook { message } => SourceError::Workbook { path, message },
            Failure::Damaged { detail } => SourceError::Damaged { path, detail },
            Failure::RowTooLong { row } => SourceError::RowTooLong {
                path,
                row,
                limit: MAX_ROW_BYTES as u64,
            },
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Stop,
}

/// Reads the workbook at `path` and tells `emit` what it holds: its sheets, then the rows of the
/// sheet `wanted` names (by name or 1-based number), or of every sheet in order when none is
/// wanted — until `emit` says stop. Every call into calamine is contained.
pub fn produce(path: &Path, wanted: Option<&str>, emit: &mut dyn FnMut(Message) -> Flow) {
    let failed = |failure| Message::Failed { failure };
    let mut workbook = match contain(|| open_workbook_auto(path)) {
        Ok(Ok(workbook)) => workbook,
        Ok(Err(e)) => {
            emit(failed(Failure::Workbook {
                message: e.to_string(),
            }));
            return;
        }
        Err(panic) => {
            emit(failed(Failure::Damaged {
                detail: panic.to_string(),
            }));
            return;
        }
    };
    let format = match workbook {
        Sheets::Xlsx(_) => "xlsx",
        Sheets::Xlsb(_) => "xlsb",
        Sheets::Xls(_) => "xls",
        Sheets::Ods(_) => "ods",
    };
    let names = workbook.sheet_names();
    let opened = Message::Opened {
        format: format.into(),
        sheets: names.clone(),
    };
    if emit(opened) == Flow::Stop {
        return;
    }
    let sheets: Vec<&String> = match wanted {
        Some(wanted) => named(&names, wanted).into_iter().collect(),
        None => names.iter().collect(),
    };
    for sheet in sheets {
        if emit(Message::Sheet {
            name: sheet.clone(),
        }) == Flow::Stop
        {
            return;
        }
        let in_sheet = |e: String| Failure::Workbook {
            message: format!("sheet `{}`: {e}", crate::shown::shown(sheet)),
        };
        let range = match contain(|| workbook.worksheet_range(sheet)) {
            Ok(Ok(range)) => range,
            Ok(Err(e)) => {
                emit(failed(in_sheet(e.to_string())));
                return;
            }
            Err(panic) => {
                emit(failed(Failure::Damaged {
                    detail: format!("sheet `{}`: {panic}", crate::shown::shown(sheet)),
                }));
                return;
            }
        };
        if walk_range(&range, emit) == Flow::Stop {
            return;
        }
    }
    emit(Message::End);
}

/// Emits the non-empty rows of `range`; `Stop` when `emit` said so or a row failed.
fn walk_range(range: &Range<Data>, emit: &mut dyn FnMut(Message) -> Flow) -> Flow {
    let first_row = range.start().map_or(0, |(r, _)| r);
    let mut text = String::new();
    for (i, cells) in range.rows().enumerate() {
        let number = u64::from(first_row) + i as u64 + 1;
        let mut row = Vec::with_capacity(cells.len());
        let mut bytes = 0;
        for cell in cells {
            text.clear();
            write_cell(&mut text, &value_of(cell), None);
            let trimmed = text.trim();
            bytes += trimmed.len();
            if bytes > MAX_ROW_BYTES {
                emit(Message::Failed {
                    failure: Failure::RowTooLong { row: number },
                });
                return Flow::Stop;
            }
            row.push(trimmed.to_owned());
        }
        if row.iter().any(|c| !c.is_empty())
            && emit(Message::Row { number, cells: row }) == Flow::Stop
        {
            return Flow::Stop;
        }
    }
    Flow::Continue
}

/// Consumes the producer's messages and drives the visitor.
pub struct Picker<'a, V> {
    path: &'a Path,
    choice: &'a SheetChoice,
    visitor: &'a mut V,
    format: &'static str,
    sheets: Vec<String>,
    /// The sheet that must be read (named, or the only one); `None`: the first recognized.
    target: Option<String>,
    /// The sheet whose rows are arriving.
    current: Option<String>,
    /// Whether the current sheet's first row was seen (and it was not recognized).
    passed_over: bool,
    /// The sheet being read, once its header went to the visitor.
    chosen: Option<String>,
    ended: bool,
    row: RawRow,
}

impl<'a, V: RowVisitor> Picker<'a, V> {
    pub fn new(path: &'a Path, choice: &'a SheetChoice, visitor: &'a mut V) -> Self {
        Picker {
            path,
            choice,
            visitor,
            format: "",
            sheets: Vec::new(),
            target: None,
            current: None,
            passed_over: false,
            chosen: None,
            ended: false,
            row: RawRow::default(),
        }
    }

    /// Whether the producer said all it had to say (`End`), or the picker needed no more.
    pub fn ended(&self) -> bool {
        self.ended
    }

    pub fn take(&mut self, message: Message) -> Result<Flow, V::Error> {
        match message {
            Message::Opened { format, sheets } => {
                self.format = match format.as_str() {
                    "xls" => "xls",
                    "xlsb" => "xlsb",
                    "ods" => "ods",
                    _ => "xlsx",
                };
                if sheets.is_empty() {
                    return Err(self.workbook_error("the workbook has no sheets").into());
                }
                self.target = match self.choice {
                    SheetChoice::Named(wanted) => Some(
                        named(&sheets, wanted)
                            .ok_or_else(|| SourceError::SheetNotFound {
                                path: self.path.to_path_buf(),
                                wanted: wanted.clone(),
                                available: sheets.clone(),
                            })?
                            .clone(),
                    ),
                    SheetChoice::FirstRecognized if sheets.len() == 1 => Some(sheets[0].clone()),
                    SheetChoice::FirstRecognized => None,
                };
                self.sheets = sheets;
            }
            Message::Sheet { name } => {
                if self.chosen.is_some() {
                    self.ended = true;
                    return Ok(Flow::Stop);
                }
                self.current = Some(name);
                self.passed_over = false;
            }
            Message::Row { number, cells } => {
                if self.chosen.is_none() {
                    if self.passed_over {
                        return Ok(Flow::Continue);
                    }
                    let take = match &self.target {
                        Some(target) => self.current.as_ref() == Some(target),
                        None => self.visitor.recognizes(&cells),
                    };
                    if !take {
                        self.passed_over = true;
                        return Ok(Flow::Continue);
                    }
                    self.chosen = self.current.clone();
                    self.visitor.header(&Header {
                        number,
                        cells,
                        sheet: self.chosen.clone(),
                    })?;
                    return Ok(Flow::Continue);
                }
                self.row.number = number;
                self.row.cells.clear();
                for cell in &cells {
                    self.row.cells.push_field(cell);
                }
                self.visitor.row(&self.row)?;
            }
            Message::Failed { failure } => return Err(failure.into_error(self.path).into()),
            Message::End => {
                self.ended = true;
                return Ok(Flow::Stop);
            }
        }
        Ok(Flow::Continue)
    }

    /// After the last message: which sheet was read, or why none was.
    pub fn finish(self) -> Result<SourceInfo, V::Error> {
        match self.chosen {
            Some(sheet) => Ok(SourceInfo {
                format: self.format,
                sheet: Some(sheet),
                encoding: None,
                encoding_basis: None,
                delimiter: None,
                sep_directive: false,
            }),
            None if self.target.is_some() => Err(SourceError::NoHeader {
                path: self.path.to_path_buf(),
            }
            .into()),
            None => Err(SourceError::NoRecognizedSheet {
                path: self.path.to_path_buf(),
                sheets: self.sheets,
            }
            .into()),
        }
    }

    fn workbook_error(&self, message: &str) -> SourceError {
        SourceError::Workbook {
            path: self.path.to_path_buf(),
            message: message.into(),
        }
    }
}

/// Reads in this process: the producer feeds the picker directly.
pub fn read_in_process<V: RowVisitor>(
    path: &Path,
    choice: &SheetChoice,
    visitor: &mut V,
) -> Result<SourceInfo, V::Error> {
    let wanted = match choice {
        SheetChoice::Named(wanted) => Some(wanted.as_str()),
        SheetChoice::FirstRecognized => None,
    };
    let mut picker = Picker::new(path, choice, visitor);
    let mut failed = None;
    produce(path, wanted, &mut |message| match picker.take(message) {
        Ok(flow) => flow,
        Err(e) => {
            failed = Some(e);
            Flow::Stop
        }
    });
    match failed {
        Some(e) => Err(e),
        None => picker.finish(),
    }
}
