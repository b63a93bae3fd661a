//! Deterministic test data shared by the models' unit tests.

use crate::matrix::InteractionMatrix;

/// A xorshift64 stream seeded through one LCG step (so that small seeds differ at once).
pub(crate) fn xorshift(seed: u64) -> impl FnMut() -> u64 {
    let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    }
}

/// A small pseudo-random users × items matrix with raw weights in 1..=5.
pub(crate) fn random_matrix(
    users: usize,
    items: usize,
    density: f64,
    seed: u64,
) -> InteractionMatrix {
    let mut next = xorshift(seed);
    let (mut r, mut c, mut v) = (vec![], vec![], vec![]);
    for u in 0..users {
        for i in 0..items {
            if (next() % 10_000) as f64 / 10_000.0 < density {
                r.push(u as u32);
                c.push(i as u32);
                v.push((next() % 5 + 1) as f32);
            }
        }
    }
    InteractionMatrix::from_triplets(users, items, &r, &c, &v).unwrap()
}
