//! RDF files: N-Triples, N-Quads, Turtle, TriG and RDF/XML, plain or gzipped, parsed into
//! quads whose errors carry file, line and column.

use std::path::{Path, PathBuf};

use oxigraph::io::{RdfFormat, RdfParseError, RdfParser};
use oxigraph::model::{GraphName, NamedNode, Quad};

use super::error::IngestError;
use super::source::{name_without_gz, open};

/// The RDF formats kgrec reads and writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum RdfFileFormat {
    /// N-Triples (`.nt`).
    Ntriples,
    /// N-Quads (`.nq`).
    Nquads,
    /// Turtle (`.ttl`).
    Turtle,
    /// TriG (`.trig`).
    Trig,
    /// RDF/XML (`.rdf`, `.owl`, `.xml`).
    Rdfxml,
}

impl RdfFileFormat {
    /// The oxigraph format.
    pub fn rdf_format(self) -> RdfFormat {
        match self {
            RdfFileFormat::Ntriples => RdfFormat::NTriples,
            RdfFileFormat::Nquads => RdfFormat::NQuads,
            RdfFileFormat::Turtle => RdfFormat::Turtle,
            RdfFileFormat::Trig => RdfFormat::TriG,
            RdfFileFormat::Rdfxml => RdfFormat::RdfXml,
        }
    }

    /// Guesses the format from a file name, ignoring a trailing `.gz`.
    pub fn from_path(path: &Path) -> Option<Self> {
        let name = name_without_gz(path).to_lowercase();
        let ext = name.rsplit('.').next()?;
        Some(match ext {
            "nt" | "ntriples" => RdfFileFormat::Ntriples,
            "nq" | "nquads" => RdfFileFormat::Nquads,
            "ttl" | "turtle" => RdfFileFormat::Turtle,
            "trig" => RdfFileFormat::Trig,
            "rdf" | "owl" | "xml" => RdfFileFormat::Rdfxml,
            _ => return None,
        })
    }
}

/// One RDF file to load.
#[derive(Clone, Debug)]
pub struct RdfFile {
    /// The file.
    pub path: PathBuf,
    /// Its format.
    pub format: RdfFileFormat,
}

impl RdfFile {
    /// Resolves the format from `explicit` or the file name, with a clear error otherwise.
    pub fn new(path: &Path, explicit: Option<RdfFileFormat>) -> Result<Self, IngestError> {
        let format = explicit.or_else(|| RdfFileFormat::from_path(path)).ok_or_else(|| {
            IngestError::Input(format!(
                "{}: cannot tell the RDF format from the extension; use --format (ntriples, nquads, turtle, trig, rdfxml)",
                path.display()
            ))
        })?;
        let meta = std::fs::metadata(path).map_err(|e| IngestError::read(path, &e))?;
        if meta.len() == 0 {
            return Err(IngestError::Input(format!(
                "{}: the file is empty; nothing to load",
                path.display()
            )));
        }
        Ok(Self {
            path: path.to_owned(),
            format,
        })
    }

    /// Parses the file into quads. Triples land in `graph` (or the default graph); quads of
    /// dataset formats keep their graph unless `graph` is given, which then receives the
    /// file's default graph and is the only graph allowed.
    pub fn quads(
        &self,
        graph: Option<&NamedNode>,
    ) -> Result<impl Iterator<Item = Result<Quad, IngestError>> + use<>, IngestError> {
        let reader = open(&self.path)?;
        let mut parser = RdfParser::from_format(self.format.rdf_format()).rename_blank_nodes();
        if let Some(g) = graph {
            parser = parser.with_default_graph(GraphName::NamedNode(g.clone()));
            if self.format.rdf_format().supports_datasets() {
                parser = parser.without_named_graphs();
            }
        }
        let path = self.path.clone();
        let mut failed = false;
        let iter = parser.for_reader(reader).map_while(move |r| {
            if failed {
                return None;
            }
            match r {
                Ok(q) => Some(Ok(q)),
                Err(e) => {
                    failed = true;
                    Some(Err(parse_error(&path, e)))
                }
            }
        });
        Ok(iter)
    }
}

fn parse_error(path: &Path, e: RdfParseError) -> IngestError {
    match e {
        RdfParseError::Syntax(s) => {
            let (line, column) = s
                .location()
                .map(|l| (l.start.line + 1, Some(l.start.column + 1)))
                .unwrap_or((0, None));
            IngestError::Parse {
                file: path.to_owned(),
                line,
                column,
                message: s.to_string(),
            }
        }
        RdfParseError::Io(io) => IngestError::read(path, &io),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_from_names() {
        assert_eq!(
            RdfFileFormat::from_path(Path::new("a.nq.gz")),
            Some(RdfFileFormat::Nquads)
        );
        assert_eq!(
            RdfFileFormat::from_path(Path::new("a.TTL")),
            Some(RdfFileFormat::Turtle)
        );
        assert_eq!(
            RdfFileFormat::from_path(Path::new("a.owl")),
            Some(RdfFileFormat::Rdfxml)
        );
        assert_eq!(RdfFileFormat::from_path(Path::new("a.json")), None);
    }

    #[test]
    fn syntax_errors_have_line_and_column() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bad.nt");
        std::fs::write(
            &p,
            "<http://a> <http://b> <http://c> .\n<http://a> <http://b> \"x .\n",
        )
        .unwrap();
        let f = RdfFile::new(&p, None).unwrap();
        let err = f.quads(None).unwrap().find_map(Result::err).unwrap();
        let msg = err.to_string();
        assert!(msg.contains("bad.nt:2:"), "{msg}");
    }
}
