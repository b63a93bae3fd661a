//! `encore demo`: the quick start. Generates a synthetic music catalog (titles, kinds, tags),
//! imports it, trains and activates an iALS model, and serves it, printing a request to try.
//! Needs no downloaded data and no network.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use encore_core::data::{Format, ReadOptions};
use encore_core::synth::{SynthConfig, generate_interactions, generate_items};
use encore_server::{AppState, LogFormat, ServerConfig};
use encore_service::dto::{ActivatePolicy, JobState, TrainRequest};
use encore_service::offline::DataDir;
use encore_service::{Encore, ServiceConfig};
use encore_store::NewItem;

/// The catalog the demo creates.
const CATALOG: &str = "music";

/// Generate a synthetic music catalog, train a model and serve it (the quick start).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Data directory of the demo (default: `encore-demo` in the system's temporary directory).
    /// A directory that already holds the demo catalog with an active model is served as is.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Address to listen on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Number of synthetic users.
    #[arg(long, value_name = "N", default_value_t = 20_000)]
    pub users: usize,
    /// Number of synthetic items.
    #[arg(long, value_name = "N", default_value_t = 5_000)]
    pub items: usize,
    /// Approximate number of interactions.
    #[arg(long, value_name = "N", default_value_t = 500_000)]
    pub rows: u64,
    /// Prepare the data directory and the model, then exit instead of serving.
    #[arg(long)]
    pub no_serve: bool,
    /// Log format of the server: `text` or `json`.
    #[arg(long, value_name = "FORMAT", default_value = "text")]
    pub log_format: LogFormat,
}

/// Runs `encore demo`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let data_dir =
        args.data_dir.clone().unwrap_or_else(|| std::env::temp_dir().join("encore-demo"));
    encore_server::init_logging(args.log_format, "info");

    let service = if has_active_model(&data_dir)? {
        eprintln!("reusing the demo catalog in {}", data_dir.display());
        open_service(&data_dir)?
    } else {
        prepare(&args, &data_dir)?
    };

    if args.no_serve {
        eprintln!(
            "ready: serve it with `encore serve --data-dir {} --listen {}`",
            data_dir.display(),
            args.listen
        );
        return Ok(());
    }
    let base = format!("http://{}", args.listen);
    let config = ServerConfig { listen: args.listen, ..ServerConfig::default() };
    let state = AppState::new(Arc::new(service), config);
    // The demo prints an admin key so the curl lines work as they are: the first-start key on a
    // new directory, otherwise a fresh `demo` key (the old secrets were shown once and are gone).
    let access = state.access();
    let key = match access.bootstrap().context("cannot create the demo API key")? {
        Some(created) => created,
        None => access
            .create_key(&encore_service::access::CreateKey {
                name: "demo".into(),
                role: encore_service::access::Role::Admin,
                catalog: None,
            })
            .context("cannot create the demo API key")?,
    };
    let auth = format!("-H 'Authorization: Bearer {}'", key.secret);
    eprintln!("\nEncore demo: catalog `{CATALOG}` served on {base}");
    eprintln!("admin API key (shown only now): {}", key.secret);
    eprintln!("try:");
    eprintln!(
        "  curl -s -X POST {base}/recommend {auth} -H 'content-type: application/json' -d '{{\"user_id\": \"u1\"}}'"
    );
    eprintln!(
        "  curl -s -X POST {base}/v1/catalogs/{CATALOG}/recommend {auth} -H 'content-type: application/json' \\\n       -d '{{\"user_id\": \"u1\", \"n\": 5, \"explain\": true, \"filter\": {{\"kinds\": [\"track\"]}}}}'"
    );
    eprintln!("dashboard: {base}/dashboard/   (sign in with the admin key above)");
    eprintln!("API reference: {base}/docs   (stop with ctrl-c)\n");
    super::serve::serve_blocking(state, None)
}

/// True when `dir` already holds the demo catalog with an active model.
fn has_active_model(dir: &std::path::Path) -> anyhow::Result<bool> {
    if !DataDir::exists(dir) {
        return Ok(false);
    }
    let data = DataDir::open(dir)
        .with_context(|| format!("cannot open the store in {}", dir.display()))?;
    data.has_active_model(CATALOG).context("cannot read the model registry")
}

fn open_service(dir: &std::path::Path) -> anyhow::Result<Encore> {
    let mut config = ServiceConfig::new(dir);
    config.training_threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    Encore::open(config)
        .with_context(|| format!("cannot open the data directory {}", dir.display()))
}

/// Generates, imports and trains; returns the opened service with the model active.
fn prepare(args: &Args, data_dir: &std::path::Path) -> anyhow::Result<Encore> {
    let started = Instant::now();
    let synth = SynthConfig {
        users: args.users,
        items: args.items,
        rows: args.rows,
        with_timestamps: true,
        ..SynthConfig::default()
    };
    synth.validate().context("invalid demo size")?;

    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create {}", data_dir.display()))?;
    let file = data_dir.join("demo-interactions.tsv");
    eprintln!(
        "generating {} users x {} items, ~{} plays into {}",
        synth.users,
        synth.items,
        synth.rows,
        file.display()
    );
    let mut out = std::io::BufWriter::new(
        std::fs::File::create(&file)
            .with_context(|| format!("cannot create {}", file.display()))?,
    );
    let rows =
        generate_interactions(&synth, &mut out).context("cannot generate the interactions")?;
    drop(out);

    // Import offline before the service opens: the service builds its in-memory index from the
    // store when it opens.
    {
        let store = DataDir::open(data_dir)
            .with_context(|| format!("cannot open the store in {}", data_dir.display()))?;
        let items: Vec<NewItem> = generate_items(&synth)
            .into_iter()
            .map(|item| NewItem {
                item_id: item.item_id,
                title: item.title,
                kind: item.kind,
                tags: item.tags,
                available: true,
                released: None,
            })
            .collect();
        store.upsert_items(CATALOG, &items).context("cannot store the demo items")?;
        let options = ReadOptions { format: Format::Tsv, skip_bad_lines: false };
        let report = store
            .import_events(CATALOG, &file, &options, &mut |_| {})
            .context("cannot import the demo interactions")?;
        eprintln!(
            "imported {} plays and {} items in {:.1} s",
            report.rows,
            items.len(),
            report.seconds
        );
        debug_assert_eq!(report.rows, rows);
    }
    std::fs::remove_file(&file).ok();

    let service = open_service(data_dir)?;
    let request = TrainRequest {
        model: "ials".to_string(),
        params: serde_json::json!({"factors": 64, "iterations": 10})
            .as_object()
            .cloned()
            .unwrap_or_default(),
        holdout: None,
        activate: Some(ActivatePolicy::Always),
        ..Default::default()
    };
    eprintln!("training iALS (64 factors)…");
    let job = service.start_training(CATALOG, &request).context("cannot start training")?;
    let info = service
        .wait_for_job(job.job_id, Duration::from_secs(3600))
        .context("cannot follow the training job")?;
    if info.state != JobState::Succeeded {
        anyhow::bail!(
            "training ended {:?}: {}",
            info.state,
            info.error.unwrap_or_else(|| "no reason given".into())
        );
    }
    eprintln!(
        "model {} trained and active; demo prepared in {:.1} s",
        info.model_version.unwrap_or_default(),
        started.elapsed().as_secs_f64()
    );
    Ok(service)
}
