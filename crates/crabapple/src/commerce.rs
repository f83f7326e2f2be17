//! Commerce commands: drive the ledger like a customer and the App Store would (`purchase`,
//! `renew`, `refund`, …), list notifications, and export the signing root (`ca export`).
//! Each command opens the data directory's store directly (a running server picks the
//! notifications up from the outbox and delivers them); the same events are on the admin API
//! at `POST /crabapple/admin/commerce/{event}`.

use crabapple_storekit::ledger::LedgerStore;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use crabapple_server::setup;
use crabapple_storekit::Commerce;
use crabapple_storekit::commerce::events::{self, EventArgs, OfferArgs};
use serde_json::Value;

#[derive(Args, Clone)]
pub struct Data {
    /// Data directory (SQLite store, key files).
    #[arg(long, env = "CRABAPPLE_DATA", default_value = "./crabapple-data")]
    data: PathBuf,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Clone)]
pub struct Txn {
    /// Any transaction id of the purchase or subscription.
    transaction_id: String,
    #[command(flatten)]
    data: Data,
}

/// Parsed once per process; its size doesn't matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
pub enum CommerceCmd {
    /// Buy a product (any type) as a customer; prints the new transaction. With a promotional
    /// or offer-code --offer while the customer is subscribed in the product's group, redeems
    /// the offer: OFFER_REDEEMED (same product, from the next renewal), OFFER_REDEEMED/UPGRADE
    /// (higher level, now) or OFFER_REDEEMED/DOWNGRADE (lower level, at the next renewal).
    Purchase {
        #[arg(long)]
        bundle_id: String,
        /// The product id (an in-app purchase or subscription of the app).
        #[arg(long)]
        product: String,
        /// sandbox or production.
        #[arg(long, default_value = "sandbox")]
        env: String,
        /// Customer label: the same label is the same customer (default: a new one).
        #[arg(long)]
        customer: Option<String>,
        #[arg(long)]
        app_account_token: Option<String>,
        /// ISO 3166-1 alpha-3 storefront, e.g. USA, GBR.
        #[arg(long)]
        storefront: Option<String>,
        #[arg(long)]
        quantity: Option<i32>,
        /// Price in milliunits (4990 = 4.99).
        #[arg(long)]
        price: Option<i64>,
        #[arg(long)]
        currency: Option<String>,
        /// An offer: introductory, promotional, offer-code or win-back.
        #[arg(long)]
        offer: Option<String>,
        /// The offer identifier.
        #[arg(long, requires = "offer")]
        offer_id: Option<String>,
        /// FREE_TRIAL, PAY_AS_YOU_GO, PAY_UP_FRONT or ONE_TIME.
        #[arg(long, requires = "offer")]
        offer_discount: Option<String>,
        /// ISO 8601 offer duration, e.g. P1W.
        #[arg(long, requires = "offer")]
        offer_period: Option<String>,
        /// Offer price in milliunits.
        #[arg(long, requires = "offer")]
        offer_price: Option<i64>,
        /// PAY_AS_YOU_GO: number of discounted periods.
        #[arg(long, requires = "offer")]
        offer_periods: Option<i64>,
        /// A family member's access through Family Sharing (a non-consumable or subscription
        /// whose familySharable is on; StoreKit shares nothing else).
        #[arg(long)]
        family_shared: bool,
        #[command(flatten)]
        data: Data,
    },
    /// Renew a subscription now: the current period ends now and the next one starts there
    /// (DID_RENEW; from billing retry DID_RENEW/BILLING_RECOVERY).
    Renew(Txn),
    /// Make the next renewal fail (DID_FAIL_TO_RENEW at the renewal date, or with --now the
    /// period ends now and fails; grace and billing retry count from that expiry).
    FailRenewal {
        #[command(flatten)]
        t: Txn,
        /// With a billing grace period (default: the app's grace period setting).
        #[arg(long, conflicts_with = "no_grace_period")]
        grace_period: bool,
        #[arg(long)]
        no_grace_period: bool,
        #[arg(long)]
        now: bool,
    },
    /// The customer fixes billing during retry (DID_RENEW/BILLING_RECOVERY).
    Recover(Txn),
    /// Expire at the end of the period (or with --now the period ends now): voluntary,
    /// billing-retry, price-increase, product-not-for-sale, other. A voluntary expiry turns
    /// auto-renew off first (DID_CHANGE_RENEWAL_STATUS/AUTO_RENEW_DISABLED).
    Expire {
        #[command(flatten)]
        t: Txn,
        #[arg(long, default_value = "voluntary")]
        reason: String,
        #[arg(long)]
        now: bool,
    },
    /// Upgrade now to a higher level of service (DID_CHANGE_RENEWAL_PREF/UPGRADE).
    Upgrade {
        #[command(flatten)]
        t: Txn,
        #[arg(long)]
        to: String,
    },
    /// Downgrade at the next renewal (DID_CHANGE_RENEWAL_PREF/DOWNGRADE).
    Downgrade {
        #[command(flatten)]
        t: Txn,
        #[arg(long)]
        to: String,
    },
    /// Crossgrade: same duration now (UPGRADE), else at the next renewal (DOWNGRADE).
    Crossgrade {
        #[command(flatten)]
        t: Txn,
        #[arg(long)]
        to: String,
    },
    /// Turn auto-renew on or off (DID_CHANGE_RENEWAL_STATUS).
    AutoRenew {
        #[command(flatten)]
        t: Txn,
        #[arg(long, conflicts_with = "off", required_unless_present = "off")]
        on: bool,
        #[arg(long)]
        off: bool,
    },
    /// Announce a price increase (PRICE_INCREASE/PENDING; ACCEPTED with --consent or when no
    /// consent is required).
    PriceIncrease {
        #[command(flatten)]
        t: Txn,
        /// New price in milliunits.
        #[arg(long)]
        price: Option<i64>,
        #[arg(long)]
        consent: bool,
        #[arg(long)]
        no_consent_required: bool,
    },
    /// Refund a transaction (REFUND).
    Refund {
        #[command(flatten)]
        t: Txn,
        /// 0 = other reason, 1 = an issue with the app.
        #[arg(long, default_value_t = 0)]
        reason: i64,
        /// Refund percentage in milliunits (100000 = full).
        #[arg(long)]
        percentage: Option<i64>,
    },
    /// A refund request the App Store declined (REFUND_DECLINED).
    RefundDeclined(Txn),
    /// Reverse a refund (REFUND_REVERSED).
    RefundReversed(Txn),
    /// A family member loses access (REVOKE).
    Revoke(Txn),
    /// The customer requests a refund in the app (CONSUMPTION_REQUEST).
    ConsumptionRequest {
        #[command(flatten)]
        t: Txn,
        /// UNINTENDED_PURCHASE, FULFILLMENT_ISSUE, UNSATISFIED_WITH_PURCHASE, LEGAL or OTHER.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Extend a subscription's renewal date (RENEWAL_EXTENDED).
    Extend {
        #[command(flatten)]
        t: Txn,
        #[arg(long)]
        days: i64,
    },
    /// List notifications (the outbox and its delivery attempts).
    Notifications {
        #[arg(long)]
        bundle_id: Option<String>,
        #[arg(long, default_value_t = 20)]
        limit: i64,
        #[command(flatten)]
        data: Data,
    },
}

#[derive(Subcommand)]
pub enum CaCmd {
    /// Write the root certificate that signs App Store data (for SignedDataVerifier) and issues
    /// the HTTPS certificate (`serve --https`, `--proxy`): trust it with `REQUESTS_CA_BUNDLE`,
    /// `NODE_EXTRA_CA_CERTS`, `SSL_CERT_FILE` or `curl --cacert`.
    Export {
        #[arg(long, env = "CRABAPPLE_DATA", default_value = "./crabapple-data")]
        data: PathBuf,
        /// DER (what Apple's libraries take as root certificates).
        #[arg(long, conflicts_with = "pem")]
        der: bool,
        /// PEM (the default).
        #[arg(long)]
        pem: bool,
        /// Output file (default: standard output; DER needs --out).
        #[arg(long)]
        out: Option<PathBuf>,
        /// The data directory's own root, which issues the HTTPS certificate, even when `serve
        /// --apple-test-pki` signs App Store data with another chain.
        #[arg(long)]
        tls: bool,
    },
}

async fn open(dir: &Path) -> anyhow::Result<std::sync::Arc<Commerce>> {
    let store = setup::open_existing(dir).await?;
    Commerce::open(store, dir).await
}

fn txn(t: &Txn) -> EventArgs {
    EventArgs {
        transaction_id: Some(t.transaction_id.clone()),
        ..Default::default()
    }
}

pub async fn run(cmd: CommerceCmd) -> anyhow::Result<()> {
    let (name, args, data) = match cmd {
        CommerceCmd::Notifications {
            bundle_id,
            limit,
            data,
        } => return notifications(&data, bundle_id.as_deref(), limit).await,
        CommerceCmd::Purchase {
            bundle_id,
            product,
            env,
            customer,
            app_account_token,
            storefront,
            quantity,
            price,
            currency,
            offer,
            offer_id,
            offer_discount,
            offer_period,
            offer_price,
            offer_periods,
            family_shared,
            data,
        } => {
            let offer = offer.map(|t| OfferArgs {
                offer_type: Value::String(t),
                id: offer_id,
                discount_type: offer_discount,
                period: offer_period,
                price: offer_price,
                periods: offer_periods,
            });
            let a = EventArgs {
                bundle_id: Some(bundle_id),
                product_id: Some(product),
                environment: Some(env),
                customer,
                app_account_token,
                storefront,
                quantity,
                price,
                currency,
                offer,
                family_shared: Some(family_shared),
                ..Default::default()
            };
            ("purchase", a, data)
        }
        CommerceCmd::Renew(t) => ("renew", txn(&t), t.data),
        CommerceCmd::Recover(t) => ("recover", txn(&t), t.data),
        CommerceCmd::RefundDeclined(t) => ("refund-declined", txn(&t), t.data),
        CommerceCmd::RefundReversed(t) => ("refund-reversed", txn(&t), t.data),
        CommerceCmd::Revoke(t) => ("revoke", txn(&t), t.data),
        CommerceCmd::FailRenewal {
            t,
            grace_period,
            no_grace_period,
            now,
        } => {
            let grace = if grace_period {
                Some(true)
            } else if no_grace_period {
                Some(false)
            } else {
                None
            };
            let a = EventArgs {
                grace_period: grace,
                now: Some(now),
                ..txn(&t)
            };
            ("fail-renewal", a, t.data)
        }
        CommerceCmd::Expire { t, reason, now } => {
            let a = EventArgs {
                reason: Some(reason),
                now: Some(now),
                ..txn(&t)
            };
            ("expire", a, t.data)
        }
        CommerceCmd::Upgrade { t, to } => (
            "upgrade",
            EventArgs {
                to_product_id: Some(to),
                ..txn(&t)
            },
            t.data,
        ),
        CommerceCmd::Downgrade { t, to } => (
            "downgrade",
            EventArgs {
                to_product_id: Some(to),
                ..txn(&t)
            },
            t.data,
        ),
        CommerceCmd::Crossgrade { t, to } => (
            "crossgrade",
            EventArgs {
                to_product_id: Some(to),
                ..txn(&t)
            },
            t.data,
        ),
        CommerceCmd::AutoRenew { t, on, off: _ } => (
            "auto-renew",
            EventArgs {
                enabled: Some(on),
                ..txn(&t)
            },
            t.data,
        ),
        CommerceCmd::PriceIncrease {
            t,
            price,
            consent,
            no_consent_required,
        } => {
            let a = EventArgs {
                price,
                consent: Some(consent),
                requires_consent: Some(!no_consent_required),
                ..txn(&t)
            };
            ("price-increase", a, t.data)
        }
        CommerceCmd::Refund {
            t,
            reason,
            percentage,
        } => {
            let a = EventArgs {
                revocation_reason: Some(reason),
                percentage,
                ..txn(&t)
            };
            ("refund", a, t.data)
        }
        CommerceCmd::ConsumptionRequest { t, reason } => (
            "consumption-request",
            EventArgs { reason, ..txn(&t) },
            t.data,
        ),
        CommerceCmd::Extend { t, days } => (
            "extend",
            EventArgs {
                days: Some(days),
                ..txn(&t)
            },
            t.data,
        ),
    };
    let c = open(&data.data).await?;
    let out = events::apply(&c, name, args)
        .await
        .map_err(|e| anyhow::anyhow!("{name}: {}", e.message))?;
    if data.json {
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    print_event(&out);
    Ok(())
}

fn print_event(v: &Value) {
    let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("-").to_string();
    if v.get("transactionId").is_some() {
        println!(
            "{} {}: transaction {} (original {}) of {} for {} [{}]",
            s("event"),
            s("bundleId"),
            s("transactionId"),
            s("originalTransactionId"),
            s("productId"),
            s("customer"),
            s("environment"),
        );
    }
    if let Some(at) = v.get("offerEffectiveDate").and_then(Value::as_i64) {
        println!("  offer redeemed, effective {at}");
    }
    if let Some(sub) = v.get("subscription") {
        println!(
            "  subscription {} until {}",
            sub["statusName"].as_str().unwrap_or("-"),
            sub["expiresDate"]
        );
    }
    for n in v["notifications"].as_array().into_iter().flatten() {
        let sub = n["subtype"]
            .as_str()
            .map(|s| format!("/{s}"))
            .unwrap_or_default();
        println!(
            "  notification {}{sub} {} ({})",
            n["notificationType"].as_str().unwrap_or("-"),
            n["notificationUUID"].as_str().unwrap_or("-"),
            n["state"].as_str().unwrap_or("-")
        );
    }
}

async fn notifications(data: &Data, bundle_id: Option<&str>, limit: i64) -> anyhow::Result<()> {
    let c = open(&data.data).await?;
    let app = match bundle_id {
        Some(b) => Some(
            c.store
                .ledger_app_by_bundle(b)
                .await?
                .with_context(|| format!("no app with bundle id {b}"))?
                .id,
        ),
        None => None,
    };
    let rows = c.store.ledger_notifications(app.as_deref(), limit).await?;
    if data.json {
        let mut list = Vec::with_capacity(rows.len());
        for n in &rows {
            list.push(crabapple_storekit::commerce::outbox::entry(&c, n).await?);
        }
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(());
    }
    for n in rows {
        let sub = n.subtype.map(|s| format!("/{s}")).unwrap_or_default();
        println!(
            "{}  {:<10} {}{sub}  {} {}  attempts {}",
            n.signed_date_ms,
            n.state,
            n.notification_type,
            n.bundle_id,
            n.environment,
            n.attempts.as_array().map_or(0, Vec::len)
        );
    }
    Ok(())
}

pub async fn run_ca(cmd: CaCmd) -> anyhow::Result<()> {
    let CaCmd::Export {
        data,
        der,
        pem: _,
        out,
        tls,
    } = cmd;
    std::fs::create_dir_all(&data).with_context(|| format!("creating {}", data.display()))?;
    // The signing PKI in use: an external one recorded by `serve --apple-test-pki`, else the
    // data directory's own (minted on first use), which is also the HTTPS CA.
    let pki = if setup::db_path(&data).exists() && !tls {
        let c = open(&data).await?;
        (c.pki().root_der().to_vec(), c.pki().root_pem())
    } else {
        let p = crabapple_storekit::Pki::load_or_create(&data)?;
        (p.root_der().to_vec(), p.root_pem())
    };
    let bytes = if der { pki.0 } else { pki.1.into_bytes() };
    match out {
        Some(path) => {
            std::fs::write(&path, &bytes).with_context(|| format!("writing {}", path.display()))?;
            eprintln!("wrote {} ({} bytes)", path.display(), bytes.len());
        }
        None if der => bail!("DER is binary: give --out FILE"),
        None => print!("{}", String::from_utf8_lossy(&bytes)),
    }
    Ok(())
}

/// `crabapple clock advance`: runs everything the advance made due (renewals, retries,
/// deliveries) and prints what happened.
pub async fn after_clock_advance(data: &Path, now: i64) -> anyhow::Result<()> {
    let c = open(data).await?;
    let s = c.run_due(now).await?;
    println!(
        "commerce: {} subscription events, {} mass extensions, {} delivery attempts ({} delivered)",
        s.subscription_events, s.mass_extensions, s.delivery_attempts, s.delivered
    );
    Ok(())
}

/// `crabapple serve --apple-test-pki LEAF_KEY,LEAF,INTERMEDIATE,ROOT`: sign with that PKI
/// (e.g. Apple's published test PKI) from now on; without the option, the data directory's.
/// `--price-time-zone ZONE`: the zone of subscription price dates from now on (storekit's
/// `price_day`).
pub async fn serve_options(
    store: &crabapple_store::Store,
    data: &Path,
    apple_test_pki: Option<&[PathBuf]>,
    price_time_zone: Option<&str>,
) -> anyhow::Result<()> {
    if let Some(z) = price_time_zone {
        use crabapple_storekit::commerce::price_day;
        price_day::zone(z).map_err(|e| anyhow::anyhow!("--price-time-zone: {e}"))?;
        store.meta_set(price_day::TIME_ZONE_KEY, z).await?;
    }
    let paths = match apple_test_pki {
        Some([k, l, i, r]) => Some([k.clone(), l.clone(), i.clone(), r.clone()]),
        Some(p) => bail!(
            "--apple-test-pki takes 4 comma-separated paths (leaf key, leaf, intermediate, root), got {}",
            p.len()
        ),
        None => None,
    };
    // The first write of a start: a data directory that cannot be written fails here.
    Commerce::use_external_pki(store, paths)
        .await
        .map_err(|e| crabapple_store::explain_open_error(e, &setup::db_path(data)))
}
