//! The parallel reader against a plain sequential reference, the real data sets, and the matrix.

use super::*;
use std::fmt::Write as _;

/// The simplest correct reader: stream records and intern them one by one.
fn sequential_reference(bytes: &[u8], o: &ReadOptions) -> crate::Result<Interactions> {
    let mut users = IdMap::new();
    let mut items = IdMap::new();
    let (mut u, mut i, mut w, mut t) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let summary = read_records_from(bytes, "gen.tsv", o, |r| {
        u.push(users.get_or_insert(r.user));
        i.push(items.get_or_insert(r.item));
        w.push(r.weight);
        t.extend(r.timestamp);
        Ok(())
    })?;
    let timestamps = if t.is_empty() { None } else { Some(t) };
    Ok(Interactions { users, items, user_idx: u, item_idx: i, weights: w, timestamps, summary })
}

/// A messy generated file: CRLF and LF, blank lines, repeated and new ids in random order,
/// optional bad lines, no final newline.
fn generated_file(rows: usize, with_bad_lines: bool) -> String {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut text = String::from("user\titem\tplays\ttime\n");
    for k in 0..rows {
        let r = next();
        let user = (r % 1000) * (r % 7); // skewed: many rows on few users
        let item = (r >> 20) % 5000;
        let ending = if r % 3 == 0 { "\r\n" } else { "\n" };
        if r % 97 == 0 {
            text.push_str(ending); // blank line
        }
        if with_bad_lines && r % 101 == 0 {
            write!(text, "u{user}\ti{item}\t-3\t{k}{ending}").unwrap();
            continue;
        }
        // Ids of every length class the interner distinguishes (≤ 7, 8–15, > 15 bytes).
        let item = match (r >> 33) % 5 {
            0 => format!("movie {item}"),
            1 => format!("{item}"),
            2 => format!("spotify:track:{item:022}"),
            3 => format!("x{item:014}"),
            _ => format!("y{item:015}"),
        };
        write!(text, "u{user}\t{item}\t{}\t{}{ending}", (r >> 40) % 50, k).unwrap();
    }
    text.truncate(text.trim_end().len());
    text
}

#[test]
fn parallel_reader_equals_sequential_reference_for_any_chunk_size() {
    let text = generated_file(20_000, false);
    let o = ReadOptions::default();
    let reference = sequential_reference(text.as_bytes(), &o).unwrap();
    assert_eq!(reference.len(), 20_000);
    assert!(reference.summary.had_header && reference.summary.format == Format::Tsv);
    for chunk in [1, 13, 100, 4096, 65_536, 1 << 30] {
        let parallel =
            parallel::interactions_from_bytes(text.as_bytes(), "gen.tsv", &o, chunk).unwrap();
        assert_eq!(parallel, reference, "chunk size {chunk}");
    }
    // Through a file too (memory-mapped path).
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gen.tsv");
    std::fs::write(&path, &text).unwrap();
    assert_eq!(read_interactions(&path, &o).unwrap(), reference);
}

#[test]
fn parallel_reader_reports_the_first_bad_line_and_counts_skips_like_the_reference() {
    let text = generated_file(20_000, true);
    let strict = ReadOptions::default();
    let expected = sequential_reference(text.as_bytes(), &strict).unwrap_err().to_string();
    assert!(expected.contains("is negative"), "{expected}");
    for chunk in [1, 64, 1000, 1 << 30] {
        let got = parallel::interactions_from_bytes(text.as_bytes(), "gen.tsv", &strict, chunk)
            .unwrap_err()
            .to_string();
        assert_eq!(got, expected, "chunk size {chunk}");
    }
    let lenient = ReadOptions { skip_bad_lines: true, ..strict };
    let reference = sequential_reference(text.as_bytes(), &lenient).unwrap();
    assert!(reference.summary.skipped_bad_lines > 100);
    for chunk in [1, 64, 1000, 1 << 30] {
        let got =
            parallel::interactions_from_bytes(text.as_bytes(), "gen.tsv", &lenient, chunk).unwrap();
        assert_eq!(got, reference, "chunk size {chunk}");
    }
}

#[test]
fn chunks_end_on_line_boundaries_and_cover_the_input() {
    let body = b"a\nbb\n\nccc\ndddd";
    for target in 1..body.len() + 2 {
        let chunks = parallel::split_at_lines(body, target);
        assert_eq!(chunks.concat(), body.to_vec());
        assert!(chunks[..chunks.len() - 1].iter().all(|c| c.ends_with(b"\n")));
    }
}

#[test]
fn ids_are_numbered_in_order_of_first_appearance() {
    let data = parse_interactions(b"b,x\na,y\nb,y\nc,x\n", "t", &ReadOptions::default()).unwrap();
    assert_eq!(data.users.iter().collect::<Vec<_>>(), vec!["b", "a", "c"]);
    assert_eq!(data.items.iter().collect::<Vec<_>>(), vec!["x", "y"]);
    assert_eq!(data.user_idx, vec![0, 1, 0, 2]);
    assert_eq!(data.item_idx, vec![0, 1, 1, 0]);
    assert_eq!(data.timestamps, None);
}

#[test]
fn matrix_sums_duplicate_pairs() {
    let text = b"u1,i1,2\nu2,i1,1\nu1,i1,3\nu1,i2,0\n";
    let data = parse_interactions(text, "t", &ReadOptions::default()).unwrap();
    assert_eq!(data.len(), 4);
    let m = data.to_matrix().unwrap();
    assert_eq!((m.n_rows(), m.n_cols(), m.nnz()), (2, 2, 3));
    assert_eq!(m.row(0).indices, &[0, 1]);
    assert_eq!(m.row(0).values, &[5.0, 0.0]);
    assert_eq!(m.row(1).values, &[1.0]);
    let ds = data.into_dataset().unwrap();
    assert_eq!(ds.users.id(0), "u1");
    assert_eq!(ds.matrix, m);
}

/// Path of a shared data set, relative to the crate directory (tests run there).
fn shared(path: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data").join(path)
}

#[test]
fn reads_the_real_lastfm_file() {
    let path = shared("lastfm-2k/user_artists.dat");
    let bytes = std::fs::read(&path).unwrap();
    assert!(!bytes.ends_with(b"\r\n") && bytes.windows(2).any(|w| w == b"\r\n"));
    let data = read_interactions(&path, &ReadOptions::default()).unwrap();
    assert_eq!(data.summary.format, Format::Lastfm);
    assert!(data.summary.detected && data.summary.had_header);
    assert_eq!(data.len(), 92_834);
    assert_eq!(data.users.len(), 1_892);
    assert_eq!(data.items.len(), 17_632);
    let total: f64 = data.weights.iter().map(|&w| f64::from(w)).sum();
    assert_eq!(total, 69_183_975.0);
    // The streaming reader sees the same rows.
    let mut rows = 0u64;
    let mut last_line = 0;
    let s = read_records(&path, &ReadOptions::default(), |r| {
        rows += 1;
        last_line = r.line;
        Ok(())
    })
    .unwrap();
    assert_eq!((rows, s), (92_834, data.summary));
    assert_eq!(last_line, 92_835);
    let m = data.to_matrix().unwrap();
    assert_eq!(m.nnz(), 92_834, "the README says there are no duplicate pairs");
}

#[test]
fn reads_the_real_movielens_files() {
    let data = read_interactions(&shared("ml-100k/u.data"), &ReadOptions::default()).unwrap();
    assert_eq!(data.summary.format, Format::Ml100k);
    assert_eq!((data.len(), data.users.len(), data.items.len()), (100_000, 943, 1_682));
    let ts = data.timestamps.as_ref().unwrap();
    assert_eq!(ts.iter().min(), Some(&874_724_710));
    assert_eq!(ts.iter().max(), Some(&893_286_638));
    let fives = data.weights.iter().filter(|&&w| w == 5.0).count();
    assert_eq!(fives, 21_201);

    let path = shared("ml-latest-small/ratings.csv");
    let data = read_interactions(&path, &ReadOptions::default()).unwrap();
    assert_eq!(data.summary.format, Format::MlLatest);
    assert_eq!((data.len(), data.users.len(), data.items.len()), (100_836, 610, 9_724));
    let (format, reason) = detect_file_format(&path).unwrap();
    assert_eq!(format, Format::MlLatest);
    assert!(reason.contains("userId,movieId,rating,timestamp"), "{reason}");
}
