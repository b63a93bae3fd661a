//! Opening the fixtures and scoring with the Rust API.

use encore_edge::{Algorithm, EdgeModel, Precision};

use crate::common::{FIXTURES, fixture, fixture_path};

fn open(name: &str) -> EdgeModel {
    EdgeModel::from_bytes(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn ids<'a>(model: &'a EdgeModel, top: &[encore_edge::Scored]) -> Vec<&'a str> {
    top.iter().map(|s| model.item_id(s.item).unwrap()).collect()
}

#[test]
fn every_fixture_opens_and_says_it_holds_no_user_data() {
    for (name, algorithm, precision) in FIXTURES {
        let m = open(name);
        assert_eq!(m.algorithm().name(), algorithm, "{name}");
        assert_eq!(m.precision().name(), precision, "{name}");
        assert_eq!(m.n_items(), 48, "{name}");
        assert!(m.notice().contains("Contains no user data"), "{name}: {}", m.notice());
        assert_eq!(m.file_len(), fixture(name).len());
        let from_path = EdgeModel::open(&fixture_path(name)).unwrap();
        assert_eq!(from_path.n_items(), 48);
    }
}

#[test]
fn recommendations_exclude_the_history_and_are_sorted() {
    for (name, _, _) in FIXTURES {
        let m = open(name);
        let mut scratch = m.new_scratch();
        let history = [(&b"i0"[..], 1.0), (b"i3", 2.0), (b"i7", 1.0)];
        let top = m.recommend_ids(&mut scratch, history, 10).to_vec();
        assert_eq!(top.len(), 10, "{name}");
        let got = ids(&m, &top);
        for h in ["i0", "i3", "i7"] {
            assert!(!got.contains(&h), "{name} recommended history item {h}: {got:?}");
        }
        assert!(top.windows(2).all(|w| w[0].score >= w[1].score), "{name}: {top:?}");
        // Asking for more than the catalogue returns every other item once.
        let all = m.recommend_ids(&mut scratch, history, 1000).to_vec();
        let expected =
            if m.algorithm() == Algorithm::Ials && name.contains("int8") { 44 } else { 45 };
        assert_eq!(all.len(), expected, "{name}");
    }
}

#[test]
fn a_personalised_model_recommends_the_group_of_the_history() {
    // Items i0..i11 are the first taste group of tiny.tsv.
    for name in ["ials-f32.edge", "itemknn-f16.edge", "ease-int8.edge", "bpr-int8.edge"] {
        let m = open(name);
        let mut s = m.new_scratch();
        let history: Vec<(&[u8], f32)> =
            ["i1", "i2", "i4", "i6"].iter().map(|i| (i.as_bytes(), 1.0)).collect();
        let top = m.recommend_ids(&mut s, history, 4).to_vec();
        let in_group =
            ids(&m, &top).iter().filter(|id| id[1..].parse::<u32>().unwrap() < 12).count();
        assert!(in_group >= 3, "{name}: {:?}", ids(&m, &top));
    }
}

#[test]
fn unknown_ids_are_ignored_and_duplicates_merged() {
    let m = open("ials-f32.edge");
    let mut s = m.new_scratch();
    let plain = m.recommend_ids(&mut s, [(&b"i2"[..], 2.0), (b"i9", 1.0)], 10).to_vec();
    let noisy = m
        .recommend_ids(&mut s, [(&b"nope"[..], 5.0), (b"i2", 1.0), (b"i9", 1.0), (b"i2", 1.0)], 10)
        .to_vec();
    assert_eq!(plain, noisy);
    let by_index = m
        .recommend(
            &mut s,
            &[m.item_index(b"i9").unwrap(), m.item_index(b"i2").unwrap(), 999],
            Some(&[1.0, 2.0, 7.0]),
            10,
        )
        .to_vec();
    assert_eq!(plain, by_index);
}

#[test]
fn an_empty_or_unknown_history_gets_the_popularity_fallback() {
    let pop = open("popularity-f32.edge");
    let mut s = pop.new_scratch();
    let popular = ids(&pop, pop.recommend_ids(&mut s, [], 5))
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>();
    let m = open("ials-f32.edge");
    let mut s = m.new_scratch();
    let fallback = m.recommend_ids(&mut s, [(&b"unknown"[..], 1.0)], 5).to_vec();
    assert_eq!(ids(&m, &fallback), popular);
    // Popularity scores are user counts.
    assert!(fallback.iter().all(|s| s.score >= 1.0 && s.score.fract() == 0.0));
}

#[test]
fn unavailable_items_are_never_recommended_and_kinds_are_kept() {
    let m = open("ials-int8.edge");
    let i5 = m.item_index(b"i5").unwrap();
    assert!(!m.is_available(i5));
    assert_eq!(m.item_kind(i5), Some("album"));
    assert_eq!(m.item_kind(m.item_index(b"i4").unwrap()), Some("track"));
    let mut s = m.new_scratch();
    for start in 0..48u32 {
        let history = [start, (start + 1) % 48, (start + 3) % 48];
        let top = m.recommend(&mut s, &history, None, 48).to_vec();
        assert!(top.iter().all(|t| t.item != i5), "history {history:?}");
    }
    let other = open("ials-f32.edge");
    assert!(other.is_available(other.item_index(b"i5").unwrap()));
    assert_eq!(other.item_kind(0), None);
}

#[test]
fn int8_and_f32_files_of_one_model_mostly_agree() {
    let (f32m, int8m) = (open("ials-f32.edge"), open("ials-int8.edge"));
    let (mut a, mut b) = (f32m.new_scratch(), int8m.new_scratch());
    let (mut overlap, mut total) = (0, 0);
    for start in 0..48u32 {
        let history = [start, (start + 5) % 48];
        let x: Vec<u32> =
            f32m.recommend(&mut a, &history, None, 5).iter().map(|s| s.item).collect();
        let y: Vec<u32> = int8m
            .recommend(&mut b, &history, None, 6)
            .iter()
            .map(|s| s.item)
            .filter(|&i| int8m.item_id(i) != Some("i5"))
            .take(5)
            .collect();
        total += x.len();
        overlap += x.iter().filter(|i| y.contains(i)).count();
    }
    assert!(overlap * 10 >= total * 8, "overlap {overlap} of {total}");
    assert_eq!(f32m.precision(), Precision::F32);
}

#[test]
fn score_all_matches_recommend() {
    let m = open("itemknn-f16.edge");
    let mut s = m.new_scratch();
    let mut scores = vec![0f32; m.n_items()];
    m.score_all(&mut s, &[3, 8], None, &mut scores);
    let top = m.recommend(&mut s, &[3, 8], None, 3).to_vec();
    for t in &top {
        assert_eq!(scores[t.item as usize], t.score);
    }
    let best_other = (0..48u32)
        .filter(|&i| i != 3 && i != 8)
        .map(|i| scores[i as usize])
        .fold(f32::NEG_INFINITY, f32::max);
    assert_eq!(top[0].score, best_other);
}
