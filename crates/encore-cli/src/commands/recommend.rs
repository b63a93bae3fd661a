//! `encore recommend`: the top N items for a user of a model file, or for an anonymous history.

use std::path::PathBuf;

use encore_core::topk::top_n;
use serde_json::json;

use super::query;

/// Options of `encore recommend`.
#[derive(Debug, clap::Args)]
#[command(
    group(clap::ArgGroup::new("who").required(true).args(["user", "history"])),
    after_help = "Examples:\n  encore recommend --model plays.enc --user u42 -n 20\n  \
                  encore recommend --model plays.enc --history i1,i7,i19 --json"
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

    /// Print {"user":…,"history_size":…,"recommendations":[{"rank","item","score"}]} on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Runs `encore recommend`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let artifact = query::load(&args.model)?;
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
