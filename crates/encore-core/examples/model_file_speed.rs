//! Measures saving and loading a large model file: an iALS-shaped model with 1,000,000 items and
//! 64 factors (256 MB of item factors) built from synthetic arrays, no training needed.
//!
//! ```text
//! cargo run --release -p encore-core --example model_file_speed [-- ITEMS USERS FACTORS]
//! ```
//!
//! Prints the file size and the time of `save`, `read_header`, `load` (memory map, checksum of the
//! whole file, id maps, training matrix, model validation) and of the first recommendation from
//! the loaded model, then the two parts of `load` that dominate. The page cache is warm (the file was just written), which is the case of a
//! server that loads a model it has just trained; a cold disk adds its read time to `load`.

use std::time::Instant;

use encore_core::buffer::{ArraySet, Buffer};
use encore_core::ids::IdMap;
use encore_core::matrix::InteractionMatrix;
use encore_core::model_file::ModelArtifact;
use encore_core::models::{Algorithm, Model, ModelConfig, ModelSpec};
use encore_core::topk::top_n;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<usize> = std::env::args().skip(1).map(|a| a.parse()).collect::<Result<_, _>>()?;
    let n_items = args.first().copied().unwrap_or(1_000_000);
    let n_users = args.get(1).copied().unwrap_or(100_000);
    let k = args.get(2).copied().unwrap_or(64);
    let per_user = 50;

    // Deterministic pseudo-random values; their distribution does not matter for I/O.
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut factors = |n: usize| -> Vec<f32> {
        (0..n * k).map(|_| (next() % 2001) as f32 / 1000.0 - 1.0).collect()
    };
    let mut arrays = ArraySet::new();
    arrays.insert_f32("user_factors", Buffer::owned(factors(n_users)));
    arrays.insert_f32("item_factors", Buffer::owned(factors(n_items)));
    arrays.insert_f32("item_gram", Buffer::owned(factors(k)));
    let spec = ModelSpec::parse(&format!("ials:factors={k}"))?;
    let params = ModelConfig::from_spec(&spec)?.params_json();
    let model = Model::from_parts(Algorithm::Ials, &params, &mut arrays)?;

    let users = IdMap::from_ids((0..n_users).map(|u| format!("user-{u}")))?;
    let items = IdMap::from_ids((0..n_items).map(|i| format!("catalog:track:{i:08}")))?;
    let mut x = 42u64;
    let (mut rows, mut cols) = (Vec::new(), Vec::new());
    for u in 0..n_users as u32 {
        for _ in 0..per_user {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            rows.push(u);
            cols.push(((x >> 33) % n_items as u64) as u32);
        }
    }
    let ones = vec![1.0f32; rows.len()];
    let train = InteractionMatrix::from_triplets(n_users, n_items, &rows, &cols, &ones)?;
    let artifact = ModelArtifact::new(model, users, items, train, Some("synthetic".into()));
    println!(
        "model: {n_items} items × {k} factors, {n_users} users, {} interactions",
        artifact.train.nnz()
    );

    let dir = tempfile::tempdir()?;
    let path = dir.path().join("large.encore");
    let t = Instant::now();
    let bytes = artifact.save(&path)?;
    println!("save:        {:>8.1} ms  ({:.1} MB)", ms(t), bytes as f64 / 1e6);
    drop(artifact);

    let t = Instant::now();
    let header = ModelArtifact::read_header(&path)?;
    println!("read_header: {:>8.3} ms  ({} items)", ms(t), header.n_items);

    for round in 1..=3 {
        let t = Instant::now();
        let loaded = ModelArtifact::load(&path)?;
        let load_ms = ms(t);
        let t = Instant::now();
        let (_, query) = loaded.user_query("user-17")?;
        let mut scores = vec![0f32; loaded.recommender().n_items()];
        loaded.recommender().score(&query, &mut scores);
        let best = top_n(&scores, 10, query.items);
        println!(
            "load #{round}:     {load_ms:>8.1} ms; then score + top-10: {:.1} ms (best item {})",
            ms(t),
            loaded.items.id(best[0].item)
        );
    }

    // The part of `load` that is not I/O: interning every id string again.
    let loaded = ModelArtifact::load(&path)?;
    let t = Instant::now();
    let rebuilt = (IdMap::from_ids(loaded.users.iter())?, IdMap::from_ids(loaded.items.iter())?);
    println!(
        "IdMap::from_ids alone for the {} ids: {:.1} ms",
        rebuilt.0.len() + rebuilt.1.len(),
        ms(t)
    );

    let bytes = std::fs::read(&path)?;
    let t = Instant::now();
    let crc = crc32fast::hash(&bytes);
    println!("CRC32 alone over the file in memory: {:.1} ms ({crc:08x})", ms(t));
    Ok(())
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}
