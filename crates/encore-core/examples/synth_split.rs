//! Writes a synthetic interaction data set already split for evaluation, for `bench/`.
//!
//! ```text
//! cargo run --release -p encore-core --example synth_split -- USERS ITEMS ROWS OUT_DIR [SEED]
//! ```
//!
//! Generates `ROWS` rows with [`encore_core::synth::generate_interactions`] and splits them per
//! user as `../shared/eval/PROTOCOL.md` does: a user with at least 5 items has 20 % of them
//! (rounded half up, at least 1) held out at random; others stay wholly in train. Writes
//! `OUT_DIR/train.tsv` and `OUT_DIR/test.tsv` (`user<TAB>item<TAB>weight`), so that every system
//! in the benchmark trains and is tested on the same files.

use std::io::{BufWriter, Write};

use encore_core::synth::{SynthConfig, generate_interactions};
use rand::{RngExt, SeedableRng};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 4 {
        return Err("usage: synth_split USERS ITEMS ROWS OUT_DIR [SEED]".into());
    }
    let cfg = SynthConfig {
        users: args[0].parse()?,
        items: args[1].parse()?,
        rows: args[2].parse()?,
        seed: args.get(4).map(|s| s.parse()).transpose()?.unwrap_or(42),
        ..SynthConfig::default()
    };
    let dir = std::path::Path::new(&args[3]);
    std::fs::create_dir_all(dir)?;
    let mut all = Vec::new();
    generate_interactions(&cfg, &mut all)?;
    let text = std::str::from_utf8(&all)?;

    let mut train = BufWriter::new(std::fs::File::create(dir.join("train.tsv"))?);
    let mut test = BufWriter::new(std::fs::File::create(dir.join("test.tsv"))?);
    let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(cfg.seed);
    let (mut n_train, mut n_test) = (0u64, 0u64);
    // The generator writes each user's rows contiguously; split one user at a time.
    let mut lines: Vec<&str> = Vec::new();
    let mut flush = |lines: &mut Vec<&str>| -> std::io::Result<()> {
        let n = lines.len();
        let held = if n >= 5 { ((n as f64 * 0.2) + 0.5).floor().max(1.0) as usize } else { 0 };
        // Partial Fisher–Yates: the first `held` positions become a uniform random subset.
        for i in 0..held {
            let j = i + (rng.random::<u64>() % (n - i) as u64) as usize;
            lines.swap(i, j);
        }
        for (i, line) in lines.iter().enumerate() {
            let out = if i < held { &mut test } else { &mut train };
            writeln!(out, "{line}")?;
        }
        n_test += held as u64;
        n_train += (n - held) as u64;
        lines.clear();
        Ok(())
    };
    let mut current = "";
    for line in text.lines() {
        let user = line.split('\t').next().unwrap_or("");
        if user != current && !lines.is_empty() {
            flush(&mut lines)?;
        }
        current = user;
        lines.push(line);
    }
    flush(&mut lines)?;
    train.flush()?;
    test.flush()?;
    println!("train rows {n_train}, test rows {n_test}");
    Ok(())
}
