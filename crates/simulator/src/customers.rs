//! The paying side of one app's day: new customers buying every product type (subscriptions
//! with introductory, offer-code and — for churned subscribers — win-back offers, Family
//! Sharing), repeat purchases of consumables, and what subscribers do later (turn auto-renew
//! off, take a promotional offer, switch plans, fail to pay and recover, ask for a refund).
//! Each is the commerce event `crabapple purchase …`, `auto-renew`, `crossgrade`,
//! `fail-renewal`, `recover` and `refund` run, applied in the day's batch at its own time
//! (crates/storekit `Ev::apply_at`).

use crabapple_storekit::ledger::LedgerTx;
use std::collections::BTreeMap;

use crabapple_storekit::commerce::catalog::{self, Product, ProductKind};
use crabapple_storekit::commerce::engine::{Ev, EvResult, Outcome};
use crabapple_storekit::commerce::events::{EventArgs, OfferArgs};
use crabapple_storekit::commerce::state::SubState;
use crabapple_storekit::ledger::AppRow;
use jiff::civil::Date;

use crate::rng::{Rng, cumulative};
use crate::traffic::Traffic;

/// A named offer code of the world (`subscriptionOfferCodes.name`) and the subscription it is for.
#[derive(Debug, Clone)]
pub struct OfferCode {
    pub name: String,
    pub product_id: String,
}

impl OfferCode {
    /// How likely a new subscriber redeems this code on `day`: seasonal codes (Black Friday,
    /// Mother's Day) in their weeks, any other code a little all year.
    fn rate(&self, day: Date) -> f64 {
        let n = self.name.to_ascii_uppercase();
        let (m, d) = (day.month(), day.day());
        if n.contains("BLACKFRIDAY") {
            if (m == 11 && d >= 20) || (m == 12 && d <= 2) {
                0.25
            } else {
                0.0
            }
        } else if n.contains("MOTHERSDAY") {
            if m == 5 && d <= 14 { 0.2 } else { 0.0 }
        } else {
            0.01
        }
    }
}

/// A subscription the simulator's customers hold (a year at 100,000 downloads a day keeps about
/// a million of them: boxed strings, the product shared).
#[derive(Debug, Clone)]
pub struct Held {
    pub original_transaction_id: Box<str>,
    pub customer: Box<str>,
    pub product_id: std::sync::Arc<str>,
}

/// One app's simulated customers.
pub struct AppCustomers {
    pub app: AppRow,
    pub traffic: Traffic,
    pub products: Vec<Product>,
    /// The products' ids, shared by every [`Held`] of them.
    product_ids: Vec<std::sync::Arc<str>>,
    product_cum: Vec<u32>,
    pub offer_codes: Vec<OfferCode>,
    /// Subscriptions last seen active (in the order they started).
    pub active: Vec<Held>,
    /// Subscriptions seen expired: win-back candidates.
    pub lapsed: Vec<Held>,
    /// Customers who bought a consumable (repeat buyers).
    consumable_buyers: Vec<String>,
    refunds_due: BTreeMap<Date, Vec<String>>,
    recoveries_due: BTreeMap<Date, Vec<String>>,
}

/// One thing a customer does on the day.
#[derive(Debug, Clone)]
pub enum Act {
    NewCustomer { n: u64 },
    RepeatConsumable { pick: u64 },
    AutoRenewOff { pick: u64 },
    PromotionalOffer { pick: u64 },
    FailRenewal { pick: u64 },
    Crossgrade { pick: u64 },
    Recover { transaction_id: String },
    Refund { transaction_id: String },
    WinBack { pick: u64 },
}

impl AppCustomers {
    pub fn new(
        app: AppRow,
        traffic: Traffic,
        products: Vec<Product>,
        offer_codes: Vec<OfferCode>,
    ) -> AppCustomers {
        let weights = products.iter().map(|p| match &traffic.products {
            Some(w) => w.get(&p.product_id).copied().unwrap_or(0),
            None => match p.kind {
                ProductKind::AutoRenewable => 6,
                ProductKind::Consumable => 4,
                ProductKind::NonConsumable => 2,
                ProductKind::NonRenewing => 1,
            },
        });
        let product_cum = cumulative(weights);
        let product_ids = products
            .iter()
            .map(|p| p.product_id.as_str().into())
            .collect();
        AppCustomers {
            app,
            traffic,
            products,
            product_ids,
            product_cum,
            offer_codes,
            active: Vec::new(),
            lapsed: Vec::new(),
            consumable_buyers: Vec::new(),
            refunds_due: BTreeMap::new(),
            recoveries_due: BTreeMap::new(),
        }
    }

    fn sells(&self) -> bool {
        self.product_cum.last().is_some_and(|&t| t > 0)
    }

    /// The day's acts, given its first-time downloads: `(ms into the day, act)`.
    pub fn plan(&mut self, day: Date, first_time: u64, rng: &mut Rng) -> Vec<(i64, Act)> {
        let mut acts = Vec::new();
        let at = |rng: &mut Rng| rng.below(catalog::DAY_MS as u64) as i64;
        if self.sells() {
            let payers = rng.poisson(first_time as f64 * self.traffic.paying_share);
            for n in 0..payers {
                acts.push((at(rng), Act::NewCustomer { n }));
            }
            let repeat = rng.poisson(self.consumable_buyers.len() as f64 * 0.01);
            for _ in 0..repeat {
                acts.push((
                    at(rng),
                    Act::RepeatConsumable {
                        pick: rng.next_u64(),
                    },
                ));
            }
        }
        let active = self.active.len() as f64;
        // About 12 % of subscribers a month turn auto-renew off, 3 % fail to pay, 1.5 % switch
        // to another subscription of the group.
        let rates = [(0.004, 0u8), (0.0004, 1), (0.001, 2), (0.0005, 3)];
        for (rate, kind) in rates {
            for _ in 0..rng.poisson(active * rate) {
                let pick = rng.next_u64();
                let act = match kind {
                    0 => Act::AutoRenewOff { pick },
                    1 => Act::PromotionalOffer { pick },
                    2 => Act::FailRenewal { pick },
                    _ => Act::Crossgrade { pick },
                };
                acts.push((at(rng), act));
            }
        }
        for _ in 0..rng.poisson(self.lapsed.len() as f64 * 0.002) {
            acts.push((
                at(rng),
                Act::WinBack {
                    pick: rng.next_u64(),
                },
            ));
        }
        for id in self.refunds_due.remove(&day).unwrap_or_default() {
            acts.push((at(rng), Act::Refund { transaction_id: id }));
        }
        for id in self.recoveries_due.remove(&day).unwrap_or_default() {
            acts.push((at(rng), Act::Recover { transaction_id: id }));
        }
        acts
    }

    fn args(&self) -> EventArgs {
        EventArgs {
            bundle_id: Some(self.app.bundle_id.clone()),
            environment: Some("production".into()),
            ..Default::default()
        }
    }

    /// A subscription held by the simulator's customers, checked against the ledger: `None`
    /// (and moved to the lapsed list) when it expired or was revoked meanwhile.
    async fn pick_active(
        &mut self,
        ev: &mut Ev<'_>,
        pick: u64,
    ) -> EvResult<Option<(Held, SubState, i64)>> {
        while !self.active.is_empty() {
            let i = (pick % self.active.len() as u64) as usize;
            let h = self.active[i].clone();
            match ev
                .tx
                .ledger_subscription(&h.original_transaction_id)
                .await?
            {
                Some(s) if matches!(s.status, 1 | 3 | 4) => {
                    return Ok(Some((h, SubState::from_doc(&s.state), s.status)));
                }
                _ => {
                    let h = self.active.swap_remove(i);
                    self.lapsed.push(h);
                }
            }
        }
        Ok(None)
    }

    /// Applies one act at `at` (virtual ms) in the day's batch; `Ok(false)` when nobody was
    /// there to do it.
    pub async fn apply(
        &mut self,
        ev: &mut Ev<'_>,
        act: Act,
        day: Date,
        at: i64,
        rng: &mut Rng,
    ) -> EvResult<bool> {
        match act {
            Act::NewCustomer { n } => self.new_customer(ev, day, n, at, rng).await,
            Act::RepeatConsumable { pick } => {
                if self.consumable_buyers.is_empty() {
                    return Ok(false);
                }
                let who = self.consumable_buyers
                    [(pick % self.consumable_buyers.len() as u64) as usize]
                    .clone();
                let consumables: Vec<&Product> = self
                    .products
                    .iter()
                    .filter(|p| p.kind == ProductKind::Consumable)
                    .collect();
                let p = consumables[rng.below(consumables.len() as u64) as usize];
                let a = EventArgs {
                    product_id: Some(p.product_id.clone()),
                    customer: Some(who),
                    ..self.args()
                };
                ev.apply_at("purchase", &a, at).await?;
                Ok(true)
            }
            Act::AutoRenewOff { pick } => {
                let Some((h, st, _)) = self.pick_active(ev, pick).await? else {
                    return Ok(false);
                };
                if !st.auto_renew_status {
                    return Ok(false);
                }
                let a = EventArgs {
                    transaction_id: Some(h.original_transaction_id.into()),
                    enabled: Some(false),
                    ..Default::default()
                };
                ev.apply_at("auto-renew", &a, at).await?;
                Ok(true)
            }
            Act::PromotionalOffer { pick } => {
                let Some((h, st, status)) = self.pick_active(ev, pick).await? else {
                    return Ok(false);
                };
                // Offers and plan changes are for subscriptions in good standing (status 1).
                if st.offer.is_some() || status != 1 {
                    return Ok(false);
                }
                let a = EventArgs {
                    product_id: Some(h.product_id.to_string()),
                    customer: Some(h.customer.to_string()),
                    offer: Some(OfferArgs {
                        offer_type: "promotional".into(),
                        id: Some("stay.half.price".into()),
                        periods: Some(2),
                        ..Default::default()
                    }),
                    ..self.args()
                };
                ev.apply_at("purchase", &a, at).await?;
                Ok(true)
            }
            Act::FailRenewal { pick } => {
                let Some((h, st, _)) = self.pick_active(ev, pick).await? else {
                    return Ok(false);
                };
                if !st.auto_renew_status || st.next_event != Some(catalog_renew()) {
                    return Ok(false);
                }
                let a = EventArgs {
                    transaction_id: Some(h.original_transaction_id.to_string()),
                    ..Default::default()
                };
                ev.apply_at("fail-renewal", &a, at).await?;
                // Half fix their payment method during billing retry.
                if rng.chance(0.5) {
                    let sub = ev
                        .tx
                        .ledger_subscription(&h.original_transaction_id)
                        .await?;
                    let expires = sub.map_or(at, |s| s.expires_ms);
                    let when = day_of(expires) + jiff::Span::new().days(1 + rng.below(10) as i64);
                    self.recoveries_due
                        .entry(when)
                        .or_default()
                        .push(h.original_transaction_id.into());
                }
                Ok(true)
            }
            Act::Crossgrade { pick } => {
                let Some((h, st, status)) = self.pick_active(ev, pick).await? else {
                    return Ok(false);
                };
                if status != 1 {
                    return Ok(false);
                }
                let group = self.product_group(&h.product_id);
                let Some(to) = self
                    .products
                    .iter()
                    .find(|p| {
                        p.group_id.is_some()
                            && p.group_id == group
                            && p.product_id != st.auto_renew_product_id
                    })
                    .map(|p| p.product_id.clone())
                else {
                    return Ok(false);
                };
                let a = EventArgs {
                    transaction_id: Some(h.original_transaction_id.into()),
                    to_product_id: Some(to),
                    ..Default::default()
                };
                ev.apply_at("crossgrade", &a, at).await?;
                Ok(true)
            }
            Act::Recover { transaction_id } => {
                // Only a subscription still in billing retry or grace can recover.
                let retrying = ev.tx.ledger_subscription(&transaction_id).await?;
                if !retrying.is_some_and(|s| matches!(s.status, 3 | 4)) {
                    return Ok(false);
                }
                let a = EventArgs {
                    transaction_id: Some(transaction_id),
                    ..Default::default()
                };
                ev.apply_at("recover", &a, at).await?;
                Ok(true)
            }
            Act::Refund { transaction_id } => {
                let a = EventArgs {
                    transaction_id: Some(transaction_id),
                    revocation_reason: Some(i64::from(rng.chance(0.3))),
                    ..Default::default()
                };
                ev.apply_at("refund", &a, at).await?;
                Ok(true)
            }
            Act::WinBack { pick } => {
                if self.lapsed.is_empty() {
                    return Ok(false);
                }
                let i = (pick % self.lapsed.len() as u64) as usize;
                let h = self.lapsed[i].clone();
                let a = EventArgs {
                    product_id: Some(h.product_id.to_string()),
                    customer: Some(h.customer.to_string()),
                    offer: Some(OfferArgs {
                        offer_type: "win-back".into(),
                        id: Some("welcome.back".into()),
                        discount_type: Some("FREE_TRIAL".into()),
                        period: Some("P1M".into()),
                        ..Default::default()
                    }),
                    ..self.args()
                };
                let o = ev.apply_at("purchase", &a, at).await?;
                self.lapsed.swap_remove(i);
                self.track(&o, &h.customer, &h.product_id);
                Ok(true)
            }
        }
    }

    async fn new_customer(
        &mut self,
        ev: &mut Ev<'_>,
        day: Date,
        n: u64,
        at: i64,
        rng: &mut Rng,
    ) -> EvResult<bool> {
        let p = self.products[rng.pick_cum(&self.product_cum)].clone();
        let t = &self.traffic.territories;
        let terr = &t[rng.pick_cum(&cumulative(t.iter().map(|x| x.2)))];
        let label = format!("{}{n}", day_label_prefix(day));
        let mut a = EventArgs {
            product_id: Some(p.product_id.clone()),
            customer: Some(label.clone()),
            storefront: Some(terr.1.clone()),
            ..self.args()
        };
        if p.kind == ProductKind::AutoRenewable {
            a.offer = self
                .new_subscriber_offer(ev, &p, &terr.1, day, at, rng)
                .await?;
        }
        if p.kind == ProductKind::Consumable && rng.chance(0.3) {
            a.quantity = Some(1 + rng.below(3) as i32);
        }
        let o = ev.apply_at("purchase", &a, at).await?;
        self.track(&o, &label, &p.product_id);
        if p.kind == ProductKind::Consumable {
            self.consumable_buyers.push(label.clone());
        }
        // About 1.5 % of purchases are refunded within two weeks.
        if let Some(t) = &o.transaction
            && rng.chance(0.015)
        {
            let when = day + jiff::Span::new().days(1 + rng.below(14) as i64);
            self.refunds_due
                .entry(when)
                .or_default()
                .push(t.transaction_id.clone());
        }
        // Family Sharing: a family member gains access to what is shared.
        if p.family_sharable && rng.chance(0.08) {
            let fam = EventArgs {
                customer: Some(format!("{label}-family")),
                family_shared: Some(true),
                offer: None,
                quantity: None,
                ..a
            };
            ev.apply_at("purchase", &fam, at + 1).await?;
        }
        Ok(true)
    }

    /// The offer a new subscriber takes, if any: an introductory free trial (35 %), else a
    /// named offer code in its season (30 % off for three months), else none.
    async fn new_subscriber_offer(
        &self,
        ev: &mut Ev<'_>,
        p: &Product,
        storefront: &str,
        day: Date,
        at: i64,
        rng: &mut Rng,
    ) -> EvResult<Option<OfferArgs>> {
        for code in self
            .offer_codes
            .iter()
            .filter(|c| c.product_id == p.product_id)
        {
            if rng.chance(code.rate(day)) {
                let sf = catalog::storefront(storefront).expect("a storefront of the model");
                let (list, currency) = catalog::price(&mut ev.tx, p, sf, at).await?;
                return Ok(Some(OfferArgs {
                    offer_type: "offer-code".into(),
                    id: Some(code.name.clone()),
                    discount_type: Some("PAY_AS_YOU_GO".into()),
                    period: Some("P1M".into()),
                    price: Some(crabapple_storekit::ledger::floor_to_minor(
                        list * 7 / 10,
                        &currency,
                    )),
                    periods: Some(3),
                }));
            }
        }
        Ok(rng.chance(0.35).then(|| OfferArgs {
            offer_type: "introductory".into(),
            discount_type: Some("FREE_TRIAL".into()),
            period: Some("P1W".into()),
            ..Default::default()
        }))
    }

    fn product_group(&self, product_id: &str) -> Option<String> {
        self.products
            .iter()
            .find(|p| p.product_id == product_id)
            .and_then(|p| p.group_id.clone())
    }

    /// The shared id of a product on sale (a new one for any other).
    pub fn product_id(&self, id: &str) -> std::sync::Arc<str> {
        match self.product_ids.iter().find(|p| ***p == *id) {
            Some(p) => p.clone(),
            None => id.into(),
        }
    }

    fn track(&mut self, o: &Outcome, customer: &str, product_id: &str) {
        if let Some(s) = &o.subscription
            && !self
                .active
                .iter()
                .rev()
                .take(64)
                .any(|h| *h.original_transaction_id == *s.original_transaction_id)
        {
            let product_id = self.product_id(product_id);
            self.active.push(Held {
                original_transaction_id: s.original_transaction_id.as_str().into(),
                customer: customer.into(),
                product_id,
            });
        }
    }
}

fn catalog_renew() -> crabapple_storekit::commerce::state::NextEvent {
    crabapple_storekit::commerce::state::NextEvent::Renew
}

/// The Pacific reporting day of a virtual time.
/// What the labels of a day's new customers start with: `sim-YYYYMMDD-`.
pub fn day_label_prefix(day: Date) -> String {
    format!("sim-{}-", day.strftime("%Y%m%d"))
}

pub fn day_of(ms: i64) -> Date {
    crate::clock::pacific_day(ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn code(name: &str) -> OfferCode {
        OfferCode {
            name: name.into(),
            product_id: "p".into(),
        }
    }

    #[test]
    fn named_offer_codes_are_redeemed_in_their_season() {
        let bf = code("BLACKFRIDAY30");
        assert_eq!(bf.rate(date(2027, 11, 26)), 0.25);
        assert_eq!(bf.rate(date(2027, 12, 2)), 0.25);
        assert_eq!(bf.rate(date(2027, 12, 3)), 0.0);
        assert_eq!(bf.rate(date(2027, 7, 1)), 0.0);
        let md = code("MOTHERSDAY30");
        assert_eq!(md.rate(date(2027, 5, 9)), 0.2);
        assert_eq!(md.rate(date(2027, 5, 15)), 0.0);
        assert_eq!(code("WELCOME10").rate(date(2027, 3, 1)), 0.01);
    }
}
