//! [`RemoteStore`]: what stands behind [`super::KgStore`] when the KG lives in a SPARQL 1.1
//! service the shop already runs (Virtuoso, oxigraph's server, GraphDB, Fuseki, …).
//!
//! It speaks the SPARQL 1.1 Protocol for queries and updates, and the Graph Store Protocol
//! for bulk reads and writes where the server has one. Every read is counted first, so a
//! server's silent cap on result rows (Virtuoso's `ResultSetMaxRows`) cannot cut one short:
//! what does not come back whole is read in parts (a graph predicate by predicate, a part or
//! an answer in sorted pages). Writes go in batches, each retried when the network or the server fails
//! transiently. A load is written into staging graphs of its own and moved into place by one
//! final update (or, with `commit=graph`, one undoable update per graph), so a load that
//! fails leaves the target graphs as they were.
//!
//! About 1,700 lines, 115 of them tests, because it is one idea: the whole surface kgrec
//! uses of a remote service (protocol, retries, paging, staging, what each engine gets
//! wrong), kept in one file so that another engine's quirks are handled in one place.
//!
//! May import: oxigraph's model, parsers and result formats, spargebra, and `super::error`,
//! `super::store`'s option and outcome types, `super::binding`, `super::calls` and
//! `super::vocab`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use oxigraph::io::{RdfFormat, RdfParser};
use oxigraph::model::{GraphName, NamedNode, NamedOrBlankNode, Quad, Term, Triple, Variable};
use oxigraph::sparql::results::{
    QueryResultsFormat, QueryResultsParser, ReaderQueryResultsParserOutput,
};

use super::calls;
use super::error::KgError;
use super::store::{QueryOptions, QueryOutcome};
use super::vocab::KGR;

/// Where a remote store answers: its query endpoint, its update endpoint and, where the
/// server has one, its Graph Store Protocol endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteEndpoints {
    /// SPARQL 1.1 Protocol query endpoint.
    pub query: String,
    /// SPARQL 1.1 Protocol update endpoint (often the query endpoint's URL).
    pub update: String,
    /// Graph Store Protocol endpoint, used for bulk writes when given.
    pub graph_store: Option<String>,
    /// How a load's final move commits on the service.
    pub commit: LoadCommit,
}

/// How the final move of a load (staging graphs into their targets) commits on the service.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LoadCommit {
    /// `commit=import` (the default): one update moves every graph, so the import lands whole
    /// or not at all, and no reader sees part of it.
    #[default]
    Import,
    /// `commit=graph`: one update per graph, for a service whose transactions cannot hold a
    /// whole import (Virtuoso's `TransactionAfterImageLimit`). A graph that fails to move has
    /// the graphs moved before it put back as they were; a reader may see some graphs moved
    /// before the others, and a process killed between two moves leaves the earlier moved.
    Graph,
}

impl RemoteEndpoints {
    /// Reads `--store`'s remote forms: one URL (`http://host:8890/sparql`, queries and
    /// updates both sent there), or `query=URL,update=URL[,gsp=URL][,commit=import|graph]`.
    /// Anything else is a local store's directory, and gives `None`.
    pub fn parse(spec: &str) -> Result<Option<Self>, KgError> {
        let spec = spec.trim();
        if is_http_url(spec) {
            return Ok(Some(Self {
                query: spec.to_owned(),
                update: spec.to_owned(),
                graph_store: None,
                commit: LoadCommit::Import,
            }));
        }
        if !spec.starts_with("query=") {
            return Ok(None);
        }
        let (mut query, mut update, mut graph_store, mut commit) = (None, None, None, None);
        for part in spec.split(',') {
            let (key, url) = part
                .split_once('=')
                .ok_or_else(|| KgError::RemoteSpec(format!("`{part}` is not KEY=URL")))?;
            let url = url.trim();
            if key.trim() == "commit" {
                let scope = match url {
                    "import" => LoadCommit::Import,
                    "graph" => LoadCommit::Graph,
                    other => {
                        return Err(KgError::RemoteSpec(format!(
                            "commit={other}: use commit=import (one transaction) or commit=graph \
                             (one per graph)"
                        )))
                    }
                };
                if commit.replace(scope).is_some() {
                    return Err(KgError::RemoteSpec("commit= is given twice".into()));
                }
                continue;
            }
            if !is_http_url(url) {
                return Err(KgError::RemoteSpec(format!(
                    "`{url}` ({key}) is not an http:// or https:// URL"
                )));
            }
            let slot = match key.trim() {
                "query" => &mut query,
                "update" => &mut update,
                "gsp" => &mut graph_store,
                other => {
                    return Err(KgError::RemoteSpec(format!(
                        "unknown endpoint `{other}`: use query=, update=, gsp= and commit="
                    )))
                }
            };
            if slot.replace(url.to_owned()).is_some() {
                return Err(KgError::RemoteSpec(format!("{key}= is given twice")));
            }
        }
        let query = query.ok_or_else(|| KgError::RemoteSpec("query= is missing".into()))?;
        Ok(Some(Self {
            update: update.unwrap_or_else(|| query.clone()),
            query,
            graph_store,
            commit: commit.unwrap_or_default(),
        }))
    }
}

impl std::fmt::Display for RemoteEndpoints {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the SPARQL service at {}", self.query)?;
        if self.update != self.query {
            write!(f, " (updates to {})", self.update)?;
        }
        if self.commit == LoadCommit::Graph {
            write!(f, ", committing loads graph by graph")?;
        }
        Ok(())
    }
}

/// Whether `query` reads only inside `GRAPH <iri>` clauses (not a DESCRIBE, whose
/// descriptions come from the default graph).
fn reads_only_named_graphs(query: &spargebra::Query) -> bool {
    match query {
        spargebra::Query::Select { pattern, .. }
        | spargebra::Query::Construct { pattern, .. }
        | spargebra::Query::Ask { pattern, .. } => calls::reads_only_named_graphs(pattern),
        spargebra::Query::Describe { .. } => false,
    }
}

/// The graph IRI in a one-cell row of a graph listing (none where `?g` is unbound).
fn graph_cell(mut row: Cells) -> Option<NamedNode> {
    match row.pop().flatten() {
        Some(Term::NamedNode(g)) => Some(g),
        _ => None,
    }
}

/// `names` less the service's own graphs, sorted.
fn data_graphs(mut names: Vec<NamedNode>) -> Vec<NamedNode> {
    names.retain(|g| !is_service_graph(g.as_str()));
    names.sort();
    names
}

/// Whether a graph belongs to the service rather than to its data, so that kgrec neither
/// counts, exports, projects nor queries it: Virtuoso's built-in graphs (its RDF views'
/// schema, the OWL and LDP vocabularies it preloads, and the graphs of its DAV folder and
/// SPARQL endpoint, named after its host).
pub fn is_service_graph(iri: &str) -> bool {
    if iri.starts_with("http://www.openlinksw.com/schemas/")
        || iri == "http://www.w3.org/2002/07/owl#"
        || iri == "http://www.w3.org/ns/ldp#"
    {
        return true;
    }
    let path = iri
        .strip_prefix("http://")
        .or_else(|| iri.strip_prefix("https://"))
        .and_then(|rest| rest.split_once('/'))
        .map(|(_, path)| path);
    matches!(path, Some("DAV/") | Some("sparql"))
}

fn is_http_url(s: &str) -> bool {
    s.starts_with("http://") || s.starts_with("https://")
}

/// HTTP authentication for a remote store, read from the environment only (never from the
/// command line, where other users of the machine could read it).
#[derive(Clone, PartialEq, Eq)]
pub enum RemoteAuth {
    /// `KGREC_STORE_USER` and `KGREC_STORE_PASSWORD`: HTTP basic authentication.
    Basic {
        /// User name.
        user: String,
        /// Password.
        password: String,
    },
    /// `KGREC_STORE_TOKEN`: a bearer token.
    Bearer(String),
}

impl std::fmt::Debug for RemoteAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RemoteAuth::Basic { user, .. } => write!(f, "Basic({user}, <password>)"),
            RemoteAuth::Bearer(_) => write!(f, "Bearer(<token>)"),
        }
    }
}

impl RemoteAuth {
    /// The environment variable of a basic-auth user name.
    pub const USER: &'static str = "KGREC_STORE_USER";
    /// The environment variable of a basic-auth password.
    pub const PASSWORD: &'static str = "KGREC_STORE_PASSWORD";
    /// The environment variable of a bearer token.
    pub const TOKEN: &'static str = "KGREC_STORE_TOKEN";

    /// Reads the credentials from `var` (the environment, in the binary): none, basic or
    /// bearer. A user without a password, or both kinds at once, is an error.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, KgError> {
        let (user, password, token) = (var(Self::USER), var(Self::PASSWORD), var(Self::TOKEN));
        match (user, password, token) {
            (None, None, None) => Ok(None),
            (None, None, Some(t)) => Ok(Some(RemoteAuth::Bearer(t))),
            (Some(user), Some(password), None) => Ok(Some(RemoteAuth::Basic { user, password })),
            (_, _, Some(_)) => Err(KgError::RemoteSpec(format!(
                "set either {} or {} and {}, not both",
                Self::TOKEN,
                Self::USER,
                Self::PASSWORD
            ))),
            _ => Err(KgError::RemoteSpec(format!(
                "{} and {} go together",
                Self::USER,
                Self::PASSWORD
            ))),
        }
    }

    fn header(&self) -> String {
        match self {
            RemoteAuth::Basic { user, password } => format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
            ),
            RemoteAuth::Bearer(t) => format!("Bearer {t}"),
        }
    }
}

/// The dataset a query runs over, as the protocol's `default-graph-uri` and
/// `named-graph-uri` parameters (empty: the query's own FROM, or the service's default).
#[derive(Clone, Debug, Default)]
pub struct ProtocolDataset {
    /// `default-graph-uri` values.
    pub default_graphs: Vec<NamedNode>,
    /// `named-graph-uri` values.
    pub named_graphs: Vec<NamedNode>,
}

/// Whether a failed request may be sent again.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Retry {
    /// Reads, and writes that are idempotent (INSERT DATA, DELETE DATA, a staging batch).
    Transient,
    /// The final move of a load: sent once, its failure reported as it is.
    Never,
}

/// One HTTP request to the service, built afresh for each attempt.
enum Request<'a> {
    /// A GET with URL parameters (the Graph Store Protocol's read).
    Get {
        params: &'a [(&'a str, &'a str)],
        accept: &'a str,
    },
    /// A POST of an HTML form (the SPARQL Protocol's query and update).
    Form {
        params: Vec<(&'a str, &'a str)>,
        accept: &'a str,
    },
    /// A POST of N-Triples (the Graph Store Protocol's write).
    NTriples {
        params: &'a [(&'a str, &'a str)],
        body: &'a [u8],
    },
}

/// Why a load that commits graph by graph refuses triples of the default graph: the default
/// graph cannot be backed up or compared with (Virtuoso's is the union of every graph).
const NAMED_GRAPHS_ONLY: &str = "a load that commits graph by graph (commit=graph) moves named \
     graphs only: name the graph of these triples (kgrec load --graph IRI)";

/// The delays before each new attempt of a request that failed transiently.
const BACKOFF: [Duration; 3] = [
    Duration::from_millis(200),
    Duration::from_millis(1000),
    Duration::from_millis(4000),
];

/// A remote SPARQL 1.1 store (see the module documentation).
pub struct RemoteStore {
    agent: ureq::Agent,
    endpoints: RemoteEndpoints,
    auth: Option<String>,
    page_size: usize,
    batch_size: usize,
    /// The most triples one Graph Store GET is asked for: lowered to what came back when the
    /// endpoint returned fewer triples than a graph holds, or below a graph it failed to send.
    graph_read_cap: AtomicUsize,
    /// The most rows one answer is asked for: lowered to what came back when the query
    /// endpoint answered fewer rows than it counted (Virtuoso stops at its
    /// `ResultSetMaxRows`, and at 2²⁰ rows whatever that is).
    answer_cap: AtomicUsize,
    /// Set once the service has answered fewer rows than it counted, below any cap.
    count_mismatch_seen: AtomicBool,
    /// How the service's named graphs are listed, and the list where it is reused.
    graph_list: Mutex<GraphListing>,
    /// Writes this process has sent (whatever their outcome): a list of graphs read before
    /// the last of them is not reused.
    writes_sent: AtomicU64,
}

/// How a service's named graphs are listed (every query over the union of the graphs names
/// them), learnt from its first answer.
enum GraphListing {
    /// Not asked yet, or the service answers `GRAPH ?g { }` with one row per named graph
    /// (oxigraph's server: 4 ms on full Beauty), which is asked each time.
    EmptyPattern,
    /// The service does not (Virtuoso answers one row with `?g` unbound; another may refuse
    /// the query), so the graphs are
    /// read off the quads, which reads all of them (4.4 s on full Beauty). The list is reused
    /// for ten times as long as reading it took (at least a second), so listing takes at most
    /// a tenth of the service's time, and not after a write of this process (which reads its
    /// own writes).
    Scan(Option<ScannedGraphs>),
}

/// A list of named graphs read off the quads, and what it cost.
struct ScannedGraphs {
    names: Vec<NamedNode>,
    read_at: Instant,
    took: Duration,
    /// [`RemoteStore::writes_sent`] when the reading began.
    writes_before: u64,
}

impl ScannedGraphs {
    /// How many times the reading's duration a scanned list is reused for.
    const REUSE: u32 = 10;
    /// The least time a scanned list is reused for, so that a burst of union queries (a
    /// page's saved queries) lists the graphs once.
    const REUSE_AT_LEAST: Duration = Duration::from_secs(1);

    fn reusable(&self, writes_sent: u64) -> bool {
        self.writes_before == writes_sent
            && self.read_at.elapsed() < (self.took * Self::REUSE).max(Self::REUSE_AT_LEAST)
    }
}

/// A quad's parts as rows of a result: subject, predicate, object (and graph).
type Cells = Vec<Option<Term>>;

impl RemoteStore {
    /// Rows asked for per page of a paged read: Virtuoso's default cap on result rows.
    pub const PAGE_SIZE: usize = 10_000;
    /// Triples written per request of a load.
    pub const BATCH_SIZE: usize = 10_000;
    /// The most rows (or a graph's triples) read in one answer; larger reads go page by page.
    /// The reader holds what it reads anyway (a projection, a catalogue), and a page costs
    /// the service a sort of the whole result, so one answer is asked for up to ten million.
    pub const WHOLE_READ: usize = 10_000_000;

    /// Connects to a remote store and checks that it answers a query, so that a wrong URL
    /// or credentials fail at once with the service's own words.
    pub fn connect(endpoints: RemoteEndpoints, auth: Option<RemoteAuth>) -> Result<Self, KgError> {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(10)))
            .user_agent(concat!("kgrec/", env!("CARGO_PKG_VERSION")))
            .build();
        let store = Self {
            agent: ureq::Agent::new_with_config(config),
            endpoints,
            auth: auth.map(|a| a.header()),
            page_size: Self::PAGE_SIZE,
            batch_size: Self::BATCH_SIZE,
            graph_read_cap: AtomicUsize::new(Self::WHOLE_READ),
            answer_cap: AtomicUsize::new(Self::WHOLE_READ),
            count_mismatch_seen: AtomicBool::new(false),
            graph_list: Mutex::new(GraphListing::EmptyPattern),
            writes_sent: AtomicU64::new(0),
        };
        store.ask("ASK { }")?;
        Ok(store)
    }

    /// The endpoints this store talks to.
    pub fn endpoints(&self) -> &RemoteEndpoints {
        &self.endpoints
    }

    /// Sets the rows per page of paged reads and the triples per write (tests use small ones
    /// to cross page and batch boundaries).
    pub fn with_sizes(mut self, page_size: usize, batch_size: usize) -> Self {
        self.page_size = page_size.max(1);
        self.batch_size = batch_size.max(1);
        self
    }

    fn failed(&self, url: &str, message: impl std::fmt::Display) -> KgError {
        KgError::RemoteFailed {
            endpoint: url.to_owned(),
            message: message.to_string(),
        }
    }

    /// Sends one request built by `build` (again after a transient failure when `retry`
    /// allows), and returns the response of a 2xx answer.
    ///
    /// A write (an update, or triples posted) is counted whatever its outcome, so that a list
    /// of graphs read before it is not reused.
    fn send(
        &self,
        url: &str,
        retry: Retry,
        timeout: Option<Duration>,
        request: Request<'_>,
    ) -> Result<ureq::http::Response<ureq::Body>, KgError> {
        let writes = match &request {
            Request::Get { .. } => false,
            Request::Form { params, .. } => params.iter().any(|(k, _)| *k == "update"),
            Request::NTriples { .. } => true,
        };
        let response = self.send_unobserved(url, retry, timeout, request);
        if writes {
            self.writes_sent.fetch_add(1, Ordering::SeqCst);
        }
        response
    }

    /// [`RemoteStore::send`] without its bookkeeping of writes.
    fn send_unobserved(
        &self,
        url: &str,
        retry: Retry,
        timeout: Option<Duration>,
        request: Request<'_>,
    ) -> Result<ureq::http::Response<ureq::Body>, KgError> {
        let mut attempt = 0;
        loop {
            let outcome = match &request {
                Request::Get { params, accept } => self
                    .prepare(self.agent.get(url), params, timeout)
                    .header("Accept", *accept)
                    .call(),
                Request::Form { params, accept } => self
                    .prepare(self.agent.post(url), &[], timeout)
                    .header("Accept", *accept)
                    .send_form(params.iter().copied()),
                Request::NTriples { params, body } => self
                    .prepare(self.agent.post(url), params, timeout)
                    .content_type("application/n-triples")
                    .send(*body),
            };
            let transient = match &outcome {
                Ok(r) => r.status().is_server_error() || r.status().as_u16() == 429,
                Err(ureq::Error::Timeout(_)) => false,
                Err(_) => true,
            };
            if transient && retry == Retry::Transient && attempt < BACKOFF.len() {
                tracing::warn!(url, attempt, "the SPARQL service failed; trying again");
                std::thread::sleep(BACKOFF[attempt]);
                attempt += 1;
                continue;
            }
            return match outcome {
                Ok(r) if r.status().is_success() => Ok(r),
                Ok(mut r) => {
                    let status = r.status().as_u16();
                    let mut body = r
                        .body_mut()
                        .with_config()
                        .limit(64 * 1024)
                        .read_to_string()
                        .unwrap_or_default();
                    if body.len() > 2000 {
                        let cut = (0..=2000).rev().find(|&i| body.is_char_boundary(i));
                        body.truncate(cut.unwrap_or(0));
                        body.push('…');
                    }
                    let message = body.trim().to_owned();
                    if (400..500).contains(&status) {
                        Err(KgError::RemoteRefused {
                            endpoint: url.to_owned(),
                            status,
                            message,
                        })
                    } else {
                        Err(self.failed(url, format!("HTTP {status}: {message}")))
                    }
                }
                Err(ureq::Error::Timeout(_)) => match timeout {
                    Some(t) => Err(KgError::Timeout(t)),
                    None => Err(self.failed(url, "timed out")),
                },
                Err(e) => Err(self.failed(url, e)),
            };
        }
    }

    /// A request with the credentials, URL parameters and time limit every request carries.
    fn prepare<B>(
        &self,
        mut request: ureq::RequestBuilder<B>,
        params: &[(&str, &str)],
        timeout: Option<Duration>,
    ) -> ureq::RequestBuilder<B> {
        if let Some(a) = &self.auth {
            request = request.header("Authorization", a);
        }
        for (k, v) in params {
            request = request.query(*k, *v);
        }
        if let Some(t) = timeout {
            request = request.config().timeout_global(Some(t)).build();
        }
        request
    }

    /// Sends a query with the protocol's POST form and returns the response.
    fn post_query(
        &self,
        text: &str,
        dataset: &ProtocolDataset,
        accept: &str,
        timeout: Option<Duration>,
    ) -> Result<ureq::http::Response<ureq::Body>, KgError> {
        let mut form: Vec<(&str, &str)> = vec![("query", text)];
        form.extend(
            dataset
                .default_graphs
                .iter()
                .map(|g| ("default-graph-uri", g.as_str())),
        );
        form.extend(
            dataset
                .named_graphs
                .iter()
                .map(|g| ("named-graph-uri", g.as_str())),
        );
        self.send(
            &self.endpoints.query,
            Retry::Transient,
            timeout,
            Request::Form {
                params: form,
                accept,
            },
        )
    }

    /// Runs a query of any form and reads the whole answer (at most `limit` rows or
    /// triples: [`KgError::TooManyResults`] past it).
    pub fn query(
        &self,
        text: &str,
        dataset: &ProtocolDataset,
        timeout: Option<Duration>,
        limit: usize,
    ) -> Result<RemoteAnswer, KgError> {
        // XML first: Virtuoso writes it twice as fast as JSON (full Beauty's training start-up
        // 62 s against 90 s), and oxigraph's server as fast (docs/remote-store.md, "Measured").
        let accept = "application/sparql-results+xml, application/sparql-results+json;q=0.9, \
                      application/n-triples;q=0.9, text/turtle;q=0.8";
        let response = self.post_query(text, dataset, accept, timeout)?;
        let media = response
            .headers()
            .get("Content-Type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let url = &self.endpoints.query;
        let reader = response.into_body().into_reader();
        if media.contains("sparql-results") || media.contains("application/json") {
            let format = if media.contains("+xml") {
                QueryResultsFormat::Xml
            } else {
                QueryResultsFormat::Json
            };
            match QueryResultsParser::from_format(format)
                .for_reader(reader)
                .map_err(|e| self.failed(url, format!("unreadable results: {e}")))?
            {
                ReaderQueryResultsParserOutput::Boolean(b) => Ok(RemoteAnswer::Boolean(b)),
                ReaderQueryResultsParserOutput::Solutions(solutions) => {
                    let variables = solutions.variables().to_vec();
                    let mut rows = Vec::new();
                    for s in solutions {
                        let s =
                            s.map_err(|e| self.failed(url, format!("unreadable results: {e}")))?;
                        if rows.len() == limit {
                            return Err(KgError::TooManyResults(limit));
                        }
                        rows.push(variables.iter().map(|v| s.get(v).cloned()).collect());
                    }
                    Ok(RemoteAnswer::Solutions { variables, rows })
                }
            }
        } else {
            let format = RdfFormat::from_media_type(media.split(';').next().unwrap_or("").trim())
                .ok_or_else(|| {
                self.failed(url, format!("answered in an unknown format `{media}`"))
            })?;
            let mut triples = Vec::new();
            for q in RdfParser::from_format(format).for_reader(reader) {
                let q = q.map_err(|e| self.failed(url, format!("unreadable RDF: {e}")))?;
                if triples.len() == limit {
                    return Err(KgError::TooManyResults(limit));
                }
                triples.push(Triple::new(q.subject, q.predicate, q.object));
            }
            Ok(RemoteAnswer::Graph(triples))
        }
    }

    /// Runs an ASK query.
    pub fn ask(&self, text: &str) -> Result<bool, KgError> {
        match self.query(text, &ProtocolDataset::default(), None, usize::MAX)? {
            RemoteAnswer::Boolean(b) => Ok(b),
            _ => Err(self.failed(
                &self.endpoints.query,
                "answered an ASK query with no boolean",
            )),
        }
    }

    /// Runs a SELECT and returns its rows.
    pub fn select(&self, text: &str, dataset: &ProtocolDataset) -> Result<Vec<Cells>, KgError> {
        match self.query(text, dataset, None, usize::MAX)? {
            RemoteAnswer::Solutions { rows, .. } => Ok(rows),
            _ => Err(KgError::NotSelect),
        }
    }

    /// Reads the rows of a SELECT and hands each to `row`. `select` must be a SELECT with no
    /// dataset clause (the dataset is `dataset`) and no prologue.
    ///
    /// The rows are counted first. Up to [`RemoteStore::WHOLE_READ`] of them are asked for in
    /// one answer, which must hold them all: a service that cuts answers short without saying
    /// so (Virtuoso at its `ResultSetMaxRows`) is caught by the count, and from then on an
    /// answer is asked for whole only up to the rows that came back; larger ones are read
    /// page by page. Pages wrap the query as a subquery ordered by every one of its
    /// variables, so that they neither overlap nor skip, cut with LIMIT and OFFSET; they cost
    /// the service a sort each, which is why they are not the first choice.
    pub fn for_each_row(
        &self,
        select: &str,
        variables: &[Variable],
        dataset: &ProtocolDataset,
        row: impl FnMut(&[Option<Term>]),
    ) -> Result<(), KgError> {
        let expected = self.count_rows(select, dataset)?;
        self.for_each_counted_row(select, variables, dataset, expected, true, row)
            .map(|_| ())
    }

    /// [`RemoteStore::for_each_row`] for a SELECT already counted (`expected` rows). Without
    /// `page_if_short`, an answer that comes back short hands over nothing and gives `false`
    /// (the caller reads in parts of its own).
    fn for_each_counted_row(
        &self,
        select: &str,
        variables: &[Variable],
        dataset: &ProtocolDataset,
        expected: usize,
        page_if_short: bool,
        mut row: impl FnMut(&[Option<Term>]),
    ) -> Result<bool, KgError> {
        if expected <= self.answer_cap.load(Ordering::Relaxed) {
            if self.read_whole(select, variables, dataset, expected, &mut row)? {
                return Ok(true);
            }
            if !page_if_short {
                return Ok(false);
            }
        }
        let order: Vec<String> = variables.iter().map(|v| format!("ASC({v})")).collect();
        let mut offset = 0usize;
        loop {
            // Sorted inside, cut outside: the form Virtuoso pages past its row cap with
            // (a sorted LIMIT and OFFSET deeper than the cap is refused there).
            let page = format!(
                "SELECT * WHERE {{ {{ SELECT * WHERE {{ {select} }} ORDER BY {} }} }} LIMIT {} OFFSET {offset}",
                order.join(" "),
                self.page_size
            );
            let (got, rows) = match self.query(&page, dataset, None, usize::MAX)? {
                RemoteAnswer::Solutions {
                    variables: got,
                    rows,
                } => (got, rows),
                _ => return Err(KgError::NotSelect),
            };
            hand_over(variables, &got, &rows, &mut row);
            if rows.len() < self.page_size {
                return Ok(true);
            }
            offset += rows.len();
        }
    }

    /// Asks for the `expected` rows of a SELECT in one answer and hands them over if it holds
    /// them all. If it comes back short by a cap (at least a page of rows: Virtuoso's
    /// `ResultSetMaxRows`), hands over nothing, lowers the rows asked for at once from then on,
    /// and says `false`; an answer shorter than a page is the service's answer, and is taken.
    fn read_whole(
        &self,
        select: &str,
        variables: &[Variable],
        dataset: &ProtocolDataset,
        expected: usize,
        row: &mut impl FnMut(&[Option<Term>]),
    ) -> Result<bool, KgError> {
        let whole = format!("SELECT * WHERE {{ {select} }}");
        let RemoteAnswer::Solutions {
            variables: got,
            rows,
        } = self.query(&whole, dataset, None, usize::MAX)?
        else {
            return Err(KgError::NotSelect);
        };
        if rows.len() >= expected {
            hand_over(variables, &got, &rows, row);
            return Ok(true);
        }
        if rows.len() < self.page_size {
            // Not a cap on rows (pages ask for this many, and would be cut the same way): the
            // service's COUNT and its answer disagree (Virtuoso counts one row for the change
            // log's read of seconds with no event, which it answers empty). Its answer is taken,
            // and said once: the change log is read four times a second.
            if !self.count_mismatch_seen.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    url = self.endpoints.query,
                    counted = expected,
                    answered = rows.len(),
                    query = select,
                    "the service answered fewer rows than it counted, fewer than a page: its \
                     answer is taken (said once)"
                );
            }
            hand_over(variables, &got, &rows, row);
            return Ok(true);
        }
        tracing::warn!(
            url = self.endpoints.query,
            counted = expected,
            answered = rows.len(),
            "the service answered fewer rows than it counted (a cap on its answers, such as \
             Virtuoso's ResultSetMaxRows): larger answers are read in parts"
        );
        self.answer_cap.fetch_min(rows.len(), Ordering::Relaxed);
        Ok(false)
    }

    /// How many rows a SELECT (no prologue, no dataset clause) has.
    fn count_rows(&self, select: &str, dataset: &ProtocolDataset) -> Result<usize, KgError> {
        let rows = self.select(
            &format!("SELECT (COUNT(*) AS ?n) WHERE {{ {select} }}"),
            dataset,
        )?;
        self.count_in(rows.first().and_then(|r| r.first()))
    }

    /// The number a COUNT answered, or an error that says what came instead.
    fn count_in(&self, cell: Option<&Option<Term>>) -> Result<usize, KgError> {
        match cell {
            Some(Some(Term::Literal(n))) => n.value().parse().map_err(|_| {
                self.failed(&self.endpoints.query, format!("counted `{}`", n.value()))
            }),
            _ => Err(self.failed(&self.endpoints.query, "answered a COUNT with no number")),
        }
    }

    /// Sends a SPARQL 1.1 Update.
    pub fn update(&self, text: &str, timeout: Option<Duration>) -> Result<(), KgError> {
        self.update_once_or_retried(text, timeout, Retry::Transient)
    }

    fn update_once_or_retried(
        &self,
        text: &str,
        timeout: Option<Duration>,
        retry: Retry,
    ) -> Result<(), KgError> {
        self.send(
            &self.endpoints.update,
            retry,
            timeout,
            Request::Form {
                params: vec![("update", text)],
                accept: "*/*",
            },
        )?;
        Ok(())
    }

    /// The named graphs, less the service's own ([`is_service_graph`]), sorted. Every query
    /// over the union asks for them, so they are listed without counting their triples:
    /// by `GRAPH ?g { }` where the service answers it (a named graph with no triple left is
    /// listed, as the local store lists it), else off the quads ([`GraphListing::Scan`]).
    pub fn graph_names(&self) -> Result<Vec<NamedNode>, KgError> {
        // A panic while the lock was held leaves at worst a list that is asked for again.
        let listing = || self.graph_list.lock().unwrap_or_else(|e| e.into_inner());
        // Asked without the lock, so that concurrent union queries do not wait on each other.
        let by_pattern = matches!(*listing(), GraphListing::EmptyPattern);
        if by_pattern {
            // A service that refuses the query lists its graphs off the quads too; one that
            // fails otherwise fails the query that needed them.
            let names = match self.select(
                "SELECT ?g WHERE { GRAPH ?g { } }",
                &ProtocolDataset::default(),
            ) {
                Err(KgError::RemoteRefused { .. }) => None,
                rows => rows?
                    .into_iter()
                    .map(graph_cell)
                    .collect::<Option<Vec<_>>>(),
            };
            if let Some(names) = names {
                return Ok(data_graphs(names));
            }
            tracing::info!(
                "the SPARQL service does not list its graphs by GRAPH ?g {{ }}: they are read \
                 off its quads, and the list is reused for a while"
            );
            *listing() = GraphListing::Scan(None);
        }
        // Held while the quads are read, so that one reading serves every query waiting.
        let mut listing = listing();
        let writes_before = self.writes_sent.load(Ordering::SeqCst);
        if let GraphListing::Scan(Some(last)) = &*listing {
            if last.reusable(writes_before) {
                return Ok(last.names.clone());
            }
        }
        let started = Instant::now();
        let rows = self.select(
            "SELECT DISTINCT ?g WHERE { GRAPH ?g { ?s ?p ?o } }",
            &ProtocolDataset::default(),
        )?;
        let names = data_graphs(rows.into_iter().filter_map(graph_cell).collect());
        *listing = GraphListing::Scan(Some(ScannedGraphs {
            names: names.clone(),
            read_at: Instant::now(),
            took: started.elapsed(),
            writes_before,
        }));
        Ok(names)
    }

    /// The named graphs with their sizes (the service's own left out), by IRI.
    pub fn graph_sizes(&self) -> Result<Vec<(NamedNode, u64)>, KgError> {
        let rows = self.select(
            "SELECT ?g (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } } GROUP BY ?g",
            &ProtocolDataset::default(),
        )?;
        let mut out = Vec::new();
        for r in rows {
            if let Some(Some(Term::NamedNode(g))) = r.first() {
                if !is_service_graph(g.as_str()) {
                    out.push((g.clone(), self.count_in(r.get(1))? as u64));
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// The dataset whose default graph is the union of every named graph (and whose named
    /// graphs are all of them), sent as protocol parameters: servers differ on what their
    /// default graph is (Virtuoso's is already the union, oxigraph's server's is not).
    pub fn union_dataset(&self) -> Result<ProtocolDataset, KgError> {
        let graphs = self.graph_names()?;
        Ok(ProtocolDataset {
            default_graphs: graphs.clone(),
            named_graphs: graphs,
        })
    }

    /// One GET of a whole graph of `expected` triples from the Graph Store endpoint, parsed as
    /// it streams in (the service sorts nothing for it), or `None` where the service could not
    /// send it whole: it came back short (Virtuoso's does past its cap on rows, without a
    /// word) or the service failed (Virtuoso's cannot build an answer above 2²⁰ triples).
    /// Either lowers the size asked for at once from then on. The GET is sent once: the
    /// reads it falls back to retry on their own.
    fn read_graph(
        &self,
        url: &str,
        graph: &NamedNode,
        expected: usize,
    ) -> Result<Option<Vec<Quad>>, KgError> {
        let read = || -> Result<Vec<Quad>, KgError> {
            let response = self.send(
                url,
                Retry::Never,
                None,
                Request::Get {
                    params: &[("graph", graph.as_str())],
                    accept: "application/n-triples",
                },
            )?;
            let reader = response.into_body().into_reader();
            let mut quads = Vec::with_capacity(expected);
            for t in RdfParser::from_format(RdfFormat::NTriples).for_reader(reader) {
                let t = t.map_err(|e| self.failed(url, format!("unreadable N-Triples: {e}")))?;
                quads.push(Quad::new(t.subject, t.predicate, t.object, graph.clone()));
            }
            Ok(quads)
        };
        let (sent, why) = match read() {
            Ok(quads) if quads.len() >= expected => return Ok(Some(quads)),
            Ok(quads) => (quads.len(), "fewer triples than the graph holds".to_owned()),
            Err(e @ KgError::RemoteFailed { .. }) => (expected - 1, e.to_string()),
            Err(e) => return Err(e),
        };
        tracing::warn!(
            url,
            graph = graph.as_str(),
            triples = expected,
            "the Graph Store endpoint could not send the graph whole ({why}): graphs of \
             {} triples or more are read by queries from now on",
            sent + 1
        );
        self.graph_read_cap.fetch_min(sent, Ordering::Relaxed);
        Ok(None)
    }

    /// Hands every quad of one named graph to `quad`: with a Graph Store Protocol endpoint,
    /// from one checked GET of the graph ([`RemoteStore::read_graph`]); else, or where that
    /// cannot send it whole, from one SELECT of its triples; and where even that would be
    /// cut short, predicate by predicate (the service's index on predicates answers each
    /// part without sorting the graph), each part whole where it fits and page by page where
    /// not.
    pub fn for_each_quad_in_graph(
        &self,
        graph: &NamedNode,
        mut quad: impl FnMut(Quad),
    ) -> Result<(), KgError> {
        let expected = self.graph_len(graph)?;
        if expected == 0 {
            return Ok(());
        }
        // Where the Graph Store endpoint cannot send the graph whole, one SELECT of it would
        // not come back whole either (Virtuoso caps both), so it is read in parts at once.
        let mut whole_select = true;
        if let Some(url) = &self.endpoints.graph_store {
            if expected <= self.graph_read_cap.load(Ordering::Relaxed) {
                if let Some(quads) = self.read_graph(url, graph, expected)? {
                    quads.into_iter().for_each(quad);
                    return Ok(());
                }
            }
            whole_select = false;
        }
        if whole_select && self.read_triples(graph, None, expected, false, &mut quad)? {
            return Ok(());
        }
        let parts = self.select(
            &format!(
                "SELECT ?p (COUNT(*) AS ?n) WHERE {{ GRAPH {graph} {{ ?s ?p ?o }} }} GROUP BY ?p"
            ),
            &ProtocolDataset::default(),
        )?;
        for part in parts {
            let (Some(Some(Term::NamedNode(p))), Some(n)) = (part.first(), part.get(1)) else {
                return Err(self.failed(
                    &self.endpoints.query,
                    "answered a predicate's COUNT with no predicate",
                ));
            };
            let n = self.count_in(Some(n))?;
            self.read_triples(graph, Some(p), n, true, &mut quad)?;
        }
        Ok(())
    }

    /// Reads the `expected` triples of `graph` (with `predicate`, those of that predicate)
    /// with a SELECT, and hands each to `quad` as a quad of `graph`; `false` where the answer
    /// came back short and `page_if_short` is not set ([`RemoteStore::for_each_counted_row`]).
    fn read_triples(
        &self,
        graph: &NamedNode,
        predicate: Option<&NamedNode>,
        expected: usize,
        page_if_short: bool,
        quad: &mut impl FnMut(Quad),
    ) -> Result<bool, KgError> {
        let (s, o) = (Variable::new_unchecked("s"), Variable::new_unchecked("o"));
        let (select, vars) = match predicate {
            Some(p) => (
                format!("SELECT ?s ?o WHERE {{ GRAPH {graph} {{ ?s {p} ?o }} }}"),
                vec![s, o],
            ),
            None => (
                format!("SELECT ?s ?p ?o WHERE {{ GRAPH {graph} {{ ?s ?p ?o }} }}"),
                vec![s, Variable::new_unchecked("p"), o],
            ),
        };
        let mut bad = None;
        let dataset = ProtocolDataset::default();
        let read =
            self.for_each_counted_row(&select, &vars, &dataset, expected, page_if_short, |r| {
                let (s, p, o) = match predicate {
                    Some(p) => (&r[0], Some(p), &r[1]),
                    None => match &r[1] {
                        Some(Term::NamedNode(p)) => (&r[0], Some(p), &r[2]),
                        _ => (&r[0], None, &r[2]),
                    },
                };
                let subject = match s {
                    Some(Term::NamedNode(n)) => NamedOrBlankNode::NamedNode(n.clone()),
                    Some(Term::BlankNode(b)) => NamedOrBlankNode::BlankNode(b.clone()),
                    other => {
                        bad.get_or_insert_with(|| {
                            format!("a subject that is not a node: {other:?}")
                        });
                        return;
                    }
                };
                match (p, o) {
                    (Some(p), Some(o)) => {
                        quad(Quad::new(subject, p.clone(), o.clone(), graph.clone()))
                    }
                    _ => {
                        bad.get_or_insert_with(|| "a triple with an unbound part".to_owned());
                    }
                }
            })?;
        match bad {
            Some(b) => Err(self.failed(&self.endpoints.query, format!("answered {b}"))),
            None => Ok(read),
        }
    }

    /// Whether no named graph holds a triple (the service's own left out).
    pub fn is_empty(&self) -> Result<bool, KgError> {
        Ok(self.graph_sizes()?.is_empty())
    }

    /// Counts the triples of every named graph together (the service's own left out).
    pub fn len(&self) -> Result<usize, KgError> {
        Ok(self.graph_sizes()?.iter().map(|(_, n)| *n as usize).sum())
    }

    /// The number of triples in one named graph.
    fn graph_len(&self, graph: &NamedNode) -> Result<usize, KgError> {
        self.count_rows(
            &format!("SELECT ?s ?p ?o WHERE {{ GRAPH {graph} {{ ?s ?p ?o }} }}"),
            &ProtocolDataset::default(),
        )
    }

    /// Loads `quads` through staging graphs and moves them into place with one final update:
    /// added to their graphs, or, with `replace`, replacing those graphs whole (graphs in
    /// `replace` that receive no quad are emptied). An input error or a failed write drops
    /// the staging graphs and leaves the target graphs as they were.
    pub fn load<E: std::fmt::Display>(
        &self,
        quads: impl IntoIterator<Item = Result<Quad, E>>,
        replace: Option<&[NamedNode]>,
        counter: Option<Arc<AtomicU64>>,
    ) -> Result<u64, KgError> {
        let nonce = format!(
            "{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        );
        // Per target graph: the order the input first named it in, its staging graph, the
        // batch being filled and that batch's size.
        let mut staging: HashMap<GraphName, (usize, NamedNode, String, usize)> = HashMap::new();
        let mut loaded = 0u64;
        let result = (|| {
            for q in quads {
                let q = q.map_err(|e| KgError::InvalidInput(e.to_string()))?;
                if q.graph_name.is_default_graph() && self.endpoints.commit == LoadCommit::Graph {
                    return Err(KgError::InvalidInput(NAMED_GRAPHS_ONLY.into()));
                }
                if let GraphName::BlankNode(b) = &q.graph_name {
                    return Err(KgError::InvalidInput(format!(
                        "a remote store cannot name a graph by the blank node {b}"
                    )));
                }
                let n = staging.len();
                let (_, graph, batch, count) =
                    staging.entry(q.graph_name.clone()).or_insert_with(|| {
                        (
                            n,
                            NamedNode::new_unchecked(format!("urn:kgrec:staging:{nonce}:{n}")),
                            String::new(),
                            0,
                        )
                    });
                batch.push_str(&format!("{} {} {} .\n", q.subject, q.predicate, q.object));
                *count += 1;
                loaded += 1;
                if let Some(c) = &counter {
                    c.fetch_add(1, Ordering::Relaxed);
                }
                if *count == self.batch_size {
                    let text = std::mem::take(batch);
                    *count = 0;
                    self.write_batch(graph, text)?;
                }
            }
            for (_, graph, batch, _) in staging.values_mut() {
                if !batch.is_empty() {
                    self.write_batch(graph, std::mem::take(batch))?;
                }
            }
            Ok(())
        })();
        if let Err(e) = result {
            self.drop_staging(staging.values().map(|(_, g, _, _)| g));
            return Err(e);
        }
        // In the order the input first named each graph.
        let mut moves: Vec<(usize, GraphName, NamedNode)> = staging
            .into_iter()
            .map(|(target, (n, graph, _, _))| (n, target, graph))
            .collect();
        moves.sort_unstable_by_key(|(n, _, _)| *n);
        let moves: Vec<(GraphName, NamedNode)> =
            moves.into_iter().map(|(_, t, g)| (t, g)).collect();
        let emptied: Vec<NamedNode> = replace
            .unwrap_or_default()
            .iter()
            .filter(|g| {
                !moves
                    .iter()
                    .any(|(t, _)| matches!(t, GraphName::NamedNode(n) if n == *g))
            })
            .cloned()
            .collect();
        match self.endpoints.commit {
            LoadCommit::Import => self.commit_import(&moves, &emptied, replace.is_some())?,
            LoadCommit::Graph => {
                self.commit_graph_by_graph(&moves, &emptied, replace.is_some(), &nonce)?
            }
        }
        Ok(loaded)
    }

    /// Moves the staging graphs into place with one update ([`LoadCommit::Import`]), and drops
    /// them if the service refuses it.
    fn commit_import(
        &self,
        moves: &[(GraphName, NamedNode)],
        emptied: &[NamedNode],
        replace: bool,
    ) -> Result<(), KgError> {
        let mut ops: Vec<String> = emptied
            .iter()
            .map(|g| format!("DROP SILENT GRAPH {g}"))
            .collect();
        for (target, graph) in moves {
            let to = match target {
                GraphName::NamedNode(n) => format!("GRAPH {n}"),
                _ => "DEFAULT".to_owned(),
            };
            if replace {
                ops.push(format!("MOVE SILENT GRAPH {graph} TO {to}"));
            } else {
                ops.push(format!("ADD SILENT GRAPH {graph} TO {to}"));
                ops.push(format!("DROP SILENT GRAPH {graph}"));
            }
        }
        if ops.is_empty() {
            return Ok(());
        }
        if let Err(e) = self.update_once_or_retried(&ops.join(" ;\n"), None, Retry::Never) {
            self.drop_staging(moves.iter().map(|(_, g)| g));
            let e = match e {
                KgError::RemoteFailed { endpoint, message } if message.contains("SR325") => {
                    KgError::RemoteFailed {
                        endpoint,
                        message: format!(
                            "{message} (the whole load was one transaction, larger than the \
                             service allows: raise Virtuoso's TransactionAfterImageLimit, or add \
                             commit=graph to --store to move one graph at a time)"
                        ),
                    }
                }
                e => e,
            };
            return Err(e);
        }
        Ok(())
    }

    /// Moves the staging graphs into place one update per graph ([`LoadCommit::Graph`]).
    ///
    /// Before any target changes, each is made undoable: with `replace` its triples are
    /// copied into a backup graph (`urn:kgrec:backup:…`); when adding, its staging graph
    /// keeps only the triples the target lacks, so taking them out again removes exactly what
    /// the move put in. If a move fails, the graphs moved before it are put back and the
    /// error says so; if putting one back fails too, the error names the graph that holds
    /// its old triples.
    fn commit_graph_by_graph(
        &self,
        moves: &[(GraphName, NamedNode)],
        emptied: &[NamedNode],
        replace: bool,
        nonce: &str,
    ) -> Result<(), KgError> {
        let mut named = Vec::with_capacity(moves.len());
        for (target, graph) in moves {
            match target {
                GraphName::NamedNode(n) => named.push((n, Some(graph))),
                _ => {
                    self.drop_staging(moves.iter().map(|(_, g)| g));
                    return Err(KgError::InvalidInput(NAMED_GRAPHS_ONLY.into()));
                }
            }
        }
        named.extend(emptied.iter().map(|g| (g, None)));
        // Backups only where graphs are replaced: added triples are undone from staging.
        let backups: Vec<NamedNode> = (0..if replace { named.len() } else { 0 })
            .map(|i| NamedNode::new_unchecked(format!("urn:kgrec:backup:{nonce}:{i}")))
            .collect();
        let staged = || moves.iter().map(|(_, g)| g);
        let prepared = named
            .iter()
            .enumerate()
            .try_for_each(|(i, (target, graph))| match (replace, graph) {
                (true, _) => self.update(
                    &format!("COPY SILENT GRAPH {target} TO GRAPH {}", backups[i]),
                    None,
                ),
                (false, Some(graph)) => self.update(
                    &format!(
                        "DELETE {{ GRAPH {graph} {{ ?s ?p ?o }} }} \
                         WHERE {{ GRAPH {graph} {{ ?s ?p ?o }} GRAPH {target} {{ ?s ?p ?o }} }}"
                    ),
                    None,
                ),
                (false, None) => Ok(()),
            });
        if let Err(e) = prepared {
            self.drop_staging(staged().chain(&backups));
            return Err(e);
        }
        for (done, (target, graph)) in named.iter().enumerate() {
            let op = match (replace, graph) {
                (true, Some(graph)) => format!("MOVE SILENT GRAPH {graph} TO GRAPH {target}"),
                (false, Some(graph)) => format!("ADD SILENT GRAPH {graph} TO GRAPH {target}"),
                (_, None) => format!("DROP SILENT GRAPH {target}"),
            };
            let Err(e) = self.update_once_or_retried(&op, None, Retry::Never) else {
                continue;
            };
            let unrestored = self.undo_moves(&named[..done], &backups);
            let message = if unrestored.is_empty() {
                self.drop_staging(staged().chain(&backups));
                let before = match done {
                    0 => "no graph had moved before it".to_owned(),
                    n => format!("the {n} graph(s) moved before it were put back as they were"),
                };
                format!("moving the load into {target} failed, and {before}: {e}")
            } else {
                format!(
                    "moving the load into {target} failed ({e}), and these graphs could not be \
                     put back: {}",
                    unrestored.join("; ")
                )
            };
            return Err(self.failed(&self.endpoints.update, message));
        }
        self.drop_staging(staged().chain(&backups));
        Ok(())
    }

    /// Puts back the graphs of a graph-by-graph load that had moved (`moved`: each target with
    /// its staging graph, or none where it was emptied): from their `backups` where graphs were
    /// replaced (empty when adding), else by taking out what their staging graph added. Says,
    /// for each graph that could not be put back, why and where its triples are.
    fn undo_moves(
        &self,
        moved: &[(&NamedNode, Option<&NamedNode>)],
        backups: &[NamedNode],
    ) -> Vec<String> {
        let mut unrestored = Vec::new();
        for (i, (target, graph)) in moved.iter().enumerate() {
            let (undo, kept) = match (backups.get(i), graph) {
                (Some(backup), _) => (
                    self.update(&format!("DROP SILENT GRAPH {target}"), None)
                        .and_then(|()| {
                            self.update(
                                &format!("ADD SILENT GRAPH {backup} TO GRAPH {target}"),
                                None,
                            )
                        }),
                    format!("its old triples are in {backup}"),
                ),
                (None, Some(graph)) => (
                    self.update(
                        &format!(
                            "DELETE {{ GRAPH {target} {{ ?s ?p ?o }} }} \
                             WHERE {{ GRAPH {graph} {{ ?s ?p ?o }} }}"
                        ),
                        None,
                    ),
                    format!("the triples this load added to it are {graph}'s"),
                ),
                (None, None) => continue,
            };
            if let Err(e) = undo {
                unrestored.push(format!("{target} ({e}; {kept})"));
            }
        }
        unrestored
    }

    /// Writes one batch of N-Triples into a staging graph: a Graph Store Protocol POST where
    /// the server has one, else INSERT DATA. Either may be repeated safely.
    fn write_batch(&self, graph: &NamedNode, ntriples: String) -> Result<(), KgError> {
        match &self.endpoints.graph_store {
            Some(url) => {
                self.send(
                    url,
                    Retry::Transient,
                    None,
                    Request::NTriples {
                        params: &[("graph", graph.as_str())],
                        body: ntriples.as_bytes(),
                    },
                )?;
                Ok(())
            }
            None => self.update(
                &format!("INSERT DATA {{ GRAPH {graph} {{\n{ntriples}}} }}"),
                None,
            ),
        }
    }

    /// Drops kgrec's own staging or backup graphs, best effort (after a failure, the error
    /// that led here is the one worth reporting). One request per graph, since a service may
    /// cap what one transaction deletes as it caps what one adds.
    fn drop_staging<'a>(&self, graphs: impl Iterator<Item = &'a NamedNode>) {
        for g in graphs {
            if let Err(e) = self.update(&format!("DROP SILENT GRAPH {g}"), None) {
                tracing::warn!(graph = %g, error = %e, "could not drop a load's own graph");
            }
        }
    }

    /// Inserts (`insert`) or deletes quads with INSERT DATA / DELETE DATA, in batches.
    pub fn write_quads(&self, quads: &[Quad], insert: bool) -> Result<(), KgError> {
        let verb = if insert { "INSERT DATA" } else { "DELETE DATA" };
        for chunk in quads.chunks(self.batch_size) {
            let mut body = String::new();
            for q in chunk {
                match &q.graph_name {
                    GraphName::NamedNode(g) => body.push_str(&format!(
                        "GRAPH {g} {{ {} {} {} }}\n",
                        q.subject, q.predicate, q.object
                    )),
                    GraphName::DefaultGraph => {
                        body.push_str(&format!("{} {} {} .\n", q.subject, q.predicate, q.object))
                    }
                    GraphName::BlankNode(b) => {
                        return Err(KgError::InvalidInput(format!(
                            "a remote store cannot name a graph by the blank node {b}"
                        )))
                    }
                }
            }
            self.update(&format!("{verb} {{\n{body}}}"), None)?;
        }
        Ok(())
    }
}

/// What [`super::KgStore`] asks of a remote store, in its own terms.
impl RemoteStore {
    /// Runs a parsed query with [`QueryOptions`], sent as kgrec serialises it, over
    /// [`RemoteStore::dataset_for`]'s dataset. Extension functions are not the service's:
    /// [`super::KgStore::query_with`] splits a query that calls one ([`super::split`]).
    pub fn run_query(
        &self,
        query: spargebra::Query,
        options: &QueryOptions,
    ) -> Result<QueryOutcome, KgError> {
        let dataset = self.dataset_for(&query, options)?;
        let limit = options.max_results.unwrap_or(usize::MAX);
        Ok(
            match self.query(&query.to_string(), &dataset, options.timeout, limit)? {
                RemoteAnswer::Solutions { variables, rows } => {
                    QueryOutcome::Solutions { variables, rows }
                }
                RemoteAnswer::Boolean(b) => QueryOutcome::Boolean(b),
                RemoteAnswer::Graph(triples) => QueryOutcome::Graph(triples),
            },
        )
    }

    /// The protocol dataset a query runs over: the request's graphs when it names any; else,
    /// for a query with no FROM of its own that asks for the union default graph and reads
    /// outside `GRAPH <iri>` clauses, every named graph; else none (the query's own FROM, or
    /// the service's default, whose named graphs are all of them).
    pub fn dataset_for(
        &self,
        query: &spargebra::Query,
        options: &QueryOptions,
    ) -> Result<ProtocolDataset, KgError> {
        let own = match query {
            spargebra::Query::Select { dataset, .. }
            | spargebra::Query::Construct { dataset, .. }
            | spargebra::Query::Describe { dataset, .. }
            | spargebra::Query::Ask { dataset, .. } => dataset.as_ref(),
        };
        if !options.default_graphs.is_empty() || !options.named_graphs.is_empty() {
            Ok(ProtocolDataset {
                default_graphs: options.default_graphs.clone(),
                named_graphs: options.named_graphs.clone(),
            })
        } else if let Some(d) = own {
            Ok(ProtocolDataset {
                default_graphs: d.default.clone(),
                named_graphs: d.named.clone().unwrap_or_default(),
            })
        } else if options.union_default_graph && !reads_only_named_graphs(query) {
            self.union_dataset()
        } else {
            Ok(ProtocolDataset::default())
        }
    }

    /// Hands each row of a SELECT over the union of all graphs to `row`, read page by page
    /// ([`RemoteStore::for_each_row`]). A SELECT that reads only `GRAPH <iri>` clauses goes
    /// without its list of graphs (the change log's reads, four a second).
    pub fn for_each_solution(
        &self,
        text: &str,
        row: impl FnMut(&[Option<Term>]),
    ) -> Result<(), KgError> {
        let mut query = spargebra::SparqlParser::new().parse_query(text)?;
        let spargebra::Query::Select {
            dataset, pattern, ..
        } = &mut query
        else {
            return Err(KgError::NotSelect);
        };
        let protocol = match dataset.take() {
            Some(d) => ProtocolDataset {
                default_graphs: d.default,
                named_graphs: d.named.unwrap_or_default(),
            },
            None if calls::reads_only_named_graphs(pattern) => ProtocolDataset::default(),
            None => self.union_dataset()?,
        };
        let variables = projected(pattern);
        // The prologue (BASE) cannot stand inside the subquery that pages it.
        if let spargebra::Query::Select { base_iri, .. } = &mut query {
            *base_iri = None;
        }
        self.for_each_row(&query.to_string(), &variables, &protocol, row)
    }

    /// Forgets a user with one update: every triple that names them, in any graph, and
    /// every triple about a record that names them (`?r kgr:user <user>`). Returns how many
    /// distinct quads matched just before.
    pub fn delete_user(&self, user: &NamedNode) -> Result<usize, KgError> {
        let doomed = format!(
            "SELECT DISTINCT ?s ?p ?o ?g WHERE {{ \
             {{ GRAPH ?g {{ ?s ?p {user} }} BIND({user} AS ?o) }} \
             UNION {{ GRAPH ?g {{ {user} ?p ?o }} BIND({user} AS ?s) }} \
             UNION {{ GRAPH ?h {{ ?s <{KGR}user> {user} }} GRAPH ?g {{ ?s ?p ?o }} }} }}"
        );
        let n = self.count_rows(&doomed, &ProtocolDataset::default())?;
        self.update(
            &format!(
                "DELETE {{ GRAPH ?g {{ ?r ?p ?o }} }} WHERE {{ GRAPH ?h {{ ?r <{KGR}user> {user} }} GRAPH ?g {{ ?r ?p ?o }} }} ;\n\
                 DELETE WHERE {{ GRAPH ?g {{ ?s ?p {user} }} }} ;\n\
                 DELETE WHERE {{ GRAPH ?g {{ {user} ?p ?o }} }}"
            ),
            None,
        )?;
        Ok(n)
    }

    /// Writes one graph, or every named graph, through `serializer`, graph by graph.
    pub fn export(
        &self,
        graph: Option<&NamedNode>,
        serializer: oxigraph::io::RdfSerializer,
        writer: impl std::io::Write,
    ) -> Result<(), KgError> {
        let graphs = match graph {
            Some(g) => vec![g.clone()],
            None => self.graph_names()?,
        };
        let mut out = serializer.for_writer(writer);
        let mut failure = None;
        for g in &graphs {
            self.for_each_quad_in_graph(g, |q| {
                if failure.is_none() {
                    let written = if graph.is_some() {
                        out.serialize_triple(q.as_ref())
                    } else {
                        out.serialize_quad(q.as_ref())
                    };
                    failure = written.err();
                }
            })?;
        }
        if let Some(e) = failure {
            return Err(e.into());
        }
        out.finish()?;
        Ok(())
    }
}

/// The variables a SELECT's algebra projects, in order.
fn projected(pattern: &spargebra::algebra::GraphPattern) -> Vec<Variable> {
    use spargebra::algebra::GraphPattern;
    match pattern {
        GraphPattern::Project { variables, .. } => variables.clone(),
        GraphPattern::Distinct { inner }
        | GraphPattern::Reduced { inner }
        | GraphPattern::Slice { inner, .. }
        | GraphPattern::OrderBy { inner, .. } => projected(inner),
        _ => Vec::new(),
    }
}

/// Hands rows answered with the columns `got` to `row` in the order of `variables` (a
/// service may answer its columns in another order than asked for).
fn hand_over(
    variables: &[Variable],
    got: &[Variable],
    rows: &[Cells],
    row: &mut impl FnMut(&[Option<Term>]),
) {
    let index: Vec<Option<usize>> = variables
        .iter()
        .map(|v| got.iter().position(|g| g == v))
        .collect();
    let mut cells = Vec::with_capacity(variables.len());
    for r in rows {
        cells.clear();
        cells.extend(index.iter().map(|i| i.and_then(|i| r[i].clone())));
        row(&cells);
    }
}

/// A remote store's answer to a query.
pub enum RemoteAnswer {
    /// SELECT.
    Solutions {
        /// Variables, in the answer's order.
        variables: Vec<Variable>,
        /// Rows.
        rows: Vec<Cells>,
    },
    /// ASK.
    Boolean(bool),
    /// CONSTRUCT or DESCRIBE.
    Graph(Vec<Triple>),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_url_serves_queries_and_updates() {
        let e = RemoteEndpoints::parse("http://localhost:8890/sparql")
            .unwrap()
            .unwrap();
        assert_eq!(e.query, "http://localhost:8890/sparql");
        assert_eq!(e.update, e.query);
        assert_eq!(e.graph_store, None);
    }

    #[test]
    fn endpoints_can_be_named_one_by_one() {
        let e = RemoteEndpoints::parse(
            "query=http://h:7878/query,update=http://h:7878/update,gsp=http://h:7878/store",
        )
        .unwrap()
        .unwrap();
        assert_eq!(e.query, "http://h:7878/query");
        assert_eq!(e.update, "http://h:7878/update");
        assert_eq!(e.graph_store.as_deref(), Some("http://h:7878/store"));
        let only_query = RemoteEndpoints::parse("query=https://h/q")
            .unwrap()
            .unwrap();
        assert_eq!(only_query.update, "https://h/q");
        assert_eq!(only_query.commit, LoadCommit::Import);
        let per_graph = RemoteEndpoints::parse("query=https://h/q,commit=graph")
            .unwrap()
            .unwrap();
        assert_eq!(per_graph.commit, LoadCommit::Graph);
        assert!(per_graph.to_string().contains("graph by graph"));
    }

    #[test]
    fn virtuosos_own_graphs_are_not_data() {
        for g in [
            "http://www.openlinksw.com/schemas/virtrdf#",
            "http://www.w3.org/2002/07/owl#",
            "http://www.w3.org/ns/ldp#",
            "http://localhost:8890/DAV/",
            "http://localhost:8890/sparql",
        ] {
            assert!(is_service_graph(g), "{g}");
        }
        for g in [
            "https://w3id.org/kgrec/graph/meta",
            "http://example.com/sparql/data",
            "http://example.com/DAV/notes",
        ] {
            assert!(!is_service_graph(g), "{g}");
        }
    }

    #[test]
    fn a_directory_is_not_a_remote_store() {
        assert_eq!(RemoteEndpoints::parse("data/store").unwrap(), None);
        assert_eq!(RemoteEndpoints::parse("/var/lib/kgrec").unwrap(), None);
    }

    #[test]
    fn malformed_remote_forms_are_refused_with_the_reason() {
        for (spec, says) in [
            ("query=http://h/q,update", "is not KEY=URL"),
            ("query=ftp://h/q", "is not an http"),
            (
                "query=http://h/q,store=http://h/s",
                "unknown endpoint `store`",
            ),
            ("query=http://h/q,query=http://h/r", "given twice"),
            ("query=http://h/q,commit=all", "use commit=import"),
            ("query=http://h/q,commit=graph,commit=import", "given twice"),
        ] {
            let err = RemoteEndpoints::parse(spec).unwrap_err().to_string();
            assert!(err.contains(says), "{spec}: {err}");
        }
        let err = RemoteEndpoints::parse("query=,update=http://h/u").unwrap_err();
        assert!(err.to_string().contains("is not an http"), "{err}");
    }

    #[test]
    fn credentials_come_from_the_environment_variables_and_never_show() {
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        assert_eq!(RemoteAuth::from_vars(vars(&[])).unwrap(), None);
        let basic = RemoteAuth::from_vars(vars(&[
            ("KGREC_STORE_USER", "dba"),
            ("KGREC_STORE_PASSWORD", "secret"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(basic.header(), "Basic ZGJhOnNlY3JldA==");
        assert!(!format!("{basic:?}").contains("secret"));
        let bearer = RemoteAuth::from_vars(vars(&[("KGREC_STORE_TOKEN", "t0k")]))
            .unwrap()
            .unwrap();
        assert_eq!(bearer.header(), "Bearer t0k");
        assert!(!format!("{bearer:?}").contains("t0k"));
        assert!(RemoteAuth::from_vars(vars(&[("KGREC_STORE_USER", "dba")])).is_err());
        assert!(RemoteAuth::from_vars(vars(&[
            ("KGREC_STORE_USER", "dba"),
            ("KGREC_STORE_PASSWORD", "x"),
            ("KGREC_STORE_TOKEN", "t"),
        ]))
        .is_err());
    }
}
