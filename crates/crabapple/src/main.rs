//! `crabapple`: the command line. `serve` runs the emulator; `token`, `keys`, `clock`,
//! `simulate`, `transporter validate` and `spec coverage` are the tools around it. Each subcommand is a thin layer over the rooms.

mod commerce;
mod coverage;
mod faults;
mod review;
mod simulate;
mod transporter;
mod worlds;

/// Responses are built from many small allocations; mimalloc serves them several times faster
/// than glibc's allocator under load (measured with scripts/bench.sh). It is built without
/// transparent huge pages (the workspace's `no_thp`), which kept 18 MB more resident at idle.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use crabapple_auth::{KeyKind, mint_asc_token};
use crabapple_server::keys::{self, NewKey};
use crabapple_server::setup::{self, WorldChoice};
use crabapple_server::{App, Config};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "crabapple",
    version,
    about = "A faithful, stateful App Store Connect API (and App Store Server API) you run yourself"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
    /// Keep the store in this PostgreSQL database (postgres://USER[:PASSWORD]@HOST:PORT/DB)
    /// instead of the data directory's SQLite file: replicas started with the same URL and data
    /// directory serve one world; the data directory keeps only files (key files, the signing
    /// PKI, the admin token, uploaded assets).
    #[arg(long, global = true, env = "CRABAPPLE_DATABASE_URL")]
    database: Option<String>,
    /// Work on this world of the data directory (`crabapple worlds list`) instead of its
    /// default world (also CRABAPPLE_WORLD; not for `serve` and `worlds`). Taken off the
    /// arguments before they are parsed (`worlds::rewrite_args`); not global, so that
    /// `simulate --world FILE` stays the simulator's own argument.
    #[arg(long, value_name = "ID")]
    world: Option<String>,
}

/// Who may use the admin API (issue 8; crates/server/src/access.rs).
#[derive(Args, Clone)]
struct AccessArgs {
    /// Serve the admin API without its token. Allowed on a loopback listener only: then any
    /// local process may mint keys or reset the world (web pages still cannot: Host and Origin
    /// are checked).
    #[arg(long, env = "CRABAPPLE_NO_ADMIN_TOKEN")]
    no_admin_token: bool,
    /// Another name clients reach this listener by (a container's service name, a DNS name):
    /// admin requests must name the listener in `Host` (repeatable).
    #[arg(long = "allow-host", value_name = "NAME")]
    allow_host: Vec<String>,
    /// Let notifications and real-time requests go to link-local and cloud metadata addresses
    /// (refused by default).
    #[arg(long, env = "CRABAPPLE_ALLOW_LINK_LOCAL_URLS")]
    allow_link_local_urls: bool,
}

#[derive(Args, Clone)]
struct DataArg {
    /// Data directory (SQLite store, key files).
    #[arg(long, env = "CRABAPPLE_DATA", default_value = "./crabapple-data")]
    data: PathBuf,
}

/// Parsed once per process, so the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Cmd {
    /// Run the server (first start creates a team, the demo world and an Admin API key).
    Serve {
        #[command(flatten)]
        data: DataArg,
        /// Address to listen on.
        #[arg(long, env = "CRABAPPLE_LISTEN", default_value = "127.0.0.1:8686")]
        listen: String,
        /// Start with a team and key but no demo data.
        #[arg(long, conflicts_with = "seed")]
        empty: bool,
        /// Load this seed file (see crates/asc/world/README.md) instead of the demo world.
        #[arg(long)]
        seed: Option<PathBuf>,
        /// Base URL for links when clients reach crabapple through a proxy.
        #[arg(long, env = "CRABAPPLE_PUBLIC_URL")]
        public_url: Option<String>,
        /// Requests per API key per rolling hour (Apple observed: 3600).
        #[arg(long, env = "CRABAPPLE_RATE_LIMIT", default_value_t = 3600)]
        rate_limit: u64,
        /// Connections one client IP may hold open at once (a defence against floods); behind a
        /// load balancer every connection comes from its address: raise it there.
        #[arg(long, env = "CRABAPPLE_MAX_CONNECTIONS_PER_IP", default_value_t = crabapple_server::limits::DEFAULT_PER_PEER)]
        max_connections_per_ip: usize,
        /// Sign App Store data with this PKI instead of the data directory's own (e.g. Apple's
        /// published test PKI): LEAF_KEY,LEAF,INTERMEDIATE,ROOT paths.
        #[arg(long, env = "CRABAPPLE_APPLE_TEST_PKI", value_delimiter = ',')]
        apple_test_pki: Option<Vec<PathBuf>>,
        /// Time zone of subscription price dates (an IANA name or a POSIX TZ rule; default
        /// America/Los_Angeles, kept in the data directory): a `startDate` begins at 00:00 there.
        #[arg(long, env = "CRABAPPLE_PRICE_TIME_ZONE")]
        price_time_zone: Option<String>,
        /// Also serve HTTPS on this address, with a certificate for Apple's API hosts,
        /// localhost and 127.0.0.1 issued by the data directory's CA (`crabapple ca export`).
        #[arg(long, env = "CRABAPPLE_HTTPS_LISTEN", value_name = "ADDR")]
        https: Option<String>,
        /// Also run a proxy on this address for clients that hard-code Apple's hosts
        /// (`HTTPS_PROXY=http://ADDR`): it serves Apple's API hosts itself and refuses others.
        #[arg(long, env = "CRABAPPLE_PROXY_LISTEN", value_name = "ADDR")]
        proxy: Option<String>,
        /// Requests the inspector's log keeps in memory (`/crabapple/ui`,
        /// `GET /crabapple/admin/requests`).
        #[arg(long, env = "CRABAPPLE_REQUEST_LOG", value_name = "N", default_value_t = crabapple_server::ui::requests::DEFAULT_CAPACITY)]
        request_log: usize,
        #[command(flatten)]
        access: AccessArgs,
    },
    /// Print the admin API's token (`X-Crabapple-Admin-Token`) of a data directory.
    AdminToken {
        #[command(flatten)]
        data: DataArg,
    },
    /// Print a signed ES256 token for a key (for curl and scripts).
    Token {
        #[command(flatten)]
        data: DataArg,
        /// Key id (default: the first active Admin team key).
        #[arg(long)]
        key: Option<String>,
        /// A scope entry like "GET /v1/apps" (repeatable).
        #[arg(long)]
        scope: Vec<String>,
        /// Lifetime in seconds (Apple allows at most 1200 for most requests).
        #[arg(long, default_value_t = 1200)]
        ttl: i64,
    },
    /// Manage API keys.
    Keys {
        #[command(subcommand)]
        cmd: KeysCmd,
    },
    /// Inspect or move the virtual clock.
    Clock {
        #[command(subcommand)]
        cmd: ClockCmd,
    },
    #[command(flatten)]
    Commerce(commerce::CommerceCmd),
    /// The certificate authority that signs App Store data (transactions, notifications).
    Ca {
        #[command(subcommand)]
        cmd: commerce::CaCmd,
    },
    /// Faults on demand: arm, list and disarm what the server injects (500, 503, 429, latency,
    /// dropped connections, truncated bodies, notification timeouts).
    Faults(faults::FaultsArgs),
    /// Simulate days of real apps: downloads and paying customers on the virtual clock.
    Simulate(simulate::SimulateArgs),
    /// Transporter packages (.itmsp): check one as Apple's Transporter does, or upload its build.
    Transporter {
        #[command(subcommand)]
        cmd: transporter::TransporterCmd,
    },
    /// The App Store reviewer on command.
    Review {
        #[command(subcommand)]
        cmd: review::ReviewCmd,
    },
    /// App Store versions: their history.
    Versions {
        #[command(subcommand)]
        cmd: review::VersionsCmd,
    },
    /// Isolated worlds on one server: create (demo or seed file), list, delete, export.
    Worlds(worlds::WorldsArgs),
    /// Facts about Apple's spec as crabapple serves it.
    Spec {
        #[command(subcommand)]
        cmd: SpecCmd,
    },
}

#[derive(Subcommand)]
enum KeysCmd {
    /// Create a key: a team key with roles, an individual key (tied to a user), or an In-App
    /// Purchase key (App Store Server API).
    Create {
        #[command(flatten)]
        data: DataArg,
        /// Roles, comma-separated (ADMIN, APP_MANAGER, DEVELOPER, FINANCE, SALES, …).
        #[arg(long, value_delimiter = ',')]
        role: Vec<String>,
        /// An individual key: acts as a user with these roles.
        #[arg(long, conflicts_with = "in_app_purchase")]
        individual: bool,
        /// The user an individual key belongs to (default: a new user with --role).
        #[arg(long, requires = "individual")]
        user: Option<String>,
        /// An In-App Purchase key for the App Store Server API.
        #[arg(long)]
        in_app_purchase: bool,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// List keys.
    List {
        #[command(flatten)]
        data: DataArg,
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key: tokens it signs are refused from then on.
    Revoke {
        #[command(flatten)]
        data: DataArg,
        key_id: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum ClockCmd {
    /// Print the virtual time.
    Show {
        #[command(flatten)]
        data: DataArg,
    },
    /// Move the virtual clock forward, e.g. `3d`, `12h`, `90m`.
    Advance {
        #[command(flatten)]
        data: DataArg,
        by: String,
    },
}

#[derive(Subcommand)]
enum SpecCmd {
    /// How deep crabapple goes for every operation of Apple's spec.
    Coverage {
        /// Print only the summary line.
        #[arg(long)]
        summary: bool,
        #[arg(long)]
        json: bool,
    },
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CRABAPPLE_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = worlds::rewrite_args(std::env::args_os().collect()).map(Cli::parse_from);
    if let Err(e) = match cli {
        Ok(cli) => run(cli).await,
        Err(e) => Err(e),
    } {
        match crabapple_store::StorageFault::of(&e) {
            // A full disk says so first, then what was being done (issue 8).
            Some(fault) => eprintln!("crabapple: {fault} ({e:#})"),
            None => eprintln!("crabapple: {e:#}"),
        }
        std::process::exit(1);
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    if let Some(url) = cli.database.filter(|u| !u.is_empty()) {
        setup::use_database(url);
    }
    match cli.cmd {
        Cmd::Serve {
            data,
            listen,
            empty,
            seed,
            public_url,
            rate_limit,
            max_connections_per_ip,
            apple_test_pki,
            price_time_zone,
            https,
            proxy,
            request_log,
            access,
        } => {
            crabapple_server::limits::set_per_peer(max_connections_per_ip);
            let world = match (empty, seed) {
                (true, _) => WorldChoice::Empty,
                (_, Some(p)) => WorldChoice::SeedFile(p),
                _ => WorldChoice::Demo,
            };
            let opts = ServeOpts {
                public_url,
                rate_limit,
                access,
                apple_test_pki,
                price_time_zone,
                https,
                proxy,
                request_log,
            };
            serve(data.data, listen, world, opts).await
        }
        Cmd::AdminToken { data } => {
            let token = crabapple_server::access::read_token(&data.data).with_context(|| {
                format!(
                    "{} has no admin token yet: `crabapple serve` creates it",
                    data.data.display()
                )
            })?;
            println!("{token}");
            Ok(())
        }
        Cmd::Token {
            data,
            key,
            scope,
            ttl,
        } => {
            let store = setup::open_existing(&data.data).await?;
            let all = store.keys().await?;
            let k = match &key {
                Some(id) => all
                    .iter()
                    .find(|k| &k.key_id == id)
                    .with_context(|| format!("no key {id}"))?,
                None => all
                    .iter()
                    .find(|k| {
                        k.kind == "team" && !k.revoked && k.roles.iter().any(|r| r == "ADMIN")
                    })
                    .context("no active Admin team key in this data directory")?,
            };
            anyhow::ensure!(
                k.kind != "inAppPurchase",
                "{} is an In-App Purchase key: it signs App Store Server API tokens, not App Store Connect ones",
                k.key_id
            );
            let p8 = std::fs::read_to_string(keys::key_path(&data.data, &k.key_id))
                .with_context(|| format!("reading the key file of {}", k.key_id))?;
            let issuer = (k.kind == "team").then_some(k.issuer_id.as_str());
            let now = store.clock.wall_ms() / 1000;
            let token = mint_asc_token(&p8, &k.key_id, issuer, now, ttl, &scope)
                .map_err(|e| anyhow::anyhow!(e.0))?;
            println!("{token}");
            Ok(())
        }
        Cmd::Keys { cmd } => keys_cmd(cmd).await,
        Cmd::Clock { cmd } => match cmd {
            ClockCmd::Show { data } => {
                let store = setup::open_existing(&data.data).await?;
                println!("{} (offset {} ms)", store.now_ms(), store.clock.offset_ms());
                Ok(())
            }
            ClockCmd::Advance { data, by } => {
                let store = setup::open_existing(&data.data).await?;
                let ms = crabapple_server::admin::parse_duration_ms(&by)
                    .with_context(|| format!("'{by}' is not a duration like 3d, 12h or 90m"))?;
                let now = store.advance_clock(ms).await?;
                println!(
                    "virtual now: {now} ms (offset {} ms)",
                    store.clock.offset_ms()
                );
                commerce::after_clock_advance(&data.data, now).await
            }
        },
        Cmd::Commerce(cmd) => commerce::run(cmd).await,
        Cmd::Ca { cmd } => commerce::run_ca(cmd).await,
        Cmd::Simulate(a) => simulate::run(a).await,
        Cmd::Faults(a) => faults::run(a).await,
        Cmd::Transporter { cmd } => transporter::run(cmd).await,
        Cmd::Review { cmd } => review::run_review(cmd).await,
        Cmd::Versions { cmd } => review::run_versions(cmd).await,
        Cmd::Worlds(a) => worlds::run(a).await,
        Cmd::Spec {
            cmd: SpecCmd::Coverage { summary, json },
        } => coverage::print(summary, json),
    }
}

async fn keys_cmd(cmd: KeysCmd) -> anyhow::Result<()> {
    match cmd {
        KeysCmd::Create {
            data,
            role,
            individual,
            user,
            in_app_purchase,
            name,
            json,
        } => {
            let store = setup::open_existing(&data.data).await?;
            let kind = if individual {
                KeyKind::Individual
            } else if in_app_purchase {
                KeyKind::InAppPurchase
            } else {
                KeyKind::Team
            };
            anyhow::ensure!(
                kind == KeyKind::InAppPurchase || !role.is_empty() || user.is_some(),
                "give the key's roles with --role (e.g. --role ADMIN or --role DEVELOPER,APP_MANAGER)"
            );
            let info = keys::create(
                &store,
                &data.data,
                NewKey {
                    kind,
                    roles: role,
                    user_id: user,
                    name: name.as_deref(),
                },
            )
            .await?;
            print_keys(&[info], json, false);
            Ok(())
        }
        KeysCmd::List { data, json } => {
            let store = setup::open_existing(&data.data).await?;
            let list = keys::list(&store, &data.data).await?;
            print_keys(&list, json, true);
            Ok(())
        }
        KeysCmd::Revoke { data, key_id, json } => {
            let store = setup::open_existing(&data.data).await?;
            anyhow::ensure!(keys::revoke(&store, &key_id).await?, "no key {key_id}");
            let list = keys::list(&store, &data.data).await?;
            let info: Vec<_> = list.into_iter().filter(|k| k.key_id == key_id).collect();
            print_keys(&info, json, false);
            Ok(())
        }
    }
}

fn print_keys(list: &[keys::KeyInfo], json: bool, as_array: bool) {
    if json {
        let v = if as_array || list.len() != 1 {
            serde_json::json!(list)
        } else {
            serde_json::json!(list[0])
        };
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        return;
    }
    for k in list {
        println!(
            "{}  {:<13} {:<8} issuer {}  roles {}  {}",
            k.key_id,
            k.kind,
            if k.revoked { "revoked" } else { "active" },
            k.issuer_id,
            if k.roles.is_empty() {
                "-".to_string()
            } else {
                k.roles.join(",")
            },
            k.key_path
        );
    }
}

/// `serve`'s flags after the data directory, listener and world.
struct ServeOpts {
    public_url: Option<String>,
    rate_limit: u64,
    access: AccessArgs,
    apple_test_pki: Option<Vec<PathBuf>>,
    price_time_zone: Option<String>,
    https: Option<String>,
    proxy: Option<String>,
    request_log: usize,
}

/// A replica stopped by SIGTERM or SIGINT first removes its registrations, so writers on the
/// other replicas stop waiting for it at once (crates/store/src/notify.rs); it exits with the
/// status the signal would have given (128 + its number).
fn leave_replicas_on_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::spawn(async move {
        let code = tokio::select! {
            _ = term.recv() => 128 + 15,
            _ = int.recv() => 128 + 2,
        };
        crabapple_store::notify::leave().await;
        std::process::exit(code);
    });
    Ok(())
}

async fn serve(
    data: PathBuf,
    listen: String,
    world: WorldChoice,
    opts: ServeOpts,
) -> anyhow::Result<()> {
    use crabapple_server::access::{AdminAccess, load_or_create_token};
    let ServeOpts {
        public_url,
        rate_limit,
        access,
        apple_test_pki,
        price_time_zone,
        https,
        proxy,
        request_log,
    } = opts;
    let started = std::time::Instant::now();
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    let addr = listener.local_addr()?;
    let bind = |a: Option<String>| async move {
        match a {
            Some(a) => tokio::net::TcpListener::bind(&a)
                .await
                .map(Some)
                .with_context(|| format!("listening on {a}")),
            None => Ok(None),
        }
    };
    let https_listener = bind(https).await?;
    let proxy_listener = bind(proxy).await?;
    // Issue 8: without a token, only a loopback listener (any local process, no web page).
    if access.no_admin_token && !addr.ip().is_loopback() {
        anyhow::bail!(
            "refusing to serve the admin API without a token on {addr}: anyone on the network \
             could mint keys and reset the world. Drop --no-admin-token, or listen on 127.0.0.1"
        );
    }
    // On PostgreSQL this process is a serving replica: its stores register for other writers'
    // notifications (crates/store/src/notify.rs).
    crabapple_store::notify::serve_replicas();
    // The data directory is opened once (issue 12, cold start: each open checks the migrations).
    let store = setup::open(&data).await?;
    if store.dialect() == crabapple_store::Dialect::Postgres {
        leave_replicas_on_signal()?;
    }
    commerce::serve_options(
        &store,
        &data,
        apple_test_pki.as_deref(),
        price_time_zone.as_deref(),
    )
    .await?;
    let token = match access.no_admin_token {
        true => None,
        false => Some(load_or_create_token(&data)?),
    };
    let config = Config {
        data_dir: data.clone(),
        public_url: public_url.clone(),
        rate_limit,
        world: world.clone(),
        admin: AdminAccess {
            token: token.clone(),
            hosts: Some(AdminAccess::listener_hosts(
                addr,
                public_url.as_deref(),
                &access.allow_host,
            )),
        },
        allow_link_local_urls: access.allow_link_local_urls,
    };
    let app = App::new(store, config).await?;
    app.requests.set_capacity(request_log);
    let first = setup::first_start(&app.engine, &data, &world).await?;
    app.reload_keys().await?;
    crabapple_server::faults::reload(&app).await?;
    let base = public_url.unwrap_or_else(|| format!("http://{addr}"));
    let all = keys::list(app.store(), &data).await?;
    let admin = all
        .iter()
        .find(|k| k.kind == "team" && !k.revoked && k.roles.iter().any(|r| r == "ADMIN"));
    let counts = app.store().type_counts().await?;
    let total: i64 = counts.iter().map(|(_, n)| n).sum();
    println!(
        "crabapple {} — Apple's App Store Connect API {}",
        env!("CARGO_PKG_VERSION"),
        app.engine.manifest.version
    );
    println!("  base URL   {base}");
    println!(
        "  data       {} ({})",
        data.display(),
        setup::storage_label()
    );
    if let Some(k) = admin {
        println!("  issuer ID  {}", k.issuer_id);
        println!("  key ID     {}  (Admin team key)", k.key_id);
        println!("  key file   {}", k.key_path);
    }
    match &first {
        Some(f) => println!(
            "  world      new: {} resources ({} from the world file, {} that Apple creates with them, {} synthesized)",
            total,
            f.seeded,
            (total as usize).saturating_sub(f.seeded + f.synthesized),
            f.synthesized
        ),
        None => println!("  world      {total} resources (kept from the last run)"),
    }
    println!("  admin API  {base}/crabapple/admin/status");
    match &token {
        Some(_) => println!(
            "  admin key  {}  (send X-Crabapple-Admin-Token)",
            data.join(crabapple_server::access::TOKEN_FILE).display()
        ),
        None => println!("  admin key  none (--no-admin-token: any local process may use it)"),
    }
    let https_addr = https_listener
        .as_ref()
        .map(|l| l.local_addr())
        .transpose()?;
    let proxy_addr = proxy_listener
        .as_ref()
        .map(|l| l.local_addr())
        .transpose()?;
    if https_addr.is_some() || proxy_addr.is_some() {
        crabapple_server::spawn_tls(&app, https_listener, proxy_listener)?;
        let ca = crabapple_server::tls::ca_path(&data);
        if let Some(a) = https_addr {
            println!("  https      https://{a}  (HTTP/2 and HTTP/1.1)");
        }
        if let Some(a) = proxy_addr {
            println!(
                "  proxy      HTTPS_PROXY=http://{a}  (serves Apple's API hosts, refuses others)"
            );
        }
        println!(
            "  CA         {}  (trust it: crabapple ca export --pem)",
            ca.display()
        );
    }
    if !addr.ip().is_loopback() {
        eprintln!(
            "crabapple: warning: listening on {addr}, reachable from the network: Apple's APIs \
             need your keys' tokens and the admin API its token, but traffic is plain HTTP"
        );
    }
    println!("Try:");
    println!(
        "  curl -H \"Authorization: Bearer $(crabapple token --data {})\" {base}/v1/apps",
        data.display()
    );
    if token.is_some() {
        println!(
            "  curl -H \"X-Crabapple-Admin-Token: $(crabapple admin-token --data {})\" {base}/crabapple/admin/status",
            data.display()
        );
    }
    println!("ready in {} ms", started.elapsed().as_millis());
    crabapple_server::serve(app, listener).await
}
