//! The IVF index against exact scoring for one on-demand query: build time, probes chosen,
//! recall@10 and the time of a single query, at a catalogue size of your choice.
//!
//! ```text
//! cargo run --release -p encore-core --example ivf_speed -- synth USERS ITEMS ROWS
//! cargo run --release -p encore-core --example ivf_speed -- planted ITEMS [USERS]
//! ```
//! `synth` generates `encore generate`'s synthetic interactions and fits iALS with 64 factors
//! (real factors, slow to make at large sizes); `planted` makes 64-factor item vectors around 64
//! planted directions with long-tailed norms, and users mixing two directions (no training, so
//! 10^6 items take seconds). `CLUSTERS=a,b` sets the cluster counts tried (default `√items`),
//! `QUERIES` the number of timed users (default 1,000, drawn with another seed than the users the
//! probes were calibrated on). Every query asks for 10 items with the user's training items
//! excluded, on one thread: the one-user path (score every item, select), the blocked kernel
//! alone (`gemm_scores` of one vector and `top_n_from_gemm`: a lone on-demand request), and the
//! index.

use std::borrow::Cow;
use std::time::Instant;

use encore_core::batch::{FactorScoring, ScoringBounds, gemm_scores, top_n_from_gemm};
use encore_core::data::{Format, ReadOptions, read_interactions};
use encore_core::index::{IndexConfig, build, sample_rows};
use encore_core::matrix::InteractionMatrix;
use encore_core::models::{Contribution, FitOptions, ModelConfig, ModelSpec, Query, Recommender};
use encore_core::synth::{SynthConfig, generate_interactions};
use encore_core::topk::{ScoredItem, top_n_filtered};

/// Planted item factors and user vectors: only what scoring reads.
struct Planted {
    users: Vec<f32>,
    items: Vec<f32>,
    k: usize,
}

impl Recommender for Planted {
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
    fn explain(&self, _: &Query<'_>, _: u32) -> Vec<Contribution> {
        Vec::new()
    }
    fn similar_items_where(&self, _: u32, _: usize, _: &dyn Fn(u32) -> bool) -> Vec<ScoredItem> {
        Vec::new()
    }
}

/// A fitted model as a [`Recommender`].
struct Trained(encore_core::models::Model);

impl Recommender for Trained {
    fn n_items(&self) -> usize {
        self.0.recommender().n_items()
    }
    fn score(&self, query: &Query<'_>, out: &mut [f32]) {
        self.0.recommender().score(query, out);
    }
    fn factor_scoring(&self) -> Option<FactorScoring<'_>> {
        self.0.recommender().factor_scoring()
    }
    fn query_vector(&self, query: &Query<'_>) -> Option<Cow<'_, [f32]>> {
        self.0.recommender().query_vector(query)
    }
    fn explain(&self, query: &Query<'_>, item: u32) -> Vec<Contribution> {
        self.0.recommender().explain(query, item)
    }
    fn similar_items_where(&self, i: u32, n: usize, keep: &dyn Fn(u32) -> bool) -> Vec<ScoredItem> {
        self.0.recommender().similar_items_where(i, n, keep)
    }
}

/// A xorshift stream of uniform values in [-0.5, 0.5).
fn uniform(seed: u64) -> impl FnMut() -> f32 {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    }
}

fn planted(items: usize, users: usize) -> (Box<dyn Recommender>, InteractionMatrix) {
    let (k, topics) = (64, 64);
    let mut r = uniform(1);
    let centres: Vec<f32> = (0..topics * k).map(|_| r()).collect();
    let mut item_factors = Vec::with_capacity(items * k);
    for i in 0..items {
        let t = (i * 7919) % topics;
        // Long-tailed norms, as popularity gives trained factors.
        let norm = 0.2 + 1.0 / (1.0 + (i as f32 / 500.0)).sqrt();
        item_factors.extend((0..k).map(|d| norm * (centres[t * k + d] + 0.6 * r())));
    }
    let mut user_factors = Vec::with_capacity(users * k);
    for u in 0..users {
        let (a, b) = ((u * 31) % topics, (u * 17 + 5) % topics);
        user_factors
            .extend((0..k).map(|d| centres[a * k + d] + 0.5 * centres[b * k + d] + 0.3 * r()));
    }
    let train = InteractionMatrix::from_triplets(users, items, &[], &[], &[]).unwrap();
    (Box::new(Planted { users: user_factors, items: item_factors, k }), train)
}

fn synth(users: usize, items: usize, rows: u64) -> (Box<dyn Recommender>, InteractionMatrix) {
    let cfg = SynthConfig { users, items, rows, seed: 7, ..SynthConfig::default() };
    let path = std::env::temp_dir().join(format!("ivf_speed-{users}-{items}-{rows}.tsv"));
    if !path.exists() {
        let mut out = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        generate_interactions(&cfg, &mut out).unwrap();
    }
    let options = ReadOptions { format: Format::Tsv, skip_bad_lines: false };
    let data = read_interactions(&path, &options).unwrap().into_dataset().unwrap();
    let spec = ModelConfig::from_spec(&ModelSpec::parse("ials:factors=64").unwrap()).unwrap();
    let t = Instant::now();
    let model = spec.fit(&data.matrix, &FitOptions::default()).unwrap();
    println!("iALS 64 factors fitted in {:.1} s", t.elapsed().as_secs_f64());
    (Box::new(Trained(model)), data.matrix)
}

/// Microseconds per call of `run` over `users`, and what it returned.
fn time(users: &[u32], mut run: impl FnMut(u32) -> Vec<ScoredItem>) -> (f64, Vec<Vec<ScoredItem>>) {
    let t = Instant::now();
    let lists: Vec<_> = users.iter().map(|&u| run(u)).collect();
    (t.elapsed().as_secs_f64() * 1e6 / users.len() as f64, lists)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: usize| args.get(i).map_or(default, |a| a.parse().unwrap());
    let (rec, train) = match args.first().map(String::as_str) {
        Some("synth") => synth(arg(1, 100_000), arg(2, 50_000), arg(3, 5_000_000) as u64),
        Some("planted") => planted(arg(1, 200_000), arg(2, 20_000)),
        _ => panic!("usage: ivf_speed synth USERS ITEMS ROWS | planted ITEMS [USERS]"),
    };
    let f = rec.factor_scoring().unwrap();
    let n_items = f.n_items();
    let queries: usize = std::env::var("QUERIES").map_or(1000, |q| q.parse().unwrap());
    let default_clusters = ((n_items as f64).sqrt().round() as usize).to_string();
    let clusters: Vec<usize> = std::env::var("CLUSTERS")
        .unwrap_or(default_clusters)
        .split(',')
        .map(|c| c.parse().unwrap())
        .collect();
    println!(
        "{n_items} items × {} factors, {} users; {queries} timed queries, top 10",
        f.k,
        train.n_rows()
    );

    let timed = sample_rows(train.n_rows(), queries, 1234);
    let exclude = |u: u32| train.row(u as usize).indices;
    let vector = |u: u32| {
        let r = train.row(u as usize);
        rec.query_vector(&Query { user: Some(u), items: r.indices, weights: r.values })
            .unwrap()
            .to_vec()
    };
    let mut scores = vec![0f32; n_items];
    let (one_user, exact) = time(&timed, |u| {
        f.score_into(&vector(u), &mut scores);
        top_n_filtered(&scores, 10, exclude(u), |_| true)
    });
    let bounds = ScoringBounds::of(f);
    let (gemm_alone, _) = time(&timed, |u| {
        let v = vector(u);
        gemm_scores(f, &[&v], &mut scores);
        top_n_from_gemm(f, bounds, &v, &scores, 10, exclude(u), &|_| true)
    });
    println!(
        "| items | method | build s | clusters | probes | recall@10 (calibration) | recall@10 (held-out users) | µs per query |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    println!("| {n_items} | exact, one-user path | – | – | – | 1 | 1 | {one_user:.0} |");
    println!("| {n_items} | exact, blocked kernel alone | – | – | – | 1 | 1 | {gemm_alone:.0} |");
    for c in clusters {
        let cfg = IndexConfig { clusters: Some(c), ..IndexConfig::default() };
        let index = build(&*rec, &train, &cfg).unwrap();
        let (us, got) =
            time(&timed, |u| index.top_n(f, &vector(u), 10, None, exclude(u), &|_| true));
        let total: usize = exact.iter().map(Vec::len).sum();
        let hits: usize = exact
            .iter()
            .zip(&got)
            .map(|(e, g)| e.iter().filter(|x| g.iter().any(|y| y.item == x.item)).count())
            .sum();
        let i = &index.info;
        println!(
            "| {n_items} | IVF | {:.1} | {} | {} | {:.3} | {:.3} | {us:.0} |",
            i.build_seconds,
            i.clusters,
            i.probes,
            i.recall_at_10,
            hits as f64 / total as f64
        );
    }
}
