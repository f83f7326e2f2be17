//! Every storefront pays a local price (apple-semantics.md §5): a territory without its own App
//! Store Connect price is charged the equalization of the product's United States price — the
//! very price point `GET …/pricePoints?filter[territory]=…` lists for that tier, in the
//! territory's currency with Apple's endings (whole yen) — while a territory with its own price
//! keeps it, and the Sales report shows the local amount.

mod common;
mod pricing_support;

use common::reports::*;
use common::*;
use pricing_support::*;
use serde_json::{Value, json};

/// Notes Pro Monthly's product id (demo world; [`SUB`]).
const MONTHLY: &str = "com.crabapple.notes.pro.monthly";

/// A production purchase of Notes Pro Monthly by a new customer in `storefront`, with `extra`
/// event arguments: the transaction's `(price, currency)`.
async fn buy(w: &World, storefront: &str, extra: Value) -> (i64, String) {
    let customer = format!("local-{storefront}-{}", uuid::Uuid::new_v4());
    let mut args = json!({ "bundleId": "com.crabapple.notes", "productId": MONTHLY,
                           "customer": customer, "storefront": storefront,
                           "environment": "production" });
    args.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    let t = &post(w, "/crabapple/admin/commerce/purchase", args).await["transaction"];
    (
        t["price"].as_i64().unwrap_or_else(|| panic!("{t}")),
        t["currency"].as_str().unwrap().to_string(),
    )
}

/// The `customerPrice` of a price point, and its territory's currency.
async fn customer_price(w: &World, point: &str) -> (String, String) {
    let r = w
        .get(&format!(
            "/v1/subscriptionPricePoints/{point}?include=territory"
        ))
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let doc = r.json();
    (
        doc["data"]["attributes"]["customerPrice"]
            .as_str()
            .unwrap()
            .to_string(),
        doc["included"][0]["attributes"]["currency"]
            .as_str()
            .unwrap()
            .to_string(),
    )
}

/// Notes Pro Monthly available in the United States at 9.99 from today; its USA price point.
async fn usa_price_9_99(w: &World, territories: &[&str]) -> String {
    make_available(w, SUB, territories).await;
    let usa = point(w, SUB, "USA", "9.99").await;
    assert_eq!(post_price(w, SUB, &usa, None).await.status, 201);
    usa
}

/// `"1600"` / `"9.49"` → milliunits.
fn milli(price: &str) -> i64 {
    let (int, frac) = price.split_once('.').unwrap_or((price, ""));
    int.parse::<i64>().unwrap() * 1000 + format!("{frac:0<3}").parse::<i64>().unwrap()
}

/// §5: the USA price (9.99) is in effect; Japan, India, the United Kingdom and Germany have no
/// price of their own, so each pays the 9.99 tier's price point there.
#[tokio::test]
async fn s5_a_territory_without_its_own_price_pays_the_usa_tiers_equalized_price_point() {
    let w = demo().await;
    let usa = usa_price_9_99(&w, &["USA"]).await;
    assert_eq!(buy(&w, "USA", json!({})).await, (9990, "USD".into()));
    // (territory, customerPrice of the 9.99 tier there, currency): 9.99 × 150 × 1.10 VAT =
    // 1,648.35 → ¥1,600 (whole yen); 9.99 × 83 × 1.18 = 978.4 → ₹979; 9.99 × 0.79 × 1.20 =
    // 9.47 → £9.49; 9.99 × 0.92 × 1.19 = 10.94 → €10.99.
    for (territory, price, currency) in [
        ("JPN", "1600", "JPY"),
        ("IND", "979.00", "INR"),
        ("GBR", "9.49", "GBP"),
        ("DEU", "10.99", "EUR"),
    ] {
        let listed = point(&w, SUB, territory, price).await;
        assert_eq!(equalized(&w, &usa, territory).await, listed, "{territory}");
        assert_eq!(
            customer_price(&w, &listed).await,
            (price.to_string(), currency.to_string())
        );
        assert_eq!(
            buy(&w, territory, json!({})).await,
            (milli(price), currency.to_string()),
            "{territory}"
        );
    }
    // The event's explicit price and currency still win.
    assert_eq!(
        buy(&w, "JPN", json!({ "price": 480_000, "currency": "JPY" })).await,
        (480_000, "JPY".into())
    );
}

/// §5: without any App Store Connect price, the type's default United States price (4.99 a
/// month) is equalized the same way: ¥820 (4.99 × 165 = 823.35), listed as the JPN price point
/// of that tier.
#[tokio::test]
async fn s5_without_a_usa_price_the_default_usd_price_is_equalized() {
    let w = demo().await;
    let usa = point(&w, SUB, "USA", "4.99").await;
    let jpn = point(&w, SUB, "JPN", "820").await;
    assert_eq!(equalized(&w, &usa, "JPN").await, jpn);
    assert_eq!(buy(&w, "USA", json!({})).await, (4990, "USD".into()));
    assert_eq!(buy(&w, "JPN", json!({})).await, (820_000, "JPY".into()));
    // 4.99 × 1,350 × 1.10 = 7,410 → ₩7,400 (whole won).
    assert_eq!(buy(&w, "KOR", json!({})).await, (7_400_000, "KRW".into()));
}

/// §5: a territory with its own price in effect is charged that price, not the equalization;
/// the others still follow the USA price.
#[tokio::test]
async fn s5_a_territory_with_its_own_price_keeps_it() {
    let w = demo().await;
    usa_price_9_99(&w, &["USA", "JPN"]).await;
    // The 19.99 tier in Japan: 19.99 × 165 = 3,298.35 → ¥3,300.
    let own = point(&w, SUB, "JPN", "3300").await;
    assert_eq!(post_price(&w, SUB, &own, None).await.status, 201);
    assert_eq!(buy(&w, "JPN", json!({})).await, (3_300_000, "JPY".into()));
    assert_eq!(buy(&w, "IND", json!({})).await, (979_000, "INR".into()));
}

/// §5 and reports-formats.md §2.4: the Sales report's row of a Japanese purchase shows the
/// equalized yen price (whole units) in JPY, with its proceeds net of 10 % VAT
/// (1,600 / 1.10 × 0.85 = 1,236.4 → 1236).
#[tokio::test]
async fn s5_the_sales_report_shows_a_japanese_purchase_in_yen() {
    let w = demo().await;
    usa_price_9_99(&w, &["USA"]).await;
    assert_eq!(buy(&w, "JPN", json!({})).await, (1_600_000, "JPY".into()));
    let date = until_todays_files(&w).await;
    let r = w
        .get(&sales_uri(
            "SALES",
            "SUMMARY",
            "DAILY",
            Some(&date),
            Some("1_0"),
        ))
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let text = gunzip(&r.body);
    let row: Vec<&str> = text
        .lines()
        .map(|l| l.split('\t').collect::<Vec<_>>())
        .find(|row| row[2] == MONTHLY)
        .unwrap_or_else(|| panic!("no row of {MONTHLY}: {text}"));
    // Units, Developer Proceeds, Customer Currency, Country Code, Currency of Proceeds,
    // Customer Price.
    assert_eq!(
        (row[7], row[8], row[11], row[12], row[13], row[15]),
        ("1", "1236", "JPY", "JP", "JPY", "1600")
    );
}
