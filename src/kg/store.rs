//! [`KgStore`]: kgrec's narrow interface to the RDF store.
//!
//! Everything kgrec does with the store goes through the few methods here (bulk load, clear a
//! graph, query, update, export, import records). Behind them stands either oxigraph's own
//! store on this machine, or a remote SPARQL 1.1 service ([`super::remote`]).
//!
//! Over 600 lines because it is one idea: the whole surface kgrec uses of the store, kept in
//! one place on purpose, so that another store can be put behind it by reading one file.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use oxigraph::io::{RdfFormat, RdfSerializer};
use oxigraph::model::vocab::xsd;
use oxigraph::model::{
    GraphName, GraphNameRef, Literal, NamedNode, NamedOrBlankNode, Quad, QuadRef, Term, Variable,
};
use oxigraph::sparql::{CancellationToken, QueryEvaluationError, QueryResults, SparqlEvaluator};
use oxigraph::store::Store;

use super::error::KgError;
use super::remote::{RemoteAuth, RemoteEndpoints, RemoteStore};
use super::split::{split_query, RemoteCalls};
use super::vocab::{kgr, meta_graph, rdf_type, ID};

/// A kgrec knowledge-graph store: persistent (RocksDB), in memory, or a remote SPARQL 1.1
/// service.
#[derive(Clone)]
pub struct KgStore {
    backend: Backend,
    location: Option<PathBuf>,
    created: bool,
}

/// What answers for a [`KgStore`].
#[derive(Clone)]
enum Backend {
    /// oxigraph's store in this process.
    Local(Store),
    /// A SPARQL 1.1 service elsewhere.
    Remote(Arc<RemoteStore>),
}

/// Where a store lives, as `--store` names it: a directory on this machine, or a remote
/// SPARQL service ([`RemoteEndpoints::parse`] gives the forms).
#[derive(Clone, Debug)]
pub enum StoreLocation {
    /// A local store's directory.
    Local(PathBuf),
    /// A remote SPARQL 1.1 service.
    Remote(RemoteEndpoints),
}

impl StoreLocation {
    /// Reads `--store` (or `KGREC_STORE`, or `store` in kgrec.toml).
    pub fn parse(spec: &Path) -> Result<Self, KgError> {
        match spec.to_str().map(RemoteEndpoints::parse).transpose()? {
            Some(Some(remote)) => Ok(StoreLocation::Remote(remote)),
            _ => Ok(StoreLocation::Local(spec.to_owned())),
        }
    }
}

impl std::fmt::Display for StoreLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreLocation::Local(p) => write!(f, "{}", p.display()),
            StoreLocation::Remote(r) => write!(f, "{r}"),
        }
    }
}

/// The outcome of a SPARQL query, ready to be written in any [`super::ResultFormat`].
pub enum QueryOutcome {
    /// SELECT: the variables and the rows (unbound cells are `None`).
    Solutions {
        /// Projected variables, in order.
        variables: Vec<Variable>,
        /// Rows, one cell per variable.
        rows: Vec<Vec<Option<Term>>>,
    },
    /// ASK.
    Boolean(bool),
    /// CONSTRUCT or DESCRIBE.
    Graph(Vec<oxigraph::model::Triple>),
}

/// A SPARQL extension function (`kgr:score` and the like): terms in, a term or an error
/// (`None`, unbound) out.
pub type ExtensionFunction = Arc<dyn Fn(&[Term]) -> Option<Term> + Send + Sync>;

/// How to evaluate a query or update: what [`KgStore::query`] defaults, and what the SPARQL
/// protocol endpoint sets per request.
#[derive(Clone, Default)]
pub struct QueryOptions {
    /// Variables given a value before evaluation, bound as RDF terms into the algebra.
    pub bindings: Vec<(Variable, Term)>,
    /// Whether the default graph is the union of all named graphs, when neither the query
    /// (FROM) nor [`QueryOptions::default_graphs`] names one.
    pub union_default_graph: bool,
    /// The protocol's `default-graph-uri`: overrides the query's FROM when not empty.
    pub default_graphs: Vec<NamedNode>,
    /// The protocol's `named-graph-uri`: overrides the query's FROM NAMED when not empty.
    pub named_graphs: Vec<NamedNode>,
    /// Extension functions callable from the query by IRI.
    pub functions: Vec<(NamedNode, ExtensionFunction)>,
    /// Give up after this long ([`KgError::Timeout`]).
    pub timeout: Option<Duration>,
    /// Fail with [`KgError::TooManyResults`] beyond this many rows or triples.
    pub max_results: Option<usize>,
}

/// Cancels a token when its time is up, unless dropped first.
struct Deadline {
    done: Option<std::sync::mpsc::Sender<()>>,
    token: CancellationToken,
    timeout: Option<Duration>,
}

impl Deadline {
    fn start(timeout: Option<Duration>) -> Self {
        let token = CancellationToken::new();
        let mut done = None;
        if let Some(limit) = timeout {
            let (tx, rx) = std::sync::mpsc::channel::<()>();
            let t = token.clone();
            std::thread::spawn(move || {
                if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(limit) {
                    t.cancel();
                }
            });
            done = Some(tx);
        }
        Deadline {
            done,
            token,
            timeout,
        }
    }

    /// The error for an evaluation error, [`KgError::Timeout`] when it was cancelled.
    fn query_error(&self, e: QueryEvaluationError) -> KgError {
        match (e, self.timeout) {
            (QueryEvaluationError::Cancelled, Some(t)) => KgError::Timeout(t),
            (e, _) => KgError::Evaluation(e),
        }
    }
}

impl Drop for Deadline {
    fn drop(&mut self) {
        if let Some(tx) = self.done.take() {
            let _ = tx.send(());
        }
    }
}

/// What kgrec recorded about an earlier import (meta graph).
#[derive(Clone, Debug)]
pub struct ImportRecord {
    /// Content hash of the imported input.
    pub content_hash: String,
    /// Source name (dataset or file).
    pub source: String,
    /// When it was imported (xsd:dateTime lexical form).
    pub imported_at: String,
    /// Number of quads the import produced.
    pub quad_count: u64,
}

/// Shared counter of quads handed to the bulk loader, for progress reporting.
pub type LoadCounter = Arc<AtomicU64>;

impl KgStore {
    /// Opens the persistent store in `path`, creating it if needed.
    ///
    /// Errors say plainly when the directory is unwritable, is not a store, or is locked by
    /// another process.
    pub fn open(path: &Path) -> Result<Self, KgError> {
        let existed = path.join("CURRENT").exists();
        if path.exists() && !path.is_dir() {
            return Err(KgError::StoreUnusable {
                path: path.to_owned(),
                reason: "it exists and is not a directory".into(),
            });
        }
        if !existed && path.is_dir() && std::fs::read_dir(path)?.next().is_some() {
            return Err(KgError::StoreUnusable {
                path: path.to_owned(),
                reason: "the directory is not empty and holds no kgrec store".into(),
            });
        }
        std::fs::create_dir_all(path).map_err(|e| KgError::StoreUnusable {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
        let probe = path.join(".kgrec-write-probe");
        std::fs::write(&probe, b"").map_err(|e| KgError::StoreUnusable {
            path: path.to_owned(),
            reason: format!("not writable ({e})"),
        })?;
        let _ = std::fs::remove_file(&probe);
        let store = Store::open(path).map_err(|e| {
            let text = e.to_string();
            if text.contains("lock") || text.contains("Resource temporarily unavailable") {
                KgError::StoreLocked {
                    path: path.to_owned(),
                }
            } else {
                KgError::StoreOpen {
                    path: path.to_owned(),
                    source: e,
                }
            }
        })?;
        Ok(Self {
            backend: Backend::Local(store),
            location: Some(path.to_owned()),
            created: !existed,
        })
    }

    /// A fresh in-memory store, for tests and one-off work.
    pub fn in_memory() -> Result<Self, KgError> {
        Ok(Self {
            backend: Backend::Local(Store::new()?),
            location: None,
            created: true,
        })
    }

    /// A remote SPARQL 1.1 service as the store, checked to answer before it is returned.
    pub fn connect(remote: RemoteStore) -> Self {
        Self {
            backend: Backend::Remote(Arc::new(remote)),
            location: None,
            created: false,
        }
    }

    /// Opens the store `location` names: [`KgStore::open`] for a directory, a connection
    /// with `auth` for a remote service.
    pub fn open_location(
        location: &StoreLocation,
        auth: Option<RemoteAuth>,
    ) -> Result<Self, KgError> {
        match location {
            StoreLocation::Local(path) => Self::open(path),
            StoreLocation::Remote(endpoints) => Ok(Self::connect(RemoteStore::connect(
                endpoints.clone(),
                auth,
            )?)),
        }
    }

    /// The remote service behind this store, if it is one.
    pub fn remote(&self) -> Option<&RemoteStore> {
        match &self.backend {
            Backend::Remote(r) => Some(r),
            Backend::Local(_) => None,
        }
    }

    /// Where the store lives on disk, if it is persistent.
    pub fn location(&self) -> Option<&Path> {
        self.location.as_deref()
    }

    /// Whether this handle created the store (it did not exist before).
    pub fn was_created(&self) -> bool {
        self.created
    }

    /// Number of quads in the store (of a remote store: in its named graphs, where kgrec
    /// writes).
    pub fn len(&self) -> Result<usize, KgError> {
        match &self.backend {
            Backend::Local(store) => Ok(store.len()?),
            Backend::Remote(r) => r.len(),
        }
    }

    /// Whether the store holds no quad at all (a remote store: in no named graph).
    pub fn is_empty(&self) -> Result<bool, KgError> {
        match &self.backend {
            Backend::Local(store) => Ok(store.is_empty()?),
            Backend::Remote(r) => r.is_empty(),
        }
    }

    /// Bulk-loads quads atomically: either every quad lands or, if the iterator yields an
    /// error, nothing does and the store is exactly as it was.
    ///
    /// `counter`, when given, is advanced as quads are handed over (for progress bars).
    /// A remote store stages the quads in graphs of their own and adds them to their graphs
    /// with one final update ([`RemoteStore::load`]).
    pub fn bulk_load<E: std::fmt::Display>(
        &self,
        quads: impl IntoIterator<Item = Result<Quad, E>>,
        counter: Option<LoadCounter>,
    ) -> Result<u64, KgError> {
        let store = match &self.backend {
            Backend::Local(store) => store,
            Backend::Remote(r) => return r.load(quads, None, counter),
        };
        let mut loaded = 0u64;
        let mut failure: Option<String> = None;
        {
            let mut loader = store.bulk_loader();
            let iter = quads.into_iter().map_while(|q| match q {
                Ok(q) => {
                    loaded += 1;
                    if let Some(c) = &counter {
                        c.fetch_add(1, Ordering::Relaxed);
                    }
                    Some(q)
                }
                Err(e) => {
                    failure = Some(e.to_string());
                    None
                }
            });
            loader.load_quads(iter)?;
            if failure.is_none() {
                loader.commit()?;
            }
            // On failure the loader is dropped uncommitted: its files are discarded.
        }
        match failure {
            Some(msg) => Err(KgError::InvalidInput(msg)),
            None => Ok(loaded),
        }
    }

    /// Replaces named graphs with `quads`, atomically: every quad is read first (an error
    /// leaves the store as it was), then the graphs are cleared and the quads written in one
    /// transaction, so a failure or a crash at any point before it commits keeps the old
    /// graphs whole. The transaction holds the new quads in memory until it commits.
    /// A remote store writes them into staging graphs and moves those into place with one
    /// final update, so the old graphs stay whole until it runs.
    pub fn replace_graphs<E: std::fmt::Display>(
        &self,
        graphs: &[NamedNode],
        quads: impl IntoIterator<Item = Result<Quad, E>>,
        counter: Option<LoadCounter>,
    ) -> Result<u64, KgError> {
        let store = match &self.backend {
            Backend::Local(store) => store,
            Backend::Remote(r) => return r.load(quads, Some(graphs), counter),
        };
        let mut all = Vec::new();
        for q in quads {
            all.push(q.map_err(|e| KgError::InvalidInput(e.to_string()))?);
            if let Some(c) = &counter {
                c.fetch_add(1, Ordering::Relaxed);
            }
        }
        let mut t = store.start_transaction()?;
        for g in graphs {
            t.clear_graph(g)?;
        }
        t.extend(&all);
        t.commit()?;
        Ok(all.len() as u64)
    }

    /// Removes every quad of a named graph (used to reload one part of the KG alone).
    pub fn clear_graph(&self, graph: &NamedNode) -> Result<(), KgError> {
        match &self.backend {
            Backend::Local(store) => Ok(store.clear_graph(graph)?),
            Backend::Remote(r) => r.update(&format!("DROP SILENT GRAPH {graph}"), None),
        }
    }

    /// The named graphs with their sizes, largest first.
    pub fn graphs(&self) -> Result<Vec<(String, u64)>, KgError> {
        if let Backend::Remote(r) = &self.backend {
            let mut sizes: Vec<(String, u64)> = r
                .graph_sizes()?
                .into_iter()
                .map(|(g, n)| (g.into_string(), n))
                .collect();
            sizes.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            return Ok(sizes);
        }
        let q = "SELECT ?g (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } } GROUP BY ?g ORDER BY DESC(?n) ?g";
        let mut out = Vec::new();
        if let QueryOutcome::Solutions { rows, .. } = self.query(q, &[], false)? {
            for row in rows {
                if let (Some(Term::NamedNode(g)), Some(Term::Literal(n))) = (&row[0], &row[1]) {
                    out.push((g.as_str().to_owned(), n.value().parse().unwrap_or(0)));
                }
            }
        }
        Ok(out)
    }

    /// The names of the named graphs (IRIs only), without counting their quads.
    pub fn graph_names(&self) -> Result<Vec<NamedNode>, KgError> {
        let store = match &self.backend {
            Backend::Local(store) => store,
            Backend::Remote(r) => return r.graph_names(),
        };
        let mut out = Vec::new();
        for g in store.named_graphs() {
            if let NamedOrBlankNode::NamedNode(n) = g? {
                out.push(n);
            }
        }
        out.sort();
        Ok(out)
    }

    /// Hands every IRI-to-IRI triple of one named graph to `triple` (subject, predicate,
    /// object), read straight from the graph's index: the fast way to project a large graph.
    pub fn for_each_link_in_graph(
        &self,
        graph: &NamedNode,
        mut triple: impl FnMut(&str, &str, &str),
    ) -> Result<(), KgError> {
        self.for_each_quad_in_graph(graph, |q| {
            if let (NamedOrBlankNode::NamedNode(s), Term::NamedNode(o)) = (&q.subject, &q.object) {
                triple(s.as_str(), q.predicate.as_str(), o.as_str());
            }
        })
    }

    /// Hands every quad of the store to `quad`, read straight from its index (a remote
    /// store's: those of its named graphs, page by page).
    pub fn for_each_quad(&self, mut quad: impl FnMut(QuadRef<'_>)) -> Result<(), KgError> {
        match &self.backend {
            Backend::Local(store) => {
                for q in store.iter() {
                    quad(q?.as_ref());
                }
            }
            Backend::Remote(r) => {
                for g in r.graph_names()? {
                    r.for_each_quad_in_graph(&g, |q| quad(q.as_ref()))?;
                }
            }
        }
        Ok(())
    }

    /// Hands every quad of one named graph to `quad`.
    pub fn for_each_quad_in_graph(
        &self,
        graph: &NamedNode,
        mut quad: impl FnMut(Quad),
    ) -> Result<(), KgError> {
        let store = match &self.backend {
            Backend::Local(store) => store,
            Backend::Remote(r) => return r.for_each_quad_in_graph(graph, quad),
        };
        for q in store.quads_for_pattern(
            None,
            None,
            None,
            Some(GraphNameRef::NamedNode(graph.as_ref())),
        ) {
            quad(q?);
        }
        Ok(())
    }

    /// Evaluates a SPARQL query. `bindings` give variables a value before evaluation, as RDF
    /// terms bound into the query algebra (never by editing the query text; see
    /// [`super::binding`]). With `union_default_graph` the default graph is the union of all
    /// named graphs.
    pub fn query(
        &self,
        text: &str,
        bindings: &[(Variable, Term)],
        union_default_graph: bool,
    ) -> Result<QueryOutcome, KgError> {
        self.query_with(
            text,
            &QueryOptions {
                bindings: bindings.to_vec(),
                union_default_graph,
                ..QueryOptions::default()
            },
        )
    }

    /// Evaluates a SPARQL query with every option of [`QueryOptions`]: dataset, extension
    /// functions, a time limit and a result-size limit.
    pub fn query_with(&self, text: &str, options: &QueryOptions) -> Result<QueryOutcome, KgError> {
        let query = super::binding::bind_query(text, &options.bindings)?;
        match &self.backend {
            Backend::Local(store) => evaluate(store, query, options, None),
            Backend::Remote(r) => {
                let functions: Vec<NamedNode> =
                    options.functions.iter().map(|(n, _)| n.clone()).collect();
                if !super::split::calls_any(&query, &functions) {
                    return r.run_query(query, options);
                }
                // kgrec's functions run here, over what the service answers for the rest.
                let calls = RemoteCalls {
                    remote: Arc::clone(r),
                    dataset: r.dataset_for(&query, options)?,
                };
                let local = QueryOptions {
                    union_default_graph: false,
                    default_graphs: Vec::new(),
                    named_graphs: Vec::new(),
                    ..options.clone()
                };
                evaluate(
                    &Store::new()?,
                    split_query(query, &functions)?,
                    &local,
                    Some(calls),
                )
            }
        }
    }
}

/// Evaluates a parsed query on an oxigraph store with every option of [`QueryOptions`], and
/// with `services` answering its SERVICE calls (a query split with a remote store).
fn evaluate(
    store: &Store,
    query: spargebra::Query,
    options: &QueryOptions,
    services: Option<RemoteCalls>,
) -> Result<QueryOutcome, KgError> {
    let deadline = Deadline::start(options.timeout);
    let mut evaluator = SparqlEvaluator::new().with_cancellation_token(deadline.token.clone());
    for (name, f) in &options.functions {
        let f = Arc::clone(f);
        evaluator = evaluator.with_custom_function(name.clone(), move |args| f(args));
    }
    if let Some(calls) = services {
        evaluator = evaluator.with_default_service_handler(calls);
    }
    let mut prepared = evaluator.for_query(query);
    let dataset = prepared.dataset_mut();
    // Union only when neither the query (FROM, FROM NAMED) nor the request names a dataset.
    let union = options.union_default_graph
        && dataset.is_default_dataset()
        && options.default_graphs.is_empty()
        && options.named_graphs.is_empty();
    if !options.default_graphs.is_empty() {
        dataset.set_default_graph(
            options
                .default_graphs
                .iter()
                .map(|g| GraphName::NamedNode(g.clone()))
                .collect(),
        );
    }
    if !options.named_graphs.is_empty() {
        dataset.set_available_named_graphs(
            options
                .named_graphs
                .iter()
                .map(|g| NamedOrBlankNode::NamedNode(g.clone()))
                .collect(),
        );
    }
    if union {
        dataset.set_default_graph_as_union();
    }
    let limit = options.max_results.unwrap_or(usize::MAX);
    let too_many = || KgError::TooManyResults(limit);
    let results = prepared
        .on_store(store)
        .execute()
        .map_err(|e| deadline.query_error(e))?;
    Ok(match results {
        QueryResults::Solutions(solutions) => {
            let variables = solutions.variables().to_vec();
            let mut rows = Vec::new();
            for s in solutions {
                let s = s.map_err(|e| deadline.query_error(e))?;
                if rows.len() == limit {
                    return Err(too_many());
                }
                rows.push(variables.iter().map(|v| s.get(v).cloned()).collect());
            }
            QueryOutcome::Solutions { variables, rows }
        }
        QueryResults::Boolean(b) => QueryOutcome::Boolean(b),
        QueryResults::Graph(triples) => {
            let mut out = Vec::new();
            for t in triples {
                let t = t.map_err(|e| deadline.query_error(e))?;
                if out.len() == limit {
                    return Err(too_many());
                }
                out.push(t);
            }
            QueryOutcome::Graph(out)
        }
    })
}

impl KgStore {
    /// Evaluates a SELECT query over the union of all graphs and hands each row to `row`, one
    /// at a time, without collecting them: projections of the whole KG read millions of rows.
    /// Cells follow the query's projection order; unbound cells are `None`.
    pub fn for_each_solution(
        &self,
        text: &str,
        mut row: impl FnMut(&[Option<Term>]),
    ) -> Result<(), KgError> {
        let store = match &self.backend {
            Backend::Local(store) => store,
            Backend::Remote(r) => return r.for_each_solution(text, row),
        };
        let mut prepared = SparqlEvaluator::new().parse_query(text)?;
        prepared.dataset_mut().set_default_graph_as_union();
        match prepared.on_store(store).execute()? {
            QueryResults::Solutions(solutions) => {
                let variables = solutions.variables().to_vec();
                let mut cells = Vec::with_capacity(variables.len());
                for s in solutions {
                    let s = s?;
                    cells.clear();
                    cells.extend(variables.iter().map(|v| s.get(v).cloned()));
                    row(&cells);
                }
                Ok(())
            }
            _ => Err(KgError::NotSelect),
        }
    }

    /// Applies a SPARQL 1.1 Update atomically.
    pub fn update(&self, text: &str) -> Result<(), KgError> {
        self.update_with(text, &QueryOptions::default())
    }

    /// Applies a SPARQL 1.1 Update atomically, within `options.timeout` (the update's
    /// queries are cancelled past it, and nothing is written).
    pub fn update_with(&self, text: &str, options: &QueryOptions) -> Result<(), KgError> {
        let store = match &self.backend {
            Backend::Local(store) => store,
            Backend::Remote(r) => {
                // Refused here with kgrec's own message before it travels.
                spargebra::SparqlParser::new().parse_update(text)?;
                return r.update(text, options.timeout);
            }
        };
        let deadline = Deadline::start(options.timeout);
        SparqlEvaluator::new()
            .with_cancellation_token(deadline.token.clone())
            .parse_update(text)?
            .on_store(store)
            .execute()
            .map_err(|e| match options.timeout {
                Some(t) if deadline.token.is_cancelled() => KgError::Timeout(t),
                _ => KgError::Update(e),
            })?;
        Ok(())
    }

    /// Inserts quads in one transaction: all of them are written, or none (a remote
    /// store: one INSERT DATA per batch of [`RemoteStore::BATCH_SIZE`]).
    pub fn insert_quads(&self, quads: &[Quad]) -> Result<(), KgError> {
        let store = match &self.backend {
            Backend::Local(store) => store,
            Backend::Remote(r) => return r.write_quads(quads, true),
        };
        let mut t = store.start_transaction()?;
        t.extend(quads);
        t.commit()?;
        Ok(())
    }

    /// Removes quads in one transaction (absent ones are ignored).
    pub fn remove_quads(&self, quads: &[Quad]) -> Result<(), KgError> {
        let store = match &self.backend {
            Backend::Local(store) => store,
            Backend::Remote(r) => return r.write_quads(quads, false),
        };
        let mut t = store.start_transaction()?;
        for q in quads {
            t.remove(q);
        }
        t.commit()?;
        Ok(())
    }

    /// Forgets a user, in one transaction: every quad that has them as subject or object, in
    /// any graph, and every quad about a record that names them (`?r kgr:user <user>`:
    /// interactions and labelled negatives). Returns the number of quads removed.
    pub fn delete_user(&self, user: &NamedNode) -> Result<usize, KgError> {
        let store = match &self.backend {
            Backend::Local(store) => store,
            Backend::Remote(r) => return r.delete_user(user),
        };
        let mut t = store.start_transaction()?;
        let user_term = Term::NamedNode(user.clone());
        let mut doomed: Vec<Quad> = Vec::new();
        let mut records: Vec<NamedOrBlankNode> = Vec::new();
        for q in t.quads_for_pattern(None, None, Some(user_term.as_ref()), None) {
            let q = q?;
            if q.predicate == kgr("user") {
                records.push(q.subject.clone());
            }
            doomed.push(q);
        }
        let subject = NamedOrBlankNode::NamedNode(user.clone());
        for q in t.quads_for_pattern(Some(subject.as_ref()), None, None, None) {
            doomed.push(q?);
        }
        for r in &records {
            for q in t.quads_for_pattern(Some(r.as_ref()), None, None, None) {
                doomed.push(q?);
            }
        }
        doomed.sort_by_key(ToString::to_string);
        doomed.dedup();
        for q in &doomed {
            t.remove(q);
        }
        t.commit()?;
        Ok(doomed.len())
    }

    /// Writes one graph (`Some`) or the whole store (`None`) in `format`. Whole-store exports
    /// need a dataset format (N-Quads or TriG).
    pub fn export(
        &self,
        graph: Option<&NamedNode>,
        format: RdfFormat,
        writer: impl Write,
    ) -> Result<(), KgError> {
        if graph.is_none() && !format.supports_datasets() {
            return Err(KgError::Format(format!(
                "{} cannot hold named graphs: export the whole store as N-Quads or TriG, or pick one --graph",
                format.name()
            )));
        }
        let serializer = RdfSerializer::from_format(format);
        let store = match &self.backend {
            Backend::Local(store) => store,
            Backend::Remote(r) => return r.export(graph, serializer, writer),
        };
        match graph {
            Some(g) => {
                store.dump_graph_to_writer(
                    GraphNameRef::NamedNode(g.as_ref()),
                    serializer,
                    writer,
                )?;
            }
            None => {
                store.dump_to_writer(serializer, writer)?;
            }
        }
        Ok(())
    }

    /// The earlier import with this content hash, if any.
    pub fn find_import(&self, content_hash: &str) -> Result<Option<ImportRecord>, KgError> {
        let node = import_node(content_hash);
        let q = "PREFIX kgr: <https://w3id.org/kgrec/ns#>\n\
                 SELECT ?source ?at ?n ?imp ?meta WHERE { GRAPH ?meta { ?imp a kgr:Import ; kgr:source ?source ; kgr:importedAt ?at ; kgr:quadCount ?n } }";
        let bindings = [
            (Variable::new_unchecked("imp"), Term::from(node)),
            (Variable::new_unchecked("meta"), Term::from(meta_graph())),
        ];
        if let QueryOutcome::Solutions { rows, .. } = self.query(q, &bindings, false)? {
            if let Some(row) = rows.first() {
                let text = |i: usize| match &row[i] {
                    Some(Term::Literal(l)) => l.value().to_owned(),
                    _ => String::new(),
                };
                return Ok(Some(ImportRecord {
                    content_hash: content_hash.to_owned(),
                    source: text(0),
                    imported_at: text(1),
                    quad_count: text(2).parse().unwrap_or(0),
                }));
            }
        }
        Ok(None)
    }

    /// Records an import in the meta graph, replacing an earlier record of the same content,
    /// in one update.
    pub fn record_import(&self, record: &ImportRecord) -> Result<(), KgError> {
        let node = import_node(&record.content_hash);
        let g = meta_graph();
        let facts = [
            (rdf_type(), Term::from(kgr("Import"))),
            (
                kgr("source"),
                Literal::new_simple_literal(&record.source).into(),
            ),
            (
                kgr("contentHash"),
                Literal::new_simple_literal(&record.content_hash).into(),
            ),
            (
                kgr("importedAt"),
                Literal::new_typed_literal(&record.imported_at, xsd::DATE_TIME).into(),
            ),
            (
                kgr("quadCount"),
                Literal::new_typed_literal(record.quad_count.to_string(), xsd::INTEGER).into(),
            ),
        ];
        let triples: String = facts
            .iter()
            .map(|(p, o)| format!("{node} {p} {o} .\n"))
            .collect();
        self.update(&format!(
            "DELETE WHERE {{ GRAPH {g} {{ {node} ?p ?o }} }} ;\nINSERT DATA {{ GRAPH {g} {{\n{triples}}} }}"
        ))
    }

    /// Bytes the store's files take on disk (`None` for an in-memory store).
    pub fn size_on_disk(&self) -> Option<u64> {
        self.location.as_deref().map(dir_size)
    }
}

fn import_node(content_hash: &str) -> NamedNode {
    NamedNode::new_unchecked(format!("{ID}import/{content_hash}"))
}

fn dir_size(path: &Path) -> u64 {
    let mut total = 0;
    if let Ok(entries) = std::fs::read_dir(path) {
        for e in entries.flatten() {
            match e.metadata() {
                Ok(m) if m.is_dir() => total += dir_size(&e.path()),
                Ok(m) => total += m.len(),
                Err(_) => {}
            }
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use oxigraph::model::NamedNode;

    fn quad(i: u32) -> Quad {
        let n = NamedNode::new_unchecked(format!("http://example.com/{i}"));
        Quad::new(
            n.clone(),
            n.clone(),
            n,
            NamedNode::new_unchecked("http://example.com/g"),
        )
    }

    impl KgStore {
        fn contains(&self, q: &Quad) -> bool {
            match &self.backend {
                Backend::Local(store) => store.contains(q).unwrap(),
                Backend::Remote(_) => unreachable!("unit tests use local stores"),
            }
        }
    }

    #[test]
    fn failed_bulk_load_leaves_store_unchanged() {
        let store = KgStore::in_memory().unwrap();
        store
            .bulk_load((0..10).map(|i| Ok::<_, String>(quad(i))), None)
            .unwrap();
        assert_eq!(store.len().unwrap(), 10);
        let bad = (10..20).map(|i| {
            if i == 15 {
                Err("bad line 6".to_owned())
            } else {
                Ok(quad(i))
            }
        });
        let err = store.bulk_load(bad, None).unwrap_err();
        assert!(err.to_string().contains("bad line 6"));
        assert_eq!(store.len().unwrap(), 10);
    }

    #[test]
    fn replacing_graphs_swaps_them_whole_or_not_at_all() {
        let store = KgStore::in_memory().unwrap();
        let g = NamedNode::new_unchecked("http://example.com/g");
        let other = Quad::new(
            g.clone(),
            g.clone(),
            g.clone(),
            NamedNode::new_unchecked("http://x/h"),
        );
        store
            .bulk_load((0..10).map(|i| Ok::<_, String>(quad(i))), None)
            .unwrap();
        store.insert_quads(std::slice::from_ref(&other)).unwrap();
        let bad = (100..105).map(|i| {
            if i == 103 {
                Err("bad line".to_owned())
            } else {
                Ok(quad(i))
            }
        });
        assert!(store
            .replace_graphs(std::slice::from_ref(&g), bad, None)
            .is_err());
        assert_eq!(store.len().unwrap(), 11);
        assert!(store.contains(&quad(0)));
        let n = store
            .replace_graphs(
                std::slice::from_ref(&g),
                (100..103).map(|i| Ok::<_, String>(quad(i))),
                None,
            )
            .unwrap();
        assert_eq!(n, 3);
        assert_eq!(store.len().unwrap(), 4);
        assert!(!store.contains(&quad(0)));
        assert!(store.contains(&other));
    }

    #[test]
    fn bindings_are_terms_not_text() {
        let store = KgStore::in_memory().unwrap();
        store
            .bulk_load((0..3).map(|i| Ok::<_, String>(quad(i))), None)
            .unwrap();
        let q = "SELECT ?s ?o WHERE { ?s ?p ?o }";
        let b = [(
            Variable::new_unchecked("s"),
            Term::from(NamedNode::new_unchecked("http://example.com/1")),
        )];
        match store.query(q, &b, true).unwrap() {
            QueryOutcome::Solutions { rows, .. } => assert_eq!(rows.len(), 1),
            _ => panic!("expected solutions"),
        }
    }

    #[test]
    fn import_records_round_trip() {
        let store = KgStore::in_memory().unwrap();
        assert!(store.find_import("abc").unwrap().is_none());
        let rec = ImportRecord {
            content_hash: "abc".into(),
            source: "fixture".into(),
            imported_at: "2026-01-01T00:00:00Z".into(),
            quad_count: 7,
        };
        store.record_import(&rec).unwrap();
        store.record_import(&rec).unwrap();
        let found = store.find_import("abc").unwrap().unwrap();
        assert_eq!(found.quad_count, 7);
        assert_eq!(found.source, "fixture");
        assert_eq!(store.len().unwrap(), 5);
    }
}
