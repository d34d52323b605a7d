//! Bundles into the binary what kgrec needs wherever it runs: `queries/*.rq` (the saved
//! queries), the default KG, and `web/dist` (the workbench page).
use std::fmt::Write;

fn main() {
    println!("cargo:rerun-if-changed=queries");
    let mut files: Vec<_> = std::fs::read_dir("queries")
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.retain(|p: &std::path::PathBuf| p.extension().is_some_and(|e| e == "rq"));
    files.sort();
    let queries = files
        .into_iter()
        .map(|f| {
            let name = f.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
            (name.to_owned(), f)
        })
        .collect();
    write_list("bundled_queries.rs", "include_str", queries);

    // The bundled default KG, loaded into an empty store on first run. A checkout without it
    // (before `scripts/make-kg-data.sh` has run) still builds and says so at run time.
    println!("cargo:rerun-if-changed=kg-data");
    let kg = std::path::Path::new("kg-data/amazon-beauty-sample.nq.gz");
    let code = if kg.is_file() {
        let abs = std::fs::canonicalize(kg).expect("kg-data path");
        format!("Some(include_bytes!({:?}))", abs.display().to_string())
    } else {
        "None".to_owned()
    };
    let dest = std::path::Path::new(&std::env::var("OUT_DIR").unwrap()).join("default_kg.rs");
    std::fs::write(dest, code).unwrap();

    // The workbench page: web/dist as built by scripts/build-web.sh (committed, so building
    // kgrec needs neither Node nor the network), as (path under /, bytes).
    println!("cargo:rerun-if-changed=web/dist");
    let mut assets = Vec::new();
    collect_files(std::path::Path::new("web/dist"), &mut assets);
    assets.sort();
    let assets = assets
        .into_iter()
        .map(|f| {
            let rel = f.strip_prefix("web/dist").expect("under web/dist");
            let key = rel.to_string_lossy().replace('\\', "/");
            (key, f)
        })
        .collect();
    write_list("web_assets.rs", "include_bytes", assets);
}

/// Writes `&[(key, include_…!(file)), …]` into `OUT_DIR/dest`, and asks to rerun when any
/// file changes.
fn write_list(dest: &str, include: &str, entries: Vec<(String, std::path::PathBuf)>) {
    let mut out = String::from("&[\n");
    for (key, f) in entries {
        let abs = std::fs::canonicalize(&f).expect("bundled file");
        println!("cargo:rerun-if-changed={}", abs.display());
        writeln!(
            out,
            "    ({key:?}, {include}!({:?})),",
            abs.display().to_string()
        )
        .unwrap();
    }
    out.push_str("]\n");
    let dest = std::path::Path::new(&std::env::var("OUT_DIR").unwrap()).join(dest);
    std::fs::write(dest, out).unwrap();
}

/// Every file under `dir`, recursively.
fn collect_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        if path.is_dir() {
            collect_files(&path, out);
        } else {
            out.push(path);
        }
    }
}
