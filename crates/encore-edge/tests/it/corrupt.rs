//! Damaged files: truncated, corrupted, wrong version, not Encore — an error, never a panic.

use encore_edge::{EdgeModel, ErrorKind};

use crate::common::{FIXTURES, Rng, fix_checksums, fixture};

fn kind_of(bytes: &[u8]) -> ErrorKind {
    match EdgeModel::from_bytes(bytes) {
        Ok(_) => panic!("damaged bytes were accepted"),
        Err(e) => {
            assert!(!e.message().is_empty());
            e.kind()
        }
    }
}

#[test]
fn every_truncation_is_refused() {
    for (name, _, _) in FIXTURES {
        let bytes = fixture(name);
        for len in 0..bytes.len() {
            let kind = kind_of(&bytes[..len]);
            let expected = if len < 8 { ErrorKind::NotEdgeModel } else { ErrorKind::Truncated };
            assert_eq!(kind, expected, "{name} cut at {len}");
        }
    }
}

#[test]
fn a_truncated_file_says_so() {
    let bytes = fixture("ials-int8.edge");
    let e = EdgeModel::from_bytes(&bytes[..bytes.len() / 2]).unwrap_err();
    assert!(e.message().starts_with("truncated edge model file"), "{e}");
}

#[test]
fn every_flipped_byte_is_refused() {
    for (name, _, _) in FIXTURES {
        let bytes = fixture(name);
        for at in 0..bytes.len() {
            let mut damaged = bytes.clone();
            damaged[at] ^= 0x5A;
            kind_of(&damaged);
        }
    }
}

#[test]
fn a_newer_version_is_refused_by_name() {
    let mut bytes = fixture("ials-f32.edge");
    bytes[8..12].copy_from_slice(&2u32.to_le_bytes());
    fix_checksums(&mut bytes);
    let e = EdgeModel::from_bytes(&bytes).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::UnsupportedVersion);
    assert!(e.message().contains("version 2") && e.message().contains("newer"), "{e}");
    bytes[8..12].copy_from_slice(&0u32.to_le_bytes());
    fix_checksums(&mut bytes);
    assert_eq!(kind_of(&bytes), ErrorKind::UnsupportedVersion);
}

#[test]
fn other_files_are_not_edge_models() {
    for bytes in [
        &b""[..],
        b"ENCOREMD\x01\x00\x00\x00 a server model file",
        b"\x89PNG\r\n\x1a\n....",
        &[0u8; 4096][..],
    ] {
        let e = EdgeModel::from_bytes(bytes).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotEdgeModel);
        assert!(e.message().contains("not an Encore edge model file"), "{e}");
    }
}

#[test]
fn structural_damage_behind_valid_checksums_is_refused() {
    // Edits the checksums cannot catch (they are recomputed): the structure checks must.
    let base = fixture("ials-int8.edge");
    let edits: [(usize, &[u8]); 5] = [
        (12, &9u32.to_le_bytes()),  // unknown algorithm
        (16, &7u32.to_le_bytes()),  // unknown precision
        (20, &49u32.to_le_bytes()), // item count disagrees with the sections
        (24, &9u32.to_le_bytes()),  // factor count disagrees
        (28, &65u32.to_le_bytes()), // too many sections
    ];
    for (at, value) in edits {
        let mut bytes = base.clone();
        bytes[at..at + value.len()].copy_from_slice(value);
        fix_checksums(&mut bytes);
        assert_eq!(kind_of(&bytes), ErrorKind::Corrupt, "edit at {at}");
    }
}

#[test]
fn random_edits_behind_valid_checksums_never_panic() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut accepted = 0;
    for (name, _, _) in FIXTURES {
        let base = fixture(name);
        for _ in 0..1500 {
            let mut bytes = base.clone();
            for _ in 0..1 + rng.next(4) {
                let at = 64 + rng.next(base.len() as u64 - 68) as usize;
                bytes[at] = rng.next(256) as u8;
            }
            fix_checksums(&mut bytes);
            // Edits of weights and padding may leave a valid file; such a file must still score
            // without panicking.
            if let Ok(m) = EdgeModel::from_bytes(&bytes) {
                accepted += 1;
                let mut s = m.new_scratch();
                let _ = m.recommend(&mut s, &[0, 1, 2], None, 10);
                let _ = m.recommend(&mut s, &[], None, 10);
            }
        }
    }
    assert!(accepted < 6 * 1500, "every edit was accepted");
}

#[test]
fn fuzz_regression_inputs_are_refused_or_answer_sanely() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/regressions/edge_open_bytes");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("fuzz/regressions/edge_open_bytes exists") {
        let mut bytes = std::fs::read(entry.unwrap().path()).unwrap();
        seen += 1;
        for attempt in 0..2 {
            if attempt == 1 && bytes.len() >= 68 {
                let len = bytes.len() as u64;
                bytes[32..40].copy_from_slice(&len.to_le_bytes());
                fix_checksums(&mut bytes);
            }
            if let Ok(m) = EdgeModel::from_bytes(&bytes) {
                let mut s = m.new_scratch();
                for history in [&[][..], &[0u32][..], &[0, 1, 2][..]] {
                    let top = m.recommend(&mut s, history, None, m.n_items() + 1);
                    assert!(top.windows(2).all(|w| w[0].score >= w[1].score), "unsorted: {top:?}");
                    assert!(top.iter().all(|t| !history.contains(&t.item)));
                }
            }
        }
    }
    assert!(seen > 0);
}

#[test]
fn an_unsorted_popularity_fallback_is_refused() {
    let mut bytes = fixture("popularity-f32.edge");
    let model = EdgeModel::from_bytes(&bytes).unwrap();
    assert_eq!(model.n_items(), 48);
    // POPS holds the counts best first; swap the first two distinct ones.
    let pos = bytes.windows(4).position(|w| w == b"POPS").unwrap();
    let offset = u64::from_le_bytes(bytes[pos + 8..pos + 16].try_into().unwrap()) as usize;
    let first = bytes[offset..offset + 4].to_vec();
    let last_at = offset + 47 * 4;
    let last = bytes[last_at..last_at + 4].to_vec();
    bytes[offset..offset + 4].copy_from_slice(&last);
    bytes[last_at..last_at + 4].copy_from_slice(&first);
    fix_checksums(&mut bytes);
    let e = EdgeModel::from_bytes(&bytes).unwrap_err();
    assert!(e.message().contains("not sorted"), "{e}");
}
