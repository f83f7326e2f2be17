//! `crabapple worlds …`: isolated worlds of a data directory (issue 12; the server side is
//! crates/server/src/worlds). Like the other commands these work on the data directory itself
//! (a running server picks a new world up on its first request and lets a deleted one go within
//! a second); `--world ID` points every other command at one world ([`rewrite_args`]).

use anyhow::Context;
use clap::{Args, Subcommand};
use crabapple_server::setup;
use crabapple_server::worlds::{self, NewWorld};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

#[derive(Args, Clone)]
pub struct WorldsData {
    /// Data directory (SQLite store, key files).
    #[arg(
        long,
        env = "CRABAPPLE_DATA",
        default_value = "./crabapple-data",
        global = true
    )]
    data: PathBuf,
    /// Print JSON.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Args)]
pub struct WorldsArgs {
    #[command(subcommand)]
    cmd: WorldsCmd,
    #[command(flatten)]
    data: WorldsData,
}

#[derive(Subcommand)]
enum WorldsCmd {
    /// Create a world: the demo, or a seed file (a `worlds export` re-imports as an equal world).
    Create {
        /// Seed file (YAML or JSON, crates/asc/world/README.md); default: the demo world.
        #[arg(long)]
        seed: Option<PathBuf>,
        /// A name to list it by (default: its id).
        #[arg(long)]
        name: Option<String>,
        /// The server's base URL, to print the world's.
        #[arg(
            long,
            env = "CRABAPPLE_PUBLIC_URL",
            default_value = "http://127.0.0.1:8686"
        )]
        base_url: String,
    },
    /// List the worlds (the data directory's own, default world is not one of them).
    List,
    /// Delete a world: its data and keys (its tokens are 401 from then on).
    Delete { id: String },
    /// Write a world as a seed file (standard output unless --out).
    Export {
        id: String,
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

pub async fn run(a: WorldsArgs) -> anyhow::Result<()> {
    let dir = &a.data.data;
    let default = setup::open_existing(dir).await?;
    match a.cmd {
        WorldsCmd::Create {
            seed,
            name,
            base_url,
        } => {
            let started = std::time::Instant::now();
            let seed = seed
                .map(|p| {
                    std::fs::read_to_string(&p)
                        .with_context(|| format!("reading seed {}", p.display()))
                })
                .transpose()?;
            let base = worlds::cli_config(dir);
            let c = worlds::create(&default, &base, dir, NewWorld { name, seed }).await?;
            let url = format!(
                "{}{}{}",
                base_url.trim_end_matches('/'),
                worlds::PATH_PREFIX,
                c.info.id
            );
            if a.data.json {
                let mut v = serde_json::json!(c.info);
                v["baseUrl"] = serde_json::json!(url);
                v["issuerId"] = serde_json::json!(c.key.issuer_id);
                v["keyId"] = serde_json::json!(c.key.key_id);
                v["keyPath"] = serde_json::json!(c.key.key_path);
                v["resources"] = serde_json::json!(c.resources);
                println!("{}", serde_json::to_string_pretty(&v)?);
                return Ok(());
            }
            println!("world {}  ({})", c.info.id, c.info.name);
            println!("  base URL   {url}");
            println!(
                "  data       {} (SQLite)",
                worlds::world_dir(dir, &c.info.id).display()
            );
            println!("  issuer ID  {}", c.key.issuer_id);
            println!("  key ID     {}  (Admin team key)", c.key.key_id);
            println!("  key file   {}", c.key.key_path);
            println!("  resources  {}", c.resources);
            println!("created in {} ms", started.elapsed().as_millis());
            Ok(())
        }
        WorldsCmd::List => {
            let list = worlds::registry(&default).await?;
            if a.data.json {
                println!("{}", serde_json::to_string_pretty(&list)?);
                return Ok(());
            }
            for w in &list {
                let created = jiff::Timestamp::from_millisecond(w.created_ms)
                    .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
                    .unwrap_or_default();
                println!(
                    "{}  {}  created {created}  keys {}",
                    w.id,
                    w.name,
                    w.key_ids.join(",")
                );
            }
            Ok(())
        }
        WorldsCmd::Delete { id } => {
            anyhow::ensure!(
                worlds::delete(&default, dir, &id).await?,
                "no world {id} in {} (`crabapple worlds list`)",
                dir.display()
            );
            println!("deleted world {id}");
            Ok(())
        }
        WorldsCmd::Export { id, out } => {
            let app = worlds::open_app(&worlds::cli_config(dir), dir, &id).await?;
            let name = worlds::registry(&default)
                .await?
                .into_iter()
                .find(|w| w.id == id)
                .map(|w| w.name)
                .unwrap_or_else(|| id.clone());
            let yaml = worlds::export::seed_yaml(&app, &format!("{name} ({id})")).await?;
            match out {
                Some(p) => {
                    std::fs::write(&p, yaml).with_context(|| format!("writing {}", p.display()))?
                }
                None => print!("{yaml}"),
            }
            Ok(())
        }
    }
}

/// `--world ID` (or `CRABAPPLE_WORLD`), taken out of the command line before it is parsed: a
/// command about a data directory then works on world ID's directory inside it (its `--data`,
/// given or default, becomes `DATA/worlds/ID`). `serve` and `worlds` take no world; `simulate`
/// takes it before its name (`crabapple --world ID simulate …`) or from `CRABAPPLE_WORLD`, as its
/// own `--world FILE` is its traffic file.
pub fn rewrite_args(args: Vec<OsString>) -> anyhow::Result<Vec<OsString>> {
    let mut world = None;
    let mut rest: Vec<OsString> = Vec::with_capacity(args.len());
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        // `simulate --world FILE` is its traffic file: after `simulate`, `--world` is its own.
        let simulate = rest.get(1).is_some_and(|c| c == "simulate");
        match a.to_str() {
            Some("--world") if !simulate => {
                world = Some(it.next().context("--world needs a world id")?);
            }
            Some(s) if s.starts_with("--world=") && !simulate => {
                world = Some(s["--world=".len()..].into())
            }
            _ => rest.push(a),
        }
    }
    let world = match world {
        Some(w) => w.to_string_lossy().into_owned(),
        None => match std::env::var("CRABAPPLE_WORLD") {
            Ok(w) if !w.is_empty() => w,
            _ => return Ok(rest),
        },
    };
    let command = rest.get(1).and_then(|c| c.to_str()).unwrap_or_default();
    anyhow::ensure!(
        !matches!(command, "serve" | "worlds"),
        "`crabapple {command}` takes no --world (nor CRABAPPLE_WORLD): it works on the whole data directory"
    );
    anyhow::ensure!(worlds::valid_id(&world), "'{world}' is not a world id");
    let data_at = flag(&rest, "--data");
    let data: PathBuf = match flag_value(&rest, data_at, "--data", "a directory")? {
        Some(d) => d.into(),
        None => std::env::var_os("CRABAPPLE_DATA")
            .map(PathBuf::from)
            .unwrap_or_else(|| "./crabapple-data".into()),
    };
    // On a shared PostgreSQL database (`--database` or CRABAPPLE_DATABASE_URL) the world's
    // store is a schema of its own: the command gets that schema's URL.
    let db_at = flag(&rest, "--database");
    let database: Option<String> = match flag_value(&rest, db_at, "--database", "a URL")? {
        Some(u) => Some(u.to_string_lossy().into_owned()),
        None => std::env::var("CRABAPPLE_DATABASE_URL")
            .ok()
            .filter(|u| !u.is_empty()),
    };
    let dir = world_data_dir(&data, &world, database.is_some())?;
    set_flag(&mut rest, data_at, "--data", dir.into());
    if let Some(url) = database {
        let world_url = worlds::database_url_of_world(&url, &world).into();
        set_flag(&mut rest, db_at, "--database", world_url);
    }
    Ok(rest)
}

/// Where a flag stands in a command line: `--name VALUE` (the name's index), `--name=VALUE`, or
/// absent.
#[derive(Clone, Copy)]
enum At {
    Next(usize),
    Inline(usize),
    Absent,
}

fn flag(args: &[OsString], name: &str) -> At {
    let inline = format!("{name}=");
    if let Some(i) = args.iter().position(|a| a == name) {
        At::Next(i)
    } else if let Some(i) = args
        .iter()
        .position(|a| a.to_str().is_some_and(|s| s.starts_with(&inline)))
    {
        At::Inline(i)
    } else {
        At::Absent
    }
}

/// The flag's value, if it is given (`what` it names, for the error when it is missing).
fn flag_value(
    args: &[OsString],
    at: At,
    name: &str,
    what: &str,
) -> anyhow::Result<Option<OsString>> {
    Ok(match at {
        At::Next(i) => Some(
            args.get(i + 1)
                .with_context(|| format!("{name} needs {what}"))?
                .clone(),
        ),
        At::Inline(i) => Some(args[i].to_string_lossy()[name.len() + 1..].into()),
        At::Absent => None,
    })
}

/// Replaces the flag's value where it stands, or appends the flag.
fn set_flag(args: &mut Vec<OsString>, at: At, name: &str, value: OsString) {
    match at {
        At::Next(i) => args[i + 1] = value,
        At::Inline(i) => {
            let mut arg = OsString::from(format!("{name}="));
            arg.push(&value);
            args[i] = arg;
        }
        At::Absent => args.extend([name.into(), value]),
    }
}

/// World `id`'s directory in `data`, which must hold it (on a shared database, the directory
/// stands for its schema: made and removed together).
fn world_data_dir(data: &Path, id: &str, shared_database: bool) -> anyhow::Result<PathBuf> {
    let exists = if shared_database {
        worlds::valid_id(id) && worlds::world_dir(data, id).is_dir()
    } else {
        worlds::store_exists(data, id)
    };
    anyhow::ensure!(
        exists,
        "no world {id} in {} (`crabapple worlds list --data {}` shows them)",
        data.display(),
        data.display()
    );
    Ok(worlds::world_dir(data, id))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    #[test]
    fn without_a_world_the_command_line_is_unchanged() {
        let a = args(&["crabapple", "clock", "show", "--data", "d"]);
        if std::env::var_os("CRABAPPLE_WORLD").is_none() {
            assert_eq!(rewrite_args(a.clone()).unwrap(), a);
        }
    }

    #[test]
    fn a_world_replaces_the_data_directory_with_its_own() {
        let data = std::env::temp_dir().join(format!("crabapple-cli-world-{}", std::process::id()));
        let dir = worlds::world_dir(&data, "w-1");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(setup::db_path(&dir), b"").unwrap();
        let d = data.to_str().unwrap();
        let got = rewrite_args(args(&[
            "crabapple",
            "clock",
            "show",
            "--data",
            d,
            "--world",
            "w-1",
        ]))
        .unwrap();
        assert_eq!(
            got,
            args(&[
                "crabapple",
                "clock",
                "show",
                "--data",
                dir.to_str().unwrap()
            ])
        );
        let got = rewrite_args(args(&[
            "crabapple",
            "--world=w-1",
            "keys",
            "list",
            &format!("--data={d}"),
        ]))
        .unwrap();
        assert_eq!(
            got,
            args(&[
                "crabapple",
                "keys",
                "list",
                &format!("--data={}", dir.display())
            ])
        );
        let e = rewrite_args(args(&[
            "crabapple",
            "clock",
            "show",
            "--data",
            d,
            "--world",
            "nope",
        ]))
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("no world nope in {d} (`crabapple worlds list --data {d}` shows them)")
        );
        let got = rewrite_args(args(&[
            "crabapple",
            "--world",
            "w-1",
            "simulate",
            "--world",
            "t.yaml",
            "--data",
            d,
        ]))
        .unwrap();
        let sim = ["crabapple", "simulate", "--world", "t.yaml", "--data"];
        assert_eq!(got, [args(&sim), vec![dir.clone().into()]].concat());
        let e = rewrite_args(args(&["crabapple", "serve", "--world", "w-1"])).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("`crabapple serve` takes no --world"),
            "{e}"
        );
        std::fs::remove_dir_all(&data).unwrap();
    }
}
