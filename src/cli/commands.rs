//! One function per subcommand.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use kgrec::default_kg;
use kgrec::ingest::{self, ImportOutput, ImportSender, IngestError, RdfFile, RdfFileFormat};
use kgrec::kg::saved::{parse_value, split_param};
use kgrec::kg::vocab::{graph, GraphPart};
use kgrec::kg::{
    results, ImportRecord, KgError, KgStore, QueryOptions, RemoteAuth, ResultFormat, SavedQuery,
    StoreLocation,
};
use oxigraph::model::NamedNode;

use super::args::{
    Cli, Command, ExportArgs, ImportCommand, LoadArgs, ModelCommand, QueryArgs, UpdateArgs,
};
use super::config::Config;
use super::progress::{rate, LoadProgress};

/// Resolved global settings.
struct Settings {
    store: StoreLocation,
    queries_dir: PathBuf,
    no_default_kg: bool,
    registry: PathBuf,
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    let config = Config::load(cli.config.as_deref())?;
    let store = cli
        .store
        .or(config.store)
        .unwrap_or_else(|| PathBuf::from("data/store"));
    let ctx = Settings {
        store: StoreLocation::parse(&store)?,
        queries_dir: cli
            .queries_dir
            .or(config.queries)
            .unwrap_or_else(|| PathBuf::from("queries")),
        no_default_kg: cli.no_default_kg,
        registry: PathBuf::new(),
    };
    let ctx = Settings {
        registry: cli.registry.unwrap_or_else(|| match &ctx.store {
            StoreLocation::Local(path) => path.parent().unwrap_or(Path::new(".")).join("models"),
            StoreLocation::Remote(_) => PathBuf::from("models"),
        }),
        ..ctx
    };
    match cli.command {
        Command::Start { no_train } => start(&ctx, no_train),
        Command::Load(a) => load(&ctx, a),
        Command::Import(c) => import(&ctx, c),
        Command::Export(a) => export(&ctx, a),
        Command::Query(a) => query(&ctx, a),
        Command::Update(a) => update(&ctx, a),
        Command::Queries => list_queries(&ctx),
        Command::Stats => stats(&open_for_reading(&ctx)?),
        Command::Check(a) => super::check::check(&open_for_reading(&ctx)?, a),
        Command::Eval(a) => super::learn::eval(&open_for_reading(&ctx)?, a),
        Command::Train(a) => super::learn::train(&open_for_reading(&ctx)?, &ctx.registry, a),
        Command::Models => super::learn::list_models(&ctx.registry),
        Command::Model(ModelCommand::Fetch { force }) => super::learn::fetch_model(force),
        Command::Serve(a) => {
            super::serve::serve(&open_for_reading(&ctx)?, &ctx.registry, &ctx.queries_dir, a)
        }
    }
}

/// Opens the store for writing commands: never loads the default KG.
fn open(ctx: &Settings) -> Result<KgStore> {
    let store = open_store(&ctx.store)?;
    if store.was_created() {
        eprintln!("created a new store at {}", ctx.store);
    } else {
        eprintln!("using the store at {}", ctx.store);
    }
    Ok(store)
}

/// Opens a store, with a remote store's credentials from the environment.
fn open_store(location: &StoreLocation) -> Result<KgStore> {
    let auth = RemoteAuth::from_vars(|name| std::env::var(name).ok())?;
    Ok(KgStore::open_location(location, auth)?)
}

/// Opens the store for reading commands: a new, empty store first receives the default KG.
/// A remote store never receives it unasked (it is someone's database).
fn open_for_reading(ctx: &Settings) -> Result<KgStore> {
    let store = open_store(&ctx.store)?;
    if store.was_created() && store.is_empty()? && !ctx.no_default_kg {
        eprintln!(
            "new store at {}: loading the bundled default KG ({})…",
            ctx.store,
            default_kg::FILE_NAME
        );
        let t = Instant::now();
        let n = default_kg::load(&store)?;
        eprintln!("loaded {n} quads in {:.1}s", t.elapsed().as_secs_f64());
    }
    Ok(store)
}

fn start(ctx: &Settings, skip_training: bool) -> Result<()> {
    let store = open_for_reading(ctx)?;
    stats(&store)?;
    let mut out = std::io::stdout().lock();
    for name in ["store-overview", "category-tree"] {
        if let Ok(q) = SavedQuery::find(name, &ctx.queries_dir) {
            writeln!(out, "\n== {} (kgrec query --saved {name})", q.title)?;
            let outcome = store.query(&q.text, &[], true)?;
            let mut buf = Vec::new();
            results::write_outcome(outcome, ResultFormat::Table, &mut buf)?;
            let text = String::from_utf8_lossy(&buf);
            let lines: Vec<&str> = text.lines().collect();
            for l in lines.iter().take(15) {
                writeln!(out, "{l}")?;
            }
            if lines.len() > 15 {
                writeln!(out, "… ({} rows in all)", lines.len().saturating_sub(3))?;
            }
        }
    }
    drop(out);
    if !skip_training {
        super::learn::ensure_model(&store, &ctx.registry)?;
    }
    println!(
        "\nNext: `kgrec queries` lists the saved queries; `kgrec query --saved NAME` runs one; \
         `kgrec models` lists the trained models; `kgrec serve` serves SPARQL and the JSON API."
    );
    Ok(())
}

fn stats(store: &KgStore) -> Result<()> {
    let mut out = std::io::stdout().lock();
    let place = match (store.location(), store.remote()) {
        (Some(path), _) => path.display().to_string(),
        (None, Some(remote)) => remote.endpoints().to_string(),
        (None, None) => "in memory".into(),
    };
    writeln!(out, "store: {place}")?;
    writeln!(out, "quads: {}", store.len()?)?;
    if let Some(bytes) = store.size_on_disk() {
        writeln!(out, "size on disk: {:.1} MB", bytes as f64 / 1e6)?;
    }
    for (g, n) in store.graphs()? {
        writeln!(out, "  {n:>10}  <{g}>")?;
    }
    Ok(())
}

fn named_node(iri: &str) -> Result<NamedNode> {
    let iri = iri.trim().trim_start_matches('<').trim_end_matches('>');
    NamedNode::new(iri).with_context(|| format!("'{iri}' is not a valid absolute IRI"))
}

fn refuse_duplicate(store: &KgStore, hash: &str, force: bool) -> Result<()> {
    if let Some(prev) = store.find_import(hash)? {
        if !force {
            bail!(
                "this exact input was already imported (source '{}', {} quads, at {}); nothing was changed. \
                 Re-importing cannot duplicate anything; pass --force to do it anyway",
                prev.source,
                prev.quad_count,
                prev.imported_at
            );
        }
    }
    Ok(())
}

fn record(store: &KgStore, hash: &str, source: &str, quads: u64) -> Result<()> {
    store.record_import(&ImportRecord {
        content_hash: hash.to_owned(),
        source: source.to_owned(),
        imported_at: now_datetime(),
        quad_count: quads,
    })?;
    Ok(())
}

fn now_datetime() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    ingest::builder::unix_to_datetime(secs)
}

fn load(ctx: &Settings, a: LoadArgs) -> Result<()> {
    let target = a.graph.as_deref().map(named_node).transpose()?;
    let files = a
        .files
        .iter()
        .map(|p| RdfFile::new(p, a.format))
        .collect::<Result<Vec<_>, _>>()?;
    let mut hash = ingest::source::ContentHash::default();
    for f in &files {
        hash.add_file(&f.path)?;
    }
    hash.add_setting(a.graph.as_deref().unwrap_or(""));
    let hash = hash.finish();
    let store = open(ctx)?;
    refuse_duplicate(&store, &hash, a.force || a.replace)?;
    let replaced: Vec<NamedNode> = if a.replace {
        target.iter().cloned().collect()
    } else {
        Vec::new()
    };
    let progress = LoadProgress::start("loading", None);
    let mut iters = Vec::new();
    for f in &files {
        iters.push(f.quads(target.as_ref())?);
    }
    let result = load_replacing(&store, &replaced, iters.into_iter().flatten(), &progress);
    let elapsed = progress.finish();
    let n = result?;
    let names: Vec<String> = files.iter().map(|f| f.path.display().to_string()).collect();
    record(&store, &hash, &names.join(" "), n)?;
    eprintln!(
        "loaded {n} quads from {} file(s) in {:.2}s ({} triples/s)",
        files.len(),
        elapsed.as_secs_f64(),
        rate(n, elapsed)
    );
    Ok(())
}

fn import(ctx: &Settings, c: ImportCommand) -> Result<()> {
    let common = match &c {
        ImportCommand::Beauty { common, .. }
        | ImportCommand::Amazon { common, .. }
        | ImportCommand::Recbole { common, .. }
        | ImportCommand::Kgcn { common, .. }
        | ImportCommand::Kgat { common, .. } => common.clone(),
    };
    let store = open(ctx)?;
    // The importer builds on its own thread and streams batches to the bulk loader, which
    // commits only if the importer finished without error: atomic, and reading overlaps loading.
    let nothing = "nothing was imported: the store is unchanged";
    let stream = ingest::stream::spawn(move |sink| run_importer(c, sink))
        .map_err(|e| anyhow::anyhow!("{e}\n{nothing}"))?;
    let (source, content_hash) = (stream.source.clone(), stream.content_hash.clone());
    refuse_duplicate(&store, &content_hash, common.force || common.replace)?;
    let replaced: Vec<NamedNode> = if common.replace {
        [
            GraphPart::Catalogue,
            GraphPart::Interactions,
            GraphPart::External,
        ]
        .map(|part| graph(&source, part))
        .to_vec()
    } else {
        Vec::new()
    };
    let counts = stream.counts();
    let t = Instant::now();
    let progress = LoadProgress::start(&format!("importing {source}"), None);
    let result = load_replacing(&store, &replaced, stream, &progress);
    progress.finish();
    let n = result?;
    let elapsed = t.elapsed();
    record(&store, &content_hash, &source, n)?;
    eprintln!(
        "imported '{source}': {n} quads in {:.2}s ({} quads/s)",
        elapsed.as_secs_f64(),
        rate(n, elapsed)
    );
    let counts = counts
        .lock()
        .map_err(|_| anyhow::anyhow!("importer state poisoned"))?
        .take();
    println!("{}", serde_json::to_string_pretty(&counts)?);
    Ok(())
}

/// Bulk-loads `quads` atomically; with graphs to replace, swaps them for the new quads in
/// one transaction ([`KgStore::replace_graphs`]), so no failure loses the old content.
fn load_replacing<E: std::fmt::Display>(
    store: &KgStore,
    replaced: &[NamedNode],
    quads: impl Iterator<Item = Result<oxigraph::model::Quad, E>>,
    progress: &LoadProgress,
) -> Result<u64, KgError> {
    if replaced.is_empty() {
        store.bulk_load(quads, Some(progress.counter()))
    } else {
        store.replace_graphs(replaced, quads, Some(progress.counter()))
    }
}

fn run_importer(c: ImportCommand, sink: Option<ImportSender>) -> Result<ImportOutput, IngestError> {
    match c {
        ImportCommand::Beauty {
            dir,
            sample_users,
            common,
        } => ingest::beauty::import(
            &dir,
            &ingest::beauty::BeautyOptions {
                sample_users,
                source: common.source,
            },
            sink,
        ),
        ImportCommand::Amazon {
            reviews,
            meta,
            common,
        } => ingest::amazon::import(
            &ingest::amazon::AmazonOptions {
                reviews,
                meta,
                source: common.source,
            },
            sink,
        ),
        ImportCommand::Recbole {
            dir,
            dataset,
            namespace,
            common,
        } => ingest::recbole::import(
            &dir,
            &ingest::recbole::RecboleOptions {
                dataset,
                namespace,
                source: common.source,
            },
            sink,
        ),
        ImportCommand::Kgcn { dir, common } => {
            ingest::kgcn::import(&dir, common.source.as_deref(), sink)
        }
        ImportCommand::Kgat { dir, common } => {
            ingest::kgat::import(&dir, common.source.as_deref(), sink)
        }
    }
}

fn export(ctx: &Settings, a: ExportArgs) -> Result<()> {
    let store = open_for_reading(ctx)?;
    let g = a.graph.as_deref().map(named_node).transpose()?;
    let format = a
        .format
        .or_else(|| a.output.as_deref().and_then(RdfFileFormat::from_path))
        .unwrap_or(if g.is_some() {
            RdfFileFormat::Ntriples
        } else {
            RdfFileFormat::Nquads
        });
    match &a.output {
        Some(path) => {
            let tmp = path.with_extension("partial");
            let file =
                File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
            if path.extension().is_some_and(|e| e == "gz") {
                let mut gz = flate2::write::GzEncoder::new(
                    BufWriter::new(file),
                    flate2::Compression::best(),
                );
                store.export(g.as_ref(), format.rdf_format(), &mut gz)?;
                gz.finish()?.flush()?;
            } else {
                let mut w = BufWriter::new(file);
                store.export(g.as_ref(), format.rdf_format(), &mut w)?;
                w.flush()?;
            }
            std::fs::rename(&tmp, path)?;
            eprintln!("wrote {}", path.display());
        }
        None => {
            let mut w = BufWriter::new(std::io::stdout().lock());
            store.export(g.as_ref(), format.rdf_format(), &mut w)?;
            w.flush()?;
        }
    }
    Ok(())
}

fn read_text(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

fn query(ctx: &Settings, a: QueryArgs) -> Result<()> {
    let pairs = a
        .params
        .iter()
        .map(|p| split_param(p))
        .collect::<Result<Vec<_>, _>>()?;
    let (text, bindings) = if let Some(name) = &a.saved {
        let q = SavedQuery::find(name, &ctx.queries_dir)?;
        let b = q.bind(&pairs)?;
        (q.text, b)
    } else {
        let text = match (&a.query, &a.file) {
            (Some(q), _) => q.clone(),
            (None, Some(f)) => read_text(f)?,
            (None, None) => bail!("give a query, -f FILE or --saved NAME"),
        };
        let mut b = Vec::new();
        for (n, v) in &pairs {
            b.push((
                oxigraph::model::Variable::new_unchecked(n.clone()),
                parse_value(n, v, None)?,
            ));
        }
        (text, b)
    };
    let store = open_for_reading(ctx)?;
    let functions = if calls_recommender_functions(&text)? {
        recommender_functions(&store, &ctx.registry)?
    } else {
        Vec::new()
    };
    let outcome = store.query_with(
        &text,
        &QueryOptions {
            bindings,
            union_default_graph: true,
            functions,
            ..QueryOptions::default()
        },
    )?;
    let mut out = BufWriter::new(std::io::stdout().lock());
    results::write_outcome(outcome, a.format, &mut out)?;
    out.flush()?;
    Ok(())
}

/// Whether a query calls `kgr:score` or `kgr:similarity` (then the latest model is loaded),
/// read from the parsed query.
fn calls_recommender_functions(text: &str) -> Result<bool, KgError> {
    let iris = kgrec::serve::functions::function_iris();
    let names: Vec<&str> = iris.iter().map(NamedNode::as_str).collect();
    kgrec::kg::calls::calls_any(text, &names)
}

/// `kgr:score` and `kgr:similarity` over the latest registered model.
fn recommender_functions(
    store: &KgStore,
    registry_root: &Path,
) -> Result<Vec<(NamedNode, kgrec::kg::ExtensionFunction)>> {
    let registry = kgrec::registry::ModelRegistry::open(registry_root)?;
    let live = kgrec::serve::live::LiveModel::start(
        store.clone(),
        registry,
        kgrec::features::text::TextFeatureConfig::default(),
        None,
    )?;
    if live.current().is_none() {
        bail!(
            "this query calls kgr:score or kgr:similarity, which need a registered model: run `kgrec train` first (registry {})",
            registry_root.display()
        );
    }
    Ok(kgrec::serve::functions::recommender_functions(
        &std::sync::Arc::new(live),
    ))
}

fn update(ctx: &Settings, a: UpdateArgs) -> Result<()> {
    let text = match (&a.update, &a.file) {
        (Some(u), _) => u.clone(),
        (None, Some(f)) => read_text(f)?,
        (None, None) => bail!("give an update or -f FILE"),
    };
    let store = open(ctx)?;
    let before = store.len()?;
    store.update(&text)?;
    let after = store.len()?;
    eprintln!("update applied: {before} → {after} quads");
    Ok(())
}

fn list_queries(ctx: &Settings) -> Result<()> {
    let mut out = std::io::stdout().lock();
    for q in SavedQuery::list(&ctx.queries_dir)? {
        writeln!(out, "{:<28} {}", q.name, q.title)?;
        writeln!(out, "{:<28} {}", "", q.purpose)?;
        for p in &q.params {
            writeln!(
                out,
                "{:<28}   --param {}=…  ({:?}{}) {}",
                "",
                p.name,
                p.kind,
                if p.optional { ", optional" } else { "" },
                p.description
            )?;
        }
    }
    Ok(())
}
