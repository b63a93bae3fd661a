//! Fuzzes the item metadata readers behind `encore import-items` (Last.fm `artists.dat`,
//! MovieLens `u.item` and `movies.csv`, the generic CSV, and format detection).
//!
//! The first input byte picks the format (of `ItemFormat::ALL`) and, with its top bit, a custom
//! `u.genre` list; the rest is the file, decoded as `read_item_file` does (UTF-8 when valid, else
//! Latin-1). Properties:
//!
//! * no reader panics, whatever the bytes;
//! * `Auto` gives exactly what the format detected from the first line gives (same items, or the
//!   same error), as `parse_items` promises.

#![no_main]

use encore_store::item_files::{ItemFormat, detect_item_format, parse_items};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, bytes)) = data.split_first() else {
        return;
    };
    let format = ItemFormat::ALL[usize::from(selector & 0x7f) % ItemFormat::ALL.len()];
    let genres: Vec<String> = ["Action", "Comedy", "Drama"].map(String::from).to_vec();
    let genre_names = (selector & 0x80 != 0).then_some(genres.as_slice());
    let text: String = match std::str::from_utf8(bytes) {
        Ok(s) => s.to_owned(),
        Err(_) => bytes.iter().map(|&b| char::from(b)).collect(),
    };

    let parsed = parse_items(&text, "fuzz", format, genre_names);
    if format == ItemFormat::Auto {
        let body = text.strip_prefix('\u{feff}').unwrap_or(&text);
        let detected = detect_item_format(body.lines().next().unwrap_or(""));
        let direct = parse_items(&text, "fuzz", detected, genre_names);
        match (&parsed, &direct) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "auto and {detected:?} read different items"),
            (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
            _ => panic!("auto and {detected:?} disagree: {parsed:?} vs {direct:?}"),
        }
    }
});
