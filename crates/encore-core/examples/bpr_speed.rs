//! BPR training speed on a synthetic data set (the figure compared with `implicit`'s BPR).
//!
//! ```text
//! cargo run --release -p encore-core --example bpr_speed -- [--rows 4000000] [--epochs 100]
//!     [--factors 64] [--threads 2] [--tsv FILE | --write-tsv FILE]
//! ```
//!
//! By default it generates the synthetic set in memory with [`encore_core::synth`] (80,000
//! users, 40,000 items, about 4·10⁶ rows, seed 42: the proportions of the synth defaults), trains
//! BPR with the default hyperparameters and prints the wall time per epoch, the total and the
//! SGD steps per second. `--write-tsv FILE` also writes the data set so that `implicit` can be
//! timed on the very same rows (see `bench/train_speed.sh`); `--tsv FILE` reads a
//! `user<TAB>item<TAB>weight` file instead of generating one.

use std::time::Instant;

use encore_core::data::{Format, ReadOptions, parse_interactions};
use encore_core::matrix::InteractionMatrix;
use encore_core::models::FitOptions;
use encore_core::models::bpr::{BprConfig, BprModel};
use encore_core::progress::TrainingObserver;
use encore_core::synth::{SynthConfig, generate_interactions};

struct EpochTimer {
    start: Instant,
    verbose: bool,
}

impl TrainingObserver for EpochTimer {
    fn on_epoch(&self, epoch: usize, loss: Option<f64>) {
        if self.verbose || epoch == 1 || epoch.is_multiple_of(10) {
            eprintln!(
                "epoch {epoch:4}  {:8.2} s  loss {:.4}",
                self.start.elapsed().as_secs_f64(),
                loss.unwrap_or(f64::NAN)
            );
        }
    }
}

/// CPU seconds (user + system) this process has used, from `/proc/self/stat` (Linux; `None`
/// elsewhere). On a shared machine the wall time includes waiting for a core; CPU time divided
/// by the thread count is what an unloaded machine would take.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    let ticks = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0) // USER_HZ is 100 on every Linux this runs on
}

fn parse_tsv(bytes: &[u8]) -> Result<InteractionMatrix, String> {
    let options = ReadOptions { format: Format::Tsv, skip_bad_lines: false };
    let data = parse_interactions(bytes, "the data set", &options).map_err(|e| e.to_string())?;
    Ok(data.into_dataset().map_err(|e| e.to_string())?.matrix)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |name: &str| args.iter().position(|a| a == name).and_then(|p| args.get(p + 1));
    let number = |name: &str, default: usize| -> usize {
        value(name).map_or(default, |v| {
            v.parse().unwrap_or_else(|_| {
                eprintln!("{name} needs a number, got `{v}`");
                std::process::exit(2)
            })
        })
    };
    let rows = number("--rows", 4_000_000);
    let epochs = number("--epochs", 100);
    let factors = number("--factors", 64);
    let threads = number("--threads", 2);
    rayon::ThreadPoolBuilder::new().num_threads(threads).build_global().expect("rayon pool");

    let t = Instant::now();
    let bytes = if let Some(path) = value("--tsv") {
        std::fs::read(path).unwrap_or_else(|e| {
            eprintln!("{path}: {e}");
            std::process::exit(1)
        })
    } else {
        let cfg = SynthConfig {
            users: rows / 50,
            items: rows / 100,
            rows: rows as u64,
            ..SynthConfig::default()
        };
        let mut out = Vec::new();
        generate_interactions(&cfg, &mut out).unwrap_or_else(|e| {
            eprintln!("{e}");
            std::process::exit(1)
        });
        if let Some(path) = value("--write-tsv") {
            std::fs::write(path, &out).unwrap_or_else(|e| {
                eprintln!("{path}: {e}");
                std::process::exit(1)
            });
        }
        out
    };
    let matrix = parse_tsv(&bytes).unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(1)
    });
    drop(bytes);
    eprintln!(
        "data: {} users, {} items, {} rows (prepared in {:.1} s)",
        matrix.n_rows(),
        matrix.n_cols(),
        matrix.nnz(),
        t.elapsed().as_secs_f64()
    );

    let config = BprConfig { factors, iterations: epochs, ..BprConfig::default() };
    let cpu_before = cpu_seconds();
    let timer = EpochTimer { start: Instant::now(), verbose: args.iter().any(|a| a == "-v") };
    let opts = FitOptions { observer: &timer, ..FitOptions::default() };
    let model = BprModel::fit(&config, &matrix, &opts).unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(1)
    });
    let secs = timer.start.elapsed().as_secs_f64();
    let steps = matrix.nnz() as f64 * epochs as f64;
    println!(
        "encore bpr: {epochs} epochs, {factors} factors, {threads} threads: {secs:.2} s total, \
         {:.3} s/epoch, {:.2} M steps/s",
        secs / epochs as f64,
        steps / secs / 1e6
    );
    if let (Some(a), Some(b)) = (cpu_before, cpu_seconds()) {
        println!(
            "encore bpr: {:.2} CPU s over {threads} threads ({:.2} s of CPU per thread)",
            b - a,
            (b - a) / threads as f64
        );
    }
    std::hint::black_box(model);
}
