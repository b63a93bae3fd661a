//! Helpers: run the binary, make small data sets, find the shared splits.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The result of one run of `encore`.
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

/// Runs `encore ARGS` and captures everything (stderr is a pipe, so no progress bars).
pub fn encore<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Run {
    let Output { status, stdout, stderr } = Command::new(env!("CARGO_BIN_EXE_encore"))
        .args(args)
        .output()
        .expect("the encore binary runs");
    Run {
        code: status.code(),
        stdout: String::from_utf8(stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(stderr).expect("stderr is UTF-8"),
    }
}

/// Runs `encore ARGS`, failing the test with its stderr unless it succeeds; returns stdout.
pub fn encore_ok<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> String {
    let run = encore(args);
    let shown: Vec<String> = args.iter().map(|a| a.as_ref().to_string_lossy().into()).collect();
    assert!(run.success(), "encore {} failed ({:?}):\n{}", shown.join(" "), run.code, run.stderr);
    run.stdout
}

/// A path as a `&str` argument.
pub fn arg(path: &Path) -> &str {
    path.to_str().expect("temporary paths are UTF-8")
}

/// Writes a small TSV with clustered tastes: 4 groups of 15 users, each group sharing a pool of
/// 12 of the 48 items, and each user playing 8 of its group's pool plus one random item. Any
/// personalised model should recommend a user's unplayed group items.
pub fn clustered_tsv(dir: &Path) -> PathBuf {
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = move |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    };
    let mut out = String::new();
    for user in 0..60u64 {
        let group = user / 15;
        let mut items: Vec<u64> = Vec::new();
        while items.len() < 8 {
            let item = group * 12 + next(12);
            if !items.contains(&item) {
                items.push(item);
            }
        }
        items.push(next(48));
        for item in items {
            writeln!(out, "u{user}\ti{item}\t{}", 1 + next(20)).unwrap();
        }
    }
    let path = dir.join("plays.tsv");
    std::fs::write(&path, out).unwrap();
    path
}

/// `../shared/eval/splits/<dataset>` as seen from this crate's directory.
pub fn shared_split(dataset: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/eval/splits").join(dataset)
}

/// `../shared/eval/eval.py` as seen from this crate's directory.
pub fn eval_py() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/eval/eval.py")
}

/// Parses stdout as exactly one JSON value.
pub fn json(stdout: &str) -> serde_json::Value {
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("not JSON ({e}):\n{stdout}"))
}

/// The events both server harnesses seed a catalog with: 60 users `u0..u59` in four taste
/// groups, 8 distinct items each from their group's 12 (`i0..i47`), weights 1..=5.
pub fn seed_events() -> serde_json::Value {
    let mut events = Vec::new();
    for user in 0..60u32 {
        let group = user / 15;
        for k in 0..8u32 {
            let item = group * 12 + (user * 7 + k * 5) % 12;
            events.push(serde_json::json!({"user_id": format!("u{user}"),
                                           "item_id": format!("i{item}"),
                                           "weight": 1 + (user + k) % 5}));
        }
    }
    serde_json::json!({"events": events})
}
