//! `encore generate`: a synthetic interaction file (and item metadata) with long-tail
//! popularity, uneven user activity and planted tastes — see `encore_core::synth`.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use encore_core::synth::{SynthConfig, SynthItem, generate_interactions, generate_items};

use crate::progress::Ui;

/// Options of `encore generate`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Example:\n  encore generate --users 10000 --items 5000 --rows 500000 \
                        --output plays.tsv --items-output items.csv")]
pub struct Args {
    /// Number of users (ids u0, u1, …); every user gets at least one row.
    #[arg(long, value_name = "N", default_value_t = SynthConfig::default().users)]
    pub users: usize,

    /// Number of items (ids i0, i1, …); the far tail may never be played.
    #[arg(long, value_name = "N", default_value_t = SynthConfig::default().items)]
    pub items: usize,

    /// Approximate number of rows (distinct user–item pairs); the exact count is printed.
    #[arg(long, value_name = "N", default_value_t = SynthConfig::default().rows)]
    pub rows: u64,

    /// Seed: the same options give byte-identical files, whatever the thread count.
    #[arg(long, value_name = "SEED", default_value_t = SynthConfig::default().seed)]
    pub seed: u64,

    /// Number of planted taste topics (the rank a factor model can recover).
    #[arg(long, value_name = "N", default_value_t = SynthConfig::default().rank)]
    pub rank: usize,

    /// Zipf exponent of item popularity (0 = uniform, 1 = classic long tail).
    #[arg(long, value_name = "S", default_value_t = SynthConfig::default().popularity_exponent)]
    pub popularity_exponent: f64,

    /// Share of plays drawn from a user's tastes rather than global popularity (0 to 1).
    #[arg(long, value_name = "P", default_value_t = SynthConfig::default().taste_strength)]
    pub taste_strength: f64,

    /// Add a fourth column with Unix timestamps, increasing within each user.
    #[arg(long)]
    pub timestamps: bool,

    /// The interaction file to write: TSV `user_id<TAB>item_id<TAB>plays[<TAB>timestamp]`, no
    /// header.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: PathBuf,

    /// Also write item metadata as CSV with header `item_id,title,kind,tags` (tags separated
    /// by `|`), consistent with the planted tastes.
    #[arg(long, value_name = "FILE")]
    pub items_output: Option<PathBuf>,
}

/// Runs `encore generate`.
pub fn run(args: Args, ui: &Ui) -> anyhow::Result<()> {
    let cfg = SynthConfig {
        users: args.users,
        items: args.items,
        rows: args.rows,
        seed: args.seed,
        rank: args.rank,
        popularity_exponent: args.popularity_exponent,
        taste_strength: args.taste_strength,
        with_timestamps: args.timestamps,
    };
    cfg.validate()?;
    let start = Instant::now();
    let spinner = ui.spinner(format!("generating {}", args.output.display()));
    let written = write_with(&args.output, |out| Ok(generate_interactions(&cfg, out)?));
    spinner.finish_and_clear();
    let rows = written?;
    ui.note(format!(
        "wrote {rows} rows ({} users, {} items) to {} in {:.2} s",
        cfg.users,
        cfg.items,
        args.output.display(),
        start.elapsed().as_secs_f64()
    ));
    if let Some(path) = &args.items_output {
        let items = generate_items(&cfg);
        write_with(path, |out| write_items_csv(&items, out))?;
        ui.note(format!("wrote {} items to {}", items.len(), path.display()));
    }
    Ok(())
}

/// Creates `path`, hands a buffered writer to `write`, and flushes it, naming the file in errors.
fn write_with<T>(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<File>) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let file = File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    let value = write(&mut out).with_context(|| format!("cannot write {}", path.display()))?;
    out.flush().with_context(|| format!("cannot write {}", path.display()))?;
    Ok(value)
}

/// `item_id,title,kind,tags` with RFC 4180 quoting and `|`-separated tags.
fn write_items_csv(items: &[SynthItem], out: &mut impl Write) -> anyhow::Result<()> {
    writeln!(out, "item_id,title,kind,tags")?;
    for item in items {
        writeln!(
            out,
            "{},{},{},{}",
            csv_field(&item.item_id),
            csv_field(&item.title),
            csv_field(&item.kind),
            csv_field(&item.tags.join("|"))
        )?;
    }
    Ok(())
}

/// Quotes a CSV field when it holds a comma, a quote or a line break (quotes doubled).
fn csv_field(text: &str) -> std::borrow::Cow<'_, str> {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\"")).into()
    } else {
        text.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_only_when_needed() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a, b"), "\"a, b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
    }

    #[test]
    fn items_csv_has_a_header_and_pipe_separated_tags() {
        let items = vec![SynthItem {
            item_id: "i0".into(),
            title: "Blue, Again".into(),
            kind: "track".into(),
            tags: vec!["jazz".into(), "bebop".into()],
        }];
        let mut out = Vec::new();
        write_items_csv(&items, &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "item_id,title,kind,tags\ni0,\"Blue, Again\",track,jazz|bebop\n"
        );
    }
}
