//! `encore keys`: create, list and revoke the API keys of a data directory.
//!
//! These are the service's offline use cases ([`encore_service::offline::DataDir`]): they open
//! only the store, so they also work while `encore serve` runs on the same directory (the server
//! re-reads its key table every second). Each act is recorded in the audit log as done by the
//! command line (no key id).

use std::path::PathBuf;

use encore_service::access::{CreateKey, KeyInfo, Role};
use encore_service::offline::DataDir;

use crate::input::DatabaseArg;

/// Manage API keys (`Authorization: Bearer <key>` on every `/v1` route).
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: KeysCommand,
}

#[derive(Debug, clap::Subcommand)]
enum KeysCommand {
    /// Create a key and print its secret (shown this once; only a hash is stored).
    Create(CreateArgs),
    /// List every key (revoked ones included), without secrets.
    List(ListArgs),
    /// Revoke a key: it is refused from the next request on (within a second for a running
    /// server).
    Revoke(RevokeArgs),
}

#[derive(Debug, clap::Args)]
struct CreateArgs {
    /// Data directory of the service.
    #[arg(long, value_name = "DIR", env = "ENCORE_DATA_DIR")]
    data_dir: PathBuf,
    #[command(flatten)]
    database: DatabaseArg,
    /// `reader` (recommend, similar, item reads), `writer` (+ events and item writes) or `admin`
    /// (everything: catalogs, models, training, user data, keys, audit log).
    #[arg(long, value_name = "ROLE", value_parser = parse_role)]
    role: Role,
    /// Limit the key to one catalog (default: all catalogs).
    #[arg(long, value_name = "CATALOG", value_parser = crate::input::parse_catalog)]
    catalog: Option<String>,
    /// A name to recognise the key by in listings and the audit log.
    #[arg(long, value_name = "NAME", default_value = "cli")]
    name: String,
    /// Print the key as JSON (with `secret`).
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
struct ListArgs {
    /// Data directory of the service.
    #[arg(long, value_name = "DIR", env = "ENCORE_DATA_DIR")]
    data_dir: PathBuf,
    #[command(flatten)]
    database: DatabaseArg,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
struct RevokeArgs {
    /// Data directory of the service.
    #[arg(long, value_name = "DIR", env = "ENCORE_DATA_DIR")]
    data_dir: PathBuf,
    #[command(flatten)]
    database: DatabaseArg,
    /// Id of the key (see `encore keys list`).
    id: u64,
}

fn parse_role(text: &str) -> Result<Role, String> {
    Role::parse(text).ok_or_else(|| format!("unknown role `{text}`; use reader, writer or admin"))
}

fn open(data_dir: &std::path::Path, database: &DatabaseArg) -> anyhow::Result<DataDir> {
    Ok(DataDir::with_store(data_dir, database.open_store(data_dir)?))
}

/// Runs `encore keys …`.
pub fn run(args: Args) -> anyhow::Result<()> {
    match args.command {
        KeysCommand::Create(a) => {
            let created = open(&a.data_dir, &a.database)?.create_key(&CreateKey {
                name: a.name,
                role: a.role,
                catalog: a.catalog,
            })?;
            let key = &created.key;
            if a.json {
                println!("{}", serde_json::to_string_pretty(&created)?);
            } else {
                println!("{}", created.secret);
                eprintln!(
                    "created key {} `{}` (role {}, {}); the secret above is shown only now",
                    key.id,
                    key.name,
                    key.role.as_str(),
                    scope(key)
                );
            }
        }
        KeysCommand::List(a) => {
            let keys = open(&a.data_dir, &a.database)?.list_keys()?;
            if a.json {
                println!("{}", serde_json::to_string_pretty(&keys)?);
            } else {
                println!(
                    "{:>5}  {:<12}  {:<7}  {:<16}  {:<8}  name",
                    "id", "prefix", "role", "catalog", "state"
                );
                for key in &keys.keys {
                    println!(
                        "{:>5}  {:<12}  {:<7}  {:<16}  {:<8}  {}",
                        key.id,
                        key.prefix,
                        key.role.as_str(),
                        key.catalog.as_deref().unwrap_or("*"),
                        if key.revoked_ms.is_some() { "revoked" } else { "valid" },
                        key.name
                    );
                }
            }
        }
        KeysCommand::Revoke(a) => {
            let key = open(&a.data_dir, &a.database)?.revoke_key(a.id)?;
            println!("revoked key {} `{}` ({})", key.id, key.name, key.prefix);
        }
    }
    Ok(())
}

fn scope(key: &KeyInfo) -> String {
    match &key.catalog {
        Some(c) => format!("catalog {c}"),
        None => "all catalogs".into(),
    }
}
