//! `encore explain`: why a model scores an item for a user — its score, its rank among the
//! items the user does not have, and how much each history item contributed.

use std::path::PathBuf;

use serde_json::json;

use super::query;

/// Options of `encore explain`.
#[derive(Debug, clap::Args)]
#[command(
    group(clap::ArgGroup::new("who").required(true).args(["user", "history"])),
    after_help = "Example:\n  encore explain --model plays.enc --user u42 --item i7"
)]
pub struct Args {
    /// The model file (from `encore train`).
    #[arg(long, value_name = "FILE")]
    pub model: PathBuf,

    /// A user of the training data (unknown user: exit code 2).
    #[arg(long, value_name = "USER_ID")]
    pub user: Option<String>,

    /// An anonymous history instead of a user: comma-separated item ids.
    #[arg(long, value_name = "ITEM,ITEM,...", value_delimiter = ',', num_args = 1..)]
    pub history: Vec<String>,

    /// The item to explain (unknown item: exit code 2).
    #[arg(long, value_name = "ITEM_ID")]
    pub item: String,

    /// Show at most this many contributions, largest first.
    #[arg(short = 'n', value_name = "N", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub n: u32,

    /// Print {"user","item","score","rank","in_history","contributions":[{"item","contribution"}]}.
    #[arg(long)]
    pub json: bool,
}

/// Runs `encore explain`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let artifact = query::load(&args.model)?;
    let subject = query::subject(&artifact, args.user.as_deref(), &args.history)?;
    let item = query::item(&artifact, &args.item)?;
    let model = artifact.recommender();
    let query = subject.query();
    let mut scores = vec![0f32; model.n_items()];
    model.score(&query, &mut scores);
    let score = scores[item as usize];
    let in_history = subject.items.binary_search(&item).is_ok();
    // 1 + the number of recommendable items that score strictly higher (ties share the rank).
    let rank = (!in_history).then(|| {
        1 + scores
            .iter()
            .enumerate()
            .filter(|&(i, &s)| s > score && subject.items.binary_search(&(i as u32)).is_err())
            .count()
    });
    let mut contributions = model.explain(&query, item);
    contributions.truncate(args.n as usize);
    if args.json {
        let parts: Vec<_> = contributions
            .iter()
            .map(|c| json!({ "item": artifact.items.id(c.item), "contribution": c.contribution }))
            .collect();
        let out = json!({
            "user": args.user,
            "item": args.item,
            "score": score,
            "rank": rank,
            "in_history": in_history,
            "contributions": parts,
        });
        println!("{out}");
        return Ok(());
    }
    let who = args.user.as_deref().map_or("the history".to_string(), |u| format!("user {u}"));
    println!("score of {} for {who}: {score:.4}", args.item);
    match rank {
        Some(r) => println!("rank among items not in the history: {r}"),
        None => println!("{} is already in the history, so it is never recommended", args.item),
    }
    if contributions.is_empty() {
        println!(
            "no history item contributes ({} scores without the history)",
            artifact.header.algorithm
        );
    } else {
        let width = contributions
            .iter()
            .map(|c| artifact.items.id(c.item).chars().count())
            .max()
            .unwrap_or(0)
            .max(12);
        println!("{:<width$}  {:>12}", "history item", "contribution");
        for c in &contributions {
            println!("{:<width$}  {:>12.4}", artifact.items.id(c.item), c.contribution);
        }
    }
    Ok(())
}
