//! The commerce events, one file each (as tokio-rs/mini-redis keeps one file per command):
//! every event `parse`s its arguments from the admin API / CLI input ([`EventArgs`]) and
//! `apply`s itself to the ledger inside the event's SQL transaction ([`Ev`]), appending the
//! notification Apple sends for it (apple-semantics.md §7; each file names its pairs).
//! [`TABLE`] maps an event name to its parser; [`Event::apply`] dispatches.

mod auto_renew;
mod change_product;
mod consumption_request;
mod expire;
mod extend;
mod fail_renewal;
mod offer_redeemed;
mod price_increase;
mod purchase;
mod recover;
mod refund;
mod refund_declined;
mod refund_reversed;
mod renew;
mod revoke;

pub use purchase::PurchaseArgs;

use super::engine::{Ev, EvResult, EventError, Outcome};
use super::events::EventArgs;

/// One parsed event.
pub enum Event {
    /// Boxed: a purchase carries many more arguments than the other events.
    Purchase(Box<purchase::Purchase>),
    Renew(renew::Renew),
    FailRenewal(fail_renewal::FailRenewal),
    Recover(recover::Recover),
    Expire(expire::Expire),
    ChangeProduct(change_product::ChangeProduct),
    AutoRenew(auto_renew::AutoRenew),
    PriceIncrease(price_increase::PriceIncreaseEvent),
    Refund(refund::Refund),
    RefundDeclined(refund_declined::RefundDeclined),
    RefundReversed(refund_reversed::RefundReversed),
    Revoke(revoke::Revoke),
    ConsumptionRequest(consumption_request::ConsumptionRequest),
    Extend(extend::Extend),
}

type Parse = fn(&EventArgs) -> EvResult<Event>;

/// Every event: its name (the admin API's `POST /crabapple/admin/commerce/{event}`, the CLI
/// command) and its parser.
pub const TABLE: &[(&str, Parse)] = &[
    ("purchase", |a| {
        purchase::Purchase::parse(a).map(|p| Event::Purchase(Box::new(p)))
    }),
    ("renew", |a| renew::Renew::parse(a).map(Event::Renew)),
    ("fail-renewal", |a| {
        fail_renewal::FailRenewal::parse(a).map(Event::FailRenewal)
    }),
    ("recover", |a| {
        recover::Recover::parse(a).map(Event::Recover)
    }),
    ("expire", |a| expire::Expire::parse(a).map(Event::Expire)),
    ("upgrade", |a| {
        change_product::ChangeProduct::parse(a, "upgrade").map(Event::ChangeProduct)
    }),
    ("downgrade", |a| {
        change_product::ChangeProduct::parse(a, "downgrade").map(Event::ChangeProduct)
    }),
    ("crossgrade", |a| {
        change_product::ChangeProduct::parse(a, "crossgrade").map(Event::ChangeProduct)
    }),
    ("auto-renew", |a| {
        auto_renew::AutoRenew::parse(a).map(Event::AutoRenew)
    }),
    ("price-increase", |a| {
        price_increase::PriceIncreaseEvent::parse(a).map(Event::PriceIncrease)
    }),
    ("refund", |a| refund::Refund::parse(a).map(Event::Refund)),
    ("refund-declined", |a| {
        refund_declined::RefundDeclined::parse(a).map(Event::RefundDeclined)
    }),
    ("refund-reversed", |a| {
        refund_reversed::RefundReversed::parse(a).map(Event::RefundReversed)
    }),
    ("revoke", |a| revoke::Revoke::parse(a).map(Event::Revoke)),
    ("consumption-request", |a| {
        consumption_request::ConsumptionRequest::parse(a).map(Event::ConsumptionRequest)
    }),
    ("extend", |a| extend::Extend::parse(a).map(Event::Extend)),
];

impl Event {
    /// The event `name` with its arguments (404 for an unknown name).
    pub fn parse(name: &str, a: &EventArgs) -> EvResult<Event> {
        let Some((_, parse)) = TABLE.iter().find(|(n, _)| *n == name) else {
            let names: Vec<&str> = TABLE.iter().map(|(n, _)| *n).collect();
            return Err(EventError {
                status: 404,
                message: format!("unknown event '{name}' (one of: {})", names.join(", ")),
                api: None,
                storage_fault: false,
            });
        };
        parse(a)
    }

    /// Applies the event at `at` in `ev`'s SQL transaction.
    pub async fn apply(self, ev: &mut Ev<'_>, at: i64) -> EvResult<Outcome> {
        match self {
            Event::Purchase(e) => e.apply(ev, at).await,
            Event::Renew(e) => e.apply(ev, at).await,
            Event::FailRenewal(e) => e.apply(ev, at).await,
            Event::Recover(e) => e.apply(ev, at).await,
            Event::Expire(e) => e.apply(ev, at).await,
            Event::ChangeProduct(e) => e.apply(ev, at).await,
            Event::AutoRenew(e) => e.apply(ev, at).await,
            Event::PriceIncrease(e) => e.apply(ev, at).await,
            Event::Refund(e) => e.apply(ev, at).await,
            Event::RefundDeclined(e) => e.apply(ev, at).await,
            Event::RefundReversed(e) => e.apply(ev, at).await,
            Event::Revoke(e) => e.apply(ev, at).await,
            Event::ConsumptionRequest(e) => e.apply(ev, at).await,
            Event::Extend(e) => e.apply(ev, at).await,
        }
    }
}

/// A required argument.
fn need<'a>(v: &'a Option<String>, name: &str, event: &str) -> EvResult<&'a str> {
    v.as_deref()
        .ok_or_else(|| EventError::bad(format!("{event} needs {name}")))
}

/// The transaction an event is about: `transactionId` (or `originalTransactionId`), any
/// transaction of the purchase or subscription.
fn transaction_id(a: &EventArgs, event: &str) -> EvResult<String> {
    need(
        &a.transaction_id
            .clone()
            .or(a.original_transaction_id.clone()),
        "transactionId",
        event,
    )
    .map(str::to_string)
}
