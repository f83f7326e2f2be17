//! The reports against the ledger on simulated traffic (issue 9, "Tests": consistency and
//! determinism). One demo app is simulated for one whole fiscal period; every day's DAILY SALES
//! file, read by header names as users read it, must agree with the ledger's production
//! transactions of that Pacific day and with the App Store Server API's transaction history of
//! the same customers; its app units with `report_app_units`; the SUBSCRIBER file with the day's
//! subscription transactions; and the period's FINANCIAL files with the sum of its sales files.
//! Two data dirs with the same seed and world serve byte-identical files (gzip bytes included).

#[path = "../../server/tests/common/mod.rs"]
mod common;

use base64::Engine as _;
use common::reports::{finance_uri, gunzip, sales_uri};
use crabapple_reports::ReportsStore;
use crabapple_reports::proceeds::{SMALL_BUSINESS_PROGRAM, commission_percent, developer_proceeds};
use crabapple_reports::{countries, fiscal, pacific, period::at_8_pacific};
use crabapple_simulator::traffic::{Profile, parse_section};
use crabapple_simulator::{Options, clock, simulate};
use jiff::civil::Date;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};

const APP: &str = "com.crabapple.notes";

/// The first whole fiscal period that starts on or after the next Pacific midnight.
fn next_fiscal_period(now_ms: i64) -> fiscal::Period {
    let first = clock::first_day_from(now_ms);
    let p = fiscal::Period::containing(first);
    if p.start < first { p.next() } else { p }
}

fn days_of(p: &fiscal::Period) -> Vec<Date> {
    let mut d = p.start;
    let mut out = Vec::new();
    while d <= p.end {
        out.push(d);
        d = d.tomorrow().unwrap();
    }
    out
}

/// Simulates the demo app (seed 42, small profile) from the first day of fiscal period `p`
/// through the day its FINANCIAL files are issued (§3.6: the first Friday after it, 08:00
/// Pacific), so every daily file of the period and its finance files are out when the clock
/// stops at the following midnight. (Simulating on is cheaper than advancing the clock, which
/// makes the engine renew every simulated subscription first.)
async fn simulate_period(w: &common::World, p: &fiscal::Period) {
    let o = Options {
        days: (p.issued_on() - p.start).get_days() as u32 + 1,
        seed: 42,
        apps: vec![APP.into()],
        profile: Some(Profile::Small),
        traffic: parse_section(crabapple_asc::world::DEMO_YAML).unwrap(),
        start: Some(p.start),
        statement_by_statement: false,
    };
    let s = simulate(&w.app.commerce, &o, |_| {}).await.unwrap();
    assert!(s.purchases > 10 && s.refunds > 0, "{s:?}");
    assert!(w.app.store().now_ms() > at_8_pacific(p.issued_on()));
}

/// A report file's rows as maps from Apple's column names (the header line) to cells. Lines
/// after the data (FINANCIAL's `Total_*` trailer) end the table.
fn table(text: &str) -> Vec<HashMap<String, String>> {
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    lines
        .take_while(|l| !l.starts_with("Total_"))
        .map(|l| {
            header
                .iter()
                .zip(l.split('\t'))
                .map(|(h, c)| (h.to_string(), c.to_string()))
                .collect()
        })
        .collect()
}

/// `4.24` / `-4.24` / `160` as milliunits.
fn milli(s: &str) -> i64 {
    let (neg, s) = s.strip_prefix('-').map_or((false, s), |r| (true, r));
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    let frac = format!("{frac:0<3}");
    let v = whole.parse::<i64>().unwrap() * 1000 + frac[..3].parse::<i64>().unwrap();
    if neg { -v } else { v }
}

/// A day's file (`None` for Apple's 404 "There were no sales for the date specified.").
async fn download(w: &common::World, uri: &str) -> Option<Vec<u8>> {
    let r = w.get(uri).await;
    match r.status {
        200 => Some(r.body),
        404 => {
            let detail = r.json()["errors"][0]["detail"].clone();
            assert_eq!(
                detail, "There were no sales for the date specified.",
                "{uri}"
            );
            None
        }
        s => panic!("{uri}: {s} {}", String::from_utf8_lossy(&r.body)),
    }
}

/// One transaction as either side tells it: the ledger's row or the Server API's JWS payload.
#[derive(Debug, Clone, PartialEq)]
struct Tx {
    id: String,
    product: String,
    purchase_ms: i64,
    revoked_ms: Option<i64>,
    family_shared: bool,
    price: i64,
    currency: String,
    storefront: String,
    quantity: i64,
    revocation_pct: Option<i64>,
    renewable: bool,
    /// Apple's rate after a year of paid service (§2.4) — never reached in one fiscal period.
    original_ms: i64,
}

impl Tx {
    fn from_payload(p: &Value) -> Tx {
        let i = |k: &str| p.get(k).and_then(Value::as_i64);
        let s = |k: &str| p[k].as_str().unwrap_or_default().to_string();
        Tx {
            id: s("transactionId"),
            product: s("productId"),
            purchase_ms: i("purchaseDate").unwrap(),
            revoked_ms: i("revocationDate"),
            family_shared: s("inAppOwnershipType") == "FAMILY_SHARED",
            price: i("price").unwrap_or(0),
            currency: s("currency"),
            storefront: s("storefront"),
            quantity: i("quantity").unwrap_or(1).max(1),
            revocation_pct: (s("revocationType") == "REFUND_PRORATED")
                .then(|| i("revocationPercentage"))
                .flatten(),
            renewable: s("type") == "Auto-Renewable Subscription",
            original_ms: i("originalPurchaseDate").or(i("purchaseDate")).unwrap(),
        }
    }

    /// Per-unit proceeds of the sale (§2.4, crates/reports proceeds.rs: VAT off, then Apple's
    /// commission; the Small Business Program's 15 %).
    fn proceeds(&self) -> i64 {
        let after_year = self.renewable && self.purchase_ms - self.original_ms >= 365 * 86_400_000;
        developer_proceeds(
            self.price,
            &self.currency,
            &self.storefront,
            commission_percent(SMALL_BUSINESS_PROGRAM, after_year),
        )
    }
}

/// (units, Σ units × developer proceeds, Σ units × customer price) per (currency, product).
type Sums = BTreeMap<(String, String), (i64, i64, i64)>;

/// What the transactions owe the reports of `[start, end)`: sales minus refunds, family-shared
/// transactions excluded (the organizer's purchase is the sale, crates/reports items.rs).
fn expected(txs: &[Tx], (start, end): (i64, i64)) -> Sums {
    let mut sums = Sums::new();
    for t in txs.iter().filter(|t| !t.family_shared) {
        let key = (t.currency.clone(), t.product.clone());
        let (proceeds, price) = (t.proceeds(), t.price);
        if (start..end).contains(&t.purchase_ms) {
            let e = sums.entry(key.clone()).or_default();
            *e = (
                e.0 + t.quantity,
                e.1 + t.quantity * proceeds,
                e.2 + t.quantity * price,
            );
        }
        if t.revoked_ms.is_some_and(|r| (start..end).contains(&r)) {
            assert_eq!(
                t.revocation_pct, None,
                "the simulator refunds in full: {t:?}"
            );
            let e = sums.entry(key).or_default();
            *e = (
                e.0 - t.quantity,
                e.1 - t.quantity * proceeds,
                e.2 - t.quantity * price,
            );
        }
    }
    sums.retain(|_, v| *v != (0, 0, 0));
    sums
}

/// The in-app rows of a SALES file summed the same way (header names, §2.4: Units signed,
/// Developer Proceeds and Customer Price per unit).
fn sales_sums(rows: &[HashMap<String, String>]) -> Sums {
    let mut sums = Sums::new();
    for r in rows
        .iter()
        .filter(|r| r["Product Type Identifier"].starts_with("IA"))
    {
        let units: i64 = r["Units"].parse().unwrap();
        let e = sums
            .entry((r["Customer Currency"].clone(), r["SKU"].clone()))
            .or_default();
        e.0 += units;
        e.1 += units * milli(&r["Developer Proceeds"]);
        e.2 += units * milli(&r["Customer Price"]).abs();
    }
    sums.retain(|_, v| *v != (0, 0, 0));
    sums
}

async fn ledger(w: &common::World) -> Vec<Tx> {
    let url = format!("sqlite://{}?mode=ro", w.dir.join("crabapple.db").display());
    let db = sqlx::SqlitePool::connect(&url).await.unwrap();
    let rows: Vec<(String, i64, Option<i64>, String)> = sqlx::query_as(
        "SELECT payload, purchase_ms, revoked_ms, ownership FROM commerce_transactions
         WHERE environment = 'Production' ORDER BY transaction_id",
    )
    .fetch_all(&db)
    .await
    .unwrap();
    rows.into_iter()
        .map(|(payload, purchase_ms, revoked_ms, ownership)| Tx {
            purchase_ms,
            revoked_ms,
            family_shared: ownership == "FAMILY_SHARED",
            ..Tx::from_payload(&serde_json::from_str(&payload).unwrap())
        })
        .collect()
}

/// Every transaction of the ledger's customers as `GET /inApps/v2/history/{transactionId}` (App
/// Store Server API, In-App Purchase key) returns them, one request chain per customer.
async fn server_api_history(w: &common::World) -> Vec<Tx> {
    let url = format!("sqlite://{}?mode=ro", w.dir.join("crabapple.db").display());
    let db = sqlx::SqlitePool::connect(&url).await.unwrap();
    let firsts: Vec<(String,)> = sqlx::query_as(
        "SELECT MIN(transaction_id) FROM commerce_transactions WHERE environment = 'Production'
         GROUP BY customer_id",
    )
    .fetch_all(&db)
    .await
    .unwrap();
    let token = w.server_api_token(APP).await;
    let mut out: BTreeMap<String, Tx> = BTreeMap::new();
    for (id,) in firsts {
        let mut revision = String::new();
        loop {
            let mut uri = format!("/inApps/v2/history/{id}");
            if !revision.is_empty() {
                uri.push_str(&format!("?revision={revision}"));
            }
            let r = w.call("GET", &uri, Some(&token), None).await;
            assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
            let v = r.json();
            for s in v["signedTransactions"].as_array().unwrap() {
                let payload = s.as_str().unwrap().split('.').nth(1).unwrap();
                let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(payload)
                    .unwrap();
                let p: Value = serde_json::from_slice(&bytes).unwrap();
                assert_eq!(p["environment"], "Production");
                let t = Tx::from_payload(&p);
                out.insert(t.id.clone(), t);
            }
            if v["hasMore"] != true {
                break;
            }
            revision = v["revision"].as_str().unwrap().to_string();
        }
    }
    out.into_values().collect()
}

#[tokio::test]
async fn issue_9_a_simulated_fiscal_periods_sales_files_agree_with_the_ledger_and_the_server_api() {
    // Reads the SQLite file itself (below), also in the suite's PostgreSQL pass.
    crabapple_server::setup::use_embedded();
    let w = common::demo().await;
    let period = next_fiscal_period(w.app.store().now_ms());
    simulate_period(&w, &period).await;
    let ledger = ledger(&w).await;
    let history = server_api_history(&w).await;
    // The Server API tells the same transactions as the ledger (same ids, prices, dates).
    assert_eq!(history, ledger);
    // Every price is one the App Store can charge: whole cents, whole yen (the files print
    // `0.99` for a ledger price of 0.995 and `39` for ¥39.99, so both sides must be whole).
    for t in &ledger {
        let minor = if crabapple_storekit::ledger::whole_currency(&t.currency) {
            1000
        } else {
            10
        };
        assert_eq!(t.price % minor, 0, "{t:?}");
    }

    let mut period_sales = Sums::new();
    let mut checked = (0, 0);
    for day in days_of(&period) {
        let date = day.to_string();
        let bounds = pacific::day_bounds_ms(day);
        let uri = sales_uri("SALES", "SUMMARY", "DAILY", Some(&date), Some("1_0"));
        let rows = download(&w, &uri)
            .await
            .map(|b| table(&gunzip(&b)))
            .unwrap_or_default();
        // §2.4: in-app purchases per (currency, product) = ledger = Server API history.
        let sums = sales_sums(&rows);
        assert_eq!(sums, expected(&ledger, bounds), "ledger vs SALES of {date}");
        assert_eq!(
            sums,
            expected(&history, bounds),
            "Server API vs SALES of {date}"
        );
        for (k, v) in sums {
            let e = period_sales.entry(k).or_default();
            *e = (e.0 + v.0, e.1 + v.1, e.2 + v.2);
        }
        // App units (1F, 3F, 7F) per (app, country, device, type) = `report_app_units`.
        let mut file_units: BTreeMap<(String, String, String, String), i64> = BTreeMap::new();
        for r in rows
            .iter()
            .filter(|r| r["Product Type Identifier"].ends_with('F'))
        {
            *file_units
                .entry((
                    r["Apple Identifier"].clone(),
                    r["Country Code"].clone(),
                    r["Device"].clone(),
                    r["Product Type Identifier"].clone(),
                ))
                .or_default() += r["Units"].parse::<i64>().unwrap();
        }
        let mut ledger_units: BTreeMap<(String, String, String, String), i64> = BTreeMap::new();
        for u in w.app.store().app_units(&date, &date).await.unwrap() {
            let pti = match u.download_type.as_str() {
                "Redownload" | "Restore" => "3F",
                "Manual update" | "Auto-update" => "7F",
                _ => "1F",
            };
            *ledger_units
                .entry((
                    u.app_id,
                    countries::alpha2(&u.territory),
                    u.device,
                    pti.into(),
                ))
                .or_default() += u.units;
        }
        ledger_units.retain(|_, v| *v != 0);
        assert_eq!(file_units, ledger_units, "app units of {date}");
        checked.0 += file_units.values().sum::<i64>();

        // SUBSCRIBER (§2.4, Subscriber 1_3): one sale row per auto-renewable production
        // transaction bought that day, one refund row per refund granted that day.
        let uri = sales_uri("SUBSCRIBER", "DETAILED", "DAILY", Some(&date), Some("1_3"));
        let rows = download(&w, &uri)
            .await
            .map(|b| table(&gunzip(&b)))
            .unwrap_or_default();
        let mut file: BTreeMap<(String, bool), (i64, i64)> = BTreeMap::new();
        for r in &rows {
            let e = file
                .entry((r["Customer Currency"].clone(), r["Refund"] == "Yes"))
                .or_default();
            e.0 += 1;
            e.1 += milli(&r["Customer Price"]);
        }
        let mut subs: BTreeMap<(String, bool), (i64, i64)> = BTreeMap::new();
        for t in ledger.iter().filter(|t| t.renewable && !t.family_shared) {
            if (bounds.0..bounds.1).contains(&t.purchase_ms) {
                let e = subs.entry((t.currency.clone(), false)).or_default();
                *e = (e.0 + 1, e.1 + t.price);
            }
            if t.revoked_ms
                .is_some_and(|r| (bounds.0..bounds.1).contains(&r))
            {
                let e = subs.entry((t.currency.clone(), true)).or_default();
                *e = (e.0 + 1, e.1 - t.price);
            }
        }
        assert_eq!(file, subs, "SUBSCRIBER of {date}");
        checked.1 += rows.len();
    }
    assert!(checked.0 > 1_000 && checked.1 > 10, "{checked:?}");

    // Finance (§3): the fiscal period's FINANCIAL file of every region that sold, per customer
    // currency and product, = the period's sales files. Per-country regions and EU pay in the
    // customers' currency, so units and proceeds must match exactly; LL, AP and WW pay in USD,
    // each unit's share converted with crabapple's fixed rate table (countries.rs
    // `convert_milli`), so there the USD amount is compared with the converted sales proceeds.
    let regions: BTreeSet<&str> = ledger
        .iter()
        .filter(|t| !t.family_shared)
        .map(|t| countries::region_of(&t.storefront))
        .collect();
    assert!(regions.len() > 3, "{regions:?}");
    let mut finance = Sums::new();
    let mut usd_expected: BTreeMap<(String, String), i64> = BTreeMap::new();
    let mut usd_file: BTreeMap<(String, String), i64> = BTreeMap::new();
    for region in regions {
        let uri = finance_uri("FINANCIAL", region, &period.report_date());
        let text = gunzip(&download(&w, &uri).await.expect(region));
        let rows = table(&text);
        let cur = countries::region_currency(region).unwrap();
        let (mut units, mut amount) = (0, 0);
        for r in &rows {
            assert_eq!(r["Partner Share Currency"], cur, "{region}");
            let qty: i64 = r["Quantity"].parse().unwrap();
            let ext = milli(&r["Extended Partner Share"]);
            assert_eq!(ext, qty * milli(&r["Partner Share"]), "{region}: {r:?}");
            let key = (
                r["Customer Currency"].clone(),
                r["Vendor Identifier"].clone(),
            );
            if cur == r["Customer Currency"] {
                let e = finance.entry(key).or_default();
                *e = (e.0 + qty, e.1 + ext, e.2);
            } else {
                let e = finance.entry(key.clone()).or_default();
                e.0 += qty;
                *usd_file.entry(key).or_default() += ext;
            }
            units += qty;
            amount += ext;
        }
        // The trailer counts what the rows hold.
        let trailer = |k: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(k))
                .unwrap()
                .to_string()
        };
        assert_eq!(trailer("Total_Rows\t"), rows.len().to_string(), "{region}");
        assert_eq!(trailer("Total_Units\t"), units.to_string(), "{region}");
        assert_eq!(milli(&trailer("Total_Amount\t")), amount, "{region}");
    }
    let mut from_sales = Sums::new();
    for ((cur, product), (units, proceeds, _)) in &period_sales {
        let region_cur = ledger
            .iter()
            .find(|t| &t.currency == cur)
            .map(|t| countries::region_currency(countries::region_of(&t.storefront)).unwrap())
            .unwrap();
        let key = (cur.clone(), product.clone());
        let e = from_sales.entry(key.clone()).or_default();
        if region_cur == cur {
            *e = (e.0 + units, e.1 + proceeds, 0);
        } else {
            e.0 += units;
            *usd_expected.entry(key).or_default() +=
                countries::convert_milli(*proceeds, cur, region_cur);
        }
    }
    from_sales.retain(|_, v| *v != (0, 0, 0));
    finance.retain(|_, v| *v != (0, 0, 0));
    assert_eq!(finance, from_sales, "FINANCIAL vs the period's SALES files");
    for (k, want) in &usd_expected {
        let got = usd_file.get(k).copied().unwrap_or(0);
        // Per-unit conversion then truncation to the cent: at most a cent per unit apart.
        let units = from_sales[k].0.abs().max(1);
        assert!((got - want).abs() <= 10 * units, "{k:?}: {got} vs {want}");
    }
}

#[tokio::test]
async fn issue_9_the_same_seed_and_world_give_byte_identical_report_files() {
    let (a, b) = (common::demo().await, common::demo().await);
    // Both start on the later of the two clocks' next fiscal periods.
    let period = next_fiscal_period(a.app.store().now_ms().max(b.app.store().now_ms()));
    simulate_period(&a, &period).await;
    simulate_period(&b, &period).await;
    let days = days_of(&period);
    let (first, mid) = (days[0].to_string(), days[days.len() / 2].to_string());
    let mut uris = Vec::new();
    for day in &days {
        let d = day.to_string();
        uris.push(sales_uri(
            "SALES",
            "SUMMARY",
            "DAILY",
            Some(&d),
            Some("1_0"),
        ));
        for (t, s) in [
            ("SUBSCRIPTION", "SUMMARY"),
            ("SUBSCRIPTION_EVENT", "SUMMARY"),
            ("SUBSCRIBER", "DETAILED"),
        ] {
            uris.push(sales_uri(t, s, "DAILY", Some(&d), Some("1_4")));
        }
    }
    // WEEKLY reportDate is the week's Sunday (§2.2); MONTHLY is YYYY-MM.
    let sunday = days
        .iter()
        .find(|d| d.weekday() == jiff::civil::Weekday::Sunday)
        .unwrap();
    uris.push(sales_uri(
        "SALES",
        "SUMMARY",
        "WEEKLY",
        Some(&sunday.to_string()),
        Some("1_0"),
    ));
    uris.push(sales_uri(
        "SALES",
        "SUMMARY",
        "MONTHLY",
        Some(&mid[..7]),
        Some("1_0"),
    ));
    for region in ["ZZ", "US", "EU", "WW"] {
        uris.push(finance_uri("FINANCIAL", region, &period.report_date()));
    }
    let mut served = 0;
    for uri in &uris {
        let (ra, rb) = (a.get(uri).await, b.get(uri).await);
        assert_eq!(ra.status, rb.status, "{uri}");
        if ra.status == 200 {
            assert_eq!(ra.body, rb.body, "{uri}");
            served += 1;
        } else {
            // Errors carry a fresh `id` each (Apple's too); the rest is the same.
            let strip = |r: &common::Resp| {
                let mut v = r.json();
                v["errors"][0]["id"] = Value::Null;
                v
            };
            assert_eq!(strip(&ra), strip(&rb), "{uri}");
        }
    }
    assert!(
        served > uris.len() / 2,
        "{served} of {} served ({first})",
        uris.len()
    );
}
