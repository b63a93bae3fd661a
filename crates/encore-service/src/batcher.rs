//! Requests scored on demand that arrive together share one pass over the item factors.
//!
//! Scoring one query against a large catalogue reads every item's factors (51 MB at 2·10^5 items
//! × 64 factors), so it is bound by memory bandwidth: ~4 ms a request, whatever the CPU. Several
//! queries scored at once by a GEMM read the factors once between them
//! ([`encore_core::batch::gemm_scores`]), and each request then selects its own exact list from
//! its row with its own filter ([`encore_core::batch::top_n_from_gemm`]), so the answers are
//! exactly those of scoring alone.
//!
//! There is no timer and no dedicated thread. A request puts its query vector in the queue; if
//! fewer than one leader per core is busy, it becomes a leader, takes everything queued (up to
//! [`MAX_BATCH`]) and scores it. Requests that arrive while the leaders are busy wait and form
//! the next batch, so batches grow with the load, and a lone request waits for nobody (its batch
//! of one costs what scoring it directly does: the same pass over the item factors).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use encore_core::batch::{FactorScoring, gemm_scores};

/// Most queries one GEMM takes (64 × 2·10^5 scores are 51 MB).
pub(crate) const MAX_BATCH: usize = 64;

/// What a request gets back.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// Its GEMM scores (without the bias): column `.1` of its batch's scores.
    Gemm(Arc<BatchScores>, usize),
    /// Its leader failed (a panic while scoring): it should score itself.
    Alone,
}

/// The GEMM scores of one batch (`n_items × batch`, column-major), shared by its requests. The
/// buffer goes back to its batcher's pool when the last request is done with it, so a busy
/// server reuses a few buffers instead of allocating (and, with glibc, fragmenting) one per
/// batch: measured, one allocation per request put 1 GB more in the resident set.
#[derive(Debug)]
pub(crate) struct BatchScores {
    scores: Vec<f32>,
    n_items: usize,
    pool: Arc<Mutex<Vec<Vec<f32>>>>,
    keep: usize,
}

impl BatchScores {
    /// The scores of the batch's `j`-th query.
    pub fn column(&self, j: usize) -> &[f32] {
        &self.scores[j * self.n_items..(j + 1) * self.n_items]
    }
}

impl Drop for BatchScores {
    fn drop(&mut self) {
        let mut pool = self.pool.lock().unwrap_or_else(|p| p.into_inner());
        if pool.len() < self.keep {
            pool.push(std::mem::take(&mut self.scores));
        }
    }
}

struct Ticket {
    vector: Vec<f32>,
    outcome: Mutex<Option<Outcome>>,
}

#[derive(Default)]
struct Queue {
    waiting: Vec<Arc<Ticket>>,
    leaders: usize,
}

/// The queue of one loaded model's on-demand queries.
pub(crate) struct RequestBatcher {
    queue: Mutex<Queue>,
    changed: Condvar,
    max_leaders: usize,
    /// Queries answered from a shared batch so far.
    batched: AtomicU64,
    /// Score buffers of finished batches, for the next ones (at most one per leader, plus one).
    pool: Arc<Mutex<Vec<Vec<f32>>>>,
}

impl std::fmt::Debug for RequestBatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestBatcher").field("max_leaders", &self.max_leaders).finish()
    }
}

impl RequestBatcher {
    /// A batcher with at most `max_leaders` batches scored at once (one per core).
    pub fn new(max_leaders: usize) -> Self {
        Self {
            queue: Mutex::default(),
            changed: Condvar::new(),
            max_leaders: max_leaders.max(1),
            batched: AtomicU64::new(0),
            pool: Arc::default(),
        }
    }

    /// Queries answered from a shared batch so far (for `/metrics`).
    pub fn batched(&self) -> u64 {
        self.batched.load(Ordering::Relaxed)
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The GEMM scores of `vector` against `f`'s items, computed together with the queries of
    /// concurrent requests, or [`Outcome::Alone`]. Every caller must pass the same `f` (the
    /// model the batcher belongs to).
    pub fn scores(&self, f: FactorScoring<'_>, vector: Vec<f32>) -> Outcome {
        let ticket = Arc::new(Ticket { vector, outcome: Mutex::new(None) });
        let mut queue = self.lock();
        queue.waiting.push(ticket.clone());
        loop {
            if let Some(outcome) = take(&ticket) {
                return outcome;
            }
            if queue.leaders < self.max_leaders && !queue.waiting.is_empty() {
                queue.leaders += 1;
                let take = queue.waiting.len().min(MAX_BATCH);
                let batch: Vec<Arc<Ticket>> = queue.waiting.drain(..take).collect();
                drop(queue);
                let lead = Leading { batcher: self, batch: &batch };
                lead.score(f);
                drop(lead);
                queue = self.lock();
            } else {
                queue = self.changed.wait(queue).unwrap_or_else(|p| p.into_inner());
            }
        }
    }
}

fn take(ticket: &Ticket) -> Option<Outcome> {
    ticket.outcome.lock().unwrap_or_else(|p| p.into_inner()).take()
}

/// A leader's batch. Dropping it — after scoring, or while unwinding from a panic — hands every
/// ticket still without an outcome back to its owner and wakes the waiters, so no request waits
/// for a leader that is gone.
struct Leading<'a> {
    batcher: &'a RequestBatcher,
    batch: &'a [Arc<Ticket>],
}

impl Leading<'_> {
    fn score(&self, f: FactorScoring<'_>) {
        let vectors: Vec<&[f32]> = self.batch.iter().map(|t| &t.vector[..]).collect();
        let n_items = f.n_items();
        let pool = &self.batcher.pool;
        let mut scores = pool.lock().unwrap_or_else(|p| p.into_inner()).pop().unwrap_or_default();
        scores.resize(n_items * vectors.len(), 0.0);
        gemm_scores(f, &vectors, &mut scores);
        let keep = self.batcher.max_leaders + 1;
        let batch = Arc::new(BatchScores { scores, n_items, pool: pool.clone(), keep });
        for (j, ticket) in self.batch.iter().enumerate() {
            *ticket.outcome.lock().unwrap_or_else(|p| p.into_inner()) =
                Some(Outcome::Gemm(batch.clone(), j));
        }
        if self.batch.len() > 1 {
            self.batcher.batched.fetch_add(self.batch.len() as u64, Ordering::Relaxed);
        }
    }
}

impl Drop for Leading<'_> {
    fn drop(&mut self) {
        for ticket in self.batch {
            let mut outcome = ticket.outcome.lock().unwrap_or_else(|p| p.into_inner());
            if outcome.is_none() {
                *outcome = Some(Outcome::Alone);
            }
        }
        let mut queue = self.batcher.lock();
        queue.leaders -= 1;
        drop(queue);
        self.batcher.changed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items() -> Vec<f32> {
        (0..40 * 4).map(|i| (i % 7) as f32 - 3.0).collect()
    }

    #[test]
    fn queued_queries_are_scored_together_by_one_leader() {
        let items = items();
        let f = FactorScoring { items: &items, k: 4, bias: None };
        let batcher = RequestBatcher::new(1);
        // Three requests already waiting (as if they came while a leader was busy).
        let others: Vec<Arc<Ticket>> = (1..4)
            .map(|t| Arc::new(Ticket { vector: vec![t as f32; 4], outcome: Mutex::new(None) }))
            .collect();
        batcher.lock().waiting.extend(others.iter().cloned());
        let mine = batcher.scores(f, vec![0.5; 4]);
        let check = |v: &[f32], outcome: Option<Outcome>| {
            let Some(Outcome::Gemm(batch, j)) = outcome else { panic!("not batched: {outcome:?}") };
            let mut want = vec![0.0; 40];
            f.score_into(v, &mut want);
            for (g, w) in batch.column(j).iter().zip(&want) {
                assert!((g - w).abs() <= 1e-5, "{g} vs {w}");
            }
        };
        check(&[0.5; 4], Some(mine));
        for t in &others {
            check(&t.vector, take(t));
        }
        let queue = batcher.lock();
        assert_eq!((queue.leaders, queue.waiting.len()), (0, 0));
        assert_eq!(batcher.batched(), 4);
        drop(queue);
        // Every request is done with the batch: its buffer is back in the pool for the next.
        assert_eq!(batcher.pool.lock().unwrap().len(), 1);
        assert!(matches!(batcher.scores(f, vec![1.0; 4]), Outcome::Gemm(..)));
    }

    #[test]
    fn a_lone_query_is_scored_at_once_and_concurrent_ones_all_answer() {
        let items = items();
        let f = FactorScoring { items: &items, k: 4, bias: None };
        let batcher = RequestBatcher::new(2);
        assert!(matches!(batcher.scores(f, vec![1.0; 4]), Outcome::Gemm(..)));
        assert_eq!(batcher.batched(), 0, "a batch of one is not counted as shared");
        let answered = std::thread::scope(|s| {
            let handles: Vec<_> = (0..16)
                .map(|t| {
                    let batcher = &batcher;
                    s.spawn(move || batcher.scores(f, vec![t as f32; 4]))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap())
                .filter(|o| matches!(o, Outcome::Gemm(..)))
                .count()
        });
        assert_eq!(answered, 16);
        let queue = batcher.lock();
        assert_eq!((queue.leaders, queue.waiting.len()), (0, 0));
        assert!(batcher.pool.lock().unwrap().len() <= 3, "the pool is bounded");
    }
}
