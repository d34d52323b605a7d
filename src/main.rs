//! The `kgrec` command line: a thin layer over the library.

mod cli;

/// Makes glibc keep freed memory for reuse. Candle allocates and frees tensors of several MB
/// every training step; by default glibc maps each one afresh and unmaps it on free, so the
/// next step pays a page fault per page. (A replacement global allocator would do the same,
/// but RocksDB's C++ side and Rust then disagree on who frees what: it crashed on one
/// error path.)
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn keep_freed_memory() {
    // SAFETY: mallopt only changes glibc's allocation thresholds; it is called before any
    // other thread starts. 32 MB is the largest mmap threshold glibc accepts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 512 << 20);
    }
}

fn main() -> std::process::ExitCode {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    keep_freed_memory();
    // kgrec parallelises across users and batches itself (rayon); candle's own pool of
    // spinning workers on top of that only contends for the same cores. Set before any
    // thread starts; a user's explicit setting wins.
    if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
        std::env::set_var("CANDLE_NUM_THREADS", "1");
    }
    cli::main()
}
