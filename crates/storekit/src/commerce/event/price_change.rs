//! App Store Connect's subscription price changes (`POST /v1/subscriptionPrices`,
//! apple-semantics.md §5) reaching the subscribers of the ledger:
//!
//! - a price is charged from 00:00 of its `startDate` in App Store Connect's price zone
//!   (price_day.rs), never before: a renewal picks the price in effect at its own instant;
//! - a decrease applies to every subscriber at their next renewal ("existing subscriptions will
//!   automatically renew at the lower price", §5);
//! - an increase with `preserveCurrentPrice` (`preserved`) leaves existing subscribers at their
//!   price; new subscribers pay the new one;
//! - an increase without it is announced when it is created ([`Commerce::price_change_created`])
//!   to every auto-renewing subscriber of that product in that storefront: §7
//!   PRICE_INCREASE/PENDING when consent is needed (`priceIncreaseStatus` 0 until the customer
//!   consents with the `price-increase --consent` event; without consent the first renewal on or
//!   after the start date ends the subscription, EXPIRED/PRICE_INCREASE), PRICE_INCREASE/ACCEPTED
//!   when a notice suffices (`priceIncreaseStatus` 1). The first renewal on or after the start
//!   date is charged the new price. A subscriber who was not told (subscribed after the change
//!   was created, at the old price) is told at the renewal that would have charged it, and pays
//!   it from the following renewal. An announced increase whose change was deleted before its
//!   start date is forgotten at the renewal (nothing charged, no consent awaited).
//! - Consent rule implemented (§5, support.apple.com 109501): consent is needed when the increase
//!   is more than 50 % **and** more than US$5 per period (US$50 for annual subscriptions),
//!   the rise counted in US dollars through the new price point's USD tier (its id, §5). Not
//!   modelled: regions that need consent for any increase, and the notify-only "at most once a
//!   year" limit. Apple notifies ahead of the renewal; crabapple notifies at creation.

use crate::ledger::LedgerStore;
use base64::Engine as _;
use serde_json::Value;

use crate::commerce::Commerce;
use crate::commerce::catalog::{self, Period, Product, Storefront};
use crate::commerce::engine::{Ev, EvResult, SubCtx};
use crate::commerce::price_day::PriceZone;
use crate::commerce::state::PriceIncrease;

/// One `subscriptionPrices` change as the ledger needs it.
struct Change {
    product_id: String,
    app_ids: Vec<String>,
    territory: String,
    /// Customer price, milliunits.
    price: i64,
    /// The price point's USD tier (cents), when its id is one of crabapple's.
    usd_cents: Option<i64>,
    start_ms: i64,
    preserved: bool,
}

impl Commerce {
    /// After App Store Connect accepted `POST /v1/subscriptionPrices` (the server calls it):
    /// announces a non-preserved increase to the subscribers it concerns. Returns how many
    /// subscribers were told.
    pub async fn price_change_created(&self, price_id: &str) -> anyhow::Result<u64> {
        let at = self.store.now_ms();
        let mut ev = Ev::begin(self).await?;
        let n = ev
            .announce_price_change(price_id, at)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        ev.commit().await?;
        if n > 0 {
            self.wake();
        }
        Ok(n)
    }
}

/// The USD tier of a price point id in Apple's form, base64 `{"s","t","p"}` (§5), `p` being
/// crabapple's tier code `10000 + cents / 10` (price_points.rs).
fn usd_cents_of_point(id: &str) -> Option<i64> {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(id.trim_end_matches('='))
        .ok()?;
    let v: Value = serde_json::from_slice(&raw).ok()?;
    let code: i64 = v.get("p")?.as_str()?.parse().ok()?;
    (code > 10_000).then(|| (code - 10_000) * 10)
}

/// §5 consent rule: more than 50 % and more than US$5 a period (US$50 for a year).
fn requires_consent(old: i64, new: i64, new_usd_cents: Option<i64>, period: Period) -> bool {
    let rise = new - old;
    if rise <= 0 || rise * 2 <= old {
        return false;
    }
    // The rise in USD milliunits: the new price's USD tier, scaled by the share that is new.
    let rise_usd = match new_usd_cents {
        Some(c) if new > 0 => c * 10 * rise / new,
        _ => rise,
    };
    let limit = if period == Period::OneYear {
        50_000
    } else {
        5_000
    };
    rise_usd > limit
}

impl Ev<'_> {
    async fn first_linked(&mut self, id: &str, other: &str) -> EvResult<Option<String>> {
        Ok(self
            .tx
            .linked_any("subscriptionPrices", id, other)
            .await?
            .into_iter()
            .next())
    }

    async fn change(&mut self, price_id: &str) -> EvResult<Option<Change>> {
        let Some(r) = self.tx.get("subscriptionPrices", price_id).await? else {
            return Ok(None);
        };
        let (Some(sub), Some(territory), Some(point)) = (
            self.first_linked(price_id, "subscriptions").await?,
            self.first_linked(price_id, "territories").await?,
            self.first_linked(price_id, "subscriptionPricePoints")
                .await?,
        ) else {
            return Ok(None);
        };
        let price = self
            .tx
            .get("subscriptionPricePoints", &point)
            .await?
            .and_then(|p| {
                p.attributes
                    .get("customerPrice")
                    .and_then(catalog::parse_price)
            });
        let product_id = self.tx.get("subscriptions", &sub).await?.and_then(|s| {
            s.attributes
                .get("productId")
                .and_then(Value::as_str)
                .map(str::to_string)
        });
        let zone = PriceZone::of(&mut self.tx).await?;
        let start_ms = r
            .attributes
            .get("startDate")
            .and_then(Value::as_str)
            .and_then(|d| zone.day_start_ms(d));
        let (Some(price), Some(product_id), Some(start_ms)) = (price, product_id, start_ms) else {
            return Ok(None);
        };
        let mut app_ids = Vec::new();
        for g in self
            .tx
            .linked_any("subscriptions", &sub, "subscriptionGroups")
            .await?
        {
            app_ids.extend(self.tx.linked_any("subscriptionGroups", &g, "apps").await?);
        }
        Ok(Some(Change {
            product_id,
            app_ids,
            territory,
            price,
            usd_cents: usd_cents_of_point(&point),
            start_ms,
            preserved: r.attributes.get("preserved") == Some(&Value::Bool(true)),
        }))
    }

    /// Announces the increase `price_id` makes to each auto-renewing subscriber of its product
    /// in its storefront who pays less (none when the change preserves current prices).
    async fn announce_price_change(&mut self, price_id: &str, at: i64) -> EvResult<u64> {
        let Some(c) = self.change(price_id).await? else {
            return Ok(0);
        };
        if c.preserved {
            return Ok(0);
        }
        let mut told = 0;
        for app_id in &c.app_ids {
            for env in ["Sandbox", "Production"] {
                let subs = self
                    .c
                    .store
                    .ledger_subscriptions_of_product(app_id, env, &c.product_id)
                    .await?;
                for s in subs {
                    if s.storefront != c.territory || !matches!(s.status, 1 | 3 | 4) {
                        continue;
                    }
                    let mut ctx = self.sub_ctx(&s.original_transaction_id).await?;
                    let told_already = ctx
                        .st
                        .price_increase
                        .as_ref()
                        .is_some_and(|p| p.price == c.price);
                    if !ctx.st.auto_renew_status || ctx.st.renewal_price >= c.price || told_already
                    {
                        continue;
                    }
                    let period = Period::from_asc(&ctx.st.period).unwrap_or(Period::OneMonth);
                    let consent =
                        requires_consent(ctx.st.renewal_price, c.price, c.usd_cents, period);
                    let pi = PriceIncrease {
                        price: c.price,
                        requires_consent: consent,
                        status: i64::from(!consent),
                        effective_ms: Some(c.start_ms),
                    };
                    self.announce_increase(&mut ctx, pi, at).await?;
                    told += 1;
                }
            }
        }
        Ok(told)
    }

    /// Forgets an announced App Store Connect increase that is due but no longer App Store
    /// Connect's price at `at` (the change was deleted before its start date): nothing is
    /// charged for it and no consent is awaited.
    pub(crate) async fn drop_withdrawn_increase(
        &mut self,
        ctx: &mut SubCtx,
        at: i64,
    ) -> EvResult<()> {
        let Some(pi) = &ctx.st.price_increase else {
            return Ok(());
        };
        if pi.effective_ms.is_none() || !pi.in_effect_at(at) {
            return Ok(());
        }
        let wanted = pi.price;
        let Some(product) =
            catalog::resolve_product(&mut self.tx, &ctx.app, &ctx.sub.product_id).await?
        else {
            return Ok(());
        };
        let list = catalog::asc_price_in_effect(&mut self.tx, &product, &ctx.sub.storefront, at)
            .await?
            .map(|(p, _)| p);
        if list != Some(wanted) {
            ctx.st.price_increase = None;
        }
        Ok(())
    }

    /// The list price App Store Connect has in effect at a renewal at `at`: a decrease becomes
    /// the renewal price; an increase is left to the announced [`PriceIncrease`] (or to nobody,
    /// `preserved`). Returns the new price of an increase nobody announced.
    pub(crate) async fn list_price_at_renewal(
        &mut self,
        ctx: &mut SubCtx,
        product: &Product,
        sf: Storefront,
        at: i64,
    ) -> EvResult<Option<i64>> {
        self.drop_withdrawn_increase(ctx, at).await?;
        let Some((list, price_id)) =
            catalog::asc_price_in_effect(&mut self.tx, product, sf.alpha3, at).await?
        else {
            return Ok(None);
        };
        let current = ctx.st.renewal_price;
        if list < current {
            ctx.st.renewal_price = list;
            if ctx
                .st
                .price_increase
                .as_ref()
                .is_some_and(|p| p.price <= list)
            {
                ctx.st.price_increase = None;
            }
            return Ok(None);
        }
        if list == current {
            return Ok(None);
        }
        let preserved = self
            .tx
            .get("subscriptionPrices", &price_id)
            .await?
            .is_some_and(|r| r.attributes.get("preserved") == Some(&Value::Bool(true)));
        let announced = ctx
            .st
            .price_increase
            .as_ref()
            .is_some_and(|p| p.price == list);
        Ok((!preserved && !announced).then_some(list))
    }

    /// Announces an increase to `list` found at a renewal; it applies from `next_renewal`.
    pub(crate) async fn announce_list_increase(
        &mut self,
        ctx: &mut SubCtx,
        product: &Product,
        list: i64,
        next_renewal: i64,
        at: i64,
    ) -> EvResult<()> {
        let period = product.period.unwrap_or(Period::OneMonth);
        let consent = requires_consent(ctx.st.renewal_price, list, None, period);
        let pi = PriceIncrease {
            price: list,
            requires_consent: consent,
            status: i64::from(!consent),
            effective_ms: Some(next_renewal),
        };
        self.announce_increase(ctx, pi, at).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consent_rule_of_section_5() {
        // 9.99 → 12.99: +30 %, no consent; 4.99 → 12.99: +160 % and +US$8, consent.
        assert!(!requires_consent(9990, 12990, Some(1299), Period::OneMonth));
        assert!(requires_consent(4990, 12990, Some(1299), Period::OneMonth));
        // 4.99 → 9.99: +100 % but only US$5.00: no consent.
        assert!(!requires_consent(4990, 9990, Some(999), Period::OneMonth));
        // A year: the limit is US$50.
        assert!(!requires_consent(39990, 79990, Some(7999), Period::OneYear));
        assert!(requires_consent(39990, 99990, Some(9999), Period::OneYear));
        assert_eq!(
            usd_cents_of_point("eyJzIjoiNjQ0OTA4MTMwMSIsInQiOiJVU0EiLCJwIjoiMTAwNTAifQ"),
            Some(500)
        );
    }
}
