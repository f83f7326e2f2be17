//! The subscription family across days: the Pacific reporting day (reports-formats.md §2.3),
//! days without rows, conversions and refunds on a later day, the 1_4 layout, and win-back
//! eligibility's threshold of 5 (§2.4).

#[path = "subscription_world/mod.rs"]
mod world;

use crabapple_reports::subscription::SubscriptionReport::*;
use serde_json::json;
use world::*;

const HOUR: i64 = 3_600_000;
const MONTHLY_COLUMNS: &str =
    "Crabapple Notes\t1490553127\tNotes Pro Monthly\t6449081301\t20934512\t1 Month";

fn next_day() -> jiff::civil::Date {
    DAY.tomorrow().unwrap()
}

#[tokio::test]
async fn a_day_without_events_has_no_rows_2_5_no_sales() {
    let w = World::new().await;
    w.buy("alice", MONTHLY, None).await;
    let before = DAY.yesterday().unwrap();
    for report in [
        Subscription,
        SubscriptionEvent,
        Subscriber,
        SubscriptionOfferCodeRedemption,
        WinBackEligibility,
    ] {
        assert_eq!(w.report(report, "1_3", before).await, None, "{report:?}");
    }
    // The next day has no events, but the subscription is still on the books.
    for report in [
        SubscriptionEvent,
        Subscriber,
        SubscriptionOfferCodeRedemption,
    ] {
        assert_eq!(
            w.report(report, "1_3", next_day()).await,
            None,
            "{report:?}"
        );
    }
    let summary = w.report(Subscription, "1_3", next_day()).await.unwrap();
    assert_eq!(
        rows(&summary),
        vec![format!(
            "{MONTHLY_COLUMNS}\t\t\t4.99\tUSD\t4.24\tUSD\t\t\t\tiPhone\t\tUS\t1\t0\t0\t0\t0\t0\t0\t0\t0\t0\t0\t0\t0\t1"
        )]
    );
}

#[tokio::test]
async fn version_1_4_serves_the_1_3_layout_open_question_2() {
    let w = World::new().await;
    w.buy("alice", MONTHLY, Some(json!({"type": "introductory"})))
        .await;
    for report in [Subscription, SubscriptionEvent, Subscriber] {
        let v13 = w.report(report, "1_3", DAY).await.unwrap();
        assert_eq!(
            w.report(report, "1_4", DAY).await.unwrap(),
            v13,
            "{report:?}"
        );
    }
}

#[tokio::test]
async fn an_event_at_11_30_pm_pacific_belongs_to_that_pacific_day_2_3() {
    let w = World::new().await;
    // 10:00 → 23:30 PST is 07:30 UTC the next calendar day.
    w.store
        .advance_clock(13 * HOUR + 30 * 60_000)
        .await
        .unwrap();
    w.buy("alice", MONTHLY, None).await;
    let day = w.report(Subscriber, "1_3", DAY).await.unwrap();
    assert_eq!(rows(&day).len(), 1);
    assert_eq!(w.report(Subscriber, "1_3", next_day()).await, None);
}

#[tokio::test]
async fn a_refund_the_next_day_is_a_refund_row_with_the_purchase_date_2_4() {
    let w = World::new().await;
    let gina = w.buy("gina", MONTHLY, None).await;
    w.store.advance_clock(24 * HOUR).await.unwrap();
    w.event("refund", json!({"transactionId": gina})).await;
    let text = w.report(Subscriber, "1_3", next_day()).await.unwrap();
    let only = rows(&text);
    assert_eq!(only.len(), 1, "{text}");
    assert!(
        only[0].starts_with(&format!(
            "2030-01-16\t{MONTHLY_COLUMNS}\t\t\t\t\t\t-4.99\tUSD\t-4.24\tUSD\t"
        )),
        "{}",
        only[0]
    );
    assert!(only[0].ends_with("\tYes\t2030-01-15\t0"), "{}", only[0]);
    let events = w
        .report(SubscriptionEvent, "1_3", next_day())
        .await
        .unwrap();
    assert_eq!(rows(&events).len(), 1);
    assert!(rows(&events)[0].starts_with("2030-01-16\tRefund\t"));
}

#[tokio::test]
async fn a_trial_that_converts_is_paid_subscription_from_introductory_offer() {
    let w = World::new().await;
    let alice = w
        .buy("alice", MONTHLY, Some(json!({"type": "introductory"})))
        .await;
    w.store.advance_clock(24 * HOUR).await.unwrap();
    w.event("renew", json!({"transactionId": alice})).await;
    let text = w
        .report(SubscriptionEvent, "1_3", next_day())
        .await
        .unwrap();
    assert_eq!(
        rows(&text),
        vec![format!(
            "2030-01-16\tPaid Subscription from Introductory Offer\t{MONTHLY_COLUMNS}\t\t\t\t\t\t\t\t\t1\t2030-01-15\tiPhone\t\t\tUS\t\t\t\t\t\t1\t"
        )]
    );
    let summary = w.report(Subscription, "1_3", next_day()).await.unwrap();
    assert_eq!(
        rows(&summary),
        vec![format!(
            "{MONTHLY_COLUMNS}\t\t\t4.99\tUSD\t4.24\tUSD\t\t\t\tiPhone\t\tUS\t1\t0\t0\t0\t0\t0\t0\t0\t0\t0\t0\t0\t0\t1"
        )]
    );
}

#[tokio::test]
async fn a_crossgrade_at_renewal_names_the_previous_subscription() {
    let w = World::new().await;
    let dave = w.buy("dave", MONTHLY, None).await;
    w.event(
        "crossgrade",
        json!({"transactionId": dave, "toProductId": YEARLY}),
    )
    .await;
    w.event("renew", json!({"transactionId": dave})).await;
    let text = w.report(SubscriptionEvent, "1_3", DAY).await.unwrap();
    let crossgrade: Vec<_> = rows(&text)
        .into_iter()
        .filter(|r| r.contains("\tCrossgrade\t"))
        .collect();
    assert_eq!(
        crossgrade,
        vec![
            "2030-01-15\tCrossgrade\tCrabapple Notes\t1490553127\tNotes Pro Yearly\t6449081302\t20934512\t1 Year\t\t\t\t\t\t\t\t\t2\t2030-01-15\tiPhone\t\t\tUS\tNotes Pro Monthly\t6449081301\t\t\t\t1\t"
        ]
    );
}

#[tokio::test]
async fn win_back_eligibility_shows_churned_subscriptions_only_from_5_2_4() {
    let w = World::new().await;
    for (i, storefront) in ["USA", "USA", "USA", "USA", "USA", "GBR"]
        .iter()
        .enumerate()
    {
        let v = w
            .event(
                "purchase",
                json!({"bundleId": BUNDLE, "productId": MONTHLY, "customer": format!("c{i}"),
                       "storefront": storefront}),
            )
            .await;
        w.event(
            "expire",
            json!({"transactionId": tx_id(&v), "reason": "voluntary", "now": true}),
        )
        .await;
    }
    let text = w.report(WinBackEligibility, "1_0", DAY).await.unwrap();
    assert_eq!(
        rows(&text),
        vec![format!(
            "{MONTHLY_COLUMNS}\tLess than 1 Month\tLess than 1 Month\tNo\t\tUS\t5"
        )]
    );
    // Expiring at once with auto-renew on is the day's Cancel (no earlier AUTO_RENEW_DISABLED).
    let events = w.report(SubscriptionEvent, "1_3", DAY).await.unwrap();
    let cancels: Vec<_> = rows(&events)
        .into_iter()
        .filter(|r| r.starts_with("2030-01-15\tCancel\t"))
        .map(|r| r.rsplit('\t').nth(1).unwrap().to_string())
        .collect();
    assert_eq!(cancels, vec!["1", "5"], "GB then US");
    // Nobody is subscribed at the end of the day.
    assert_eq!(w.report(Subscription, "1_3", DAY).await, None);
}

#[tokio::test]
async fn a_promotional_offer_carries_its_reference_name_and_offer_id() {
    let w = World::new().await;
    w.put(
        "subscriptionPromotionalOffers",
        "PO1",
        json!({"name": "Winter Sale", "offerCode": "winter50", "offerMode": "PAY_AS_YOU_GO"}),
    )
    .await;
    w.buy(
        "hana",
        MONTHLY,
        Some(json!({"type": "promotional", "id": "winter50"})),
    )
    .await;
    let events = w.report(SubscriptionEvent, "1_3", DAY).await.unwrap();
    assert_eq!(
        rows(&events),
        vec![format!(
            "2030-01-15\tStart Promotional Offer\t{MONTHLY_COLUMNS}\tPay As You Go\t1 Month\t\t\t\t\tWinter Sale\twinter50\t1\t2030-01-15\tiPhone\t\t\tUS\t\t\t\t\t\t1\t"
        )]
    );
    let summary = w.report(Subscription, "1_3", DAY).await.unwrap();
    assert_eq!(
        rows(&summary),
        vec![format!(
            "{MONTHLY_COLUMNS}\tWinter Sale\twinter50\t2.49\tUSD\t2.11\tUSD\t\t\t\tiPhone\t\tUS\t0\t0\t0\t0\t0\t0\t1\t0\t0\t0\t0\t0\t0\t1"
        )]
    );
}

#[tokio::test]
async fn grace_period_then_recovery_from_billing_retry() {
    let w = World::new().await;
    let ivan = w.buy("ivan", MONTHLY, None).await;
    w.event(
        "fail-renewal",
        json!({"transactionId": ivan, "gracePeriod": true, "now": true}),
    )
    .await;
    let summary = w.report(Subscription, "1_3", DAY).await.unwrap();
    assert_eq!(
        rows(&summary),
        vec![format!(
            "{MONTHLY_COLUMNS}\t\t\t4.99\tUSD\t4.24\tUSD\t\t\t\tiPhone\t\tUS\t0\t0\t0\t0\t0\t0\t0\t0\t0\t1\t0\t0\t0\t1"
        )],
        "in grace: a subscriber"
    );
    w.store.advance_clock(24 * HOUR).await.unwrap();
    w.event("recover", json!({"transactionId": ivan})).await;
    let events = w.report(SubscriptionEvent, "1_3", DAY).await.unwrap();
    assert!(
        rows(&events)
            .iter()
            .any(|r| r.starts_with("2030-01-15\tGrace Period from Paid Subscription\t")),
        "{events}"
    );
    let next = w
        .report(SubscriptionEvent, "1_3", next_day())
        .await
        .unwrap();
    let names: Vec<_> = rows(&next)
        .iter()
        .map(|r| r.split('\t').nth(1).unwrap().to_string())
        .collect();
    assert_eq!(names, vec!["Renewal from Billing Retry"], "{next}");
    let summary = w.report(Subscription, "1_3", next_day()).await.unwrap();
    assert!(
        summary.contains("\tUS\t1\t0\t0\t0\t0\t0\t0\t0\t0\t0\t0\t0\t0\t1\n"),
        "{summary}"
    );
}
