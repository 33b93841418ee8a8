//! The longest XML event in a part, found without parsing it.
//!
//! calamine reads a worksheet through quick-xml's `read_event_into`, which buffers each event whole:
//! a tag with its attributes, a run of text, a comment, a CDATA section or a processing instruction.
//! A worksheet is streamed, so its size costs time, not memory — except that one event of 1 GB
//! (a `<v>` of a billion digits, a tag with a billion-byte attribute) costs about three times that
//! in buffers. A worksheet cell holds at most 32,767 characters in Excel, so no real event comes
//! near [`MAX_EVENT_BYTES`]; a part with a longer one is refused before calamine sees it.
//!
//! [`EventScanner`] follows quick-xml's own boundaries, byte for byte, so the events it measures
//! are the ones quick-xml would buffer (an over-approximation never hurts; an under-approximation
//! would be a hole): text runs to the next `<`; a tag runs to the first `>` outside single or double
//! quotes (quick-xml's `ElementParser`, for start and end tags alike — so `<c x="<><>…">` is one
//! tag, which a count of bytes between two `<` would miss); `<!--` runs to `-->`, `<![` to `]]>`,
//! `<?` to `?>`. A `<!DOCTYPE` (or any other `<!`) is refused outright: Office Open XML parts may
//! not carry a DTD, and quick-xml's DTD grammar is not worth mirroring for files no writer makes.
//!
//! Worksheet events are short (`<c r="B7" t="s">`, `17`), so tags and the first bytes of text are
//! looked at byte by byte, and only long text through memchr: about 1.3 GB/s, 40 ms for the 53 MB
//! sheet of the 100,000-row benchmark, which runs beside calamine's opening of the workbook (see
//! `docs/architecture.md`).

/// The longest event (tag, text run, comment, ...) a worksheet may hold, in bytes.
pub const MAX_EVENT_BYTES: u64 = 1 << 20;

/// Why a part was refused, with the offset (in the decompressed part) where the event started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanError {
    TooLong { offset: u64, limit: u64 },
    Dtd { offset: u64 },
}

impl std::fmt::Display for ScanError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ScanError::TooLong { offset, limit } => write!(
                f,
                "it holds an XML node longer than {} MiB (at byte {offset}), far more than any cell",
                limit >> 20
            ),
            ScanError::Dtd { offset } => write!(
                f,
                "it declares a DTD (at byte {offset}), which workbook parts may not carry"
            ),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Text,
    /// Just after `<`.
    Open,
    /// Just after `<!`.
    Bang,
    /// After `<!-`: the second `-` is due.
    CommentOpen,
    /// Inside `<!--`: how many `-` came last.
    Comment(u8),
    /// Inside `<![`: how many `]` came last.
    CData(u8),
    /// Inside `<?`: whether the last byte was `?`.
    Pi(bool),
    /// Inside a tag: the quote we are inside of, if any.
    Tag(Option<u8>),
}

/// Feed it a part's bytes in chunks of any size; it fails as soon as an event passes the limit.
#[derive(Debug)]
pub struct EventScanner {
    state: State,
    /// Bytes of the current event so far.
    run: u64,
    /// Where the current event started.
    start: u64,
    /// Bytes fed so far.
    offset: u64,
    limit: u64,
}

impl EventScanner {
    pub fn new(limit: u64) -> EventScanner {
        EventScanner {
            state: State::Text,
            run: 0,
            start: 0,
            offset: 0,
            limit,
        }
    }

    pub fn feed(&mut self, mut bytes: &[u8]) -> Result<(), ScanError> {
        while !bytes.is_empty() {
            let used = match self.state {
                State::Text => {
                    // Text in a worksheet is mostly a few digits: look at it byte by byte first.
                    let near = bytes.len().min(32);
                    let found = bytes[..near]
                        .iter()
                        .position(|&b| b == b'<')
                        .or_else(|| memchr::memchr(b'<', &bytes[near..]).map(|i| i + near));
                    match found {
                        Some(i) => {
                            self.grow(i as u64)?;
                            // Most markup is a tag: go straight to it when the next byte says so.
                            match bytes.get(i + 1) {
                                Some(b'!' | b'?') | None => self.begin(State::Open, i as u64, 1),
                                Some(_) => self.begin(State::Tag(None), i as u64, 1),
                            }
                            i + 1
                        }
                        None => {
                            self.grow(bytes.len() as u64)?;
                            bytes.len()
                        }
                    }
                }
                State::Tag(mut quote) => {
                    let mut end = None;
                    for (i, &b) in bytes.iter().enumerate() {
                        match (quote, b) {
                            (None, b'>') => {
                                end = Some(i);
                                break;
                            }
                            (None, b'"' | b'\'') => quote = Some(b),
                            (Some(q), b) if b == q => quote = None,
                            _ => {}
                        }
                    }
                    match end {
                        Some(i) => {
                            self.grow(i as u64 + 1)?;
                            self.state = self.end(i as u64);
                            i + 1
                        }
                        None => {
                            self.grow(bytes.len() as u64)?;
                            self.state = State::Tag(quote);
                            bytes.len()
                        }
                    }
                }
                // The rare states go byte by byte: their events are short or refused.
                _ => {
                    let b = bytes[0];
                    self.grow(1)?;
                    self.state = match (self.state, b) {
                        (State::Open, b'!') => State::Bang,
                        (State::Open, b'?') => State::Pi(false),
                        // Not consumed: the byte belongs to the tag (it may be `>` or a quote).
                        (State::Open, _) => {
                            self.run -= 1;
                            self.state = State::Tag(None);
                            continue;
                        }
                        (State::Bang, b'-') => State::CommentOpen,
                        (State::Bang, b'[') => State::CData(0),
                        (State::Bang, _) => {
                            return Err(ScanError::Dtd { offset: self.start });
                        }
                        // quick-xml takes `<!-x` for a comment too (and then fails): so do we.
                        (State::CommentOpen, _) => State::Comment(0),
                        (State::Comment(n), b'-') => State::Comment(n.saturating_add(1)),
                        (State::Comment(n), b'>') if n >= 2 => self.end(0),
                        (State::Comment(_), _) => State::Comment(0),
                        (State::CData(n), b']') => State::CData(n.saturating_add(1)),
                        (State::CData(n), b'>') if n >= 2 => self.end(0),
                        (State::CData(_), _) => State::CData(0),
                        (State::Pi(true), b'>') => self.end(0),
                        (State::Pi(_), b) => State::Pi(b == b'?'),
                        (State::Text | State::Tag(_), _) => unreachable!("handled above"),
                    };
                    1
                }
            };
            self.offset += used as u64;
            bytes = &bytes[used..];
        }
        Ok(())
    }

    /// The current event grew by `n` bytes.
    fn grow(&mut self, n: u64) -> Result<(), ScanError> {
        self.run += n;
        if self.run > self.limit {
            return Err(ScanError::TooLong {
                offset: self.start,
                limit: self.limit,
            });
        }
        Ok(())
    }

    /// A markup event starts `at` bytes into the current chunk, `run` bytes of it already seen.
    fn begin(&mut self, state: State, at: u64, run: u64) {
        self.state = state;
        self.start = self.offset + at;
        self.run = run;
    }

    /// The markup event ended with the byte `at` bytes into the current chunk; text follows.
    fn end(&mut self, at: u64) -> State {
        self.run = 0;
        self.start = self.offset + at + 1;
        State::Text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The longest event of `xml` as the scanner sees it: the smallest limit it accepts.
    fn longest(xml: &[u8], chunk: usize) -> u64 {
        (0..=xml.len() as u64 + 1)
            .find(|&limit| {
                let mut scanner = EventScanner::new(limit);
                xml.chunks(chunk.max(1)).all(|c| scanner.feed(c).is_ok())
            })
            .unwrap()
    }

    #[test]
    fn events_are_measured_as_quick_xml_buffers_them() {
        for chunk in [1, 2, 3, 7, 1000] {
            assert_eq!(longest(b"<a>xyz</a>", chunk), 4, "`</a>` is the longest");
            assert_eq!(longest(b"<a>0123456789</a>", chunk), 10, "the text");
            // A `>` or a `<` inside quotes does not end the tag (quick-xml's ElementParser).
            assert_eq!(longest(br#"<c x="<><><>"/>"#, chunk), 15);
            assert_eq!(longest(br#"<c x='">">'/>"#, chunk), 13);
            assert_eq!(longest(br#"</c x=">">"#, chunk), 10, "end tags alike");
            assert_eq!(longest(b"<!-- <a> -> --><b/>", chunk), 15);
            assert_eq!(longest(b"<![CDATA[ ]> ] ]]><b/>", chunk), 18);
            assert_eq!(longest(b"<?xml version=\"1.0\" x='?>'", chunk), 25);
        }
    }

    #[test]
    fn a_long_event_is_refused_where_it_starts() {
        let mut xml = b"<row><c><v>".to_vec();
        xml.extend(std::iter::repeat_n(b'9', 100));
        xml.extend_from_slice(b"</v></c></row>");
        let mut scanner = EventScanner::new(50);
        let err = xml.chunks(8).try_for_each(|c| scanner.feed(c)).unwrap_err();
        assert_eq!(
            err,
            ScanError::TooLong {
                offset: 11,
                limit: 50
            }
        );
    }

    #[test]
    fn a_dtd_is_refused() {
        let mut scanner = EventScanner::new(1 << 20);
        let err = scanner
            .feed(b"<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY a \"b\">]><x/>")
            .unwrap_err();
        assert_eq!(err, ScanError::Dtd { offset: 21 });
    }
}
