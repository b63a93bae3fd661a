//! Cost of checking an API key on the request path ([`encore_service::access::Access::verify`]):
//! one SHA-256 of the 46-byte secret, one hash-map lookup by prefix, one constant-time compare.
//!
//! `cargo run --release -p encore-service --example key_verify_speed [KEYS]` creates KEYS keys
//! (default 1000) in a temporary store, then verifies valid and unknown secrets from 2 threads
//! and prints nanoseconds per check.

use std::sync::Arc;
use std::time::Instant;

use encore_service::access::{Access, CreateKey, Role};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let keys: usize = std::env::args().nth(1).map(|a| a.parse()).transpose()?.unwrap_or(1000);
    let dir = tempfile::tempdir()?;
    let store = encore_store::SqliteStore::open(dir.path())?;
    let access = Arc::new(Access::open(Arc::new(store))?);
    let mut secrets = Vec::with_capacity(keys);
    for i in 0..keys {
        let request = CreateKey { name: format!("k{i}"), role: Role::Reader, catalog: None };
        secrets.push(access.create_key(&request)?.secret);
    }
    let unknown = format!("{}{}", &secrets[0][..11], "A".repeat(35));
    let rounds = 1_000_000;
    for (label, secret) in [("valid", secrets[keys / 2].clone()), ("unknown", unknown)] {
        let started = Instant::now();
        std::thread::scope(|scope| {
            for _ in 0..2 {
                let access = Arc::clone(&access);
                let secret = secret.clone();
                scope.spawn(move || {
                    let mut found = 0usize;
                    for _ in 0..rounds {
                        found +=
                            usize::from(access.verify(std::hint::black_box(&secret)).is_some());
                    }
                    std::hint::black_box(found);
                });
            }
        });
        let per_check = started.elapsed().as_nanos() as f64 / rounds as f64;
        println!(
            "{label:>7} key, {keys} keys, 2 threads: {per_check:.0} ns per check (wall, per thread)"
        );
    }
    Ok(())
}
