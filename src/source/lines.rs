//! A `Read` adapter that gives the CSV parser line ends it counts the way a spreadsheet does.
//!
//! The `csv` crate counts a line at every `\n` it consumes, but a CRLF record's `\n` is consumed
//! by the *next* read, and a lone CR (classic Mac exports) is never counted. Rewriting every CR,
//! CRLF and LF to a single LF — and ending the stream with one — makes `Reader::position().line()`
//! after each record exactly `1 + lines consumed`, from which `delimited` derives row numbers.
//! Line breaks inside quoted cells become `\n`, which is how a cell's line break is shown anyway.

use std::io::{self, Read};

pub struct LfLines<R> {
    inner: R,
    /// The last byte handed out was a CR turned into LF: an LF right after it is dropped.
    after_cr: bool,
    /// The last byte handed out, to know whether the stream ends with a line break.
    ended_with_lf: bool,
    done: bool,
}

impl<R: Read> LfLines<R> {
    pub fn new(inner: R) -> Self {
        LfLines {
            inner,
            after_cr: false,
            ended_with_lf: true,
            done: false,
        }
    }

    /// Rewrites `buf` in place; returns the new length. Most chunks of most files hold no CR at
    /// all and are handed on untouched.
    fn normalize(&mut self, buf: &mut [u8]) -> usize {
        let mut read = 0;
        if self.after_cr {
            self.after_cr = false;
            if buf[0] == b'\n' {
                read = 1;
            }
        }
        let Some(first_cr) = memchr::memchr(b'\r', &buf[read..]) else {
            if read > 0 {
                buf.copy_within(read.., 0);
            }
            return buf.len() - read;
        };
        let mut write = 0;
        let mut next_cr = Some(first_cr);
        while let Some(run) = next_cr {
            buf.copy_within(read..read + run, write);
            write += run;
            buf[write] = b'\n';
            write += 1;
            read += run + 1;
            match buf.get(read) {
                Some(b'\n') => read += 1,
                Some(_) => {}
                None => self.after_cr = true,
            }
            next_cr = memchr::memchr(b'\r', &buf[read..]);
        }
        let rest = buf.len() - read;
        buf.copy_within(read.., write);
        write + rest
    }
}

impl<R: Read> Read for LfLines<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() || self.done {
            return Ok(0);
        }
        loop {
            let n = self.inner.read(buf)?;
            if n == 0 {
                self.done = true;
                if !self.ended_with_lf {
                    buf[0] = b'\n';
                    self.ended_with_lf = true;
                    return Ok(1);
                }
                return Ok(0);
            }
            let len = self.normalize(&mut buf[..n]);
            if len > 0 {
                self.ended_with_lf = buf[len - 1] == b'\n';
                return Ok(len);
            }
            // The whole chunk was an LF swallowed after a CR: read on.
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn normalized(input: &[u8], chunk: usize) -> String {
        struct Chunked<'a>(&'a [u8], usize);
        impl Read for Chunked<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let n = self.0.len().min(self.1).min(buf.len());
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let mut out = String::new();
        LfLines::new(Chunked(input, chunk))
            .read_to_string(&mut out)
            .unwrap();
        out
    }

    #[test]
    fn every_line_end_becomes_one_lf_whatever_the_chunking() {
        for chunk in [1, 2, 3, 64] {
            assert_eq!(normalized(b"a\r\nb\rc\nd", chunk), "a\nb\nc\nd\n");
            assert_eq!(normalized(b"a\r\r\nb\r\n", chunk), "a\n\nb\n");
            assert_eq!(normalized(b"", chunk), "");
        }
    }
}
