//! The subscription family's files from the ledger (reports-formats.md §2.4): commerce events
//! on one Pacific day in production — an introductory offer, two offer codes, a renewal, a
//! cancel, a billing failure, a refund — then every report's exact lines, and the header lines
//! byte for byte as reports-formats.md §2.4 writes them.

#[path = "subscription_world/mod.rs"]
mod world;

use crabapple_reports::subscription::SubscriptionReport::{self, *};
use crabapple_reports::subscription::header;
use world::*;

/// reports-formats.md §2.4, written here (not taken from the code under test).
const SUBSCRIPTION_EVENT_1_3: &str = "Event Date\tEvent\tApp Name\tApp Apple ID\tSubscription Name\tSubscription Apple ID\tSubscription Group ID\tStandard Subscription Duration\tSubscription Offer Type\tSubscription Offer Duration\tMarketing Opt-In\tMarketing Opt-In Duration\tPreserved Pricing\tProceeds Reason\tSubscription Offer Name\tPromotional Offer ID\tConsecutive Paid Periods\tOriginal Start Date\tDevice\tClient\tState\tCountry\tPrevious Subscription Name\tPrevious Subscription Apple ID\tDays Before Canceling\tCancellation Reason\tDays Canceled\tQuantity\tPaid Service Days Recovered";
const SUBSCRIBER_1_3: &str = "Event Date\tApp Name\tApp Apple ID\tSubscription Name\tSubscription Apple ID\tSubscription Group ID\tStandard Subscription Duration\tSubscription Offer Name\tPromotional Offer ID\tSubscription Offer Type\tSubscription Offer Duration\tMarketing Opt-In Duration\tCustomer Price\tCustomer Currency\tDeveloper Proceeds\tProceeds Currency\tPreserved Pricing\tProceeds Reason\tClient\tDevice\tCountry\tSubscriber ID\tSubscriber ID Reset\tRefund\tPurchase Date\tUnits";
/// The 32-name list's order; column 7 named `Subscription Offer Name` (open question 3).
const SUBSCRIPTION_1_3: &str = "App Name\tApp Apple ID\tSubscription Name\tSubscription Apple ID\tSubscription Group ID\tStandard Subscription Duration\tSubscription Offer Name\tPromotional Offer ID\tCustomer Price\tCustomer Currency\tDeveloper Proceeds\tProceeds Currency\tPreserved Pricing\tProceeds Reason\tClient\tDevice\tState\tCountry\tActive Standard Price Subscriptions\tActive Free Trial Introductory Offer Subscriptions\tActive Pay Up Front Introductory Offer Subscriptions\tActive Pay As You Go Introductory Offer Subscriptions\tFree Trial Promotional Offer Subscriptions\tPay Up Front Promotional Offer Subscriptions\tPay As You Go Promotional Offer Subscriptions\tMarketing Opt-Ins\tBilling Retry\tGrace Period\tFree Trial Offer Code Subscriptions\tPay Up Front Offer Code Subscriptions\tPay As You Go Offer Code Subscriptions\tSubscribers";
const OFFER_CODE_REDEMPTION_1_0: &str = "Date\tApp Name\tApp Apple ID\tSubscription Name\tSubscription Apple ID\tOffer Reference Name\tOffer Code\tTerritory\tRedemptions";
const WIN_BACK_ELIGIBILITY_1_0: &str = "App Name\tApp Apple ID\tSubscription Name\tSubscription Apple ID\tSubscription Group ID\tStandard Subscription Duration\tPaid Subscription Tenure\tTime Since Last Subscribed\tHas Previously Redeemed Win-Back Offer\tTime Since Last Win-Back Offer\tTerritory\tChurned Subscription Count";

#[test]
fn header_lines_are_the_bytes_of_reports_formats_2_4() {
    let want: [(SubscriptionReport, &str, usize); 5] = [
        (SubscriptionEvent, SUBSCRIPTION_EVENT_1_3, 29),
        (Subscriber, SUBSCRIBER_1_3, 26),
        (Subscription, SUBSCRIPTION_1_3, 32),
        (
            SubscriptionOfferCodeRedemption,
            OFFER_CODE_REDEMPTION_1_0,
            9,
        ),
        (WinBackEligibility, WIN_BACK_ELIGIBILITY_1_0, 12),
    ];
    for (report, line, columns) in want {
        assert_eq!(header(report).as_bytes(), line.as_bytes(), "{report:?}");
        assert_eq!(line.split('\t').count(), columns, "{report:?}");
    }
}

#[tokio::test]
async fn every_file_starts_with_its_header_and_ends_each_line_with_lf_open_question_9() {
    let w = World::day_of_events().await;
    for (report, version, line) in [
        (SubscriptionEvent, "1_3", SUBSCRIPTION_EVENT_1_3),
        (Subscriber, "1_3", SUBSCRIBER_1_3),
        (Subscription, "1_3", SUBSCRIPTION_1_3),
        (
            SubscriptionOfferCodeRedemption,
            "1_0",
            OFFER_CODE_REDEMPTION_1_0,
        ),
    ] {
        let text = w.report(report, version, DAY).await.unwrap();
        assert!(text.starts_with(&format!("{line}\n")), "{report:?}");
        assert!(text.ends_with('\n') && !text.contains('\r'), "{report:?}");
        let columns = line.split('\t').count();
        for row in rows(&text) {
            assert_eq!(row.split('\t').count(), columns, "{report:?}: {row}");
        }
    }
}

#[tokio::test]
async fn subscriber_file_has_a_row_per_transaction_and_refund_2_4() {
    let w = World::day_of_events().await;
    let text = w.report(Subscriber, "1_3", DAY).await.unwrap();
    let head =
        "2030-01-15\tCrabapple Notes\t1490553127\tNotes Pro Monthly\t6449081301\t20934512\t1 Month";
    let yearly =
        "2030-01-15\tCrabapple Notes\t1490553127\tNotes Pro Yearly\t6449081302\t20934512\t1 Year";
    let want = vec![
        // alice: the free trial, price 0.
        format!(
            "{head}\t\t\tFree Trial\t1 Week\t\t0.00\tUSD\t0.00\tUSD\t\t\t\tiPhone\tUS\t545514302890703043\t\t\t\t1"
        ),
        // bob: BLACKFRIDAY30 — the offer's reference name, no Promotional Offer ID (forum post 6).
        // Half of 4.99 is charged 2.49 (whole cents), proceeds 2.49 × 0.85 = 2.11 (2.12 came from
        // an uncharged 2.495).
        format!(
            "{head}\tHoliday Promos\t\tPay As You Go\t1 Month\t\t2.49\tUSD\t2.11\tUSD\t\t\t\tiPhone\tUS\t557967028331910316\t\t\t\t1"
        ),
        format!(
            "{yearly}\tSpring Promos\t\tPay As You Go\t1 Month\t\t19.99\tUSD\t16.99\tUSD\t\t\t\tiPhone\tUS\t909765305701676007\t\t\t\t1"
        ),
        // dave: the purchase and its renewal, one Subscriber ID.
        format!(
            "{head}\t\t\t\t\t\t4.99\tUSD\t4.24\tUSD\t\t\t\tiPhone\tUS\t685465852771295916\t\t\t\t1"
        ),
        format!(
            "{head}\t\t\t\t\t\t4.99\tUSD\t4.24\tUSD\t\t\t\tiPhone\tUS\t685465852771295916\t\t\t\t1"
        ),
        format!(
            "{head}\t\t\t\t\t\t4.99\tUSD\t4.24\tUSD\t\t\t\tiPhone\tUS\t369167206075843887\t\t\t\t1"
        ),
        format!(
            "{head}\t\t\t\t\t\t4.99\tUSD\t4.24\tUSD\t\t\t\tiPhone\tUS\t682609901635196756\t\t\t\t1"
        ),
        // gina: the sale, then the refund (negative price and proceeds, Refund Yes, Units 0).
        format!(
            "{head}\t\t\t\t\t\t4.99\tUSD\t4.24\tUSD\t\t\t\tiPhone\tUS\t763639527283622281\t\t\t\t1"
        ),
        format!(
            "{head}\t\t\t\t\t\t-4.99\tUSD\t-4.24\tUSD\t\t\t\tiPhone\tUS\t763639527283622281\t\tYes\t2030-01-15\t0"
        ),
    ];
    assert_eq!(rows(&text), want);
}

#[tokio::test]
async fn subscription_event_file_counts_each_event_by_grouping_key_2_4() {
    let w = World::day_of_events().await;
    let text = w.report(SubscriptionEvent, "1_3", DAY).await.unwrap();
    let ev = |event: &str, product: &str, offer: &str, middle: &str, tail: &str| {
        let (name, id, duration) = if product == MONTHLY {
            ("Notes Pro Monthly", "6449081301", "1 Month")
        } else {
            ("Notes Pro Yearly", "6449081302", "1 Year")
        };
        format!(
            "2030-01-15\t{event}\tCrabapple Notes\t1490553127\t{name}\t{id}\t20934512\t{duration}\t{offer}\t\t\t\t\t{middle}\t2030-01-15\tiPhone\t\t\tUS\t\t\t{tail}\t"
        )
    };
    let want = vec![
        ev(
            "Billing Retry from Paid Subscription",
            MONTHLY,
            "\t",
            "\t\t1",
            "\t\t\t1",
        ),
        ev("Cancel", MONTHLY, "\t", "\t\t1", "0\tOther\t\t1"),
        ev("Refund", MONTHLY, "\t", "\t\t1", "\t\t\t1"),
        ev("Renew", MONTHLY, "\t", "\t\t2", "\t\t\t1"),
        ev(
            "Start Introductory Offer",
            MONTHLY,
            "Free Trial\t1 Week",
            "\t\t0",
            "\t\t\t1",
        ),
        ev(
            "Start Offer Code",
            MONTHLY,
            "Pay As You Go\t1 Month",
            "Holiday Promos\t\t1",
            "\t\t\t1",
        ),
        ev(
            "Start Offer Code",
            YEARLY,
            "Pay As You Go\t1 Month",
            "Spring Promos\t\t1",
            "\t\t\t1",
        ),
        ev("Subscribe", MONTHLY, "\t", "\t\t1", "\t\t\t4"),
    ];
    assert_eq!(rows(&text), want);
}

#[tokio::test]
async fn subscription_summary_counts_the_books_at_the_end_of_the_pacific_day() {
    let w = World::day_of_events().await;
    let text = w.report(Subscription, "1_3", DAY).await.unwrap();
    let monthly = "Crabapple Notes\t1490553127\tNotes Pro Monthly\t6449081301\t20934512\t1 Month";
    let tail = "\t\t\t\tiPhone\t\tUS";
    let want = vec![
        // alice's free trial.
        format!(
            "{monthly}\t\t\t0.00\tUSD\t0.00\tUSD{tail}\t0\t1\t0\t0\t0\t0\t0\t0\t0\t0\t0\t0\t0\t1"
        ),
        // dave and erin (auto-renew off, still active) at the standard price; frank in billing
        // retry (not a subscriber); gina refunded (not counted).
        format!(
            "{monthly}\t\t\t4.99\tUSD\t4.24\tUSD{tail}\t2\t0\t0\t0\t0\t0\t0\t0\t1\t0\t0\t0\t0\t2"
        ),
        format!(
            "{monthly}\tHoliday Promos\t\t2.49\tUSD\t2.11\tUSD{tail}\t0\t0\t0\t0\t0\t0\t0\t0\t0\t0\t0\t0\t1\t1"
        ),
        format!(
            "Crabapple Notes\t1490553127\tNotes Pro Yearly\t6449081302\t20934512\t1 Year\tSpring Promos\t\t19.99\tUSD\t16.99\tUSD{tail}\t0\t0\t0\t0\t0\t0\t0\t0\t0\t0\t0\t0\t1\t1"
        ),
    ];
    assert_eq!(rows(&text), want);
}

#[tokio::test]
async fn offer_code_redemptions_tell_blackfriday30_from_mothersday30_forum_post_6() {
    let w = World::day_of_events().await;
    let text = w
        .report(SubscriptionOfferCodeRedemption, "1_0", DAY)
        .await
        .unwrap();
    assert_eq!(
        rows(&text),
        vec![
            "2030-01-15\tCrabapple Notes\t1490553127\tNotes Pro Monthly\t6449081301\tHoliday Promos\tBLACKFRIDAY30\tUS\t1",
            "2030-01-15\tCrabapple Notes\t1490553127\tNotes Pro Yearly\t6449081302\tSpring Promos\tMOTHERSDAY30\tUS\t1",
        ]
    );
}
