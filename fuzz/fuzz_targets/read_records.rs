//! Fuzzes the interaction-file readers with every format and both error modes.
//!
//! The first input byte picks the format (of `Format::ALL`) and whether bad lines are skipped;
//! the rest is the file. Properties checked:
//!
//! * neither reader panics (libFuzzer reports a panic as a crash);
//! * every record the streaming reader yields is sane (non-empty ids, finite weight ≥ 0,
//!   1-based increasing line numbers), and the summary counts them;
//! * the streaming reader (`read_records_from`) and the parallel in-memory reader
//!   (`parse_interactions`) agree exactly — same error message, or the same rows, ids and
//!   summary — as the data module promises.

#![no_main]

use encore_core::data::{Format, ReadOptions, parse_interactions, read_records_from};
use encore_core::ids::IdMap;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, input)) = data.split_first() else {
        return;
    };
    let format = Format::ALL[usize::from(selector & 0x7f) % Format::ALL.len()];
    let opts = ReadOptions { format, skip_bad_lines: selector & 0x80 != 0 };

    let mut users = IdMap::new();
    let mut items = IdMap::new();
    let (mut user_idx, mut item_idx, mut weights, mut timestamps) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut last_line = 0;
    let streamed = read_records_from(input, "fuzz", &opts, |r| {
        assert!(!r.user.is_empty() && !r.item.is_empty(), "empty id in {r:?}");
        assert!(r.weight.is_finite() && r.weight >= 0.0, "bad weight in {r:?}");
        assert!(r.line > last_line, "line numbers must increase: {r:?} after {last_line}");
        last_line = r.line;
        user_idx.push(users.get_or_insert(r.user));
        item_idx.push(items.get_or_insert(r.item));
        weights.push(r.weight.to_bits());
        timestamps.push(r.timestamp);
        Ok(())
    });
    let parsed = parse_interactions(input, "fuzz", &opts);

    match (streamed, parsed) {
        (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "readers fail differently"),
        (Ok(summary), Ok(all)) => {
            assert_eq!(summary.rows as usize, user_idx.len());
            assert_eq!(summary, all.summary, "summaries differ");
            assert_eq!(all.users, users, "user ids differ");
            assert_eq!(all.items, items, "item ids differ");
            assert_eq!(all.user_idx, user_idx);
            assert_eq!(all.item_idx, item_idx);
            let bits: Vec<u32> = all.weights.iter().map(|w| w.to_bits()).collect();
            assert_eq!(bits, weights, "weights differ");
            match &all.timestamps {
                Some(ts) => assert_eq!(ts.iter().map(|&t| Some(t)).collect::<Vec<_>>(), timestamps),
                None => assert!(timestamps.iter().all(Option::is_none), "timestamps lost"),
            }
            // What was read can always become a matrix.
            all.into_dataset().expect("read interactions form a matrix");
        }
        (a, b) => panic!("readers disagree: streaming {a:?}, in-memory {:?}", b.map(|i| i.summary)),
    }
});
