//! Measures bulk-import and append speed of the SQLite store.
//!
//! ```text
//! cargo run --release -p encore-store --example import_bench -- [FILE] [ROWS]
//! ```
//!
//! FILE (default `target/synth-5m.tsv`) is generated with `encore_core::synth` (100,000 users ×
//! 50,000 items, ROWS rows, default 5,000,000) when it does not exist. The file is imported into
//! a fresh temporary data directory; then 200 batches of 100 events are appended one commit each
//! (each commit waits for an fsync: `synchronous=FULL`).

use std::io::BufWriter;
use std::path::PathBuf;
use std::time::Instant;

use encore_core::data::ReadOptions;
use encore_core::synth::{SynthConfig, generate_interactions};
use encore_store::{NewEvent, SqliteStore, Store};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let file = PathBuf::from(args.next().unwrap_or_else(|| "target/synth-5m.tsv".into()));
    let rows: u64 = args.next().map(|r| r.parse()).transpose()?.unwrap_or(5_000_000);
    if !file.exists() {
        let started = Instant::now();
        let cfg = SynthConfig { rows, with_timestamps: true, ..SynthConfig::default() };
        let mut out = BufWriter::new(std::fs::File::create(&file)?);
        let written = generate_interactions(&cfg, &mut out)?;
        drop(out);
        eprintln!(
            "generated {written} rows into {} in {:.1} s",
            file.display(),
            started.elapsed().as_secs_f64()
        );
    }
    let dir = tempfile::tempdir_in(
        file.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(".".as_ref()),
    )?;
    let store = SqliteStore::open(dir.path())?;
    let cpu_before = cpu_seconds();
    // The last progress report comes right before the commit: what follows is the commit itself
    // (WAL written and fsynced, then checkpointed into the database file).
    let mut last_progress = Instant::now();
    let report = store.import_records("bench", &file, &ReadOptions::default(), &mut |_| {
        last_progress = Instant::now()
    })?;
    let commit_seconds = last_progress.elapsed().as_secs_f64();
    let cpu = cpu_seconds().zip(cpu_before).map(|(after, before)| after - before);
    println!(
        "import: {} rows ({} users, {} items) in {:.2} s = {:.0} rows/s (CPU time {})",
        report.rows,
        report.users_new,
        report.items_new,
        report.seconds,
        report.rows as f64 / report.seconds,
        cpu.map_or("unknown".into(), |c| format!("{c:.2} s"))
    );
    println!("  of which commit (WAL write + fsync + checkpoint): {commit_seconds:.2} s");
    let db_size = std::fs::metadata(store.db_path())?.len();
    println!(
        "database: {:.1} MB ({:.1} bytes/event)",
        db_size as f64 / 1e6,
        db_size as f64 / report.rows as f64
    );

    let started = Instant::now();
    let mut trained = 0u64;
    store.for_each_training_event("bench", None, &mut |_| trained += 1)?;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "training stream: {trained} events in {secs:.2} s = {:.0} events/s",
        trained as f64 / secs
    );

    let started = Instant::now();
    let batches = 200;
    for b in 0..batches {
        let batch: Vec<NewEvent> = (0..100)
            .map(|i| NewEvent {
                user_id: format!("u{}", (b * 100 + i) % 100_000),
                item_id: format!("i{}", (b * 7 + i) % 50_000),
                weight: 1.0,
                timestamp: None,
            })
            .collect();
        store.append_events("bench", &batch)?;
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "append: {batches} batches of 100 in {secs:.2} s = {:.0} commits/s, {:.0} events/s",
        batches as f64 / secs,
        batches as f64 * 100.0 / secs
    );
    let started = Instant::now();
    let user = store.user_events("bench", "u0")?;
    let read_ms = started.elapsed().as_secs_f64() * 1e3;
    let started = Instant::now();
    let erased = store.erase_user("bench", "u0")?;
    println!(
        "user u0: {} events read in {read_ms:.2} ms, {} erased in {:.2} ms",
        user.len(),
        erased.events_deleted,
        started.elapsed().as_secs_f64() * 1e3
    );
    let started = Instant::now();
    let problems = store.integrity_check()?;
    println!(
        "integrity check: {} problems in {:.2} s",
        problems.len(),
        started.elapsed().as_secs_f64()
    );
    let started = Instant::now();
    store.delete_catalog("bench")?;
    println!("delete catalog: {:.2} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// User + system CPU time of this process so far, from `/proc/self/stat` (Linux; `None`
/// elsewhere). On a shared machine wall time includes waiting for a core; CPU time does not.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0) // USER_HZ is 100 on Linux
}
