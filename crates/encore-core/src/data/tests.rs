//! Format, detection and error tests. Every case runs through both readers (streaming and
//! parallel) and checks that they agree.

use super::*;

/// A record with owned ids, for comparisons.
#[derive(Debug, Clone, PartialEq)]
struct Row {
    user: String,
    item: String,
    weight: f32,
    timestamp: Option<i64>,
    line: u64,
}

fn opts(format: Format) -> ReadOptions {
    ReadOptions { format, skip_bad_lines: false }
}

/// Reads `text` with the streaming reader and the parallel reader (tiny chunks), asserts that
/// they agree, and returns the rows and summary.
fn read(text: &str, o: ReadOptions) -> crate::Result<(Vec<Row>, ReadSummary)> {
    read_bytes(text.as_bytes(), o)
}

fn read_bytes(bytes: &[u8], o: ReadOptions) -> crate::Result<(Vec<Row>, ReadSummary)> {
    let mut rows = Vec::new();
    let streamed = read_records_from(bytes, "in.txt", &o, |r| {
        rows.push(Row {
            user: r.user.into(),
            item: r.item.into(),
            weight: r.weight,
            timestamp: r.timestamp,
            line: r.line,
        });
        Ok(())
    });
    for chunk in [1, 7, 1 << 20] {
        let parallel = parallel::interactions_from_bytes(bytes, "in.txt", &o, chunk);
        match (&streamed, &parallel) {
            (Ok(s), Ok(p)) => {
                assert_eq!(*s, p.summary, "summaries differ (chunk {chunk})");
                let from_parallel: Vec<(String, String, f32, Option<i64>)> = (0..p.len())
                    .map(|k| {
                        (
                            p.users.id(p.user_idx[k]).to_string(),
                            p.items.id(p.item_idx[k]).to_string(),
                            p.weights[k],
                            p.timestamps.as_ref().map(|t| t[k]),
                        )
                    })
                    .collect();
                let from_stream: Vec<(String, String, f32, Option<i64>)> = rows
                    .iter()
                    .map(|r| (r.user.clone(), r.item.clone(), r.weight, r.timestamp))
                    .collect();
                assert_eq!(from_stream, from_parallel, "rows differ (chunk {chunk})");
            }
            (Err(s), Err(p)) => assert_eq!(s.to_string(), p.to_string(), "errors differ"),
            (s, p) => panic!("readers disagree (chunk {chunk}): {s:?} vs {:?}", p.as_ref().err()),
        }
    }
    streamed.map(|s| (rows, s))
}

/// Asserts a parse error at `line` whose message contains `needle`.
fn assert_parse_error(text: &str, format: Format, line: u64, needle: &str) {
    match read(text, opts(format)) {
        Err(crate::Error::Parse { path, line: l, message }) => {
            assert_eq!(path, "in.txt");
            assert_eq!(l, line, "wrong line for {message:?}");
            assert!(message.contains(needle), "message {message:?} lacks {needle:?}");
        }
        other => panic!("expected a parse error for {text:?}, got {other:?}"),
    }
}

fn pairs(rows: &[Row]) -> Vec<(&str, &str, f32)> {
    rows.iter().map(|r| (r.user.as_str(), r.item.as_str(), r.weight)).collect()
}

#[test]
fn format_names_round_trip_and_unknown_names_list_the_valid_ones() {
    for f in Format::ALL {
        assert_eq!(f.name().parse::<Format>().unwrap(), f);
        assert_eq!(f.to_string(), f.name());
    }
    assert_eq!("ML-100K".parse::<Format>().unwrap(), Format::Ml100k);
    let err = "parquet".parse::<Format>().unwrap_err().to_string();
    assert!(
        err.contains("parquet") && err.contains("ml-latest") && err.contains("lastfm"),
        "{err}"
    );
    assert_eq!(ReadOptions::default(), ReadOptions { format: Format::Auto, skip_bad_lines: false });
}

#[test]
fn tsv_with_two_three_and_four_columns() {
    let (rows, s) = read("u1\ti1\nu2\ti2\n", opts(Format::Tsv)).unwrap();
    assert_eq!(pairs(&rows), vec![("u1", "i1", 1.0), ("u2", "i2", 1.0)]);
    assert!(!s.had_header && !s.detected && s.format == Format::Tsv && s.rows == 2);

    let (rows, _) = read("u1\ti1\t2.5\nu2\ti2\t0\n", opts(Format::Tsv)).unwrap();
    assert_eq!(pairs(&rows), vec![("u1", "i1", 2.5), ("u2", "i2", 0.0)]);
    assert_eq!(rows[0].timestamp, None);

    let (rows, _) = read("u1\ti1\t3\t100\nu2\ti2\t4\t-5\n", opts(Format::Tsv)).unwrap();
    assert_eq!(rows[0].timestamp, Some(100));
    assert_eq!(rows[1].timestamp, Some(-5));
    assert_eq!(rows[1].line, 2);
}

#[test]
fn header_rows_are_detected_and_skipped() {
    // Non-numeric weight column.
    let (rows, s) = read("who\twhat\tplays\nu1\ti1\t3\n", opts(Format::Tsv)).unwrap();
    assert!(s.had_header);
    assert_eq!(pairs(&rows), vec![("u1", "i1", 3.0)]);
    assert_eq!(rows[0].line, 2);
    // Non-numeric timestamp column.
    let (_, s) = read("a,b,1,when\nu1,i1,1,5\n", opts(Format::Csv)).unwrap();
    assert!(s.had_header);
    // Two columns named like ids.
    let (rows, s) = read("user_id,item_id\nu1,i1\n", opts(Format::Csv)).unwrap();
    assert!(s.had_header);
    assert_eq!(rows.len(), 1);
    let (_, s) = read("userId\tmovieId\nu1\ti1\n", opts(Format::Tsv)).unwrap();
    assert!(s.had_header);
    // Plain data is not a header.
    let (rows, s) = read("alice,bob\ncarol,dave\n", opts(Format::Csv)).unwrap();
    assert!(!s.had_header);
    assert_eq!(rows.len(), 2);
    // A header alone is no data.
    let err = read("user,item,weight\n", opts(Format::Csv)).unwrap_err();
    assert!(matches!(&err, crate::Error::InvalidInput(m) if m == "no interactions in in.txt"));
}

#[test]
fn csv_quoted_fields_may_hold_commas_and_quotes() {
    let text = "user,item,weight\n\"Doe, Jane\",\"Track \"\"One\"\", live\",2\n plain , \"x\" ,3\n";
    let (rows, _) = read(text, opts(Format::Csv)).unwrap();
    assert_eq!(pairs(&rows), vec![("Doe, Jane", "Track \"One\", live", 2.0), ("plain", "x", 3.0)]);
    assert_parse_error("u,\"open,1\n", Format::Csv, 1, "unterminated quoted field 2");
    assert_parse_error(
        "u1,i1,1\n\"u\"x,i,1\n",
        Format::Csv,
        2,
        "after the closing quote of field 1",
    );
}

#[test]
fn movielens_100k_rows_are_read_without_header() {
    let (rows, s) =
        read("196\t242\t3\t881250949\n186\t302\t3\t891717742\n", opts(Format::Ml100k)).unwrap();
    assert!(!s.had_header);
    assert_eq!(
        rows[0],
        Row {
            user: "196".into(),
            item: "242".into(),
            weight: 3.0,
            timestamp: Some(881250949),
            line: 1
        }
    );
    assert_parse_error("196\t242\t3\n", Format::Ml100k, 1, "expected 4 fields");
}

#[test]
fn movielens_latest_ratings_csv() {
    let text = "userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,3,4.5,964981247\n";
    let (rows, s) = read(text, opts(Format::MlLatest)).unwrap();
    assert!(s.had_header);
    assert_eq!(pairs(&rows), vec![("1", "1", 4.0), ("1", "3", 4.5)]);
    assert_eq!(rows[1].timestamp, Some(964981247));
}

#[test]
fn movielens_1m_double_colon() {
    let (rows, s) =
        read("1::1193::5::978300760\n1::661::3::978302109\n", opts(Format::Ml1m)).unwrap();
    assert_eq!(s.format, Format::Ml1m);
    assert_eq!(pairs(&rows), vec![("1", "1193", 5.0), ("1", "661", 3.0)]);
    assert_eq!(rows[0].timestamp, Some(978300760));
    assert_parse_error("1::2::3\n", Format::Ml1m, 1, "expected 4 fields");
}

#[test]
fn lastfm_with_crlf_and_no_final_newline() {
    let text = "userID\tartistID\tweight\r\n2\t51\t13883\r\n2\t52\t11690\r\n\r\n3\t51\t7";
    let (rows, s) = read(text, opts(Format::Lastfm)).unwrap();
    assert!(s.had_header);
    assert_eq!(pairs(&rows), vec![("2", "51", 13883.0), ("2", "52", 11690.0), ("3", "51", 7.0)]);
    assert_eq!(rows[2].line, 5);
    assert_parse_error("userID\tartistID\tweight\r\n2\t51\r\n", Format::Lastfm, 2, "expected 3");
}

#[test]
fn blank_lines_bom_and_line_endings_are_tolerated() {
    let text = "\u{feff}\n  \nu1,i1,1\r\n\r\n\nu2,i2,2";
    let (rows, s) = read(text, opts(Format::Auto)).unwrap();
    assert_eq!(s.format, Format::Csv);
    assert_eq!(pairs(&rows), vec![("u1", "i1", 1.0), ("u2", "i2", 2.0)]);
    assert_eq!(rows.iter().map(|r| r.line).collect::<Vec<_>>(), vec![3, 6]);
}

#[test]
fn auto_detects_every_format() {
    let cases: [(&str, Format, bool); 9] = [
        ("196\t242\t3\t881250949\n186\t302\t3\t891717742\n", Format::Ml100k, false),
        ("userId,movieId,rating,timestamp\n1,1,4.0,964982703\n", Format::MlLatest, true),
        ("1::1193::5::978300760\n1::661::3::978302109\n", Format::Ml1m, false),
        ("userID\tartistID\tweight\r\n2\t51\t13883\r\n2\t52\t11690", Format::Lastfm, true),
        ("u1\ti1\t3\n", Format::Tsv, false),
        ("user\titem\tplays\nu1\ti1\t3\n", Format::Tsv, true),
        ("u1,i1\n", Format::Csv, false),
        // Ratings above 5 are not MovieLens 100K: read generically (the same columns anyway).
        ("1\t2\t30\t881250949\n", Format::Tsv, false),
        ("user,item,rating,timestamp\nu1,i1,4,12\n", Format::Csv, true),
    ];
    for (text, format, header) in cases {
        let (rows, s) = read(text, opts(Format::Auto)).unwrap();
        assert_eq!((s.format, s.detected, s.had_header), (format, true, header), "{text:?}");
        assert!(!rows.is_empty());
        let (detected, reason) = detect_format(text.as_bytes()).unwrap();
        assert_eq!(detected, format);
        assert!(!reason.is_empty());
    }
    let err = detect_format(b"just-one-column\n").unwrap_err().to_string();
    assert!(err.contains("no tab, comma"), "{err}");
    assert!(detect_format(b"\n \n").is_err());
    // A cut last line of a sample does not spoil detection.
    let (f, _) = detect_format(b"196\t242\t3\t881250949\n186\t302\t3\t8917").unwrap();
    assert_eq!(f, Format::Ml100k);
}

#[test]
fn every_bad_line_is_reported_with_its_line_number() {
    let t = Format::Tsv;
    assert_parse_error("u1\ti1\t1\nu2\ti2\n", t, 2, "expected 3 fields (user, item, weight)");
    assert_parse_error("u1\ti1\t1\nu2\ti2\t1\t5\t6\n", t, 2, "found 5");
    assert_parse_error("u1\ti1\t1\t2\t3\n", t, 1, "expected 2 to 4 fields");
    assert_parse_error("u1\ti1\n\ti2\n", t, 2, "empty user id");
    assert_parse_error("u1\ti1\nu2\t \n", t, 2, "empty item id");
    assert_parse_error("u1\ti1\t1\nu2\ti2\tlots\n", t, 2, "weight `lots` is not a number");
    assert_parse_error("u1\ti1\t1\nu2\ti2\t\n", t, 2, "empty weight");
    assert_parse_error("u1\ti1\t1\n\nu2\ti2\tNaN\n", t, 3, "weight `NaN` is not finite");
    assert_parse_error("u1\ti1\t1\nu2\ti2\tinf\n", t, 2, "weight `inf` is not finite");
    assert_parse_error("u1\ti1\t1\nu2\ti2\t1e39\n", t, 2, "weight `1e39` is not finite");
    assert_parse_error("u1\ti1\t1\nu2\ti2\t-0.5\n", t, 2, "weight `-0.5` is negative");
    assert_parse_error("u\ti\t1\t10\nu\ti\t1\t1.5\n", t, 2, "timestamp `1.5` is not an integer");
    assert_parse_error("u\ti\t1\t10\nu\ti\t1\t99999999999999999999\n", t, 2, "not an integer");
    assert_parse_error("u\ti\t1\t10\nu\ti\t1\tsoon\n", t, 2, "timestamp `soon` is not an integer");
    let bad_utf8 = b"u1\ti1\t1\n\xff\xfe\ti2\t1\n";
    match read_bytes(bad_utf8, opts(t)) {
        Err(crate::Error::Parse { line: 2, message, .. }) => {
            assert_eq!(message, "invalid UTF-8 in user id")
        }
        other => panic!("{other:?}"),
    }
    match read_bytes(b"u1\ti\xc3\t1\n", opts(t)) {
        Err(crate::Error::Parse { line: 1, message, .. }) => {
            assert_eq!(message, "invalid UTF-8 in item id")
        }
        other => panic!("{other:?}"),
    }
    // The display form names the file and line.
    let err = read("u1\ti1\t1\nu2\ti2\t-1\n", opts(t)).unwrap_err();
    assert_eq!(err.to_string(), "in.txt:2: weight `-1` is negative");
}

#[test]
fn zero_weights_are_data_and_negative_zero_becomes_zero() {
    let (rows, _) = read("u1,i1,0\nu1,i2,-0\nu2,i1,0.0\n", opts(Format::Csv)).unwrap();
    assert!(rows.iter().all(|r| r.weight.to_bits() == 0f32.to_bits()));
}

#[test]
fn skip_bad_lines_counts_instead_of_failing() {
    let text = "u1\ti1\t1\nu2\ti2\t-1\nbroken\n\tx\t1\nu3\ti3\t2\nu4\ti4\tNaN\n";
    let o = ReadOptions { format: Format::Tsv, skip_bad_lines: true };
    let (rows, s) = read(text, o).unwrap();
    assert_eq!(pairs(&rows), vec![("u1", "i1", 1.0), ("u3", "i3", 2.0)]);
    assert_eq!((s.rows, s.skipped_bad_lines), (2, 4));
    // A bad first line is skipped too; the next line then fixes the layout.
    let (rows, s) = read("a\tb\tc\td\te\nu1\ti1\n", o).unwrap();
    assert_eq!((rows.len(), s.skipped_bad_lines), (1, 1));
    // All lines bad is still no data.
    let err = read("u1\ti1\t-1\nu2\ti2\tx1\n", o).unwrap_err();
    assert!(matches!(err, crate::Error::InvalidInput(m) if m.contains("no interactions")));
}

#[test]
fn empty_input_is_no_interactions() {
    for text in ["", "\n\n", "  \r\n", "\u{feff}"] {
        for format in [Format::Auto, Format::Tsv, Format::Ml1m] {
            let err = read(text, opts(format)).unwrap_err();
            assert!(
                matches!(&err, crate::Error::InvalidInput(m) if m == "no interactions in in.txt"),
                "{text:?} {format}: {err:?}"
            );
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.tsv");
    std::fs::write(&path, "").unwrap();
    let err = read_interactions(&path, &ReadOptions::default()).unwrap_err();
    assert!(
        err.to_string().contains("no interactions in") && err.to_string().contains("empty.tsv")
    );
    let err = read_records(&path, &ReadOptions::default(), |_| Ok(())).unwrap_err();
    assert!(err.to_string().contains("empty.tsv"));
}

#[test]
fn sink_errors_stop_the_read() {
    let mut seen = 0;
    let err =
        read_records_from(&b"u1,i1\nu2,i2\nu3,i3\n"[..], "x", &ReadOptions::default(), |_| {
            seen += 1;
            if seen == 2 { Err(crate::Error::InvalidInput("stop".into())) } else { Ok(()) }
        })
        .unwrap_err();
    assert_eq!(err.to_string(), "stop");
    assert_eq!(seen, 2);
}

#[test]
fn missing_files_are_io_errors_naming_the_path() {
    let err = read_interactions(Path::new("/nonexistent/r.csv"), &ReadOptions::default());
    assert!(matches!(&err, Err(crate::Error::Io { path, .. }) if path.ends_with("r.csv")));
}
