//! Model files with an approximate index: the index sections round-trip, survive erasure, and
//! damaged or inconsistent ones are refused.

use super::tests::artifact;
use super::*;
use crate::index::{IndexConfig, build};

/// An iALS (or BPR, with biases) artifact with an index of 4 clusters.
fn indexed(spec: &str) -> ModelArtifact {
    let mut a = artifact(spec);
    let cfg = IndexConfig { clusters: Some(4), sampled_users: 20, ..IndexConfig::default() };
    let index = build(a.recommender(), &a.train, &cfg).unwrap();
    a.set_index(Some(index));
    a
}

fn same_index(a: &ModelArtifact, b: &ModelArtifact) -> bool {
    match (&a.index, &b.index) {
        (Some(x), Some(y)) => x.arrays() == y.arrays() && x.info == y.info,
        (None, None) => true,
        _ => false,
    }
}

#[test]
fn the_index_round_trips_mapped_and_in_memory() {
    for spec in ["ials:factors=8", "bpr:factors=8"] {
        let a = indexed(spec);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.encore");
        a.save(&path).unwrap();
        let loaded = ModelArtifact::load(&path).unwrap();
        assert!(loaded.index.is_some() && same_index(&a, &loaded), "{spec}");
        assert_eq!(loaded.header, a.header);
        assert_eq!(ModelArtifact::read_header(&path).unwrap().index, a.header.index);
        let copied = ModelArtifact::from_bytes(&a.to_bytes().unwrap()).unwrap();
        assert!(same_index(&a, &copied), "{spec}");
    }
}

#[test]
fn a_file_without_index_has_no_index_field_and_loads_without_one() {
    let a = artifact("ials:factors=8");
    let bytes = a.to_bytes().unwrap();
    assert!(!super::tests::contains(&bytes, b"\"index\""), "the header stays as before indexes");
    let loaded = ModelArtifact::from_bytes(&bytes).unwrap();
    assert!(loaded.index.is_none() && loaded.header.index.is_none());
}

#[test]
fn erasure_keeps_the_index() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.encore");
    indexed("ials:factors=8").save(&path).unwrap();
    let mut loaded = ModelArtifact::load(&path).unwrap();
    let before = loaded.clone();
    assert!(loaded.remove_user("user-017"));
    loaded.save(&path).unwrap();
    let after = ModelArtifact::load(&path).unwrap();
    assert!(after.index.is_some() && same_index(&before, &after));
}

#[test]
fn an_index_that_disagrees_is_not_written_nor_loaded() {
    let mut a = indexed("ials:factors=8");
    // The header must describe the artifact's index.
    a.header.index.as_mut().unwrap().probes += 1;
    assert!(a.to_bytes().is_err());

    // A header without index beside index sections, written anyway: refused on load.
    let a = indexed("ials:factors=8");
    let mut header_only = a.clone();
    header_only.header.index = None;
    let mut bytes = Vec::new();
    write::write_artifact(&header_only, &mut bytes, Path::new("<memory>")).unwrap();
    let e = ModelArtifact::from_bytes(&bytes).unwrap_err().to_string();
    assert!(e.contains("without an index in the header"), "{e}");

    // An item indexed twice, behind valid checksums.
    let mut bytes = a.to_bytes().unwrap();
    let (_, items_at) = super::tests::section(&bytes, "index.items");
    let first: [u8; 4] = bytes[items_at..items_at + 4].try_into().unwrap();
    bytes[items_at + 4..items_at + 8].copy_from_slice(&first);
    super::tests::reseal(&mut bytes);
    let e = ModelArtifact::from_bytes(&bytes).unwrap_err().to_string();
    assert!(e.contains("index"), "{e}");
}
