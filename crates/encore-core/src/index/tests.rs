use std::borrow::Cow;

use super::*;
use crate::matrix::InteractionMatrix;
use crate::models::{Contribution, Query, Recommender};
use crate::topk::top_n_filtered;

/// A factor model of seeded pseudo-random factors (and biases, optionally) over `users` users
/// whose training rows are a few items each.
struct Factors {
    users: Vec<f32>,
    items: Vec<f32>,
    bias: Option<Vec<f32>>,
    k: usize,
}

impl Recommender for Factors {
    fn n_items(&self) -> usize {
        self.items.len() / self.k
    }
    fn score(&self, query: &Query<'_>, out: &mut [f32]) {
        let v = self.query_vector(query).unwrap();
        self.factor_scoring().unwrap().score_into(&v, out);
    }
    fn factor_scoring(&self) -> Option<FactorScoring<'_>> {
        Some(FactorScoring { items: &self.items, k: self.k, bias: self.bias.as_deref() })
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

fn random(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        })
        .collect()
}

/// 300 users × 2,000 items × 16 factors with clustered items (8 planted directions), and a
/// training matrix where user `u` has items `u·7 … u·7+4` (mod items).
fn model(bias: bool) -> (Factors, InteractionMatrix) {
    let (users, items, k) = (300, 2000, 16);
    let topics = random(8 * k, 1);
    let noise = random(items * k, 2);
    let item_factors: Vec<f32> =
        (0..items * k).map(|x| topics[((x / k) % 8) * k + x % k] + 0.3 * noise[x]).collect();
    let f = Factors {
        users: random(users * k, 3),
        items: item_factors,
        bias: bias.then(|| random(items, 4)),
        k,
    };
    let (mut r, mut c) = (Vec::new(), Vec::new());
    for u in 0..users as u32 {
        for j in 0..5 {
            r.push(u);
            c.push((u * 7 + j) % items as u32);
        }
    }
    let train =
        InteractionMatrix::from_triplets(users, items, &r, &c, &vec![1.0; r.len()]).unwrap();
    (f, train)
}

fn cfg() -> IndexConfig {
    IndexConfig { clusters: Some(40), sampled_users: 120, seed: 9, ..IndexConfig::default() }
}

#[test]
fn build_is_deterministic_for_a_seed_and_indexes_every_item_once() {
    let (m, train) = model(false);
    let a = build(&m, &train, &cfg()).unwrap();
    let b = build(&m, &train, &cfg()).unwrap();
    assert_eq!(a.arrays(), b.arrays());
    assert_eq!((a.info.probes, a.info.recall_at_10), (b.info.probes, b.info.recall_at_10));
    let mut all: Vec<u32> = a.arrays().2.to_vec();
    all.sort_unstable();
    assert_eq!(all, (0..2000).collect::<Vec<u32>>());
    assert_eq!((a.clusters(), a.info.sampled_users), (40, 120));
    // Another seed clusters differently (the seed is really used).
    let c = build(&m, &train, &IndexConfig { seed: 10, ..cfg() }).unwrap();
    assert_ne!(a.arrays().2, c.arrays().2);
}

#[test]
fn recorded_recall_equals_a_recomputation_with_the_chosen_probes() {
    for bias in [false, true] {
        let (m, train) = model(bias);
        let index = build(&m, &train, &cfg()).unwrap();
        assert!(index.info.recall_at_10 >= 0.95, "{:?}", index.info);
        assert!(index.info.probes < index.clusters(), "{:?}", index.info);
        let f = m.factor_scoring().unwrap();
        let (mut hits, mut total) = (0, 0);
        for u in sample_rows(train.n_rows(), 120, 9) {
            let row = train.row(u as usize);
            let v = &m.users[u as usize * 16..(u as usize + 1) * 16];
            let mut scores = vec![0.0; 2000];
            f.score_into(v, &mut scores);
            let exact = top_n_filtered(&scores, 10, row.indices, |_| true);
            let got = index.top_n(f, v, 10, None, row.indices, &|_| true);
            total += exact.len();
            hits += exact.iter().filter(|e| got.iter().any(|g| g.item == e.item)).count();
        }
        assert_eq!(index.info.recall_at_10, hits as f64 / total as f64, "bias {bias}");
        // Fewer probes miss more: the calibration did not simply probe everything.
        let mut fewer = 0;
        for u in sample_rows(train.n_rows(), 120, 9) {
            let v = &m.users[u as usize * 16..(u as usize + 1) * 16];
            fewer += index.top_n(f, v, 10, Some(1), train.row(u as usize).indices, &|_| true).len();
        }
        assert!(fewer > 0);
    }
}

#[test]
fn filters_and_exclusions_apply_during_the_scan() {
    let (m, train) = model(true);
    let index = build(&m, &train, &cfg()).unwrap();
    let f = m.factor_scoring().unwrap();
    let keep = |i: u32| !i.is_multiple_of(3);
    for u in [0usize, 17, 299] {
        let v = &m.users[u * 16..(u + 1) * 16];
        let exclude = train.row(u).indices;
        // Every cluster probed: the exact filtered list, scores and ties included.
        let mut scores = vec![0.0; 2000];
        f.score_into(v, &mut scores);
        let exact = top_n_filtered(&scores, 25, exclude, keep);
        assert_eq!(index.top_n(f, v, 25, Some(index.clusters()), exclude, &keep), exact);
        // Few clusters: the best eligible items of exactly those clusters, a full list.
        let probed: Vec<u32> = index.ranked_clusters(v)[..3].to_vec();
        let got = index.top_n(f, v, 25, Some(3), exclude, &keep);
        let in_probed = |i: u32| probed.iter().any(|&c| index.cluster(c as usize).contains(&i));
        let want = top_n_filtered(&scores, 25, exclude, |i| keep(i) && in_probed(i));
        assert_eq!(got, want);
        assert_eq!(got.len(), 25);
        assert!(got.iter().all(|s| keep(s.item) && exclude.binary_search(&s.item).is_err()));
    }
}

#[test]
fn too_few_eligible_items_in_the_probed_clusters_widens_the_probe() {
    let (m, train) = model(false);
    let index = build(&m, &train, &cfg()).unwrap();
    let f = m.factor_scoring().unwrap();
    let v = &m.users[..16];
    let exclude = train.row(0).indices;
    // A filter that keeps only the items of the worst-ranked cluster: one probe finds nothing,
    // so the search widens until it reaches that cluster and returns a full list of it.
    let last = *index.ranked_clusters(v).last().unwrap() as usize;
    let members: Vec<u32> = index.cluster(last).to_vec();
    let keep = |i: u32| members.binary_search(&i).is_ok();
    let n = members.len().min(10);
    let got = index.top_n(f, v, n, Some(1), exclude, &keep);
    let mut scores = vec![0.0; 2000];
    f.score_into(v, &mut scores);
    assert_eq!(got, top_n_filtered(&scores, n, exclude, keep), "the exact filtered list");
    // Asking for more than exist anywhere scans everything and returns all there are.
    let all = index.top_n(f, v, members.len() + 50, Some(1), exclude, &keep);
    assert_eq!(all.len(), members.iter().filter(|i| exclude.binary_search(i).is_err()).count());
}

#[test]
fn from_parts_refuses_inconsistent_arrays() {
    let (m, train) = model(false);
    let index = build(&m, &train, &cfg()).unwrap();
    let (c, o, i) = index.arrays();
    let parts = |items: Vec<u32>, info: IndexInfo| {
        IvfIndex::from_parts(
            Buffer::owned(c.to_vec()),
            Buffer::owned(o.to_vec()),
            Buffer::owned(items),
            info,
            2000,
            16,
            false,
        )
    };
    assert!(parts(i.to_vec(), index.info.clone()).is_ok());
    let mut twice = i.to_vec();
    twice[1] = twice[0];
    assert!(parts(twice, index.info.clone()).is_err());
    let too_many = IndexInfo { probes: 41, ..index.info.clone() };
    assert!(parts(i.to_vec(), too_many).unwrap_err().contains("probes"));
    let wrong_k = IvfIndex::from_parts(
        Buffer::owned(c.to_vec()),
        Buffer::owned(o.to_vec()),
        Buffer::owned(i.to_vec()),
        index.info.clone(),
        2000,
        16,
        true,
    );
    assert!(wrong_k.is_err());
}

#[test]
fn sample_rows_is_sorted_distinct_and_seeded() {
    let a = sample_rows(1000, 50, 1);
    assert_eq!(a.len(), 50);
    assert!(a.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(a, sample_rows(1000, 50, 1));
    assert_ne!(a, sample_rows(1000, 50, 2));
    assert_eq!(sample_rows(5, 50, 1), vec![0, 1, 2, 3, 4]);
}

/// The recall@10 of `index` over every user of `a`'s training matrix, counted through
/// [`IvfIndex::top_n`] against exact scoring (history excluded), and how many users' probed
/// clusters held fewer than 10 eligible items (so that `top_n` widened).
fn recount(a: &crate::model_file::ModelArtifact) -> (f64, usize) {
    let index = a.index.as_ref().unwrap();
    let rec = a.recommender();
    let f = rec.factor_scoring().unwrap();
    let (mut hits, mut total, mut widened) = (0, 0, 0);
    for u in 0..a.train.n_rows() {
        let row = a.train.row(u);
        let v = rec
            .query_vector(&Query { user: Some(u as u32), items: row.indices, weights: row.values })
            .unwrap();
        let mut scores = vec![0.0; f.n_items()];
        f.score_into(&v, &mut scores);
        let exact = top_n_filtered(&scores, 10, row.indices, |_| true);
        let got = index.top_n(f, &v, 10, None, row.indices, &|_| true);
        let probed = &index.ranked_clusters(&v)[..index.info.probes];
        let eligible: usize = probed
            .iter()
            .flat_map(|&c| index.cluster(c as usize))
            .filter(|i| row.indices.binary_search(i).is_err())
            .count();
        widened += usize::from(eligible < 10);
        total += exact.len();
        hits += exact.iter().filter(|e| got.iter().any(|g| g.item == e.item)).count();
    }
    (hits as f64 / total as f64, widened)
}

#[test]
fn recorded_recall_is_what_top_n_reaches_on_an_ials_model_with_long_histories() {
    use crate::data::{ReadOptions, parse_interactions};
    use crate::model_file::ModelArtifact;
    use crate::models::{FitOptions, ModelConfig, ModelSpec};
    use crate::synth::{SynthConfig, generate_interactions};
    // `encore generate --users 400 --items 3000 --rows 20000`: 50 items per user against about
    // 57 per cluster, so the best clusters of many users hold few unseen items and `top_n`
    // widens its probe. 400 users: all of them are sampled, so the recount is of the same users.
    let synth = SynthConfig { users: 400, items: 3000, rows: 20_000, ..SynthConfig::default() };
    let mut bytes = Vec::new();
    generate_interactions(&synth, &mut bytes).unwrap();
    let data = parse_interactions(&bytes, "synthetic", &ReadOptions::default())
        .unwrap()
        .into_dataset()
        .unwrap();
    let spec = ModelSpec::parse("ials:factors=8,iterations=5").unwrap();
    let model = ModelConfig::from_spec(&spec).unwrap().fit(&data.matrix, &FitOptions::default());
    let mut a = ModelArtifact::new(model.unwrap(), data.users, data.items, data.matrix, None);
    let dir = tempfile::tempdir().unwrap();
    for target in [0.5, 0.8, 0.95] {
        let cfg = IndexConfig { target_recall: target, ..IndexConfig::default() };
        let index = build(a.recommender(), &a.train, &cfg).unwrap();
        let info = index.info.clone();
        assert_eq!(info.sampled_users, 400);
        assert!(info.recall_at_10 >= target && info.probes < info.clusters, "{info:?}");
        a.set_index(Some(index));
        let (recall, widened) = recount(&a);
        assert!(widened > 0, "the case is exercised: {info:?}");
        assert_eq!(info.recall_at_10, recall, "in memory, {widened} users widened: {info:?}");
        // The same after a save and load (the path of `encore recommend --all`).
        let path = dir.path().join("model.enc");
        a.save(&path).unwrap();
        let loaded = ModelArtifact::load(&path).unwrap();
        assert_eq!(loaded.index.as_ref().unwrap().info, info);
        assert_eq!(recount(&loaded), (recall, widened), "after a round trip: {info:?}");
    }
}
