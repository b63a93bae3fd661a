//! Top-N scoring speed: one user at a time versus the blocked kernel of `encore_core::batch`,
//! against faer's GEMM on the same shapes (the roofline of `bench/README.md`).
//!
//! ```text
//! cargo run --release -p encore-core --example topn_speed -- [USERS] [ITEMS] [FACTORS] [N]
//! ```
//! Defaults: 20,000 users × 50,000 items × 64 factors, top 100. Prints users/s and GFLOP/s
//! (2·k FLOP per user–item pair) with wall and CPU seconds for each variant.

use std::borrow::Cow;
use std::time::Instant;

use encore_core::batch::{BatchQuery, FactorScoring, USER_BLOCK, top_n_batch};
use encore_core::models::{Contribution, Query, Recommender};
use encore_core::topk::{ScoredItem, top_n};
use rayon::prelude::*;

/// A factor model made of random factors: only what the scoring paths read.
struct RandomFactors {
    users: Vec<f32>,
    items: Vec<f32>,
    k: usize,
}

impl Recommender for RandomFactors {
    fn n_items(&self) -> usize {
        self.items.len() / self.k
    }
    fn score(&self, query: &Query<'_>, out: &mut [f32]) {
        let v = self.query_vector(query).unwrap();
        self.factor_scoring().unwrap().score_into(&v, out);
    }
    fn factor_scoring(&self) -> Option<FactorScoring<'_>> {
        Some(FactorScoring { items: &self.items, k: self.k, bias: None })
    }
    fn query_vector(&self, query: &Query<'_>) -> Option<Cow<'_, [f32]>> {
        let u = query.user.unwrap() as usize;
        Some(Cow::Borrowed(&self.users[u * self.k..(u + 1) * self.k]))
    }
    fn explain(&self, _query: &Query<'_>, _item: u32) -> Vec<Contribution> {
        Vec::new()
    }
    fn similar_items_where(
        &self,
        _item: u32,
        _n: usize,
        _keep: &dyn Fn(u32) -> bool,
    ) -> Vec<ScoredItem> {
        Vec::new()
    }
}

fn random(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.2
        })
        .collect()
}

/// User + system CPU seconds of this process (Linux `/proc/self/stat`, clock ticks of 1/100 s).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

fn report(name: &str, users: usize, items: usize, k: usize, f: impl FnOnce()) {
    // `ONLY=blocked` runs the variants whose name contains the text (for a profiler).
    if std::env::var("ONLY").is_ok_and(|only| !name.contains(&only)) {
        return;
    }
    let (t, c) = (Instant::now(), cpu_seconds());
    f();
    let wall = t.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - c;
    let gflops = 2.0 * (users * items * k) as f64 / wall / 1e9;
    println!(
        "{name:<44} {:>9.0} users/s  {gflops:>6.1} GFLOP/s  wall {wall:>6.2} s  cpu {cpu:>6.2} s",
        users as f64 / wall
    );
}

fn main() {
    let args: Vec<usize> = std::env::args().skip(1).map(|a| a.parse().expect("a number")).collect();
    let users = args.first().copied().unwrap_or(20_000);
    let items = args.get(1).copied().unwrap_or(50_000);
    let k = args.get(2).copied().unwrap_or(64);
    let n = args.get(3).copied().unwrap_or(100);
    let threads = rayon::current_num_threads();
    println!("{users} users × {items} items × {k} factors, top {n}; {threads} rayon threads");
    let model = RandomFactors { users: random(users * k, 1), items: random(items * k, 2), k };
    let queries: Vec<BatchQuery<'_>> = (0..users as u32)
        .map(|u| BatchQuery {
            query: Query { user: Some(u), items: &[], weights: &[] },
            exclude: &[],
        })
        .collect();
    let keep = |_: u32| true;

    let one = users.min(4_000);
    report("one user at a time (1 thread)", one, items, k, || {
        let mut scores = vec![0.0; items];
        for q in &queries[..one] {
            model.score(&q.query, &mut scores);
            std::hint::black_box(top_n(&scores, n, q.exclude));
        }
    });
    report("blocked, fused top-N (1 thread)", users, items, k, || {
        std::hint::black_box(top_n_batch(&model, &queries, n, &keep));
    });
    report(&format!("blocked, fused top-N ({threads} threads)"), users, items, k, || {
        queries.par_chunks(USER_BLOCK).for_each(|block| {
            std::hint::black_box(top_n_batch(&model, block, n, &keep));
        });
    });

    // faer: the GEMM of a user block against item tiles, then a top-N over each score tile.
    let tile = 4096;
    let gemm_then_select = |select: bool| {
        let mut scores = faer::Mat::<f32>::zeros(USER_BLOCK, tile);
        for ub in (0..users).step_by(USER_BLOCK) {
            let bu = USER_BLOCK.min(users - ub);
            let u = faer::MatRef::from_row_major_slice(&model.users[ub * k..(ub + bu) * k], bu, k);
            for it in (0..items).step_by(tile) {
                let bi = tile.min(items - it);
                let y =
                    faer::MatRef::from_row_major_slice(&model.items[it * k..(it + bi) * k], bi, k);
                faer::linalg::matmul::matmul(
                    scores.as_mut().submatrix_mut(0, 0, bu, bi),
                    faer::Accum::Replace,
                    u,
                    y.transpose(),
                    1.0f32,
                    faer::Par::Seq,
                );
                if select {
                    for r in 0..bu {
                        let row: Vec<f32> = (0..bi).map(|c| scores[(r, c)]).collect();
                        std::hint::black_box(top_n(&row, n, &[]));
                    }
                }
            }
        }
    };
    report("faer GEMM only, 64-user blocks (1 thread)", users, items, k, || {
        gemm_then_select(false)
    });
    report("faer GEMM + top-N per tile (1 thread)", users, items, k, || gemm_then_select(true));
    // A large square product: the practical peak of faer on this machine, one thread.
    let m = 2048;
    let a = faer::Mat::<f32>::from_fn(m, m, |i, j| ((i * 7 + j * 3) % 11) as f32 * 0.1);
    let mut c = faer::Mat::<f32>::zeros(m, m);
    let t = Instant::now();
    faer::linalg::matmul::matmul(
        c.as_mut(),
        faer::Accum::Replace,
        a.as_ref(),
        a.as_ref(),
        1.0,
        faer::Par::Seq,
    );
    let wall = t.elapsed().as_secs_f64();
    println!(
        "{:<44} {:>6.1} GFLOP/s (2048³, 1 thread)",
        "faer square GEMM (practical peak)",
        2.0 * (m * m * m) as f64 / wall / 1e9
    );
}
