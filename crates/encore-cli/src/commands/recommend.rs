//! `encore recommend`: the top N items for a user of a model file, for an anonymous history, or
//! for every user of the model (`--all`, a batch export).

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context;
use encore_core::batch::{TopNTable, top_n_all_users};
use encore_core::model_file::ModelArtifact;
use encore_core::models::Query;
use encore_core::topk::ScoredItem;
use encore_core::topk::top_n;
use rayon::prelude::*;
use serde_json::json;

use super::query;
use crate::progress::Ui;

/// Options of `encore recommend`.
#[derive(Debug, clap::Args)]
#[command(
    group(clap::ArgGroup::new("who").required(true).args(["user", "history", "all"])),
    after_help = "Examples:\n  encore recommend --model plays.enc --user u42 -n 20\n  \
                  encore recommend --model plays.enc --history i1,i7,i19 --json\n  \
                  encore recommend --model plays.enc --all -n 10 --output recs.tsv"
)]
pub struct Args {
    /// The model file (from `encore train`).
    #[arg(long, value_name = "FILE")]
    pub model: PathBuf,

    /// A user of the training data. Items the user already has are never recommended. An
    /// unknown user is an error (exit code 2).
    #[arg(long, value_name = "USER_ID")]
    pub user: Option<String>,

    /// An anonymous session instead of a user: comma-separated item ids it interacted with (one
    /// play each). Items unknown to the model are ignored with a warning; these items are never
    /// recommended back.
    #[arg(long, value_name = "ITEM,ITEM,...", value_delimiter = ',', num_args = 1..)]
    pub history: Vec<String>,

    /// Number of items to recommend.
    #[arg(short = 'n', value_name = "N", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub n: u32,

    /// Every user of the model instead of one: writes `user_id<TAB>rank<TAB>item_id` lines
    /// (the format of `encore evaluate --write-recs`, ranks from 1, each user's training items
    /// left out) to `--output`, scoring blocks of users together on every core.
    #[arg(long, requires = "output", conflicts_with = "json")]
    pub all: bool,

    /// The file `--all` writes.
    #[arg(long, value_name = "FILE", requires = "all")]
    pub output: Option<PathBuf>,

    /// With `--all` on a model file that carries an approximate index (`encore train
    /// --index-recall`): score every item of every user exactly (the blocked kernel) instead of
    /// scanning the index's probed clusters. Without an index, or with one that probes more than
    /// a tenth of its clusters (then the kernel is faster), the export is always exact.
    #[arg(long, requires = "all")]
    pub exact: bool,

    /// Threads `--all` scores on (default: one per core).
    #[arg(long, value_name = "N", requires = "all",
          value_parser = clap::value_parser!(u16).range(1..))]
    pub threads: Option<u16>,

    /// Print {"user":…,"history_size":…,"recommendations":[{"rank","item","score"}]} on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Runs `encore recommend`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let artifact = query::load(&args.model)?;
    if args.all {
        let output = args.output.as_deref().expect("clap requires --output with --all");
        return export_all(&artifact, args.n as usize, output, args.threads, args.exact);
    }
    let subject = query::subject(&artifact, args.user.as_deref(), &args.history)?;
    let model = artifact.recommender();
    let mut scores = vec![0f32; model.n_items()];
    model.score(&subject.query(), &mut scores);
    let top = top_n(&scores, args.n as usize, &subject.items);
    let ranked = top.iter().map(|s| (artifact.items.id(s.item), s.score));
    if args.json {
        let out = json!({
            "user": args.user,
            "history_size": subject.items.len(),
            "recommendations": query::ranked_json(ranked),
        });
        println!("{out}");
    } else {
        print!("{}", query::ranked_table(ranked));
    }
    Ok(())
}

/// `--all`: every user's top `n`, written as `user<TAB>rank<TAB>item` lines in user order:
/// through the model file's approximate index when it has one (unless `exact`), else exactly
/// with the blocked kernel.
fn export_all(
    artifact: &ModelArtifact,
    n: usize,
    output: &Path,
    threads: Option<u16>,
    exact: bool,
) -> anyhow::Result<()> {
    let ui = Ui::for_terminal(false);
    // Created first: a path that cannot be written fails before minutes of scoring.
    let file = std::fs::File::create(output)
        .with_context(|| format!("cannot create {}", output.display()))?;
    let users = artifact.train.n_rows();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads.map_or(0, usize::from))
        .build()
        .context("cannot start the scoring threads")?;
    let bar = ui.counter(users as u64, "scoring", "users");
    let done = AtomicU64::new(0);
    let started = std::time::Instant::now();
    let progress = |block: usize| {
        bar.set_position(done.fetch_add(block as u64, Ordering::Relaxed) + block as u64);
        true
    };
    let rec = artifact.recommender();
    let indexed = match (&artifact.index, rec.factor_scoring()) {
        (Some(index), Some(f)) if !exact && index_pays(index) => Some((index, f)),
        _ => None,
    };
    let lists = match indexed {
        // One user at a time through the index: the probed clusters hold a few thousand items.
        Some((index, f)) => Lists::Indexed(pool.install(|| {
            (0..users)
                .into_par_iter()
                .with_min_len(256)
                .map(|u| {
                    let row = artifact.train.row(u);
                    let query =
                        Query { user: Some(u as u32), items: row.indices, weights: row.values };
                    let v = rec.query_vector(&query).expect("factor models give query vectors");
                    let top = index.top_n(f, &v, n, None, row.indices, &|_| true);
                    progress(1);
                    top
                })
                .collect()
        })),
        None => Lists::Exact(
            pool.install(|| top_n_all_users(rec, &artifact.train, n, &|_| true, &progress))
                .expect("the progress callback never stops the scoring"),
        ),
    };
    bar.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();
    let mut out = BufWriter::with_capacity(1 << 20, file);
    let write_error = || format!("cannot write {}", output.display());
    for u in 0..users {
        let user = artifact.users.id(u as u32);
        let row = match &lists {
            Lists::Indexed(lists) => lists[u].as_slice(),
            Lists::Exact(table) => table.row(u),
        };
        for (rank, s) in row.iter().enumerate() {
            writeln!(out, "{user}\t{}\t{}", rank + 1, artifact.items.id(s.item))
                .with_context(write_error)?;
        }
    }
    out.flush().with_context(write_error)?;
    let how = match (&lists, &artifact.index) {
        (Lists::Indexed(_), Some(index)) => format!(
            "through the index, {} of {} clusters probed, recall@10 {:.3} measured at build",
            index.info.probes, index.info.clusters, index.info.recall_at_10
        ),
        (Lists::Exact(_), Some(index)) if !exact => format!(
            "exact: the index probes {} of {} clusters, more than the blocked kernel's cost",
            index.info.probes, index.info.clusters
        ),
        _ => "exact".to_string(),
    };
    ui.note(format!(
        "wrote the top {n} of {users} users to {} ({how}; scored in {seconds:.2} s, {:.0} users/s)",
        output.display(),
        users as f64 / seconds.max(1e-9),
    ));
    Ok(())
}

/// The largest share of clusters a probe may scan for the index to beat the blocked kernel in a
/// whole-model export. Measured (bench/README.md, "recommend --all through the index"): the
/// kernel scores a user's items about ten times faster per item than the index's one-user scan
/// (a GEMM over blocks of 64 users against one dot product at a time), so the index pays only
/// when it scans under a tenth of the catalogue.
const INDEX_EXPORT_MAX_PROBED_SHARE: f64 = 0.1;

/// Whether exporting through `index` is faster than the exact blocked kernel.
fn index_pays(index: &encore_core::index::IvfIndex) -> bool {
    (index.info.probes as f64) <= INDEX_EXPORT_MAX_PROBED_SHARE * index.info.clusters as f64
}

/// Every user's list, as the export scored them.
enum Lists {
    /// From the approximate index, one list per user.
    Indexed(Vec<Vec<ScoredItem>>),
    /// Exact, from the blocked kernel.
    Exact(TopNTable),
}
