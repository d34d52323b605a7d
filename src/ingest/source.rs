//! Opening input files: plain or gzip (detected by magic bytes), hashed for import records,
//! and read line by line with line numbers.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;
use sha2::{Digest, Sha256};

use super::error::IngestError;

/// Opens `path` for reading, transparently decompressing gzip.
pub fn open(path: &Path) -> Result<Box<dyn BufRead + Send>, IngestError> {
    let mut file = File::open(path).map_err(|e| IngestError::read(path, &e))?;
    let mut magic = [0u8; 2];
    let n = file
        .read(&mut magic)
        .map_err(|e| IngestError::read(path, &e))?;
    let file = File::open(path).map_err(|e| IngestError::read(path, &e))?;
    if n == 2 && magic == [0x1f, 0x8b] {
        Ok(Box::new(BufReader::with_capacity(
            1 << 16,
            MultiGzDecoder::new(BufReader::new(file)),
        )))
    } else {
        Ok(Box::new(BufReader::with_capacity(1 << 16, file)))
    }
}

/// The file name without a trailing `.gz`, used for format detection.
pub fn name_without_gz(path: &Path) -> String {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    name.strip_suffix(".gz").unwrap_or(name).to_owned()
}

/// Incremental SHA-256 over the bytes of several files, identifying an import's content.
#[derive(Default)]
pub struct ContentHash(Sha256);

impl ContentHash {
    /// Adds a file's raw bytes (and its name, so that swapped files differ).
    pub fn add_file(&mut self, path: &Path) -> Result<(), IngestError> {
        let mut f = File::open(path).map_err(|e| IngestError::read(path, &e))?;
        self.0.update(name_without_gz(path).as_bytes());
        std::io::copy(&mut f, &mut self.0).map_err(|e| IngestError::read(path, &e))?;
        Ok(())
    }

    /// Adds a setting that changes the import's output.
    pub fn add_setting(&mut self, s: &str) {
        self.0.update(s.as_bytes());
        self.0.update([0]);
    }

    /// The hex digest.
    pub fn finish(self) -> String {
        self.0
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

/// Reads a text file line by line, with 1-based line numbers and errors that name the file.
pub struct Lines {
    path: PathBuf,
    reader: Box<dyn BufRead + Send>,
    line: u64,
    buf: String,
}

impl Lines {
    /// Opens `path` (gzip or plain).
    pub fn open(path: &Path) -> Result<Self, IngestError> {
        Ok(Self {
            path: path.to_owned(),
            reader: open(path)?,
            line: 0,
            buf: String::new(),
        })
    }

    /// The file being read.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Moves to the next line; `false` at the end of the file.
    pub fn advance(&mut self) -> Result<bool, IngestError> {
        self.buf.clear();
        let n = self.reader.read_line(&mut self.buf).map_err(|e| {
            if e.kind() == std::io::ErrorKind::InvalidData && e.to_string().contains("UTF-8") {
                IngestError::at(&self.path, self.line + 1, "not valid UTF-8 text")
            } else {
                IngestError::read(&self.path, &e)
            }
        })?;
        if n == 0 {
            return Ok(false);
        }
        self.line += 1;
        Ok(true)
    }

    /// The current line without its line ending.
    pub fn current(&self) -> &str {
        self.buf.trim_end_matches(['\n', '\r'])
    }

    /// The current 1-based line number.
    pub fn line(&self) -> u64 {
        self.line
    }

    /// The next line with its number; `None` at the end.
    pub fn next_line(&mut self) -> Result<Option<(u64, &str)>, IngestError> {
        if self.advance()? {
            Ok(Some((self.line, self.current())))
        } else {
            Ok(None)
        }
    }

    /// An error at the current line.
    pub fn error(&self, message: impl Into<String>) -> IngestError {
        IngestError::at(&self.path, self.line, message)
    }
}

/// Reads a delimited file (tab or whitespace separated) and checks every row's column count.
pub struct Table {
    lines: Lines,
    /// Column names from the header, when the file has one.
    pub header: Vec<String>,
    whitespace: bool,
}

impl Table {
    /// A tab-separated file whose first line is a header.
    pub fn with_header(path: &Path) -> Result<Self, IngestError> {
        let mut lines = Lines::open(path)?;
        let header = match lines.next_line()? {
            Some((_, h)) if !h.trim().is_empty() => {
                h.split('\t').map(|s| s.trim().to_owned()).collect()
            }
            _ => {
                return Err(IngestError::Input(format!(
                    "{}: the file is empty (expected a header line)",
                    path.display()
                )))
            }
        };
        Ok(Self {
            lines,
            header,
            whitespace: false,
        })
    }

    /// A headerless file split on runs of whitespace (KGCN/KGAT style).
    pub fn whitespace(path: &Path) -> Result<Self, IngestError> {
        Ok(Self {
            lines: Lines::open(path)?,
            header: Vec::new(),
            whitespace: true,
        })
    }

    /// Index of the header column whose name (before any `:type`) is one of `names`.
    pub fn column(&self, names: &[&str]) -> Option<usize> {
        self.header
            .iter()
            .position(|h| names.contains(&h.split(':').next().unwrap_or(h)))
    }

    /// Like [`Table::column`] but an error naming the file when missing.
    pub fn require_column(&self, names: &[&str]) -> Result<usize, IngestError> {
        self.column(names).ok_or_else(|| {
            IngestError::at(
                self.lines.path(),
                1,
                format!(
                    "the header has no column {} (found: {})",
                    names.join(" or "),
                    self.header.join(", ")
                ),
            )
        })
    }

    /// The next non-empty row as fields, with its line number. With `expected` set, a row with
    /// another number of fields is an error that says which line and how many.
    pub fn next_row(&mut self, expected: Option<usize>) -> Result<Option<Row<'_>>, IngestError> {
        loop {
            if !self.lines.advance()? {
                return Ok(None);
            }
            if !self.lines.current().trim().is_empty() {
                break;
            }
        }
        let line = self.lines.line();
        let text = self.lines.current();
        let fields: Vec<&str> = if self.whitespace {
            text.split_whitespace().collect()
        } else {
            text.split('\t').collect()
        };
        let want = expected.or(if self.header.is_empty() {
            None
        } else {
            Some(self.header.len())
        });
        if let Some(n) = want {
            if fields.len() != n {
                return Err(IngestError::at(
                    self.lines.path(),
                    line,
                    format!("expected {n} columns, found {}", fields.len()),
                ));
            }
        }
        Ok(Some(Row {
            line,
            fields,
            path: self.lines.path(),
        }))
    }

    /// The file being read.
    pub fn path(&self) -> &Path {
        self.lines.path()
    }

    /// An error at the current line.
    pub fn error(&self, message: impl Into<String>) -> IngestError {
        self.lines.error(message)
    }
}

/// One row of a [`Table`]: its fields, indexable as `row[i]`, and where it came from.
pub struct Row<'a> {
    /// 1-based line number.
    pub line: u64,
    /// The fields.
    pub fields: Vec<&'a str>,
    path: &'a Path,
}

impl Row<'_> {
    /// An error at this row.
    pub fn error(&self, message: impl Into<String>) -> IngestError {
        IngestError::at(self.path, self.line, message)
    }

    /// Field `i` as a non-negative integer id.
    pub fn id(&self, i: usize, what: &str) -> Result<u64, IngestError> {
        let field = self.fields[i];
        field
            .parse::<u64>()
            .map_err(|_| self.error(format!("{what} '{field}' is not a non-negative integer")))
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// Whether the row has no field.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }
}

impl<'a> std::ops::Index<usize> for Row<'a> {
    type Output = &'a str;
    fn index(&self, i: usize) -> &&'a str {
        &self.fields[i]
    }
}
