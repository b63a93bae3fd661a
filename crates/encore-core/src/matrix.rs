//! The users × items interaction matrix in compressed sparse row (CSR) form.
//!
//! Row `u` holds the items user `u` interacted with, sorted by item index, with the summed weight
//! of each (user, item) pair. [`InteractionMatrix::transpose`] gives the items × users matrix that
//! the item half of ALS and the item-based models iterate over.
//!
//! `indptr` is `u64` so that a matrix can hold more than 2^32 interactions; item and user indices
//! are `u32`, which bounds each catalogue at 4 billion ids.

use rayon::prelude::*;

/// A sparse matrix in CSR form with `f32` values.
#[derive(Debug, Clone, PartialEq)]
pub struct InteractionMatrix {
    n_rows: usize,
    n_cols: usize,
    indptr: Vec<u64>,
    indices: Vec<u32>,
    values: Vec<f32>,
}

/// One row of an [`InteractionMatrix`]: column indices (sorted ascending) and their values.
#[derive(Debug, Clone, Copy)]
pub struct Row<'a> {
    /// Column indices, sorted ascending, without duplicates.
    pub indices: &'a [u32],
    /// Values, parallel to `indices`.
    pub values: &'a [f32],
}

impl<'a> Row<'a> {
    /// Number of stored entries in the row.
    pub fn len(&self) -> usize {
        self.indices.len()
    }
    /// True when the row stores nothing.
    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }
    /// Iterates `(column, value)` pairs.
    pub fn iter(&self) -> impl Iterator<Item = (u32, f32)> + 'a {
        self.indices.iter().copied().zip(self.values.iter().copied())
    }
    /// True when column `c` is stored (binary search).
    pub fn contains(&self, c: u32) -> bool {
        self.indices.binary_search(&c).is_ok()
    }
}

impl InteractionMatrix {
    /// Builds a matrix from coordinate triplets, summing the values of duplicate `(row, col)` pairs.
    ///
    /// Runs in time linear in the number of triplets: two stable counting sorts (by column, then
    /// by row) leave every row sorted by column, and one pass merges duplicates.
    ///
    /// Fails when the slices differ in length or an index is out of range.
    pub fn from_triplets(
        n_rows: usize,
        n_cols: usize,
        rows: &[u32],
        cols: &[u32],
        values: &[f32],
    ) -> crate::Result<Self> {
        if rows.len() != cols.len() || rows.len() != values.len() {
            return Err(crate::Error::InvalidInput(format!(
                "triplet slices differ in length: {} rows, {} cols, {} values",
                rows.len(),
                cols.len(),
                values.len()
            )));
        }
        if let Some(&r) = rows.iter().find(|&&r| r as usize >= n_rows) {
            return Err(crate::Error::InvalidInput(format!("row index {r} out of range {n_rows}")));
        }
        if let Some(&c) = cols.iter().find(|&&c| c as usize >= n_cols) {
            return Err(crate::Error::InvalidInput(format!(
                "column index {c} out of range {n_cols}"
            )));
        }
        let nnz = rows.len();

        // Pass 1: counting sort of the triplet positions by column.
        let col_ptr = prefix_counts(n_cols, cols.iter().copied());
        let mut by_col = vec![0u32; nnz];
        {
            let mut next = col_ptr.clone();
            for (k, &c) in cols.iter().enumerate() {
                let slot = &mut next[c as usize];
                by_col[*slot as usize] = k as u32;
                *slot += 1;
            }
        }
        // Pass 2: stable counting sort by row, visiting triplets in column order, so each row
        // comes out sorted by column.
        let mut indptr = prefix_counts(n_rows, rows.iter().copied());
        let mut indices = vec![0u32; nnz];
        let mut vals = vec![0f32; nnz];
        {
            let mut next = indptr.clone();
            for &k in &by_col {
                let k = k as usize;
                let slot = &mut next[rows[k] as usize];
                indices[*slot as usize] = cols[k];
                vals[*slot as usize] = values[k];
                *slot += 1;
            }
        }
        drop(by_col);
        // Pass 3: merge duplicates in place, compacting rows towards the front.
        let mut write = 0usize;
        let mut read = 0usize;
        for r in 0..n_rows {
            let end = indptr[r + 1] as usize;
            let row_start = write;
            while read < end {
                if write > row_start && indices[write - 1] == indices[read] {
                    vals[write - 1] += vals[read];
                } else {
                    indices[write] = indices[read];
                    vals[write] = vals[read];
                    write += 1;
                }
                read += 1;
            }
            indptr[r + 1] = write as u64;
        }
        indices.truncate(write);
        vals.truncate(write);
        indices.shrink_to_fit();
        vals.shrink_to_fit();
        Ok(Self { n_rows, n_cols, indptr, indices, values: vals })
    }

    /// Builds a matrix from its CSR arrays, checking every invariant (monotone `indptr`, sorted
    /// unique in-range column indices). Used when loading model files.
    pub fn from_csr(
        n_rows: usize,
        n_cols: usize,
        indptr: Vec<u64>,
        indices: Vec<u32>,
        values: Vec<f32>,
    ) -> crate::Result<Self> {
        let bad = |m: String| Err(crate::Error::InvalidInput(format!("invalid CSR matrix: {m}")));
        if indptr.len() != n_rows + 1 || indptr[0] != 0 {
            return bad(format!("indptr has {} entries for {n_rows} rows", indptr.len()));
        }
        if indices.len() != values.len() || *indptr.last().unwrap() as usize != indices.len() {
            return bad("indptr, indices and values disagree on the number of entries".into());
        }
        for r in 0..n_rows {
            let (s, e) = (indptr[r], indptr[r + 1]);
            // Checking `e` against the entry count here (not only the last pointer) keeps a
            // non-monotone indptr such as [0, 5, 2] from slicing out of bounds.
            if s > e || e > indices.len() as u64 {
                return bad(format!("indptr decreases or overruns the entries at row {r}"));
            }
            let row = &indices[s as usize..e as usize];
            if row.windows(2).any(|w| w[0] >= w[1]) {
                return bad(format!("row {r} is not strictly sorted"));
            }
            if row.last().is_some_and(|&c| c as usize >= n_cols) {
                return bad(format!("row {r} has a column out of range {n_cols}"));
            }
        }
        Ok(Self { n_rows, n_cols, indptr, indices, values })
    }

    /// Number of rows (users, or items for a transposed matrix).
    pub fn n_rows(&self) -> usize {
        self.n_rows
    }
    /// Number of columns.
    pub fn n_cols(&self) -> usize {
        self.n_cols
    }
    /// Number of stored (non-duplicate) entries.
    pub fn nnz(&self) -> usize {
        self.indices.len()
    }
    /// Row `r`. Panics when out of range.
    pub fn row(&self, r: usize) -> Row<'_> {
        let (s, e) = (self.indptr[r] as usize, self.indptr[r + 1] as usize);
        Row { indices: &self.indices[s..e], values: &self.values[s..e] }
    }
    /// Number of entries in row `r`.
    pub fn row_nnz(&self, r: usize) -> usize {
        (self.indptr[r + 1] - self.indptr[r]) as usize
    }
    /// The row pointer array (`n_rows + 1` entries).
    pub fn indptr(&self) -> &[u64] {
        &self.indptr
    }
    /// The column index array.
    pub fn indices(&self) -> &[u32] {
        &self.indices
    }
    /// The value array.
    pub fn values(&self) -> &[f32] {
        &self.values
    }
    /// Iterates rows in order.
    pub fn rows(&self) -> impl ExactSizeIterator<Item = Row<'_>> + '_ {
        (0..self.n_rows).map(move |r| self.row(r))
    }

    /// The same matrix with every value mapped through `f` (confidence scaling, binarising).
    pub fn map_values(&self, f: impl Fn(f32) -> f32 + Sync) -> Self {
        let values = self.values.par_iter().map(|&v| f(v)).collect();
        Self { values, ..self.clone_structure() }
    }

    fn clone_structure(&self) -> Self {
        Self {
            n_rows: self.n_rows,
            n_cols: self.n_cols,
            indptr: self.indptr.clone(),
            indices: self.indices.clone(),
            values: Vec::new(),
        }
    }

    /// The transpose (columns become rows), in time linear in `nnz`; rows of the result are
    /// sorted because the source is scanned in row order.
    pub fn transpose(&self) -> Self {
        let mut indptr = prefix_counts(self.n_cols, self.indices.iter().copied());
        let mut indices = vec![0u32; self.nnz()];
        let mut values = vec![0f32; self.nnz()];
        let mut next = indptr.clone();
        for r in 0..self.n_rows {
            let row = self.row(r);
            for (c, v) in row.iter() {
                let slot = &mut next[c as usize];
                indices[*slot as usize] = r as u32;
                values[*slot as usize] = v;
                *slot += 1;
            }
        }
        indptr.shrink_to_fit();
        Self { n_rows: self.n_cols, n_cols: self.n_rows, indptr, indices, values }
    }

    /// Number of entries in each column (e.g. item popularity for a users × items matrix).
    pub fn col_counts(&self) -> Vec<u32> {
        let mut counts = vec![0u32; self.n_cols];
        for &c in &self.indices {
            counts[c as usize] += 1;
        }
        counts
    }

    /// A copy of this matrix without row `r`: later rows move up by one. Used to erase a user
    /// from a model, together with [`crate::ids::IdMap::remove`] which shifts indices the same way.
    pub fn remove_row(&self, r: usize) -> Self {
        let (s, e) = (self.indptr[r] as usize, self.indptr[r + 1] as usize);
        let removed = (e - s) as u64;
        let mut indices = Vec::with_capacity(self.nnz() - (e - s));
        indices.extend_from_slice(&self.indices[..s]);
        indices.extend_from_slice(&self.indices[e..]);
        let mut values = Vec::with_capacity(indices.len());
        values.extend_from_slice(&self.values[..s]);
        values.extend_from_slice(&self.values[e..]);
        let mut indptr = Vec::with_capacity(self.n_rows);
        indptr.extend_from_slice(&self.indptr[..=r]);
        indptr.extend(self.indptr[r + 2..].iter().map(|&p| p - removed));
        Self { n_rows: self.n_rows - 1, n_cols: self.n_cols, indptr, indices, values }
    }
}

/// Exclusive prefix sums of the counts of each key: `out[k]..out[k+1]` is key k's range.
fn prefix_counts(n_keys: usize, keys: impl Iterator<Item = u32>) -> Vec<u64> {
    let mut ptr = vec![0u64; n_keys + 1];
    for k in keys {
        ptr[k as usize + 1] += 1;
    }
    for i in 0..n_keys {
        ptr[i + 1] += ptr[i];
    }
    ptr
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dense(m: &InteractionMatrix) -> Vec<Vec<f32>> {
        let mut d = vec![vec![0.0; m.n_cols()]; m.n_rows()];
        for (r, row) in m.rows().enumerate() {
            for (c, v) in row.iter() {
                d[r][c as usize] = v;
            }
        }
        d
    }

    #[test]
    fn builds_sorted_rows_and_sums_duplicates() {
        let rows = [1, 0, 1, 1, 2, 0];
        let cols = [2, 1, 0, 2, 1, 1];
        let vals = [1.0, 2.0, 3.0, 4.0, 5.0, 0.5];
        let m = InteractionMatrix::from_triplets(4, 3, &rows, &cols, &vals).unwrap();
        assert_eq!(m.nnz(), 4);
        assert_eq!(m.indptr(), &[0, 1, 3, 4, 4]);
        assert_eq!(m.row(0).indices, &[1]);
        assert_eq!(m.row(0).values, &[2.5]);
        assert_eq!(m.row(1).indices, &[0, 2]);
        assert_eq!(m.row(1).values, &[3.0, 5.0]);
        assert!(m.row(3).is_empty());
        assert_eq!(
            dense(&m),
            vec![
                vec![0.0, 2.5, 0.0],
                vec![3.0, 0.0, 5.0],
                vec![0.0, 5.0, 0.0],
                vec![0.0, 0.0, 0.0]
            ]
        );
    }

    #[test]
    fn transpose_matches_dense_transpose_and_round_trips() {
        let rows = [0, 0, 1, 2, 2, 2];
        let cols = [3, 1, 0, 3, 2, 0];
        let vals = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let m = InteractionMatrix::from_triplets(3, 4, &rows, &cols, &vals).unwrap();
        let t = m.transpose();
        let (d, dt) = (dense(&m), dense(&t));
        for (r, row) in d.iter().enumerate() {
            for (c, v) in row.iter().enumerate() {
                assert_eq!(dt[c][r], *v);
            }
        }
        assert_eq!(t.transpose(), m);
        assert!(t.rows().all(|r| r.indices.windows(2).all(|w| w[0] < w[1])));
    }

    #[test]
    fn rejects_out_of_range_and_ragged_input() {
        assert!(InteractionMatrix::from_triplets(1, 1, &[1], &[0], &[1.0]).is_err());
        assert!(InteractionMatrix::from_triplets(1, 1, &[0], &[1], &[1.0]).is_err());
        assert!(InteractionMatrix::from_triplets(1, 1, &[0], &[0], &[]).is_err());
    }

    #[test]
    fn from_csr_validates_invariants() {
        assert!(InteractionMatrix::from_csr(1, 3, vec![0, 2], vec![0, 2], vec![1.0, 1.0]).is_ok());
        assert!(InteractionMatrix::from_csr(1, 3, vec![0, 2], vec![2, 0], vec![1.0, 1.0]).is_err());
        assert!(InteractionMatrix::from_csr(1, 3, vec![0, 2], vec![0, 3], vec![1.0, 1.0]).is_err());
        assert!(InteractionMatrix::from_csr(2, 3, vec![0, 2], vec![0, 1], vec![1.0, 1.0]).is_err());
        let overrun = InteractionMatrix::from_csr(2, 3, vec![0, 5, 2], vec![0, 1], vec![1.0; 2]);
        assert!(overrun.is_err());
    }

    #[test]
    fn remove_row_shifts_later_rows_up() {
        let m = InteractionMatrix::from_triplets(3, 2, &[0, 1, 1, 2], &[0, 0, 1, 1], &[1.0; 4])
            .unwrap();
        let e = m.remove_row(1);
        assert_eq!(e.n_rows(), 2);
        assert_eq!(e.row(0).indices, &[0]);
        assert_eq!(e.row(1).indices, &[1]);
        assert_eq!(e.nnz(), 2);
        assert_eq!(m.remove_row(2).remove_row(1).remove_row(0).nnz(), 0);
    }
}
