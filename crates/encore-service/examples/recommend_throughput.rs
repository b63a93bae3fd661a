//! In-process throughput of `Encore::recommend` for random known users, the request of the
//! serving benchmark, without HTTP.
//!
//! ```text
//! cargo run --release -p encore-service --example recommend_throughput -- \
//!     [--users 100000] [--items 50000] [--rows 5000000] [--factors 64] [--iterations 15] \
//!     [--threads 2] [--seconds 10] [--precompute-threads 2] [--dir PATH]
//! ```
//!
//! It generates the synthetic data set, bulk-imports it into a temporary data directory (or
//! `--dir`, reused when it already holds the catalog `bench`), trains and activates an iALS model,
//! then measures with `--threads` client threads for `--seconds` each:
//!
//! 1. **on demand**: `exclude_seen: false`, which is never cached, so every request scores the
//!    whole catalogue (the cost without the candidate cache);
//! 2. **cached**: the default request `{user_id, n: 10}` once every known user's candidates are
//!    precomputed (the benchmark's request).
//!
//! With `--precompute-threads 0` only the first measurement runs, with no background work
//! competing for the cores. Each request is also encoded to JSON, as the server would. It prints requests/s and latency
//! percentiles for both.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use encore_core::data::{Format, ReadOptions};
use encore_core::synth::{SynthConfig, generate_interactions};
use encore_service::dto::{ActivatePolicy, RecommendRequest, TrainRequest};
use encore_service::{Encore, ServiceConfig};

struct Args {
    users: usize,
    items: usize,
    rows: u64,
    factors: usize,
    iterations: usize,
    threads: usize,
    seconds: u64,
    precompute_threads: usize,
    dir: Option<std::path::PathBuf>,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        users: 100_000,
        items: 50_000,
        rows: 5_000_000,
        factors: 64,
        iterations: 15,
        threads: 2,
        seconds: 10,
        precompute_threads: 2,
        dir: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let num = |v: &str| v.parse::<u64>().map_err(|_| format!("{flag}: `{v}` is not a number"));
        match flag.as_str() {
            "--users" => a.users = num(&value)? as usize,
            "--items" => a.items = num(&value)? as usize,
            "--rows" => a.rows = num(&value)?,
            "--factors" => a.factors = num(&value)? as usize,
            "--iterations" => a.iterations = num(&value)? as usize,
            "--threads" => a.threads = num(&value)?.max(1) as usize,
            "--seconds" => a.seconds = num(&value)?.max(1),
            "--precompute-threads" => a.precompute_threads = num(&value)? as usize,
            "--dir" => a.dir = Some(value.into()),
            other => return Err(format!("unknown flag {other}")),
        }
    }
    Ok(a)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args()?;
    let temp = tempfile::tempdir()?;
    let dir = args.dir.clone().unwrap_or_else(|| temp.path().to_path_buf());
    let mut config = ServiceConfig::new(&dir);
    config.training_threads = 2;
    config.precompute_threads = args.precompute_threads;
    let opened = Instant::now();
    let svc = Encore::open(config)?;
    eprintln!("service opened in {:.1}s", opened.elapsed().as_secs_f64());

    if svc.catalog("bench").is_err() {
        let started = Instant::now();
        let synth = SynthConfig {
            users: args.users,
            items: args.items,
            rows: args.rows,
            ..SynthConfig::default()
        };
        let path = dir.join("bench-interactions.tsv");
        let mut file = std::io::BufWriter::new(std::fs::File::create(&path)?);
        let rows = generate_interactions(&synth, &mut file)?;
        drop(file);
        eprintln!("generated {rows} rows in {:.1}s", started.elapsed().as_secs_f64());
        let started = Instant::now();
        let options = ReadOptions { format: Format::Tsv, skip_bad_lines: false };
        let report = svc.store().import_records("bench", &path, &options, &mut |_| {})?;
        std::fs::remove_file(&path)?;
        eprintln!("imported {} rows in {:.1}s", report.rows, started.elapsed().as_secs_f64());
    }
    let info = svc.catalog("bench")?;
    eprintln!("catalog: {} users, {} items, {} events", info.users, info.items, info.events);

    if info.active_model.is_none() {
        let started = Instant::now();
        let params = serde_json::json!({"factors": args.factors, "iterations": args.iterations});
        let req = TrainRequest {
            model: "ials".into(),
            params: params.as_object().cloned().unwrap_or_default(),
            holdout: None,
            activate: Some(ActivatePolicy::Always),
            ..Default::default()
        };
        let job = svc.start_training("bench", &req)?;
        let done = svc.wait_for_job(job.job_id, Duration::from_secs(3600))?;
        eprintln!("trained {:?} in {:.1}s", done.state, started.elapsed().as_secs_f64());
    }

    let users = info.users as usize;
    let on_demand = RecommendRequest { exclude_seen: Some(false), ..Default::default() };
    report(
        "on demand (exclude_seen=false, never cached)",
        &measure(&svc, &args, users, &on_demand),
    );

    if args.precompute_threads == 0 {
        return Ok(());
    }
    let started = Instant::now();
    loop {
        let ready = svc.readiness();
        let fraction = ready.catalogs.iter().find_map(|c| c.candidates_precomputed).unwrap_or(0.0);
        if fraction >= 1.0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    eprintln!(
        "candidates of every known user ready after a further {:.1}s",
        started.elapsed().as_secs_f64()
    );
    report(
        "cached candidates ({user_id, n: 10})",
        &measure(&svc, &args, users, &RecommendRequest::default()),
    );
    Ok(())
}

/// Runs `args.threads` clients for `args.seconds`; returns every latency in microseconds.
fn measure(
    svc: &Encore,
    args: &Args,
    users: usize,
    template: &RecommendRequest,
) -> (Vec<u32>, f64) {
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let workers: Vec<_> = (0..args.threads)
        .map(|t| {
            let (svc, stop, template) = (svc.clone(), stop.clone(), template.clone());
            std::thread::spawn(move || {
                let mut latencies = Vec::new();
                let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ (t as u64 + 1);
                while !stop.load(Ordering::Relaxed) {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let req = RecommendRequest {
                        user_id: Some(format!("u{}", x % users as u64)),
                        n: Some(10),
                        ..template.clone()
                    };
                    let t0 = Instant::now();
                    let r = svc.recommend("bench", &req).expect("recommend");
                    let body = serde_json::to_vec(&r).expect("encode");
                    std::hint::black_box(body);
                    latencies.push(t0.elapsed().as_micros().min(u32::MAX as u128) as u32);
                }
                latencies
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(args.seconds));
    stop.store(true, Ordering::Relaxed);
    let mut all: Vec<u32> = workers.into_iter().flat_map(|w| w.join().expect("worker")).collect();
    let elapsed = started.elapsed().as_secs_f64();
    all.sort_unstable();
    (all, elapsed)
}

fn report(what: &str, (latencies, seconds): &(Vec<u32>, f64)) {
    let pct =
        |p: f64| latencies.get(((latencies.len() as f64 - 1.0) * p) as usize).copied().unwrap_or(0);
    println!(
        "{what}: {:.0} req/s over {:.1}s ({} requests); latency p50 {} µs, p99 {} µs, max {} µs",
        latencies.len() as f64 / seconds,
        seconds,
        latencies.len(),
        pct(0.5),
        pct(0.99),
        latencies.last().copied().unwrap_or(0)
    );
}
