//! A CSV file read record by record with physical line numbers, shared by the imports (prior-
//! system history, attendee lists): their line reports must name the line a person sees in an
//! editor, blank lines included.

use csv::StringRecord;

/// A CSV file read record by record with physical line numbers: the CSV reader skips blank lines
/// without counting them, so lines are counted here from the records' byte offsets.
pub(crate) struct Sheet<'t> {
    reader: csv::Reader<&'t [u8]>,
    text: &'t [u8],
    /// Byte offset up to which newlines are counted, and the line number there.
    at: usize,
    line: u64,
}

/// What the next record of a sheet is.
pub(crate) enum Line {
    /// Every cell empty: skipped, as spreadsheets leave such lines at the end.
    Blank,
    /// A data line at this physical line number.
    Data(u64),
    /// A quoted cell starting on this line is never closed: the reader took the rest of the
    /// file as that cell, so nothing after it can be trusted.
    UnclosedQuote(u64),
    /// The CSV reader failed at this line; nothing after it can be trusted.
    Broken {
        /// Where it failed.
        line: u64,
        /// The reader's explanation.
        error: String,
    },
    /// End of file.
    End,
}

impl<'t> Sheet<'t> {
    /// A sheet over `text`; with `has_headers` the first record is the header and is not
    /// returned by [`Sheet::next`] (read it with the reader's `headers`).
    pub(crate) fn new(text: &'t str, has_headers: bool) -> Self {
        Self {
            reader: csv::ReaderBuilder::new()
                .has_headers(has_headers)
                .flexible(true)
                .from_reader(text.as_bytes()),
            text: text.as_bytes(),
            at: 0,
            line: 1,
        }
    }

    /// The underlying reader (for the header row).
    pub(crate) fn reader(&mut self) -> &mut csv::Reader<&'t [u8]> {
        &mut self.reader
    }

    /// The line a record starting at `byte` lies on. The reader reports the offset where the
    /// previous record ended, before any blank lines it skipped, so those are stepped over first.
    /// Offsets only grow, so the file is scanned once.
    fn line_at(&mut self, byte: u64) -> u64 {
        let mut to = usize::try_from(byte)
            .unwrap_or(usize::MAX)
            .min(self.text.len());
        while matches!(self.text.get(to), Some(b'\r' | b'\n')) {
            to += 1;
        }
        if to > self.at {
            let newlines = self.text[self.at..to]
                .iter()
                .filter(|&&b| b == b'\n')
                .count();
            self.line += newlines as u64;
            self.at = to;
        }
        self.line
    }

    /// Whether the record starting at `byte`, just read, ran to the end of the file inside a
    /// quote: quotes come in pairs in a well-formed record (opening, closing, doubled), so an odd
    /// count in a record that reaches the end means one was never closed.
    fn unclosed(&self, byte: u64) -> bool {
        let end = usize::try_from(self.reader.position().byte()).unwrap_or(usize::MAX);
        let start = usize::try_from(byte).unwrap_or(usize::MAX);
        end >= self.text.len()
            && start < self.text.len()
            && self.text[start..].iter().filter(|&&b| b == b'"').count() % 2 == 1
    }

    /// The next record into `rec`, with its physical line.
    pub(crate) fn next(&mut self, rec: &mut StringRecord) -> Line {
        match self.reader.read_record(rec) {
            Ok(false) => Line::End,
            Ok(true) if rec.iter().all(|c| c.trim().is_empty()) => Line::Blank,
            Ok(true) => {
                let byte = rec.position().map_or(0, |p| p.byte());
                let line = self.line_at(byte);
                if self.unclosed(byte) {
                    Line::UnclosedQuote(line)
                } else {
                    Line::Data(line)
                }
            }
            Err(e) => Line::Broken {
                line: e.position().map_or(0, |p| self.line_at(p.byte())),
                error: e.to_string(),
            },
        }
    }
}

/// Cells up to the last non-empty one: spreadsheets leave empty columns at the right of a
/// sheet, which every import ignores.
pub(crate) fn width(rec: &StringRecord) -> usize {
    (0..rec.len())
        .rev()
        .find(|&i| rec.get(i).is_some_and(|c| !c.trim().is_empty()))
        .map_or(0, |i| i + 1)
}

/// Whether a data line fits a header of `header_width` named columns: every named column has a
/// cell, and any cell beyond them is empty.
pub(crate) fn fits(rec: &StringRecord, header_width: usize) -> bool {
    rec.len() >= header_width && width(rec) <= header_width
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<String> {
        let mut sheet = Sheet::new(text, false);
        let mut rec = StringRecord::new();
        let mut out = Vec::new();
        loop {
            match sheet.next(&mut rec) {
                Line::End => break,
                Line::Blank => out.push("blank".into()),
                Line::Data(l) => out.push(format!("{l}:{}", rec.len())),
                Line::UnclosedQuote(l) => out.push(format!("{l}:unclosed")),
                Line::Broken { line, .. } => out.push(format!("{line}:broken")),
            }
        }
        out
    }

    #[test]
    fn physical_lines_and_unclosed_quotes() {
        assert_eq!(lines("a,b\n\n1,\"x\ny\"\n2,3\n"), ["1:2", "3:2", "5:2"]);
        assert_eq!(lines("a,b\n1,\"x\n2,3\n4,5\n"), ["1:2", "2:unclosed"]);
        assert_eq!(lines("a,b\n1,\"x\"\"y\"\n"), ["1:2", "2:2"]);
        assert_eq!(lines("a,b\n1,\"x\""), ["1:2", "2:2"]);
    }

    #[test]
    fn trailing_empty_cells_fit() {
        let rec = StringRecord::from(vec!["1", "2", "", " "]);
        assert_eq!(width(&rec), 2);
        assert!(fits(&rec, 2));
        assert!(fits(&rec, 3));
        assert!(!fits(&rec, 5));
        assert!(!fits(&StringRecord::from(vec!["1", "2", "3"]), 2));
    }
}
