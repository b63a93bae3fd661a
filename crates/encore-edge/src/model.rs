//! An opened edge model and the scorer: fold-in, scoring, and top-N selection.
//!
//! Everything here is `no_std` + `alloc` and safe Rust. Allocation happens in
//! [`EdgeModel::from_bytes`] and [`EdgeModel::new_scratch`]; a call to
//! [`EdgeModel::recommend`] with a [`Scratch`] made for the model does not allocate, except
//! that a history longer than [`HISTORY_CAPACITY`] distinct entries grows the scratch's history
//! buffer once (it keeps the larger capacity).

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use crate::error::{Error, ErrorKind};
use crate::math;
use crate::quant::Values;

/// History entries a fresh [`Scratch`] holds without allocating.
pub const HISTORY_CAPACITY: usize = 1024;

/// The algorithm of an edge model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// iALS: item factors, fold-in with the Gram matrix.
    Ials,
    /// BPR: item factors and biases, ridge fold-in.
    Bpr,
    /// EASE, sparsified to the largest weights of each item.
    Ease,
    /// Item-kNN neighbour lists.
    ItemKnn,
    /// Most popular items.
    Popularity,
}

impl Algorithm {
    /// The code stored in the file.
    pub fn code(self) -> u32 {
        match self {
            Algorithm::Ials => 1,
            Algorithm::Bpr => 2,
            Algorithm::Ease => 3,
            Algorithm::ItemKnn => 4,
            Algorithm::Popularity => 5,
        }
    }

    pub(crate) fn from_code(code: u32) -> Option<Self> {
        Some(match code {
            1 => Algorithm::Ials,
            2 => Algorithm::Bpr,
            3 => Algorithm::Ease,
            4 => Algorithm::ItemKnn,
            5 => Algorithm::Popularity,
            _ => return None,
        })
    }

    /// The name used by the server (`ials`, `bpr`, `ease`, `itemknn`, `popularity`).
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Ials => "ials",
            Algorithm::Bpr => "bpr",
            Algorithm::Ease => "ease",
            Algorithm::ItemKnn => "itemknn",
            Algorithm::Popularity => "popularity",
        }
    }
}

/// The precision of the large arrays of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    /// 32-bit floats: the server's values.
    F32,
    /// IEEE half precision.
    F16,
    /// 8-bit integers with one f32 scale per row.
    Int8,
}

impl Precision {
    /// The code stored in the file.
    pub fn code(self) -> u32 {
        match self {
            Precision::F32 => 1,
            Precision::F16 => 2,
            Precision::Int8 => 3,
        }
    }

    pub(crate) fn from_code(code: u32) -> Option<Self> {
        Some(match code {
            1 => Precision::F32,
            2 => Precision::F16,
            3 => Precision::Int8,
            _ => return None,
        })
    }

    /// `f32`, `f16` or `int8`.
    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::F16 => "f16",
            Precision::Int8 => "int8",
        }
    }
}

/// iALS's weight transform (the server's `Confidence`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Confidence {
    Identity,
    Log1p,
    Binary,
}

/// EASE's weight transform (the server's `EaseWeighting`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EaseWeighting {
    Binary,
    Raw,
    Log,
}

/// The hyperparameters scoring needs, per algorithm.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Params {
    Ials {
        alpha: f64,
        regularization: f64,
        reg_exponent: f64,
        unobserved_weight: f64,
        confidence: Confidence,
    },
    Bpr {
        target: f64,
        ridge: f64,
    },
    Ease {
        weighting: EaseWeighting,
        kept: u64,
    },
    ItemKnn {
        raw_weights: bool,
    },
    Popularity,
}

/// What the parser hands to [`EdgeModel::assemble`].
pub(crate) struct Parts {
    pub algorithm: Algorithm,
    pub precision: Precision,
    pub n_items: usize,
    pub k: usize,
    pub params: Params,
    pub notice: String,
    pub id_offsets: Vec<u32>,
    pub id_bytes: Vec<u8>,
    pub pop_items: Vec<u32>,
    pub pop_scores: Vec<f32>,
    pub factors: Option<Values>,
    pub gram: Vec<f32>,
    pub bias: Vec<f32>,
    pub neighbours: Option<(Vec<u32>, Vec<u32>, Values)>,
    pub available: Option<Vec<u8>>,
    pub kinds: Option<(Vec<u16>, Vec<u32>, Vec<u8>)>,
    pub file_len: usize,
}

/// One recommended item: its index in the model and its score (higher is better).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scored {
    /// Item index (`0..n_items`); its id is [`EdgeModel::item_id`].
    pub item: u32,
    /// The score the server would give it (up to the file's precision).
    pub score: f32,
}

/// True when `a` ranks before `b`: higher score, ties to the smaller index (the server's order).
#[inline]
fn better(a: Scored, b: Scored) -> bool {
    match a.score.total_cmp(&b.score) {
        core::cmp::Ordering::Greater => true,
        core::cmp::Ordering::Less => false,
        core::cmp::Ordering::Equal => a.item < b.item,
    }
}

/// Per-call working memory of [`EdgeModel::recommend`], made once by [`EdgeModel::new_scratch`].
///
/// A model is immutable and can be shared; each concurrent caller needs its own scratch (the C
/// interface keeps one per model behind a lock, see the crate docs).
#[derive(Debug, Clone)]
pub struct Scratch {
    /// The history as (item, raw weight), sorted and merged.
    hist: Vec<(u32, f32)>,
    /// A score per item.
    scores: Vec<f32>,
    /// The selection heap, then the sorted result.
    top: Vec<Scored>,
    /// Fold-in vectors and one decoded row (`k` each).
    x: Vec<f32>,
    b: Vec<f32>,
    row: Vec<f32>,
    /// iALS's system matrix `A` in f32 (`k × k`, column-major lower triangle used).
    a: Vec<f32>,
    /// The Cholesky factor and right-hand side in f64.
    l: Vec<f64>,
    rhs: Vec<f64>,
}

impl Scratch {
    /// Makes sure the buffers fit a model of `n` items and `k` factors (a no-op for a scratch
    /// made by that model's [`EdgeModel::new_scratch`]).
    fn fit(&mut self, n: usize, k: usize) {
        if self.scores.len() != n {
            self.scores = vec![0.0; n];
            self.top = Vec::with_capacity(n);
        }
        if self.x.len() != k {
            self.x = vec![0.0; k];
            self.b = vec![0.0; k];
            self.row = vec![0.0; k];
            self.a = vec![0.0; k * k];
            self.l = vec![0.0; k * k];
            self.rhs = vec![0.0; k];
        }
    }
}

/// An opened edge model: item ids, the scoring arrays at the file's precision, the popularity
/// fallback and the optional item metadata. Immutable; `Send + Sync`.
#[derive(Debug, Clone)]
pub struct EdgeModel {
    algorithm: Algorithm,
    precision: Precision,
    n_items: usize,
    k: usize,
    params: Params,
    notice: String,
    id_offsets: Vec<u32>,
    id_bytes: Vec<u8>,
    /// Item indices sorted by id bytes, for lookups by binary search.
    by_id: Vec<u32>,
    pop_items: Vec<u32>,
    pop_scores: Vec<f32>,
    factors: Option<Values>,
    gram: Vec<f32>,
    bias: Vec<f32>,
    neighbours: Option<(Vec<u32>, Vec<u32>, Values)>,
    available: Option<Vec<u8>>,
    kinds: Option<(Vec<u16>, Vec<u32>, Vec<u8>)>,
    file_len: usize,
}

impl EdgeModel {
    /// Parses and validates an edge model file held in memory (the bytes are copied; `bytes`
    /// may be dropped afterwards). Any damage gives an [`Error`], never a panic.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        crate::format::parse(bytes)
    }

    /// Reads and opens the edge model file at `path`.
    #[cfg(feature = "std")]
    pub fn open(path: &std::path::Path) -> Result<Self, Error> {
        let bytes = std::fs::read(path).map_err(|e| {
            Error::new(
                ErrorKind::Io,
                alloc::format!("cannot read the edge model file {}: {e}", path.display()),
            )
        })?;
        Self::from_bytes(&bytes)
    }

    pub(crate) fn assemble(p: Parts) -> Result<Self, Error> {
        let mut model = EdgeModel {
            algorithm: p.algorithm,
            precision: p.precision,
            n_items: p.n_items,
            k: p.k,
            params: p.params,
            notice: p.notice,
            id_offsets: p.id_offsets,
            id_bytes: p.id_bytes,
            by_id: Vec::new(),
            pop_items: p.pop_items,
            pop_scores: p.pop_scores,
            factors: p.factors,
            gram: p.gram,
            bias: p.bias,
            neighbours: p.neighbours,
            available: p.available,
            kinds: p.kinds,
            file_len: p.file_len,
        };
        let mut by_id: Vec<u32> = (0..p.n_items as u32).collect();
        by_id.sort_unstable_by(|&a, &b| model.id_bytes_of(a).cmp(model.id_bytes_of(b)));
        if let Some(w) =
            by_id.windows(2).find(|w| model.id_bytes_of(w[0]) == model.id_bytes_of(w[1]))
        {
            return Err(Error::new(
                ErrorKind::Corrupt,
                alloc::format!("item id {:?} appears twice", model.item_id(w[0]).unwrap_or("")),
            ));
        }
        model.by_id = by_id;
        Ok(model)
    }

    /// The algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The precision of the stored arrays.
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// Number of items.
    pub fn n_items(&self) -> usize {
        self.n_items
    }

    /// Number of latent factors (0 for EASE, item-kNN and popularity).
    pub fn factors(&self) -> usize {
        self.k
    }

    /// The notice text of the file (what it holds; that it holds no user data).
    pub fn notice(&self) -> &str {
        &self.notice
    }

    /// Size of the file the model was opened from, in bytes.
    pub fn file_len(&self) -> usize {
        self.file_len
    }

    /// Bytes the opened model holds on the heap (excluding a [`Scratch`]).
    pub fn heap_bytes(&self) -> usize {
        let lists = self
            .neighbours
            .as_ref()
            .map_or(0, |(p, i, v)| (p.len() + i.len()) * 4 + v.heap_bytes());
        let kinds = self.kinds.as_ref().map_or(0, |(k, o, b)| k.len() * 2 + o.len() * 4 + b.len());
        self.notice.len()
            + (self.id_offsets.len()
                + self.by_id.len()
                + self.pop_items.len()
                + self.pop_scores.len())
                * 4
            + self.id_bytes.len()
            + self.factors.as_ref().map_or(0, Values::heap_bytes)
            + (self.gram.len() + self.bias.len()) * 4
            + lists
            + self.available.as_ref().map_or(0, Vec::len)
            + kinds
    }

    /// The id of `item` followed by its zero byte.
    fn id_bytes_with_nul(&self, item: u32) -> &[u8] {
        let i = item as usize;
        &self.id_bytes[self.id_offsets[i] as usize..self.id_offsets[i + 1] as usize]
    }

    fn id_bytes_of(&self, item: u32) -> &[u8] {
        let b = self.id_bytes_with_nul(item);
        &b[..b.len() - 1]
    }

    /// The id of item `item`, or `None` when out of range.
    pub fn item_id(&self, item: u32) -> Option<&str> {
        if item as usize >= self.n_items {
            return None;
        }
        core::str::from_utf8(self.id_bytes_of(item)).ok()
    }

    /// The id of item `item` as a C string that lives as long as the model.
    pub fn item_id_c(&self, item: u32) -> Option<&core::ffi::CStr> {
        if item as usize >= self.n_items {
            return None;
        }
        core::ffi::CStr::from_bytes_with_nul(self.id_bytes_with_nul(item)).ok()
    }

    /// The index of the item with id `id` (UTF-8 bytes), or `None` when the model does not know it.
    pub fn item_index(&self, id: &[u8]) -> Option<u32> {
        self.by_id.binary_search_by(|&i| self.id_bytes_of(i).cmp(id)).ok().map(|p| self.by_id[p])
    }

    /// Whether item `item` may be recommended (false for items exported as unavailable and for
    /// indices out of range).
    pub fn is_available(&self, item: u32) -> bool {
        let i = item as usize;
        i < self.n_items
            && self.available.as_ref().is_none_or(|bits| bits[i / 8] & (1 << (i % 8)) != 0)
    }

    /// The kind of item `item` (`track`, `film`, …) when the exporter was given item metadata.
    pub fn item_kind(&self, item: u32) -> Option<&str> {
        let (kinds, offsets, names) = self.kinds.as_ref()?;
        let c = usize::from(*kinds.get(item as usize)?);
        if c == 0 {
            return None;
        }
        let bytes = &names[offsets[c - 1] as usize..offsets[c] as usize - 1];
        core::str::from_utf8(bytes).ok()
    }

    /// Working memory sized for this model: a call to [`EdgeModel::recommend`] with it does not
    /// allocate (histories up to [`HISTORY_CAPACITY`] distinct items).
    pub fn new_scratch(&self) -> Scratch {
        let mut s = Scratch {
            hist: Vec::with_capacity(HISTORY_CAPACITY),
            scores: Vec::new(),
            top: Vec::new(),
            x: Vec::new(),
            b: Vec::new(),
            row: Vec::new(),
            a: Vec::new(),
            l: Vec::new(),
            rhs: Vec::new(),
        };
        s.fit(self.n_items, self.k);
        s
    }

    /// The top `n` items for a history of item indices with optional raw weights (1 each when
    /// `None`; missing trailing weights count as 1), best first, as the server's `recommend`
    /// would answer for the same history. Out-of-range indices are ignored, duplicates merged
    /// (weights summed), history items and unavailable items never returned. A history with no
    /// known item gets the popularity fallback.
    pub fn recommend<'s>(
        &self,
        scratch: &'s mut Scratch,
        items: &[u32],
        weights: Option<&[f32]>,
        n: usize,
    ) -> &'s [Scored] {
        self.load_history(scratch, items, weights);
        self.finish(scratch, n)
    }

    /// [`EdgeModel::recommend`] for a history of item ids (UTF-8 bytes) with raw weights;
    /// unknown ids are ignored.
    pub fn recommend_ids<'s, 'a>(
        &self,
        scratch: &'s mut Scratch,
        history: impl IntoIterator<Item = (&'a [u8], f32)>,
        n: usize,
    ) -> &'s [Scored] {
        scratch.fit(self.n_items, self.k);
        scratch.hist.clear();
        for (id, w) in history {
            if let Some(i) = self.item_index(id) {
                scratch.hist.push((i, w));
            }
        }
        self.finish(scratch, n)
    }

    /// Scores every item for a history into `out` (`out.len() == n_items()`), without excluding
    /// anything: the counterpart of the server's `Recommender::score` for a history, used to
    /// evaluate an edge file with the server's own metrics. A history with no known item scores
    /// the popularity fallback's items by their counts and every other item `-inf`.
    pub fn score_all(
        &self,
        scratch: &mut Scratch,
        items: &[u32],
        weights: Option<&[f32]>,
        out: &mut [f32],
    ) {
        self.load_history(scratch, items, weights);
        normalise(&mut scratch.hist);
        if scratch.hist.is_empty() || self.algorithm == Algorithm::Popularity {
            out.fill(f32::NEG_INFINITY);
            for (&i, &s) in self.pop_items.iter().zip(&self.pop_scores) {
                if let Some(o) = out.get_mut(i as usize) {
                    *o = s;
                }
            }
            return;
        }
        self.score_history(scratch);
        let m = out.len().min(self.n_items);
        out[..m].copy_from_slice(&scratch.scores[..m]);
    }

    fn load_history(&self, scratch: &mut Scratch, items: &[u32], weights: Option<&[f32]>) {
        scratch.fit(self.n_items, self.k);
        scratch.hist.clear();
        for (p, &i) in items.iter().enumerate() {
            if (i as usize) < self.n_items {
                let w = weights.and_then(|w| w.get(p)).copied().unwrap_or(1.0);
                scratch.hist.push((i, w));
            }
        }
    }

    /// Normalises the history, scores and selects.
    fn finish<'s>(&self, scratch: &'s mut Scratch, n: usize) -> &'s [Scored] {
        normalise(&mut scratch.hist);
        let n = n.min(self.n_items);
        scratch.top.clear();
        if n == 0 {
            return &scratch.top;
        }
        if scratch.hist.is_empty() || self.algorithm == Algorithm::Popularity {
            // The popularity fallback is stored best first, so the answer is its first `n`
            // admissible entries.
            for (&item, &score) in self.pop_items.iter().zip(&self.pop_scores) {
                if scratch.top.len() == n {
                    break;
                }
                let seen = scratch.hist.binary_search_by_key(&item, |h| h.0).is_ok();
                if !seen && self.is_available(item) {
                    scratch.top.push(Scored { item, score });
                }
            }
            return &scratch.top;
        }
        self.score_history(scratch);
        let Scratch { hist, scores, top, .. } = scratch;
        select(scores, n, hist, |i| self.is_available(i), top);
        top
    }

    /// Writes a score for every item into `scratch.scores` from the normalised, non-empty history.
    fn score_history(&self, s: &mut Scratch) {
        match (self.params, &self.factors, &self.neighbours) {
            (Params::Ials { .. }, Some(factors), _) => {
                self.ials_fold_in(s, factors);
                factors.dot_rows(&s.x, &mut s.row, &mut s.scores);
            }
            (Params::Bpr { target, ridge }, Some(factors), _) => {
                bpr_fold_in(s, factors, self.k, target, ridge);
                factors.dot_rows(&s.x, &mut s.row, &mut s.scores);
                for (o, &b) in s.scores.iter_mut().zip(&self.bias) {
                    *o += b;
                }
            }
            (Params::Ease { weighting, .. }, _, Some((indptr, indices, values))) => {
                let weight = |w: f32| match weighting {
                    EaseWeighting::Binary => 1.0,
                    EaseWeighting::Raw => w,
                    EaseWeighting::Log => math::ln_1p(w.max(0.0)),
                };
                accumulate(s, indptr, indices, values, weight);
            }
            (Params::ItemKnn { raw_weights }, _, Some((indptr, indices, values))) => {
                accumulate(s, indptr, indices, values, |w| if raw_weights { w } else { 1.0 });
            }
            // Unreachable for a parsed model (the parser requires each algorithm's arrays);
            // scores of zero are a safe answer all the same.
            _ => s.scores.fill(0.0),
        }
    }

    /// iALS fold-in, as the server's `IalsModel::fold_in`: the exact least-squares user factor
    /// for the history against the stored item factors, `A x = b` with
    /// `A = YᵀY + Σ_j e_j y_j y_jᵀ + λ_u I` and `b = Σ_j (1 + e_j) y_j`. `A` and `b` are built in
    /// f32 with the server's operations in the server's order; the Cholesky solve runs in f64.
    /// Leaves the factor in `s.x` (zero when `A` cannot be factored, as on the server).
    fn ials_fold_in(&self, s: &mut Scratch, factors: &Values) {
        let Params::Ials { alpha, regularization, reg_exponent, unobserved_weight, confidence } =
            self.params
        else {
            return;
        };
        let k = self.k;
        let extra = |w: f32| {
            let w = if w > 0.0 { w } else { 0.0 };
            let f = match confidence {
                Confidence::Identity => w,
                Confidence::Log1p => math::ln_1p(w),
                Confidence::Binary => 1.0,
            };
            (alpha as f32) * f
        };
        let base = s.hist.len() as f64 + unobserved_weight * self.n_items as f64;
        let scale = if reg_exponent == 0.0 { 1.0 } else { math::powf(base, reg_exponent) };
        let reg = (regularization * scale).max(regularization * 1e-6) as f32;

        let Scratch { hist, x, b, row, a, l, rhs, .. } = s;
        a.copy_from_slice(&self.gram);
        for d in 0..k {
            a[d * k + d] += reg;
        }
        b.fill(0.0);
        for &(j, w) in hist.iter() {
            let e = extra(w);
            let j = j as usize;
            factors.decode(j, j * k, row);
            let coef = 1.0 + e;
            for (bi, &y) in b.iter_mut().zip(row.iter()) {
                *bi += coef * y;
            }
            if e != 0.0 {
                for c in 0..k {
                    let wc = e * row[c];
                    for (dst, &y) in a[c * k + c..(c + 1) * k].iter_mut().zip(&row[c..]) {
                        *dst += wc * y;
                    }
                }
            }
        }
        // A(r, c) for r ≥ c is a[c·k + r] (column-major lower triangle, as the server builds it).
        for r in 0..k {
            for c in 0..=r {
                l[r * k + c] = f64::from(a[c * k + r]);
            }
        }
        for (r, &v) in rhs.iter_mut().zip(b.iter()) {
            *r = f64::from(v);
        }
        if cholesky(l, k) {
            solve(l, k, rhs);
            for (xi, &v) in x.iter_mut().zip(rhs.iter()) {
                *xi = v as f32;
            }
        } else {
            x.fill(0.0);
        }
    }
}

/// Sorts the history by item and merges duplicates (weights summed, as the server's matrices do).
fn normalise(hist: &mut Vec<(u32, f32)>) {
    hist.sort_unstable_by_key(|h| h.0);
    hist.dedup_by(|later, kept| {
        if later.0 == kept.0 {
            kept.1 += later.1;
            true
        } else {
            false
        }
    });
}

/// `scores_i = Σ_j weight(h_j) · v_ji` over the lists of the history items (item-kNN, EASE), in
/// the server's order (history ascending, then list order).
fn accumulate(
    s: &mut Scratch,
    indptr: &[u32],
    indices: &[u32],
    values: &Values,
    weight: impl Fn(f32) -> f32,
) {
    s.scores.fill(0.0);
    for &(j, w) in &s.hist {
        let h = weight(w);
        let j = j as usize;
        let (start, end) = (indptr[j] as usize, indptr[j + 1] as usize);
        for (p, &i) in (start..end).zip(&indices[start..end]) {
            s.scores[i as usize] += h * values.get(j, p);
        }
    }
}

/// BPR fold-in, operation for operation as the server's `bpr::foldin::fold_in` (all in f64):
/// `u = (V_HᵀV_H + ridge·I)⁻¹ Σ_j target·v_j`. Leaves `u` in `s.x`.
fn bpr_fold_in(s: &mut Scratch, factors: &Values, k: usize, target: f64, ridge: f64) {
    let Scratch { hist, x, row, l, rhs, .. } = s;
    rhs.fill(0.0);
    l.fill(0.0);
    for &(j, _) in hist.iter() {
        let j = j as usize;
        factors.decode(j, j * k, row);
        for (r, &v) in rhs.iter_mut().zip(row.iter()) {
            *r += target * f64::from(v);
        }
        for r in 0..k {
            let vr = f64::from(row[r]);
            for c in 0..=r {
                l[r * k + c] += vr * f64::from(row[c]);
            }
        }
    }
    for d in 0..k {
        l[d * k + d] += ridge;
    }
    // With ridge > 0 the matrix is positive definite; a failure (absurd inputs) gives u = 0.
    if cholesky(l, k) {
        solve(l, k, rhs);
        for (xi, &v) in x.iter_mut().zip(rhs.iter()) {
            *xi = v as f32;
        }
    } else {
        x.fill(0.0);
    }
}

/// In-place Cholesky factorisation of the lower triangle of the row-major `k × k` matrix `a`.
/// Returns false when the matrix is not numerically positive definite.
fn cholesky(a: &mut [f64], k: usize) -> bool {
    for j in 0..k {
        let mut d = a[j * k + j];
        for p in 0..j {
            d -= a[j * k + p] * a[j * k + p];
        }
        if d.is_nan() || d <= 0.0 || !d.is_finite() {
            return false;
        }
        let d = math::sqrt(d);
        a[j * k + j] = d;
        for i in j + 1..k {
            let mut s = a[i * k + j];
            for p in 0..j {
                s -= a[i * k + p] * a[j * k + p];
            }
            a[i * k + j] = s / d;
        }
    }
    true
}

/// Solves `L Lᵀ x = b` in place after [`cholesky`].
fn solve(l: &[f64], k: usize, b: &mut [f64]) {
    for i in 0..k {
        let mut s = b[i];
        for p in 0..i {
            s -= l[i * k + p] * b[p];
        }
        b[i] = s / l[i * k + i];
    }
    for i in (0..k).rev() {
        let mut s = b[i];
        for p in i + 1..k {
            s -= l[p * k + i] * b[p];
        }
        b[i] = s / l[i * k + i];
    }
}

/// The best `n` items of `scores` into `top`, best first, skipping the (sorted) history items,
/// NaN scores and items `keep` refuses: a bounded heap whose root is the worst kept candidate.
/// `top` must have capacity for `n` (the scratch has `n_items`), so nothing allocates.
fn select(
    scores: &[f32],
    n: usize,
    hist: &[(u32, f32)],
    keep: impl Fn(u32) -> bool,
    top: &mut Vec<Scored>,
) {
    top.clear();
    let mut excluded = hist.iter().map(|h| h.0).peekable();
    for (i, &score) in scores.iter().enumerate() {
        let item = i as u32;
        while excluded.peek().is_some_and(|&e| e < item) {
            excluded.next();
        }
        if excluded.peek() == Some(&item) || score.is_nan() {
            continue;
        }
        let cand = Scored { item, score };
        if top.len() == n && !better(cand, top[0]) {
            continue;
        }
        if !keep(item) {
            continue;
        }
        if top.len() < n {
            top.push(cand);
            let mut c = top.len() - 1;
            while c > 0 {
                let p = (c - 1) / 2;
                if better(top[p], top[c]) {
                    top.swap(p, c);
                    c = p;
                } else {
                    break;
                }
            }
        } else {
            top[0] = cand;
            let mut p = 0;
            loop {
                let (l, r) = (2 * p + 1, 2 * p + 2);
                let mut worst = p;
                if l < top.len() && better(top[worst], top[l]) {
                    worst = l;
                }
                if r < top.len() && better(top[worst], top[r]) {
                    worst = r;
                }
                if worst == p {
                    break;
                }
                top.swap(p, worst);
                p = worst;
            }
        }
    }
    top.sort_unstable_by(|a, b| b.score.total_cmp(&a.score).then(a.item.cmp(&b.item)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn select_matches_a_full_sort() {
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        let scores: Vec<f32> = (0..500)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                ((x % 50) as f32) * 0.5
            })
            .collect();
        let hist = [(3u32, 1.0f32), (10, 1.0), (499, 1.0)];
        for n in [1usize, 7, 50, 497, 500] {
            let mut top = Vec::with_capacity(500);
            select(&scores, n, &hist, |i| i % 11 != 0, &mut top);
            let mut all: Vec<Scored> = scores
                .iter()
                .enumerate()
                .map(|(i, &score)| Scored { item: i as u32, score })
                .filter(|s| ![3, 10, 499].contains(&s.item) && s.item % 11 != 0)
                .collect();
            all.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.item.cmp(&b.item)));
            all.truncate(n);
            assert_eq!(top, all, "n {n}");
        }
    }

    #[test]
    fn normalise_merges_duplicates() {
        let mut h = alloc::vec![(5u32, 1.0f32), (2, 2.0), (5, 3.0)];
        normalise(&mut h);
        assert_eq!(h, alloc::vec![(2, 2.0), (5, 4.0)]);
    }

    #[test]
    fn cholesky_solves_a_small_system() {
        // A = [[4, 2], [2, 3]], b = [2, 1] → x = [0.5, 0].
        let mut a = alloc::vec![4.0, 0.0, 2.0, 3.0];
        assert!(cholesky(&mut a, 2));
        let mut b = alloc::vec![2.0, 1.0];
        solve(&a, 2, &mut b);
        assert!((b[0] - 0.5).abs() < 1e-12 && b[1].abs() < 1e-12);
        let mut not_pd = alloc::vec![1.0, 0.0, 2.0, 1.0];
        assert!(!cholesky(&mut not_pd, 2));
    }
}
