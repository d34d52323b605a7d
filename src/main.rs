//! The `kgrec` command line: a thin layer over the library.

mod cli;

/// mimalloc keeps freed memory for reuse: candle's per-step tensors then stop costing page faults.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    // kgrec parallelises across users and batches itself (rayon); candle's own pool of
    // spinning workers on top of that only contends for the same cores. Set before any
    // thread starts; a user's explicit setting wins.
    if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
        std::env::set_var("CANDLE_NUM_THREADS", "1");
    }
    cli::main()
}
