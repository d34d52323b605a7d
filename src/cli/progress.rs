//! Progress bars on standard error (hidden when it is not a terminal).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// A live triples counter with rate, ticking from a background thread while a load runs.
pub struct LoadProgress {
    counter: Arc<AtomicU64>,
    done: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    started: Instant,
}

impl LoadProgress {
    /// Starts a bar; `total` is known for imports, unknown (a spinner) for files.
    pub fn start(what: &str, total: Option<u64>) -> Self {
        let counter = Arc::new(AtomicU64::new(0));
        let done = Arc::new(AtomicBool::new(false));
        let bar = match total {
            Some(t) => ProgressBar::new(t).with_style(
                ProgressStyle::with_template(
                    "{msg} [{bar:30}] {human_pos}/{human_len} quads, {per_sec}, eta {eta}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            ),
            None => ProgressBar::new_spinner().with_style(
                ProgressStyle::with_template("{spinner} {msg} {human_pos} quads, {per_sec}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            ),
        };
        bar.set_message(what.to_owned());
        let (c, d) = (Arc::clone(&counter), Arc::clone(&done));
        let thread = std::thread::spawn(move || {
            while !d.load(Ordering::Relaxed) {
                bar.set_position(c.load(Ordering::Relaxed));
                std::thread::sleep(Duration::from_millis(100));
            }
            bar.finish_and_clear();
        });
        Self {
            counter,
            done,
            thread: Some(thread),
            started: Instant::now(),
        }
    }

    /// The counter to hand to the store.
    pub fn counter(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.counter)
    }

    /// Stops the bar and returns the elapsed time.
    pub fn finish(mut self) -> Duration {
        self.stop();
        self.started.elapsed()
    }

    fn stop(&mut self) {
        self.done.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for LoadProgress {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `n` items over `d` as "1.2M/s"-style text.
pub fn rate(n: u64, d: Duration) -> String {
    let r = n as f64 / d.as_secs_f64().max(1e-9);
    if r >= 1e6 {
        format!("{:.2}M", r / 1e6)
    } else if r >= 1e3 {
        format!("{:.1}k", r / 1e3)
    } else {
        format!("{r:.0}")
    }
}

/// Bars for a multi-stage job: each call names the stage, the work done and its total; a
/// new stage name finishes the previous bar. Safe to call from worker threads. When standard
/// error is not a terminal (a log file, CI), it writes a plain line when a stage starts and
/// at most once a minute while it runs, instead of bars.
pub struct StageProgress {
    current: std::sync::Mutex<Option<(String, ProgressBar)>>,
    log: Option<std::sync::Mutex<(String, Instant, Instant)>>,
}

/// Seconds between plain progress lines.
const LOG_EVERY: Duration = Duration::from_secs(60);

impl StageProgress {
    /// No bar yet.
    pub fn new() -> Self {
        use std::io::IsTerminal;
        StageProgress {
            current: std::sync::Mutex::new(None),
            log: (!std::io::stderr().is_terminal())
                .then(|| std::sync::Mutex::new((String::new(), Instant::now(), Instant::now()))),
        }
    }

    /// Writes a plain line when the stage changes, and then at most once a minute.
    fn log_line(&self, stage: &str, done: u64, total: u64) {
        let Some(Ok(mut log)) = self.log.as_ref().map(|l| l.lock()) else {
            return;
        };
        let (name, started, last) = &mut *log;
        let now = Instant::now();
        if name != stage {
            if !name.is_empty() {
                eprintln!("{name}: done in {:.1}s", started.elapsed().as_secs_f64());
            }
            eprintln!("{stage}: started");
            *log = (stage.to_owned(), now, now);
        } else if now.duration_since(*last) >= LOG_EVERY {
            let pct = if total > 0 {
                done as f64 * 100.0 / total as f64
            } else {
                0.0
            };
            eprintln!(
                "{stage}: {done}/{total} ({pct:.0}%) after {:.0}s",
                started.elapsed().as_secs_f64()
            );
            *last = now;
        }
    }

    /// Reports progress of `stage`.
    pub fn update(&self, stage: &str, done: u64, total: u64) {
        if self.log.is_some() {
            self.log_line(stage, done, total);
            return;
        }
        let Ok(mut current) = self.current.lock() else {
            return;
        };
        let same = matches!(&*current, Some((name, _)) if name == stage);
        if !same {
            if let Some((_, bar)) = current.take() {
                bar.finish();
            }
            let bar = ProgressBar::new(total).with_style(
                ProgressStyle::with_template(
                    "{msg:>10} [{bar:30}] {human_pos}/{human_len} {per_sec} eta {eta}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar.set_message(stage.to_owned());
            *current = Some((stage.to_owned(), bar));
        }
        if let Some((_, bar)) = &*current {
            bar.set_length(total);
            bar.set_position(done.max(bar.position()));
        }
    }

    /// Finishes the last bar.
    pub fn finish(&self) {
        if let Some(Ok(log)) = self.log.as_ref().map(|l| l.lock()) {
            if !log.0.is_empty() {
                eprintln!("{}: done in {:.1}s", log.0, log.1.elapsed().as_secs_f64());
            }
        }
        if let Ok(mut current) = self.current.lock() {
            if let Some((_, bar)) = current.take() {
                bar.finish();
            }
        }
    }
}
