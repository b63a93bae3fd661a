//! The search loop: anchors, then successive-halving brackets until the budget is spent.

use std::collections::BTreeMap;
use std::time::Instant;

use rand::{RngExt, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

use super::space::{Candidate, DataShape, Sampler};
use super::{BPR_ITERATIONS, BRACKET, Bench, IALS_EPOCHS, Trial, TuneObserver, TuneOptions};
use crate::eval::TestSet;
use crate::matrix::InteractionMatrix;
use crate::models::Algorithm;

/// A trial may not be started when its estimated time exceeds this share of the time left, so
/// one expensive algorithm (EASE on a large catalogue) cannot eat the rest of the budget.
const MAX_SHARE_OF_REMAINING: f64 = 0.25;
/// How sharply algorithm draws favour the best: weight = exp(SHARPNESS · (best_a / best − 1)),
/// so an algorithm 10 % behind is drawn about a seventh as often.
const SHARPNESS: f64 = 20.0;

pub(super) struct Search<'a> {
    fit: &'a InteractionMatrix,
    validation: &'a TestSet,
    options: &'a TuneOptions,
    observer: &'a dyn TuneObserver,
    sampler: Sampler,
    rng: Xoshiro256PlusPlus,
    started: Instant,
    pub trials: Vec<Trial>,
    pub best: Option<usize>,
    pub notes: Vec<String>,
    /// Per algorithm: the best-scoring candidate so far and its score.
    leaders: BTreeMap<&'static str, (Candidate, f64)>,
    /// Per algorithm: measured seconds per unit of fidelity (fit + ranking) of its trials.
    seconds_per_unit: BTreeMap<&'static str, f64>,
    searchable: Vec<Algorithm>,
    out_of_time: bool,
}

impl<'a> Search<'a> {
    pub fn new(
        fit: &'a InteractionMatrix,
        validation: &'a TestSet,
        options: &'a TuneOptions,
        observer: &'a dyn TuneObserver,
        shape: DataShape,
        started: Instant,
    ) -> Self {
        let sampler = Sampler::new(options.seed, shape, options.max_memory_bytes);
        let mut notes = Vec::new();
        let mut searchable: Vec<Algorithm> = Vec::new();
        for &a in &options.algorithms {
            if a == Algorithm::Ease && !sampler.ease_fits() {
                notes.push(format!(
                    "ease skipped: its {} × {} item matrices need {} bytes, more than the memory \
                     limit",
                    shape.n_items,
                    shape.n_items,
                    crate::models::ease::EaseConfig::training_bytes(shape.n_items)
                ));
                continue;
            }
            if !searchable.contains(&a) {
                searchable.push(a);
            }
        }
        Self {
            fit,
            validation,
            options,
            observer,
            sampler,
            rng: Xoshiro256PlusPlus::seed_from_u64(options.seed ^ 0x6272_6163),
            started,
            trials: Vec::new(),
            best: None,
            notes,
            leaders: BTreeMap::new(),
            seconds_per_unit: BTreeMap::new(),
            searchable,
            out_of_time: false,
        }
    }

    fn remaining(&self) -> f64 {
        self.options.budget.as_secs_f64() - self.started.elapsed().as_secs_f64()
    }

    fn trials_left(&self) -> bool {
        !self.out_of_time
            && !self.observer.is_cancelled()
            && self.options.max_trials.is_none_or(|m| self.trials.len() < m)
    }

    fn fidelity(algorithm: Algorithm, rung: usize) -> usize {
        match algorithm {
            Algorithm::Ials => IALS_EPOCHS[rung],
            Algorithm::Bpr => BPR_ITERATIONS[rung],
            _ => 1,
        }
    }

    /// Relative cost of `candidate` at `units` of fidelity, for the time estimate.
    fn relative_cost(candidate: &Candidate, units: usize) -> f64 {
        let factors: f64 = candidate.get("factors").and_then(|f| f.parse().ok()).unwrap_or(64.0);
        units as f64 * (factors / 64.0).powf(1.5)
    }

    /// Runs one trial unless the budget says no; returns its index.
    fn run(&mut self, candidate: &Candidate, rung: usize) -> Option<usize> {
        if !self.trials_left() {
            return None;
        }
        let units = Self::fidelity(candidate.algorithm, rung);
        let cost = Self::relative_cost(candidate, units);
        let name = candidate.algorithm.name();
        if let Some(&per) = self.seconds_per_unit.get(name)
            && self.options.max_trials.is_none()
            && !self.trials.is_empty()
            && per * cost > MAX_SHARE_OF_REMAINING * self.remaining()
        {
            return None;
        }
        let deadline = self.started + self.options.budget;
        let first = self.best.is_none();
        let observer = self.observer;
        let unlimited = self.options.max_trials.is_some();
        let stop =
            move || observer.is_cancelled() || (!first && !unlimited && Instant::now() >= deadline);
        let bench = Bench {
            train: self.fit,
            validation: self.validation,
            objective: self.options.objective,
            memory_limit: self.options.max_memory_bytes,
            memory: self.options.memory,
            seed: self.options.seed,
            stop: &stop,
        };
        let mut trial = bench.run(self.trials.len(), rung, candidate, units);
        trial.meets_limits = trial.score.is_some()
            && self.options.max_train_seconds.is_none_or(|m| trial.train_seconds <= m)
            && self.options.max_memory_bytes.is_none_or(|m| trial.peak_memory_bytes <= m);
        if trial.score.is_none() && trial.note.as_deref().is_some_and(|n| n.starts_with("stopped"))
        {
            self.out_of_time = true;
        }
        if let Some(score) = trial.score {
            let seconds = trial.train_seconds + trial.eval_seconds;
            self.seconds_per_unit.entry(name).or_insert(seconds / cost);
            let per = self.seconds_per_unit.get_mut(name).expect("just inserted");
            *per = per.max(seconds / cost);
            if self.leaders.get(name).is_none_or(|(_, s)| score > *s) {
                self.leaders.insert(name, (candidate.clone(), score));
            }
            let better = self.best.is_none_or(|b| score > self.trials[b].score.unwrap_or(f64::MIN));
            if trial.meets_limits && better {
                self.best = Some(self.trials.len());
            }
        }
        self.trials.push(trial);
        let index = self.trials.len() - 1;
        let best = self.best.map(|b| &self.trials[b]);
        self.observer.on_trial(&self.trials[index], self.trials.len(), best);
        Some(index)
    }

    pub fn run_all(&mut self) {
        // Anchors: cheapest first, so a tight budget still sees every algorithm it can afford.
        let mut anchors = self.searchable.clone();
        let order = |a: &Algorithm| match a {
            Algorithm::Popularity => 0,
            Algorithm::ItemKnn => 1,
            Algorithm::Ials => 2,
            Algorithm::Bpr => 3,
            Algorithm::Ease => 4,
        };
        anchors.sort_by_key(order);
        for a in anchors {
            self.run(&Candidate::default_of(a), 1);
        }
        let tunable: Vec<Algorithm> =
            self.searchable.iter().copied().filter(|&a| a != Algorithm::Popularity).collect();
        if tunable.is_empty() {
            return;
        }
        while self.trials_left() {
            let before = self.trials.len();
            self.bracket(&tunable);
            if self.trials.len() == before {
                break; // nothing fitted in the time left
            }
        }
    }

    /// Draws an algorithm in proportion to exp(SHARPNESS · (its best / overall best − 1)).
    fn draw_algorithm(&mut self, tunable: &[Algorithm]) -> Algorithm {
        let overall = self.leaders.values().map(|(_, s)| *s).fold(0.0, f64::max);
        let weights: Vec<f64> = tunable
            .iter()
            .map(|a| match self.leaders.get(a.name()) {
                Some((_, s)) if overall > 0.0 => (SHARPNESS * (s / overall - 1.0)).exp(),
                _ => 1.0,
            })
            .collect();
        let total: f64 = weights.iter().sum();
        let mut x = self.rng.random_range(0.0..total);
        for (a, w) in tunable.iter().zip(&weights) {
            if x < *w {
                return *a;
            }
            x -= w;
        }
        tunable[tunable.len() - 1]
    }

    fn bracket(&mut self, tunable: &[Algorithm]) {
        let mut rung0: Vec<(Candidate, Option<usize>)> = Vec::with_capacity(BRACKET);
        for slot in 0..BRACKET {
            let algorithm = self.draw_algorithm(tunable);
            let exploit = slot % 2 == 1;
            let candidate = match self.leaders.get(algorithm.name()) {
                Some((leader, _)) if exploit => {
                    let leader = leader.clone();
                    self.sampler.perturb(&leader)
                }
                _ => self.sampler.sample(algorithm),
            };
            let index = self.run(&candidate, 0);
            rung0.push((candidate, index));
        }
        // Promote the best third of the candidates that have a fidelity, twice.
        let mut alive: Vec<(Candidate, Option<usize>)> = rung0
            .into_iter()
            .filter(|(c, _)| matches!(c.algorithm, Algorithm::Ials | Algorithm::Bpr))
            .collect();
        for rung in 1..=2 {
            // A monitored iALS fit that peaked before its last epoch has converged: more epochs
            // would end at the same model, so it is not run again.
            alive.retain(|(c, i)| {
                i.is_some_and(|i| {
                    let t = &self.trials[i];
                    t.score.is_some()
                        && (c.algorithm != Algorithm::Ials
                            || t.model.ends_with(&format!(
                                "iterations={}",
                                Self::fidelity(c.algorithm, t.rung)
                            )))
                })
            });
            alive.sort_by(|a, b| {
                let s = |x: &(Candidate, Option<usize>)| self.trials[x.1.unwrap()].score.unwrap();
                s(b).total_cmp(&s(a))
            });
            alive.truncate((alive.len() / 3).max(1).min(alive.len()));
            let mut next = Vec::new();
            for (candidate, _) in alive {
                let index = self.run(&candidate, rung);
                next.push((candidate, index));
            }
            alive = next;
        }
    }
}
