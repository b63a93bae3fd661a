//! Latency of one `recommend` call and the memory of an opened model, on one thread.
//!
//! ```text
//! cargo run --release -p encore-edge --example edge_latency -- MODEL.edge [HISTORY_LEN] [N] [CALLS]
//! ```
//!
//! Opens the file, then times `CALLS` (default 2000) calls of top-`N` (default 10) for
//! histories of `HISTORY_LEN` (default 40) distinct random item ids, drawn by a fixed
//! xorshift stream before timing. Prints one JSON line: open time, per-call mean / p50 / p99 in
//! microseconds, CPU seconds, the model's heap bytes and the process's peak resident memory
//! (`VmHWM`, Linux).

use std::time::Instant;

use encore_edge::EdgeModel;

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn cpu_seconds() -> Option<f64> {
    // utime + stime of this process, in clock ticks (100 per second on Linux).
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let Some(path) = args.get(1) else {
        eprintln!("usage: edge_latency MODEL.edge [HISTORY_LEN] [N] [CALLS]");
        std::process::exit(2);
    };
    let arg = |i: usize, d: usize| args.get(i).and_then(|s| s.parse().ok()).unwrap_or(d);
    let (history_len, n, calls) = (arg(2, 40), arg(3, 10), arg(4, 2000));
    let start = Instant::now();
    let model = EdgeModel::open(std::path::Path::new(path)).unwrap_or_else(|e| {
        eprintln!("error: {e}");
        std::process::exit(1)
    });
    let open_ms = start.elapsed().as_secs_f64() * 1e3;
    let mut scratch = model.new_scratch();
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move |m: usize| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x % m as u64) as u32
    };
    let histories: Vec<Vec<String>> = (0..calls)
        .map(|_| {
            let mut h: Vec<u32> = Vec::with_capacity(history_len);
            while h.len() < history_len.min(model.n_items()) {
                let i = next(model.n_items());
                if !h.contains(&i) {
                    h.push(i);
                }
            }
            h.iter().map(|&i| model.item_id(i).unwrap().to_string()).collect()
        })
        .collect();
    // Warm-up: page in the arrays.
    for h in histories.iter().take(20) {
        let _ = model.recommend_ids(&mut scratch, h.iter().map(|s| (s.as_bytes(), 1.0)), n);
    }
    let cpu0 = cpu_seconds();
    let mut times = Vec::with_capacity(calls);
    let mut checksum = 0u64;
    let all = Instant::now();
    for h in &histories {
        let t = Instant::now();
        let top = model.recommend_ids(&mut scratch, h.iter().map(|s| (s.as_bytes(), 1.0)), n);
        times.push(t.elapsed().as_secs_f64() * 1e6);
        checksum += top.iter().map(|s| u64::from(s.item)).sum::<u64>();
    }
    let wall = all.elapsed().as_secs_f64();
    let cpu = cpu_seconds().zip(cpu0).map(|(b, a)| b - a);
    times.sort_by(f64::total_cmp);
    let pct = |p: f64| times[((times.len() - 1) as f64 * p).round() as usize];
    println!(
        "{{\"file\":{path:?},\"algorithm\":\"{}\",\"precision\":\"{}\",\"items\":{},\"factors\":{},\
         \"file_bytes\":{},\"model_heap_bytes\":{},\"open_ms\":{open_ms:.2},\"history_len\":{history_len},\
         \"n\":{n},\"calls\":{calls},\"mean_us\":{:.1},\"p50_us\":{:.1},\"p99_us\":{:.1},\
         \"wall_s\":{wall:.3},\"cpu_s\":{},\"peak_rss_kib\":{},\"checksum\":{checksum}}}",
        model.algorithm().name(),
        model.precision().name(),
        model.n_items(),
        model.factors(),
        model.file_len(),
        model.heap_bytes(),
        wall * 1e6 / calls as f64,
        pct(0.5),
        pct(0.99),
        cpu.map_or("null".into(), |c| format!("{c:.3}")),
        peak_rss_kib().map_or("null".into(), |k| k.to_string()),
    );
}
