//! Saved SPARQL queries (`queries/*.rq`): header parsing and safe parameter binding.
//!
//! A saved query starts with comment lines `# title:`, `# purpose:` and zero or more
//! `# param: NAME (TYPE[, optional]) — description`. A parameter gives the SPARQL variable
//! `?NAME` an RDF term, bound into the query algebra ([`super::binding`]), never spliced into
//! the query text.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use oxigraph::model::vocab::xsd;
use oxigraph::model::{Literal, NamedNode, Term, Variable};

use super::error::KgError;

/// The saved queries compiled into the binary, so that `kgrec query --saved NAME` works
/// wherever the binary runs; a `queries/` folder on disk takes precedence.
pub const BUNDLED: &[(&str, &str)] = include!(concat!(env!("OUT_DIR"), "/bundled_queries.rs"));

/// The type of a saved-query parameter, which decides how a value is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamType {
    /// An IRI, written `<https://…>`.
    Iri,
    /// A string literal, written bare or `"…"`.
    String,
    /// An `xsd:integer`.
    Integer,
    /// An `xsd:decimal`.
    Decimal,
}

/// One declared parameter of a saved query.
#[derive(Clone, Debug)]
pub struct SavedQueryParam {
    /// Variable name without `?`.
    pub name: String,
    /// How values are parsed.
    pub kind: ParamType,
    /// Whether the query runs without it.
    pub optional: bool,
    /// What the parameter means.
    pub description: String,
}

/// A saved query with its header.
#[derive(Clone, Debug)]
pub struct SavedQuery {
    /// File stem, used as the query's name.
    pub name: String,
    /// `# title:`.
    pub title: String,
    /// `# purpose:`.
    pub purpose: String,
    /// `# param:` lines.
    pub params: Vec<SavedQueryParam>,
    /// The full SPARQL text (header comments included).
    pub text: String,
}

impl SavedQuery {
    /// Parses a saved query from its name and text.
    pub fn parse(name: &str, text: &str) -> Result<Self, KgError> {
        let mut title = None;
        let mut purpose = None;
        let mut params = Vec::new();
        for line in text
            .lines()
            .map(str::trim)
            .take_while(|l| l.starts_with('#') || l.is_empty())
        {
            let body = line.trim_start_matches('#').trim();
            if let Some(v) = body.strip_prefix("title:") {
                title = Some(v.trim().to_owned());
            } else if let Some(v) = body.strip_prefix("purpose:") {
                purpose = Some(v.trim().to_owned());
            } else if let Some(v) = body.strip_prefix("param:") {
                params.push(parse_param(name, v.trim())?);
            }
        }
        let missing =
            |what: &str| KgError::SavedQuery(format!("{name}.rq has no `# {what}:` header line"));
        Ok(Self {
            name: name.to_owned(),
            title: title.ok_or_else(|| missing("title"))?,
            purpose: purpose.ok_or_else(|| missing("purpose"))?,
            params,
            text: text.to_owned(),
        })
    }

    /// Finds a saved query by name: `dir/NAME.rq` if it exists, else the bundled copy.
    pub fn find(name: &str, dir: &Path) -> Result<Self, KgError> {
        let file = dir.join(format!("{name}.rq"));
        if file.is_file() {
            return Self::parse(name, &std::fs::read_to_string(&file)?);
        }
        match BUNDLED.iter().find(|(n, _)| *n == name) {
            Some((n, text)) => Self::parse(n, text),
            None => Err(KgError::SavedQuery(format!(
                "no saved query named '{name}' (in {} or bundled); `kgrec queries` lists them",
                dir.display()
            ))),
        }
    }

    /// Every saved query: those in `dir`, plus bundled ones not overridden there, by name.
    pub fn list(dir: &Path) -> Result<Vec<Self>, KgError> {
        let mut out: Vec<Self> = Vec::new();
        if let Ok(entries) = std::fs::read_dir(dir) {
            let mut files: Vec<PathBuf> = entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "rq"))
                .collect();
            files.sort();
            for f in files {
                let name = f
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .unwrap_or_default()
                    .to_owned();
                out.push(Self::parse(&name, &std::fs::read_to_string(&f)?)?);
            }
        }
        for (n, text) in BUNDLED {
            if !out.iter().any(|q| q.name == *n) {
                out.push(Self::parse(n, text)?);
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Turns `name=value` pairs into variable bindings, checking names, types and required
    /// parameters against the header.
    pub fn bind(&self, pairs: &[(String, String)]) -> Result<Vec<(Variable, Term)>, KgError> {
        let mut out = Vec::new();
        for (name, value) in pairs {
            let param = self
                .params
                .iter()
                .find(|p| &p.name == name)
                .ok_or_else(|| {
                    KgError::Parameter(format!(
                        "'{}' takes no parameter '{name}'; it takes: {}",
                        self.name,
                        self.param_names()
                    ))
                })?;
            out.push((
                Variable::new_unchecked(name.clone()),
                parse_value(name, value, Some(param.kind))?,
            ));
        }
        for p in &self.params {
            if !p.optional && !pairs.iter().any(|(n, _)| n == &p.name) {
                return Err(KgError::Parameter(format!(
                    "'{}' needs --param {}=… ({})",
                    self.name, p.name, p.description
                )));
            }
        }
        Ok(out)
    }

    fn param_names(&self) -> String {
        if self.params.is_empty() {
            "none".into()
        } else {
            self.params
                .iter()
                .map(|p| p.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        }
    }
}

fn parse_param(query: &str, spec: &str) -> Result<SavedQueryParam, KgError> {
    let bad = || {
        KgError::SavedQuery(format!("{query}.rq: bad `# param:` line '{spec}'; expected `NAME (TYPE[, optional]) — description`"))
    };
    let (name, rest) = spec.split_once('(').ok_or_else(bad)?;
    let (types, description) = rest.split_once(')').ok_or_else(bad)?;
    let mut parts = types.split(',').map(str::trim);
    let kind = match parts.next().ok_or_else(bad)? {
        "iri" => ParamType::Iri,
        "string" => ParamType::String,
        "integer" => ParamType::Integer,
        "decimal" => ParamType::Decimal,
        _ => return Err(bad()),
    };
    let optional = parts.any(|p| p == "optional");
    let name = name.trim().trim_start_matches('?').to_owned();
    if Variable::new(name.clone()).is_err() {
        return Err(bad());
    }
    Ok(SavedQueryParam {
        name,
        kind,
        optional,
        description: description
            .trim()
            .trim_start_matches(['—', '-', ':'])
            .trim()
            .to_owned(),
    })
}

/// Parses one parameter value into an RDF term. Values in N-Triples term syntax (`<iri>`,
/// `"text"`, `"5"^^<…>`) are taken as written; bare values are read according to `kind`.
pub fn parse_value(name: &str, value: &str, kind: Option<ParamType>) -> Result<Term, KgError> {
    let bad = |why: String| KgError::Parameter(format!("--param {name}={value}: {why}"));
    let value = value.trim();
    let term = if value.starts_with('<') || value.starts_with('"') || value.starts_with("_:") {
        Term::from_str(value).map_err(|e| bad(e.to_string()))?
    } else {
        match kind {
            Some(ParamType::Iri) => Term::from(NamedNode::new(value).map_err(|e| {
                bad(format!(
                    "not an absolute IRI ({e}); write it as <https://…>"
                ))
            })?),
            Some(ParamType::Integer) => {
                value
                    .parse::<i64>()
                    .map_err(|_| bad("not an integer".into()))?;
                Literal::new_typed_literal(value, xsd::INTEGER).into()
            }
            Some(ParamType::Decimal) => {
                value
                    .parse::<f64>()
                    .map_err(|_| bad("not a number".into()))?;
                Literal::new_typed_literal(value, xsd::DECIMAL).into()
            }
            Some(ParamType::String) | None => Literal::new_simple_literal(value).into(),
        }
    };
    match (kind, &term) {
        (Some(ParamType::Iri), Term::NamedNode(_))
        | (Some(ParamType::String), Term::Literal(_))
        | (None, _) => Ok(term),
        (Some(ParamType::Integer | ParamType::Decimal), Term::Literal(l))
            if l.datatype() != xsd::STRING =>
        {
            Ok(term)
        }
        (Some(k), _) => Err(bad(format!("expected a value of type {k:?}"))),
    }
}

/// Splits `name=value` as given to `--param`.
pub fn split_param(arg: &str) -> Result<(String, String), KgError> {
    let (n, v) = arg
        .split_once('=')
        .ok_or_else(|| KgError::Parameter(format!("'{arg}' is not NAME=VALUE")))?;
    let n = n.trim().trim_start_matches('?');
    Variable::new(n)
        .map_err(|_| KgError::Parameter(format!("'{n}' is not a valid variable name")))?;
    Ok((n.to_owned(), v.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const Q: &str = "# title: Also bought\n# purpose: What else buyers of X bought.\n# param: product (iri) — the product\n# param: kind (string, optional) — a kind\nSELECT * WHERE { ?u ?p ?product }\n";

    #[test]
    fn header_is_parsed() {
        let q = SavedQuery::parse("also-bought", Q).unwrap();
        assert_eq!(q.title, "Also bought");
        assert_eq!(q.params.len(), 2);
        assert_eq!(q.params[0].kind, ParamType::Iri);
        assert!(!q.params[0].optional);
        assert!(q.params[1].optional);
        assert_eq!(q.params[0].description, "the product");
    }

    #[test]
    fn binding_checks_names_types_and_required() {
        let q = SavedQuery::parse("also-bought", Q).unwrap();
        let ok = q
            .bind(&[("product".into(), "<http://example.com/p>".into())])
            .unwrap();
        assert_eq!(
            ok[0].1,
            Term::from(NamedNode::new_unchecked("http://example.com/p"))
        );
        assert!(q
            .bind(&[])
            .unwrap_err()
            .to_string()
            .contains("needs --param product"));
        assert!(q.bind(&[("nope".into(), "1".into())]).is_err());
        assert!(q.bind(&[("product".into(), "\"text\"".into())]).is_err());
        assert!(q
            .bind(&[(
                "product".into(),
                "<http://x> } ; DROP ALL ; SELECT * { ?s ?p ?o".into()
            )])
            .is_err());
    }

    #[test]
    fn values_parse_by_type() {
        assert_eq!(
            parse_value("n", "5", Some(ParamType::Integer)).unwrap(),
            Term::from(Literal::new_typed_literal("5", xsd::INTEGER))
        );
        assert!(parse_value("n", "five", Some(ParamType::Integer)).is_err());
        assert_eq!(
            parse_value("s", "OPI", Some(ParamType::String)).unwrap(),
            Term::from(Literal::new_simple_literal("OPI"))
        );
    }

    #[test]
    fn bundled_queries_all_parse() {
        assert!(BUNDLED.len() >= 10);
        for (n, t) in BUNDLED {
            SavedQuery::parse(n, t).unwrap();
        }
    }
}
