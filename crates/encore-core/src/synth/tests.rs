use super::*;
use crate::data::{Format, Interactions, ReadOptions, parse_interactions};

fn small(seed: u64) -> SynthConfig {
    SynthConfig { users: 3_000, items: 2_000, rows: 60_000, seed, ..SynthConfig::default() }
}

fn generate(cfg: &SynthConfig) -> (Vec<u8>, u64) {
    let mut out = Vec::new();
    let rows = generate_interactions(cfg, &mut out).unwrap();
    (out, rows)
}

fn parse(bytes: &[u8]) -> Interactions {
    parse_interactions(bytes, "synth.tsv", &ReadOptions::default()).unwrap()
}

/// Item index (in the synthetic catalogue) of an interned item id `i<N>`.
fn catalogue_index(id: &str) -> usize {
    id.strip_prefix('i').unwrap().parse().unwrap()
}

#[test]
fn output_is_identical_whatever_the_thread_count() {
    let cfg = SynthConfig { with_timestamps: true, ..small(9) };
    let run = |threads| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| generate(&cfg))
    };
    let (one, rows_one) = run(1);
    let (two, rows_two) = run(2);
    assert_eq!(rows_one, rows_two);
    assert!(one == two, "outputs differ between 1 and 2 threads");
    assert_ne!(generate(&small(10)).0, generate(&small(9)).0, "the seed must matter");
    assert_eq!(generate_items(&cfg), generate_items(&cfg));
}

#[test]
fn rows_are_distinct_pairs_close_to_the_requested_count() {
    let cfg = small(1);
    let (bytes, rows) = generate(&cfg);
    let data = parse(&bytes);
    assert_eq!(data.summary.format, Format::Tsv);
    assert!(!data.summary.had_header);
    assert_eq!(data.len() as u64, rows);
    let off = (rows as f64 - cfg.rows as f64).abs() / cfg.rows as f64;
    assert!(off < 0.03, "{rows} rows for {} requested", cfg.rows);
    assert_eq!(data.to_matrix().unwrap().nnz(), data.len(), "a (user, item) pair repeats");
    assert_eq!(data.users.len(), cfg.users, "every user has at least one row");
    assert!(data.users.iter().all(|u| u.starts_with('u')));
    assert!(data.weights.iter().all(|&w| w >= 1.0 && w.fract() == 0.0));
    assert!(data.timestamps.is_none());
}

#[test]
fn timestamps_increase_within_each_user() {
    let cfg = SynthConfig { with_timestamps: true, ..small(2) };
    let data = parse(&generate(&cfg).0);
    let ts = data.timestamps.as_ref().expect("a timestamp column");
    for k in 1..data.len() {
        if data.user_idx[k] == data.user_idx[k - 1] {
            assert!(ts[k] > ts[k - 1]);
        }
    }
    assert!(ts.iter().all(|&t| (EPOCH..EPOCH + SPAN_SECONDS as i64 + 1).contains(&t)));
}

#[test]
fn popularity_is_skewed_and_activity_varies() {
    let cfg = SynthConfig { users: 5_000, items: 10_000, rows: 200_000, ..small(3) };
    let data = parse(&generate(&cfg).0);
    let mut item_counts = vec![0u64; data.items.len()];
    data.item_idx.iter().for_each(|&i| item_counts[i as usize] += 1);
    item_counts.sort_unstable_by(|a, b| b.cmp(a));
    let top = cfg.items / 100;
    let share = item_counts[..top].iter().sum::<u64>() as f64 / data.len() as f64;
    eprintln!("top 1% share {share:.3}");
    // Uniform popularity would give 0.01; distinct pairs cap an item at one row per user.
    assert!(share > 0.15, "top 1% of items hold only {share:.3} of rows");

    let mut user_counts = vec![0u64; data.users.len()];
    data.user_idx.iter().for_each(|&u| user_counts[u as usize] += 1);
    user_counts.sort_unstable();
    let median = user_counts[user_counts.len() / 2];
    let max = *user_counts.last().unwrap();
    let mean = data.len() as f64 / user_counts.len() as f64;
    assert!((mean - 40.0).abs() < 2.0, "mean rows per user {mean}");
    assert!(max > 8 * median, "activity too even: median {median}, max {max}");
    assert!(user_counts[user_counts.len() / 10] * 2 < median, "no light users");
}

/// Hit rate at 10 of a ranking function over held-out items.
fn hit_rate(
    train: &[Vec<u32>],
    held_out: &[Option<u32>],
    mut scores: impl FnMut(&[u32]) -> Vec<f32>,
) -> f64 {
    let (mut hits, mut users) = (0usize, 0usize);
    for (history, target) in train.iter().zip(held_out) {
        let Some(target) = *target else { continue };
        let mut s = scores(history);
        for &i in history {
            s[i as usize] = f32::NEG_INFINITY;
        }
        let mut order: Vec<u32> = (0..s.len() as u32).collect();
        order.sort_by(|&a, &b| s[b as usize].total_cmp(&s[a as usize]).then(a.cmp(&b)));
        users += 1;
        hits += usize::from(order[..10].contains(&target));
    }
    hits as f64 / users as f64
}

#[test]
fn collaborative_filtering_beats_popularity_on_generated_data() {
    let data = parse(&generate(&small(4)).0);
    let (n_users, n_items) = (data.users.len(), data.items.len());
    let mut histories = vec![Vec::new(); n_users];
    for k in 0..data.len() {
        histories[data.user_idx[k] as usize].push(data.item_idx[k]);
    }
    // Hold out each user's last item (items come in random order within a user).
    let held_out: Vec<Option<u32>> =
        histories.iter_mut().map(|h| if h.len() >= 5 { h.pop() } else { None }).collect();
    let mut counts = vec![0f32; n_items];
    let mut cooc = vec![0f32; n_items * n_items];
    for h in &histories {
        for &a in h {
            counts[a as usize] += 1.0;
            for &b in h {
                if a != b {
                    cooc[a as usize * n_items + b as usize] += 1.0;
                }
            }
        }
    }
    let popularity = hit_rate(&histories, &held_out, |_| counts.clone());
    // Item-based CF: sum of cosine similarities to the user's items.
    let cf = hit_rate(&histories, &held_out, |history| {
        let mut s = vec![0f32; n_items];
        for &a in history {
            let row = &cooc[a as usize * n_items..(a as usize + 1) * n_items];
            for (j, &c) in row.iter().enumerate() {
                if c > 0.0 {
                    s[j] += c / (counts[a as usize] * counts[j]).sqrt();
                }
            }
        }
        s
    });
    assert!(popularity > 0.02, "popularity hit rate {popularity}");
    eprintln!("hit rate at 10: CF {cf:.3}, popularity {popularity:.3}");
    assert!(cf > 1.5 * popularity, "CF {cf:.3} vs popularity {popularity:.3}");
}

#[test]
fn item_metadata_matches_the_planted_topics() {
    let cfg = small(5);
    let items = generate_items(&cfg);
    assert_eq!(items.len(), cfg.items);
    assert_eq!(items[17].item_id, "i17");
    assert!(items.iter().all(|i| i.tags.len() == 4 && !i.title.is_empty()));
    let kinds: std::collections::BTreeSet<&str> = items.iter().map(|i| i.kind.as_str()).collect();
    assert!(kinds.contains("track") && kinds.contains("album") && kinds.contains("podcast"));

    // Users concentrate on one genre far beyond what the genre mix alone would give.
    let data = parse(&generate(&cfg).0);
    let genre_of = |item: u32| items[catalogue_index(data.items.id(item))].tags[0].as_str();
    let mut per_user: Vec<std::collections::HashMap<&str, usize>> =
        vec![Default::default(); data.users.len()];
    for k in 0..data.len() {
        *per_user[data.user_idx[k] as usize].entry(genre_of(data.item_idx[k])).or_default() += 1;
    }
    let (mut top_genre_rows, mut rows) = (0usize, 0usize);
    for counts in per_user.iter().filter(|c| c.values().sum::<usize>() >= 10) {
        top_genre_rows += counts.values().max().unwrap();
        rows += counts.values().sum::<usize>();
    }
    let share = top_genre_rows as f64 / rows as f64;
    eprintln!("main genre share {share:.3}");
    assert!(share > 0.5, "a user's main genre holds only {share:.2} of their rows (8 genres)");
}

#[test]
fn invalid_configs_are_rejected() {
    let bad = [
        SynthConfig { users: 0, ..small(1) },
        SynthConfig { rank: 0, ..small(1) },
        SynthConfig { taste_strength: 1.5, ..small(1) },
        SynthConfig { popularity_exponent: f64::NAN, ..small(1) },
        SynthConfig { users: 10, items: 10, rows: 51, ..small(1) },
    ];
    for cfg in bad {
        let err = generate_interactions(&cfg, &mut Vec::new()).unwrap_err();
        assert!(matches!(err, crate::Error::InvalidInput(_)), "{cfg:?}");
    }
}

#[test]
fn alias_table_draws_match_the_weights() {
    let table = AliasTable::new(&[1.0, 0.0, 3.0, 4.0], None);
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(1);
    let mut counts = [0u32; 4];
    for _ in 0..80_000 {
        counts[table.sample(rng.random::<u64>()) as usize] += 1;
    }
    assert_eq!(counts[1], 0);
    for (k, expected) in [(0, 10_000.0), (2, 30_000.0), (3, 40_000.0)] {
        let c = f64::from(counts[k]);
        assert!((c - expected).abs() < 0.03 * expected, "slot {k}: {c}");
    }
}
