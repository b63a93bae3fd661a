//! `encore similar`: the items a model considers most similar to an item.

use std::path::PathBuf;

use serde_json::json;

use super::query;

/// Options of `encore similar`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Example:\n  encore similar --model plays.enc --item i42 -n 5")]
pub struct Args {
    /// The model file (from `encore train`).
    #[arg(long, value_name = "FILE")]
    pub model: PathBuf,

    /// The item to find neighbours of. An unknown item is an error (exit code 2).
    #[arg(long, value_name = "ITEM_ID")]
    pub item: String,

    /// Number of similar items to list (the item itself is never listed).
    #[arg(short = 'n', value_name = "N", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub n: u32,

    /// Print {"item":…,"similar":[{"rank","item","score"}]} on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Runs `encore similar`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let artifact = query::load(&args.model)?;
    let item = query::item(&artifact, &args.item)?;
    let similar = artifact.recommender().similar_items(item, args.n as usize);
    let ranked = similar.iter().map(|s| (artifact.items.id(s.item), s.score));
    if args.json {
        println!("{}", json!({ "item": args.item, "similar": query::ranked_json(ranked) }));
    } else {
        print!("{}", query::ranked_table(ranked));
    }
    Ok(())
}
