//! Tests of the model file format: round trips, damage of every kind, erasure.

use std::path::Path;

use super::*;
use crate::models::{FitOptions, ModelConfig, ModelSpec};
use crate::topk::{ScoredItem, top_n};

/// A small but irregular data set: 40 users, 25 items, ids with awkward characters (newline, NUL,
/// multi-byte UTF-8, an empty id).
fn data() -> (IdMap, IdMap, InteractionMatrix) {
    let mut user_ids: Vec<String> = (0..40).map(|u| format!("user-{u:03}")).collect();
    user_ids[3] = "ünïcödé\nline".into();
    user_ids[7] = "nul\0inside".into();
    user_ids[11] = String::new();
    let item_ids: Vec<String> = (0..25).map(|i| format!("spotify:track:{i}🎵")).collect();
    let (mut rows, mut cols, mut vals) = (Vec::new(), Vec::new(), Vec::new());
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for u in 0..40u32 {
        for _ in 0..(3 + u % 7) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Skewed towards low item indices, as real popularity is.
            let i = ((x % 25) * (x % 25) / 25) as u32;
            rows.push(u);
            cols.push(i);
            vals.push(1.0 + (x % 5) as f32);
        }
    }
    let m = InteractionMatrix::from_triplets(40, 25, &rows, &cols, &vals).unwrap();
    (IdMap::from_ids(&user_ids).unwrap(), IdMap::from_ids(&item_ids).unwrap(), m)
}

/// Trains `spec` on [`data`] and wraps it in an artifact with a metric.
pub(super) fn artifact(spec: &str) -> ModelArtifact {
    let (users, items, train) = data();
    let config = ModelConfig::from_spec(&ModelSpec::parse(spec).unwrap()).unwrap();
    let model = config.fit(&train, &FitOptions::default()).unwrap();
    let mut a = ModelArtifact::new(model, users, items, train, Some("unit test data".into()));
    a.header.metrics.insert("ndcg@10".into(), 0.25);
    a
}

/// Top-10 recommendations (seen items excluded) of every user, from stored parameters and from
/// history alone, plus similar items and explanations: everything a loaded model must reproduce.
pub(super) fn answers(a: &ModelArtifact) -> Vec<(Vec<ScoredItem>, Vec<ScoredItem>)> {
    let rec = a.recommender();
    let mut scores = vec![0f32; rec.n_items()];
    let mut out = Vec::new();
    for id in a.users.iter() {
        let (_, q) = a.user_query(id).unwrap();
        rec.score(&q, &mut scores);
        let known = top_n(&scores, 10, q.items);
        rec.score(&Query::from_history(q.items, q.weights), &mut scores);
        let folded = top_n(&scores, 10, q.items);
        out.push((known, folded));
    }
    for item in 0..rec.n_items() as u32 {
        out.push((rec.similar_items(item, 5), Vec::new()));
    }
    out
}

fn explanations(a: &ModelArtifact) -> Vec<Vec<crate::models::Contribution>> {
    let rec = a.recommender();
    let mut out = Vec::new();
    for id in a.users.iter().take(10) {
        let (_, q) = a.user_query(id).unwrap();
        for item in [0u32, 5, 24] {
            out.push(rec.explain(&q, item));
        }
    }
    out
}

fn assert_round_trip(spec: &str) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.encore");
    let a = artifact(spec);
    let bytes = a.save(&path).unwrap();
    assert_eq!(bytes, std::fs::metadata(&path).unwrap().len());
    assert_eq!(a.to_bytes().unwrap(), std::fs::read(&path).unwrap(), "{spec}: to_bytes == save");

    let loaded = ModelArtifact::load(&path).unwrap();
    assert_eq!(loaded.header, a.header, "{spec}");
    assert_eq!(loaded.users, a.users);
    assert_eq!(loaded.items, a.items);
    assert_eq!(loaded.train, a.train);
    assert_eq!(loaded.model.arrays().len(), a.model.arrays().len());
    assert_eq!(answers(&loaded), answers(&a), "{spec}: recommendations differ after load");
    assert_eq!(explanations(&loaded), explanations(&a), "{spec}: explanations differ");
    assert_eq!(ModelArtifact::read_header(&path).unwrap(), a.header);

    let from_bytes = ModelArtifact::from_bytes(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(answers(&from_bytes), answers(&a), "{spec}: from_bytes differs");

    // Saving the loaded (memory-mapped) artifact gives the same bytes.
    let again = dir.path().join("again.encore");
    loaded.save(&again).unwrap();
    assert_eq!(std::fs::read(&again).unwrap(), std::fs::read(&path).unwrap());
}

#[test]
fn popularity_round_trips() {
    assert_round_trip("popularity");
}

fn expect_error(bytes: &[u8], needle: &str) -> String {
    match ModelArtifact::from_bytes(bytes) {
        Ok(_) => panic!("expected an error containing `{needle}`, the file loaded"),
        Err(Error::ModelFile { message, .. }) => {
            assert!(message.contains(needle), "expected `{needle}` in `{message}`");
            message
        }
        Err(other) => panic!("expected a model file error, got {other:?}"),
    }
}

#[test]
fn reads_header_only_without_the_rest_of_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.encore");
    let a = artifact("popularity");
    a.save(&path).unwrap();
    let h = ModelArtifact::read_header(&path).unwrap();
    assert_eq!(h.algorithm, Algorithm::Popularity);
    assert_eq!((h.n_users, h.n_items, h.nnz), (40, 25, a.train.nnz()));
    assert_eq!(h.metrics["ndcg@10"], 0.25);
    assert_eq!(h.trained_on.as_deref(), Some("unit test data"));
    assert_eq!(h.data_fingerprint.len(), 64);

    // Damage after the header does not bother read_header (load catches it).
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 10;
    bytes[last] ^= 0x40;
    std::fs::write(&path, &bytes).unwrap();
    assert_eq!(ModelArtifact::read_header(&path).unwrap(), h);
    assert!(ModelArtifact::load(&path).is_err());

    // A truncated file is reported by read_header too.
    std::fs::write(&path, &bytes[..bytes.len() - 1]).unwrap();
    let err = ModelArtifact::read_header(&path).unwrap_err().to_string();
    assert!(err.contains("truncated"), "{err}");
}

#[test]
fn every_truncation_is_an_error() {
    let bytes = artifact("popularity").to_bytes().unwrap();
    for cut in 0..bytes.len() {
        let msg = match ModelArtifact::from_bytes(&bytes[..cut]) {
            Ok(_) => panic!("a file cut at {cut} of {} bytes loaded", bytes.len()),
            Err(e) => e.to_string(),
        };
        assert!(msg.contains("truncated"), "cut at {cut}: {msg}");
    }
    // The same through the file system, at a few cut points (load maps large files and reads
    // small ones).
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cut.encore");
    for cut in [0, 5, 8, 20, 40, 200, bytes.len() / 2, bytes.len() - 1] {
        std::fs::write(&path, &bytes[..cut]).unwrap();
        let msg = ModelArtifact::load(&path).unwrap_err().to_string();
        assert!(msg.contains("truncated"), "cut at {cut}: {msg}");
        assert!(msg.contains("cut.encore"), "the error names the file: {msg}");
    }
}

#[test]
fn every_flipped_byte_is_detected() {
    let bytes = artifact("popularity").to_bytes().unwrap();
    for pos in 0..bytes.len() {
        for bit in [0x01u8, 0x80] {
            let mut damaged = bytes.clone();
            damaged[pos] ^= bit;
            let expected = match pos {
                0..8 => "not an Encore model file",
                // A changed version is taken at its word: it is checked before any checksum so
                // that files of future formats (whose layout may differ) are named as such.
                8..12 => "format",
                _ => "corrupted",
            };
            expect_error(&damaged, expected);
        }
    }
}

#[test]
fn newer_version_and_wrong_magic_have_clear_errors() {
    let mut bytes = artifact("popularity").to_bytes().unwrap();
    bytes[8..12].copy_from_slice(&2u32.to_le_bytes());
    let msg = expect_error(&bytes, "written by a newer Encore (format 2");
    assert!(msg.contains("this build reads up to 1"), "{msg}");

    let msg = expect_error(b"PK\x03\x04 this is a zip file, not a model", "not an Encore");
    assert!(!msg.contains("truncated"));
    expect_error(b"{\"format_version\": 1}", "not an Encore model file");
    expect_error(b"ENCORE", "truncated");
    expect_error(&[], "truncated");

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("newer.encore");
    std::fs::write(&path, &bytes).unwrap();
    let err = ModelArtifact::read_header(&path).unwrap_err().to_string();
    assert!(err.contains("newer Encore"), "{err}");
    let err = ModelArtifact::load(&path).unwrap_err().to_string();
    assert!(err.contains("newer Encore"), "{err}");
}

#[test]
fn trailing_data_is_rejected() {
    let mut bytes = artifact("popularity").to_bytes().unwrap();
    bytes.extend_from_slice(b"extra");
    expect_error(&bytes, "unexpected data after the end");
}

#[test]
fn load_keeps_model_arrays_mapped() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.encore");
    artifact("popularity").save(&path).unwrap();
    let loaded = ModelArtifact::load(&path).unwrap();
    let Model::Popularity(_) = &loaded.model else { panic!("wrong model") };
    // The popularity model stores its counts in a Buffer; it must come back mapped.
    let debug = format!("{:?}", loaded.model);
    assert!(debug.contains("mapped: true"), "{debug}");
    let copied = ModelArtifact::from_bytes(&std::fs::read(&path).unwrap()).unwrap();
    assert!(format!("{:?}", copied.model).contains("mapped: false"));
}

/// True when `needle` occurs anywhere in `haystack`.
pub(super) fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Every algorithm, as trained in these tests.
const SPECS: [&str; 5] = [
    "popularity",
    "ease:lambda=50",
    "ials:factors=8,iterations=3",
    "bpr:factors=8,iterations=5",
    "itemknn:neighbours=5",
];

/// The bytes of user row `user` of the model's `user_factors` array, when it has one.
fn user_factor_bytes(a: &ModelArtifact, user: usize) -> Option<Vec<u8>> {
    let (_, factors) = a.model.arrays().into_iter().find(|(n, _)| *n == "user_factors")?;
    let crate::buffer::ArrayRef::F32(f) = factors else { panic!("user_factors is f32") };
    let k = f.len() / a.users.len();
    Some(f[user * k..(user + 1) * k].iter().flat_map(|x| x.to_le_bytes()).collect())
}

fn assert_erasure(spec: &str) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.encore");
    let mut a = artifact(spec);
    a.save(&path).unwrap();
    let erased = "user-017";
    let erased_row = a.users.get(erased).unwrap() as usize;
    assert!(contains(&std::fs::read(&path).unwrap(), erased.as_bytes()));
    let factor_row = user_factor_bytes(&a, erased_row);
    if let Some(row) = &factor_row {
        assert!(contains(&std::fs::read(&path).unwrap(), row));
    }
    let before: Vec<_> = answers(&a);
    let n_before = a.users.len();
    let fp_before = a.header.data_fingerprint.clone();

    // Erase from a memory-mapped artifact and save over its own file.
    let mut loaded = ModelArtifact::load(&path).unwrap();
    assert!(loaded.remove_user(erased));
    assert!(!loaded.remove_user(erased), "{spec}: a second removal finds nothing");
    loaded.save(&path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    assert!(!contains(&bytes, erased.as_bytes()), "{spec}: the erased id is still in the file");
    if let Some(row) = &factor_row {
        assert!(!contains(&bytes, row), "{spec}: the erased user's factors are still in the file");
    }

    let after = ModelArtifact::load(&path).unwrap();
    assert_eq!(after.users.len(), n_before - 1);
    assert_eq!(after.header.n_users, n_before - 1);
    assert_ne!(after.header.data_fingerprint, fp_before);
    assert_eq!(
        after.header.data_fingerprint,
        fingerprint(&after.users, &after.items, &after.train)
    );
    assert!(matches!(after.user_query(erased), Err(Error::UnknownUser(_))));
    // Every other user keeps its history, its stored parameters and so its answers.
    let mut expected = before;
    expected.remove(erased_row);
    assert_eq!(answers(&after), expected, "{spec}: other users' answers changed");
    for id in after.users.iter() {
        let (_, q_after) = after.user_query(id).unwrap();
        let (_, q_before) = a.user_query(id).unwrap();
        assert_eq!(q_after.items, q_before.items);
        assert_eq!(q_after.weights, q_before.weights);
    }
    a.remove_user(erased);
    assert_eq!(a.header, after.header);
}

#[test]
fn remove_user_erases_the_id_and_keeps_other_answers() {
    for spec in SPECS {
        assert_erasure(spec);
    }
}

#[test]
fn user_query_returns_the_training_row() {
    let a = artifact("popularity");
    let (u, q) = a.user_query("ünïcödé\nline").unwrap();
    assert_eq!(u, 3);
    assert_eq!(q.user, Some(3));
    assert_eq!(q.items, a.train.row(3).indices);
    assert!(matches!(a.user_query("nobody"), Err(Error::UnknownUser(id)) if id == "nobody"));
}

#[test]
fn fingerprint_is_stable_and_sensitive() {
    let (users, items, m) = data();
    let f = fingerprint(&users, &items, &m);
    assert_eq!(f, fingerprint(&users.clone(), &items.clone(), &m.clone()));
    assert_eq!(f.len(), 64);
    assert!(f.bytes().all(|c| c.is_ascii_hexdigit()));
    let m2 = m.map_values(|v| v * 2.0);
    assert_ne!(f, fingerprint(&users, &items, &m2));
    let mut items2 = items.clone();
    items2.remove("spotify:track:24🎵");
    items2.get_or_insert("spotify:track:24🎶");
    assert_ne!(f, fingerprint(&users, &items2, &m));
    // Ids are length-prefixed: moving a character from one id to the next changes the hash.
    let a = IdMap::from_ids(["ab", "c"]).unwrap();
    let b = IdMap::from_ids(["a", "bc"]).unwrap();
    let e = InteractionMatrix::from_triplets(2, 0, &[], &[], &[]).unwrap();
    assert_ne!(fingerprint(&a, &IdMap::new(), &e), fingerprint(&b, &IdMap::new(), &e));
}

#[test]
fn inconsistent_artifacts_and_bad_metrics_are_not_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.encore");
    let mut a = artifact("popularity");
    a.header.metrics.insert("recall@20".into(), f64::NAN);
    assert!(matches!(a.save(&path), Err(Error::InvalidInput(m)) if m.contains("recall@20")));
    assert!(!path.exists());
    a.header.metrics.remove("recall@20");
    a.header.n_items += 1;
    assert!(a.save(&path).is_err());
    assert!(!path.exists());
    // No temporary files are left behind.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn save_replaces_an_existing_file_and_reports_io_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.encore");
    std::fs::write(&path, b"old contents").unwrap();
    let a = artifact("popularity");
    a.save(&path).unwrap();
    assert!(ModelArtifact::load(&path).is_ok());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary file is left");
    let missing = dir.path().join("no/such/dir/m.encore");
    assert!(matches!(a.save(&missing), Err(Error::Io { .. })));
    assert!(matches!(ModelArtifact::load(&missing), Err(Error::Io { .. })));
    assert!(matches!(ModelArtifact::read_header(Path::new("/nonexistent")), Err(Error::Io { .. })));
}

#[test]
fn ease_round_trips() {
    assert_round_trip("ease:lambda=50");
}

#[test]
fn ials_round_trips() {
    assert_round_trip("ials:factors=8,iterations=3");
}

#[test]
fn bpr_round_trips() {
    assert_round_trip("bpr:factors=8,iterations=5");
}

#[test]
fn itemknn_round_trips() {
    assert_round_trip("itemknn:neighbours=5");
}

/// Recomputes every length and checksum of `bytes` after a deliberate change, so that the
/// structural checks behind the checksums get exercised.
pub(super) fn reseal(bytes: &mut [u8]) {
    use super::layout::{PREAMBLE_LEN, le_u32};
    let len = bytes.len();
    bytes[20..28].copy_from_slice(&(len as u64).to_le_bytes());
    let preamble_crc = crc32fast::hash(&bytes[0..28]);
    bytes[28..32].copy_from_slice(&preamble_crc.to_le_bytes());
    let header_len = le_u32(&bytes[12..16]) as usize;
    let sections = le_u32(&bytes[16..20]) as usize;
    // Damaged lengths may point past the end; then there is no header checksum to fix.
    let table_end = (PREAMBLE_LEN + header_len).saturating_add(sections.saturating_mul(64));
    if let Some(region) = bytes.get(PREAMBLE_LEN..table_end) {
        let header_crc = crc32fast::hash(region);
        bytes[32..36].copy_from_slice(&header_crc.to_le_bytes());
    }
    let file_crc = crc32fast::hash(&bytes[..len - 4]);
    bytes[len - 4..].copy_from_slice(&file_crc.to_le_bytes());
}

/// Byte position of the table entry of section `name`, and the section's data offset.
pub(super) fn section(bytes: &[u8], name: &str) -> (usize, usize) {
    use super::layout::{PREAMBLE_LEN, le_u32, le_u64};
    let header_len = le_u32(&bytes[12..16]) as usize;
    let sections = le_u32(&bytes[16..20]) as usize;
    let table = PREAMBLE_LEN + header_len;
    (0..sections)
        .map(|s| table + s * 64)
        .find(|&e| bytes[e..e + 40].split(|&b| b == 0).next() == Some(name.as_bytes()))
        .map(|e| (e, le_u64(&bytes[e + 48..e + 56]) as usize))
        .unwrap_or_else(|| panic!("no section {name}"))
}

#[test]
fn resealed_resave_is_byte_identical() {
    // Guards the helpers below: resealing an untouched file changes nothing.
    let bytes = artifact("popularity").to_bytes().unwrap();
    let mut copy = bytes.clone();
    reseal(&mut copy);
    assert_eq!(copy, bytes);
}

#[test]
fn structural_damage_behind_valid_checksums_is_rejected() {
    let good = artifact("popularity").to_bytes().unwrap();
    let damage = |f: &dyn Fn(&mut Vec<u8>), needle: &str| {
        let mut b = good.clone();
        f(&mut b);
        reseal(&mut b);
        expect_error(&b, needle);
    };
    // CSR: an item index beyond the catalogue, a non-monotone row pointer.
    damage(
        &|b| {
            let (_, off) = section(b, "train.indices");
            b[off..off + 4].copy_from_slice(&999u32.to_le_bytes());
        },
        "training matrix",
    );
    damage(
        &|b| {
            let (_, off) = section(b, "train.indptr");
            // Row 1 now claims to end far beyond the last entry, while indptr's last value is
            // still the true count.
            b[off + 8..off + 16].copy_from_slice(&1_000u64.to_le_bytes());
        },
        "training matrix",
    );
    // Ids: a duplicate (user-002 → user-001), invalid UTF-8, offsets past the bytes.
    damage(
        &|b| {
            let (_, off) = section(b, "users.bytes");
            let pos = off + b[off..].windows(8).position(|w| w == b"user-002").unwrap();
            b[pos + 7] = b'1';
        },
        "duplicate id",
    );
    damage(
        &|b| {
            let (_, off) = section(b, "items.bytes");
            b[off] = 0xff;
        },
        "not UTF-8",
    );
    damage(
        &|b| {
            let (_, off) = section(b, "items.offsets");
            b[off + 8..off + 16].copy_from_slice(&u64::MAX.to_le_bytes());
        },
        "items ids",
    );
    // Table entries: misaligned or overlapping, out of bounds, overflowing, wrong type, unknown.
    damage(
        &|b| {
            let (e, _) = section(b, "train.values");
            let off = super::layout::le_u64(&b[e + 48..]) + 4;
            b[e + 48..e + 56].copy_from_slice(&off.to_le_bytes());
        },
        "misaligned",
    );
    damage(
        &|b| {
            let (e, _) = section(b, "items.offsets");
            b[e + 48..e + 56].copy_from_slice(&64u64.to_le_bytes());
        },
        "overlaps",
    );
    damage(
        &|b| {
            let (e, _) = section(b, "model.counts");
            b[e + 56..e + 64].copy_from_slice(&(1u64 << 40).to_le_bytes());
        },
        "extends past",
    );
    damage(
        &|b| {
            let (e, _) = section(b, "model.counts");
            b[e + 56..e + 64].copy_from_slice(&u64::MAX.to_le_bytes());
        },
        "extends past",
    );
    damage(
        &|b| {
            let (e, _) = section(b, "train.values");
            b[e + 40] = 2;
        },
        "holds u32 values, expected f32",
    );
    damage(
        &|b| {
            let (e, _) = section(b, "train.values");
            b[e..e + 12].copy_from_slice(b"train.valuez");
        },
        "unknown section",
    );
    damage(
        &|b| {
            let (e, _) = section(b, "train.values");
            b[e..e + 12].copy_from_slice(b"train.indptr");
        },
        "appears twice",
    );
    // A training weight that is not a number (the data readers never produce one).
    damage(
        &|b| {
            let (_, off) = section(b, "train.values");
            b[off..off + 4].copy_from_slice(&f32::NAN.to_le_bytes());
        },
        "training weight #0 is not finite",
    );
    // The model's own array shorter than the catalogue.
    damage(
        &|b| {
            let (e, _) = section(b, "model.counts");
            let n = super::layout::le_u64(&b[e + 56..]) - 1;
            b[e + 56..e + 64].copy_from_slice(&n.to_le_bytes());
        },
        "items scored by the model",
    );
    // A header that does not parse.
    damage(
        &|b| {
            let pos = 36 + b[36..].iter().position(|&c| c == b'{').unwrap();
            b[pos] = b'[';
        },
        "unreadable header",
    );
}

#[test]
fn inconsistent_parts_written_anyway_are_rejected_on_load() {
    // `save` refuses inconsistent artifacts; this writes them through the raw writer to check
    // that the reader does not rely on the writer's good behaviour.
    let write = |a: &ModelArtifact| {
        let mut out = Vec::new();
        write::write_artifact(a, &mut out, Path::new("<test>")).unwrap();
        out
    };
    let mut a = artifact("popularity");
    a.header.n_users += 1;
    expect_error(&write(&a), "declares 41 users");
    let mut a = artifact("popularity");
    a.header.nnz -= 1;
    expect_error(&write(&a), "interactions");
    let mut a = artifact("popularity");
    a.header.algorithm = Algorithm::Ease;
    expect_error(&write(&a), "ease model");
    let mut a = artifact("popularity");
    a.header.format_version = 7;
    expect_error(&write(&a), "header says format 7");
    let mut a = artifact("popularity");
    a.items.get_or_insert("one more item");
    a.header.n_items += 1;
    expect_error(&write(&a), "declares 26 items scored by the model, the file holds 25");
}

#[test]
fn factor_rows_must_match_the_id_maps() {
    let good = artifact("ials:factors=8,iterations=2").to_bytes().unwrap();
    let mut b = good.clone();
    // Drop the last user's factor row: the array is still whole rows of 8, so only the
    // cross-check against the user ids can notice.
    let (e, _) = section(&b, "model.user_factors");
    let n = super::layout::le_u64(&b[e + 56..]) - 8;
    b[e + 56..e + 64].copy_from_slice(&n.to_le_bytes());
    reseal(&mut b);
    expect_error(&b, "do not fit 40 users and 25 items");
}

#[test]
fn random_damage_behind_valid_checksums_never_panics() {
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for spec in SPECS {
        let good = artifact(spec).to_bytes().unwrap();
        let mut loaded = 0;
        for _ in 0..1000 {
            let mut b = good.clone();
            for _ in 0..1 + next() % 4 {
                // Damage past the magic and version, where it is otherwise caught by checksums.
                let pos = 12 + (next() as usize) % (b.len() - 16);
                b[pos] = next() as u8;
            }
            reseal(&mut b);
            if ModelArtifact::from_bytes(&b).is_ok() {
                check_like_the_fuzzer(&b);
                loaded += 1;
            }
        }
        // Damage to weights and padding loads; damage to structure does not. Both must occur.
        assert!(loaded > 0 && loaded < 1000, "{spec}: {loaded} of 1000 damaged files loaded");
    }
}

/// A directory of the repository's `fuzz/` tree.
fn fuzz_dir(sub: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz").join(sub)
}

/// Specs of the committed seed files (one small model file per algorithm).
const SEED_SPECS: [(&str, &str); 5] = [
    ("popularity", "popularity"),
    ("ease", "ease:lambda=10"),
    ("bpr", "bpr:factors=4,iterations=3"),
    ("ials", "ials:factors=4,iterations=2"),
    ("itemknn", "itemknn:neighbours=3"),
];

/// Writes the seed corpus of the `model_file_load` fuzz target: tiny models (so fuzzing runs
/// fast) of every algorithm. Run with `ENCORE_WRITE_FUZZ_SEEDS=1` after a format change.
fn write_fuzz_seeds(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let users = IdMap::from_ids(["alice", "bob", "carol", "dave", "erin", "frank"]).unwrap();
    let items = IdMap::from_ids(["song:1", "song:2", "film:3", "game:4", "song:5"]).unwrap();
    let rows = [0, 0, 1, 1, 1, 2, 3, 3, 4, 4, 5, 5, 5];
    let cols = [0, 1, 1, 2, 3, 0, 3, 4, 0, 2, 1, 3, 4];
    let vals = [1.0, 3.0, 2.0, 1.0, 5.0, 1.0, 2.0, 2.0, 4.0, 1.0, 1.0, 1.0, 7.0];
    let train = InteractionMatrix::from_triplets(6, 5, &rows, &cols, &vals).unwrap();
    for (name, spec) in SEED_SPECS {
        let config = ModelConfig::from_spec(&ModelSpec::parse(spec).unwrap()).unwrap();
        let model = config.fit(&train, &FitOptions::default()).unwrap();
        let mut a = ModelArtifact::new(model, users.clone(), items.clone(), train.clone(), None);
        a.header.metrics.insert("ndcg@10".into(), 0.5);
        a.header.created_unix_ms = 0;
        a.save(&dir.join(format!("{name}.encore"))).unwrap();
    }
}

#[test]
fn committed_format_1_files_still_load() {
    // The fuzz seeds double as compatibility fixtures: files written by earlier builds must keep
    // loading as long as FORMAT_VERSION is 1.
    let dir = fuzz_dir("seeds/model_file_load");
    if std::env::var_os("ENCORE_WRITE_FUZZ_SEEDS").is_some() {
        write_fuzz_seeds(&dir);
    }
    for (name, _) in SEED_SPECS {
        let path = dir.join(format!("{name}.encore"));
        let a = ModelArtifact::load(&path).unwrap_or_else(|e| {
            panic!(
                "a format-1 file no longer loads: {e}\n\
                 If a model's stored configuration gained a field, give it a serde default so \
                 that existing files keep loading. Only before the first release may the \
                 fixtures be rewritten instead: ENCORE_WRITE_FUZZ_SEEDS=1 cargo test -p \
                 encore-core --lib model_file::tests::committed_format_1_files_still_load"
            )
        });
        assert_eq!(a.header.format_version, 1);
        assert_eq!(a.header.algorithm.name(), name);
        assert_eq!((a.users.len(), a.items.len(), a.train.nnz()), (6, 5, 13));
        assert_eq!(a.header.data_fingerprint, fingerprint(&a.users, &a.items, &a.train));
        let recs = answers(&a);
        assert!(recs.iter().take(6).all(|(known, _)| !known.is_empty()), "{name}: {recs:?}");
    }
}

/// The properties the `model_file_load` fuzz target checks, for one input: whatever loads
/// answers every kind of request and serialises back to an equal artifact.
fn check_like_the_fuzzer(bytes: &[u8]) {
    let Ok(a) = ModelArtifact::from_bytes(bytes) else { return };
    answers(&a);
    explanations(&a);
    let again = ModelArtifact::from_bytes(&a.to_bytes().unwrap()).unwrap();
    assert_eq!(again.header, a.header);
    assert_eq!((&again.users, &again.items, &again.train), (&a.users, &a.items, &a.train));
}

#[test]
fn fuzz_regression_inputs_are_handled() {
    // Inputs that once crashed the `model_file_load` fuzz target, tried as the target does: as
    // they are and resealed (lengths and checksums recomputed).
    let dir = fuzz_dir("regressions/model_file_load");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let mut bytes = std::fs::read(entry.unwrap().path()).unwrap();
        check_like_the_fuzzer(&bytes);
        if bytes.len() >= 40 {
            reseal(&mut bytes);
            check_like_the_fuzzer(&bytes);
        }
        n += 1;
    }
    assert!(n > 0, "no regression inputs in {}", dir.display());
}
