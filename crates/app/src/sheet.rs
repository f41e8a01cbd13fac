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

    /// The next record into `rec`, with its physical line.
    pub(crate) fn next(&mut self, rec: &mut StringRecord) -> Line {
        match self.reader.read_record(rec) {
            Ok(false) => Line::End,
            Ok(true) if rec.iter().all(|c| c.trim().is_empty()) => Line::Blank,
            Ok(true) => {
                let byte = rec.position().map_or(0, |p| p.byte());
                Line::Data(self.line_at(byte))
            }
            Err(e) => Line::Broken {
                line: e.position().map_or(0, |p| self.line_at(p.byte())),
                error: e.to_string(),
            },
        }
    }
}
