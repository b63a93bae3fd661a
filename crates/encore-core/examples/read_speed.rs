//! Measures how fast interaction files are read, and writes synthetic files to measure with.
//!
//! ```text
//! # read a file into Interactions (and the matrix), reporting rows/s:
//! cargo run --release -p encore-core --example read_speed -- FILE [FORMAT]
//! # generate a synthetic TSV first (ROWS rows, USERS users, ITEMS items):
//! cargo run --release -p encore-core --example read_speed -- --generate OUT ROWS [USERS ITEMS]
//! ```
//! Run under `/usr/bin/time -v` for the peak resident memory.

use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::Instant;

use encore_core::data::{Format, ReadOptions, read_interactions, read_records};
use encore_core::synth::{SynthConfig, generate_interactions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [flag, out, rows, rest @ ..] if flag == "--generate" => {
            let rows: u64 = rows.parse()?;
            let mut cfg = SynthConfig { rows, ..SynthConfig::default() };
            if let [users, items] = rest {
                cfg.users = users.parse()?;
                cfg.items = items.parse()?;
            } else {
                // Keep the default shape (50 rows per user, half as many items as users).
                cfg.users = (rows / 50).max(1) as usize;
                cfg.items = (cfg.users / 2).max(100);
            }
            let start = Instant::now();
            let mut file = BufWriter::with_capacity(1 << 20, std::fs::File::create(out)?);
            let written = generate_interactions(&cfg, &mut file)?;
            file.flush()?;
            let secs = start.elapsed().as_secs_f64();
            println!(
                "generated {written} rows ({} users, {} items) in {secs:.2} s: {:.2} M rows/s on {} threads",
                cfg.users,
                cfg.items,
                written as f64 / secs / 1e6,
                rayon::current_num_threads()
            );
        }
        [file, rest @ ..] if rest.len() <= 1 => {
            let format = match rest.first() {
                Some(f) => f.parse::<Format>()?,
                None => Format::Auto,
            };
            let opts = ReadOptions { format, skip_bad_lines: false };
            let path = Path::new(file);
            let bytes = std::fs::metadata(path)?.len();

            let (start, cpu_start) = (Instant::now(), cpu_seconds());
            let data = read_interactions(path, &opts)?;
            let read = start.elapsed().as_secs_f64();
            let read_cpu = cpu_seconds() - cpu_start;
            let (start, cpu_start) = (Instant::now(), cpu_seconds());
            let matrix = data.to_matrix()?;
            let build = start.elapsed().as_secs_f64();
            let build_cpu = cpu_seconds() - cpu_start;
            println!(
                "read_interactions: {} rows, {} users, {} items, format {} (detected: {}) in {:.3} s \
                 ({read_cpu:.2} s CPU on {} threads): {:.1} M rows/s, {:.0} MB/s",
                data.len(),
                data.users.len(),
                data.items.len(),
                data.summary.format,
                data.summary.detected,
                read,
                rayon::current_num_threads(),
                data.len() as f64 / read / 1e6,
                bytes as f64 / read / 1e6
            );
            println!(
                "to_matrix: {} non-zeros in {build:.3} s ({build_cpu:.2} s CPU)",
                matrix.nnz()
            );
            drop((data, matrix));

            let (start, cpu_start) = (Instant::now(), cpu_seconds());
            let mut rows = 0u64;
            read_records(path, &opts, |_| {
                rows += 1;
                Ok(())
            })?;
            let stream = start.elapsed().as_secs_f64();
            let stream_cpu = cpu_seconds() - cpu_start;
            println!(
                "read_records (streaming, 1 thread, no interning): {rows} rows in {stream:.3} s \
                 ({stream_cpu:.2} s CPU): {:.1} M rows/s",
                rows as f64 / stream / 1e6
            );
        }
        _ => {
            eprintln!(
                "usage: read_speed FILE [FORMAT]\n       read_speed --generate OUT ROWS [USERS ITEMS]"
            );
            std::process::exit(2);
        }
    }
    Ok(())
}

/// CPU time (user + system) of this process so far, from `/proc/self/stat` (Linux; 0 elsewhere).
/// On a shared machine wall-clock time depends on the other tenants; CPU time much less so.
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else { return 0.0 };
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else { return 0.0 };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    // Clock ticks are 100 Hz on Linux.
    (ticks(11) + ticks(12)) / 100.0
}
