use std::io::Write;
use std::path::Path;

use encore_core::data::{Format, ReadOptions};
use encore_store::Error;
use encore_store::item_files::ItemFormat;

const DATA: &str = "../../../shared/data";

fn data(path: &str) -> std::path::PathBuf {
    Path::new(DATA).join(path)
}

contract_test! {
fn imports_movielens_u_item(fx) {
    let store = fx.open();
    let report = store.import_items("films", &data("ml-100k/u.item"), ItemFormat::Auto).unwrap();
    assert_eq!(report.format, ItemFormat::Ml100kItems);
    assert_eq!((report.items, report.inserted, report.updated), (1682, 1682, 0));
    let item = store.get_item("films", "543").unwrap();
    assert_eq!(item.title, "Misérables, Les (1995)", "Latin-1 decoded");
    assert_eq!(item.tags, ["Drama", "Musical"]);
    assert_eq!((item.kind.as_str(), item.released.as_deref()), ("film", Some("1995-01-01")));
    let toy = store.get_item("films", "1").unwrap();
    assert_eq!(toy.tags, ["Animation", "Children's", "Comedy"]);
    // Again: every item is an update now.
    let again =
        store.import_items("films", &data("ml-100k/u.item"), ItemFormat::Ml100kItems).unwrap();
    assert_eq!((again.inserted, again.updated), (0, 1682));
    assert_eq!(store.catalog_stats("films").unwrap().items, 1682);
}
}

contract_test! {
fn imports_movielens_movies_csv(fx) {
    let store = fx.open();
    let report =
        store.import_items("films", &data("ml-latest-small/movies.csv"), ItemFormat::Auto).unwrap();
    assert_eq!(report.format, ItemFormat::MlMovies);
    assert_eq!(report.inserted, 9742);
    let quoted = store.get_item("films", "11").unwrap();
    assert_eq!(quoted.title, "\"American President, The (1995)\"".trim_matches('"'));
    assert_eq!(quoted.tags, ["Comedy", "Drama", "Romance"]);
    assert!(store.get_item("films", "114335").unwrap().tags.is_empty(), "(no genres listed)");
    assert_eq!(store.get_item("films", "1").unwrap().kind, "film");
}
}

contract_test! {
fn imports_lastfm_artists(fx) {
    let store = fx.open();
    let report =
        store.import_items("music", &data("lastfm-2k/artists.dat"), ItemFormat::Auto).unwrap();
    assert_eq!(report.format, ItemFormat::LastfmArtists);
    assert_eq!(report.inserted, 17632);
    let first = store.get_item("music", "1").unwrap();
    assert_eq!((first.title.as_str(), first.kind.as_str()), ("MALICE MIZER", "artist"));
}
}

contract_test! {
fn imports_generic_item_csv_and_rejects_bad_lines_atomically(fx) {
    let store = fx.open();
    let path = fx.dir().join("items.csv");
    std::fs::write(&path, "item_id,title,kind,tags\ng1,\"Chess, Deluxe\",game,board|classic\n")
        .unwrap();
    store.import_items("games", &path, ItemFormat::Auto).unwrap();
    let g1 = store.get_item("games", "g1").unwrap();
    assert_eq!((g1.title.as_str(), g1.kind.as_str()), ("Chess, Deluxe", "game"));
    assert_eq!(g1.tags, ["board", "classic"]);

    std::fs::write(&path, "item_id,title,kind,tags\ng2,Go,game,\n,no id,game,\n").unwrap();
    let err = store.import_items("games", &path, ItemFormat::Csv).unwrap_err();
    assert!(err.to_string().contains("items.csv:3"), "{err}");
    assert!(store.get_item("games", "g2").is_err(), "nothing of the bad file was stored");
}
}

contract_test! {
fn imports_interaction_files_and_counts_new_keys(fx) {
    let store = fx.open();
    let opts = ReadOptions::default();
    let mut progress_calls = 0;
    let report = store
        .import_records("films", &data("ml-100k/u.data"), &opts, &mut |_| progress_calls += 1)
        .unwrap();
    assert_eq!(
        (report.rows, report.users_new, report.items_new, report.skipped),
        (100_000, 943, 1682, 0)
    );
    assert!(progress_calls >= 2);
    assert_eq!(store.count_events("films").unwrap(), 100_000);
    let user = store.user_events("films", "196").unwrap();
    assert!(
        user.iter()
            .any(|e| e.item_id == "242" && e.weight == 3.0 && e.timestamp == Some(881250949))
    );

    let lastfm = ReadOptions { format: Format::Lastfm, ..Default::default() };
    let report = store
        .import_records("music", &data("lastfm-2k/user_artists.dat"), &lastfm, &mut |_| {})
        .unwrap();
    assert_eq!((report.rows, report.users_new), (92_834, 1_892));
    assert!(store.integrity_check().unwrap().is_empty());
}
}

contract_test! {
fn a_bad_line_aborts_the_import_and_keeps_prior_data(fx) {
    let store = fx.open();
    let good = fx.dir().join("good.tsv");
    std::fs::write(&good, "u1\ta\t1\nu2\tb\t2\n").unwrap();
    store.import_records("music", &good, &ReadOptions::default(), &mut |_| {}).unwrap();

    let bad = fx.dir().join("bad.tsv");
    let mut f = std::fs::File::create(&bad).unwrap();
    writeln!(f, "u3\tc\t1\nu4\td\t1\nu5\te\tlots\nu6\tf\t1").unwrap();
    drop(f);
    let err =
        store.import_records("music", &bad, &ReadOptions::default(), &mut |_| {}).unwrap_err();
    assert!(matches!(err, Error::Data(_)), "{err:?}");
    assert!(err.to_string().contains("bad.tsv:3"), "{err}");
    assert_eq!(store.count_events("music").unwrap(), 2, "nothing of the bad file was stored");
    assert_eq!(store.catalog_stats("music").unwrap().users, 2);

    let skip = ReadOptions { skip_bad_lines: true, ..Default::default() };
    let report = store.import_records("music", &bad, &skip, &mut |_| {}).unwrap();
    assert_eq!((report.rows, report.skipped, report.users_new), (3, 1, 3));

    // An id the parser accepts but the store refuses (over 256 bytes) also names file:line.
    let long = fx.dir().join("long.tsv");
    std::fs::write(&long, format!("u7\tg\t1\n{}\th\t1\n", "x".repeat(300))).unwrap();
    let err =
        store.import_records("music", &long, &ReadOptions::default(), &mut |_| {}).unwrap_err();
    assert!(matches!(err, Error::Invalid(ref m) if m.contains("long.tsv:2")), "{err}");
    assert_eq!(store.count_events("music").unwrap(), 5);
    let report = store.import_records("music", &long, &skip, &mut |_| {}).unwrap();
    assert_eq!((report.rows, report.skipped), (1, 1));

    // The import creates a missing catalog; a failed import does not leave one behind.
    assert!(store.import_records("fresh", &bad, &ReadOptions::default(), &mut |_| {}).is_err());
    assert!(store.get_catalog("fresh").is_err());
    assert!(store.integrity_check().unwrap().is_empty());
}
}

contract_test! {
fn import_keeps_each_users_file_order_and_numbers_after_earlier_events(fx) {
    let store = fx.open();
    store.create_catalog("music").unwrap();
    let before = store.append_events("music", &[crate::event("u0", "z")]).unwrap();
    let file = fx.dir().join("mixed.tsv");
    std::fs::write(&file, "u2\tb\t1\nu1\ta\t1\nu2\td\t1\nu1\tc\t1\nu2\te\t1\n").unwrap();
    store.import_records("music", &file, &ReadOptions::default(), &mut |_| {}).unwrap();
    let items = |user: &str| -> Vec<String> {
        store.user_events("music", user).unwrap().into_iter().map(|e| e.item_id).collect()
    };
    assert_eq!(items("u1"), ["a", "c"]);
    assert_eq!(items("u2"), ["b", "d", "e"]);
    let mut seqs = Vec::new();
    store.for_each_training_event("music", None, &mut |e| seqs.push(e.seq)).unwrap();
    let first = before.seq_range.unwrap().1;
    assert_eq!(seqs, (first..=first + 5).collect::<Vec<_>>(), "contiguous, after the append");
    let after = store.append_events("music", &[crate::event("u3", "y")]).unwrap();
    assert_eq!(after.seq_range.unwrap().0, first + 6);
}
}
