//! Subscription and in-app purchase pricing (apple-semantics.md §5): serves the computed price
//! points of [`super::price_points`] on every price point endpoint (lists with
//! `filter[territory]`, instances, `equalizations`, linkage), lets request documents refer to them
//! (a price point that is not one, or belongs to another product than the document prices, is
//! refused with §5's answer below — in-app purchase price schedules included), and applies Apple's
//! rules to `subscriptionPrices`:
//!
//! - a price needs a valid price point of that subscription, in a territory where the
//!   subscription is available (its `subscriptionAvailability`), and no other price in that
//!   territory starting the same day — otherwise 409 "An error occurred while processing the
//!   pricing information." (§5, observed for all three causes);
//! - one future price change per territory: a new change while one is scheduled is 409
//!   `STATE_ERROR` "Must delete future price change before creating a new price change." (forum
//!   post 13's capture; §5, §9.3). Apple's web UI replaces the scheduled change instead (§5, the
//!   help page) — the API refuses, and crabapple answers as the API;
//! - only future changes can be deleted: 409 "Cannot delete Subscription Price with id <id>. Only
//!   future price changes can be deleted." (§5, forum post 13);
//! - a `startDate` before today: 409 `ENTITY_ERROR.ATTRIBUTE.INVALID` (a guess: Apple's text is
//!   not captured, §5);
//! - the day boundary (forum post 13): a `startDate` is a calendar day in Pacific time
//!   (configurable, storekit's `price_day`): a change is future while its day has not begun
//!   there, but the delete check compares it with the UTC day. Between 00:00 UTC and 00:00
//!   Pacific on the day before a change, it can be neither deleted nor replaced — exactly what
//!   the post describes. A price created without `startDate` starts today.

use super::price_points::{Kind, PricePoint, territory_resource};
use crabapple_jsonapi::query::Query;
use crabapple_jsonapi::{AscError, BoxFut, Engine, Family, Reply, Request, Write, query};
use crabapple_spec::{OpKind, Operation};
use crabapple_store::{Resource, Tx};
use crabapple_storekit::commerce::price_day::{PriceZone, utc_day};
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};

pub struct Pricing;

/// The price point reads crabapple computes.
#[derive(Debug, Clone, Copy)]
enum Read {
    /// `/v1/subscriptions/{id}/pricePoints`, `/v2/inAppPurchases/{id}/pricePoints`.
    OfProduct(Kind),
    /// `/v1/subscriptionPricePoints/{id}`.
    Instance(Kind),
    /// `/v1/subscriptionPricePoints/{id}/equalizations` (and `adjustedEqualizations`).
    Equalizations(Kind),
}

fn read_of(op: &Operation) -> Option<Read> {
    let res = op.resource.as_deref().unwrap_or_default();
    let rel = op.relationship.as_deref().unwrap_or_default();
    let many = matches!(
        op.kind,
        OpKind::GetToManyRelated | OpKind::GetToManyRelationship
    );
    if let Some(k) = Kind::of_product(res)
        && rel == "pricePoints"
        && many
    {
        return Some(Read::OfProduct(k));
    }
    let k = Kind::of_point(res)?;
    match op.kind {
        OpKind::GetInstance => Some(Read::Instance(k)),
        _ if many && (rel == "equalizations" || rel == "adjustedEqualizations") => {
            Some(Read::Equalizations(k))
        }
        _ => None,
    }
}

/// Whether an operation's request document can name price points: a create or update whose
/// request schema mentions them (asked once, for the dispatch table).
fn may_refer_to_points(op: &Operation) -> bool {
    let m = crabapple_spec::Manifest::get();
    matches!(op.kind, OpKind::CreateInstance | OpKind::UpdateInstance)
        && op
            .body
            .as_deref()
            .is_some_and(|b| m.schema_mentions(b, "PricePoint"))
}

/// Whether this write's document refers to price points (which must then be stored). Only asked
/// for operations the dispatch table gave this family, so the schema walk of
/// [`may_refer_to_points`] is not repeated per request.
fn refers_to_points(op: &Operation, req: &Request) -> bool {
    matches!(op.kind, OpKind::CreateInstance | OpKind::UpdateInstance)
        && req.body.windows(11).any(|w| w == b"PricePoints")
}

/// §5: Apple's one answer for every unacceptable price (bad price point, territory without
/// availability, a second price on the same day).
fn pricing_error(pointer: &str) -> AscError {
    AscError::entity_error(
        "RELATIONSHIP.INVALID",
        "There is a problem with the request entity",
        "An error occurred while processing the pricing information.",
        pointer,
    )
}

const POINT_POINTER: &str = "/data/relationships/subscriptionPricePoint/id";

impl Family for Pricing {
    fn name(&self) -> &'static str {
        "pricing"
    }

    fn handles(&self, op: &Operation) -> bool {
        read_of(op).is_some() || may_refer_to_points(op)
    }

    fn handle<'a>(
        &'a self,
        engine: &'a Engine,
        op: &'a Operation,
        req: &'a Request,
    ) -> Option<BoxFut<'a, Result<Reply, AscError>>> {
        if let Some(read) = read_of(op) {
            return Some(Box::pin(serve(engine, op, req, read)));
        }
        if refers_to_points(op, req) {
            return Some(Box::pin(async move {
                store_referenced_points(engine, req).await?;
                engine.generic(engine.op(req.op), req).await
            }));
        }
        None
    }

    fn before_write<'a>(
        &'a self,
        _engine: &'a Engine,
        tx: &'a mut Tx,
        w: &'a mut Write,
    ) -> BoxFut<'a, Result<(), AscError>> {
        Box::pin(async move {
            if w.rtype == "subscriptionPrices" && w.existing.is_none() {
                schedule_price(tx, w).await?;
            }
            Ok(())
        })
    }

    fn before_delete<'a>(
        &'a self,
        _engine: &'a Engine,
        tx: &'a mut Tx,
        existing: &'a Resource,
    ) -> BoxFut<'a, Result<(), AscError>> {
        Box::pin(async move {
            if existing.rtype == "subscriptionPrices" {
                refuse_delete_in_effect(tx, existing).await?;
            }
            Ok(())
        })
    }
}

/// §5, forum post 13: only a change whose day has begun neither in UTC nor in the price zone can
/// be deleted. Code and text as the post captured them.
async fn refuse_delete_in_effect(tx: &mut Tx, existing: &Resource) -> Result<(), AscError> {
    let zone = PriceZone::of(tx).await?;
    let now = tx.now_ms();
    let start = effective_date(existing);
    let (utc_today, zone_today) = (utc_day(now), zone.day(now));
    if start > utc_today && start > zone_today {
        return Ok(());
    }
    let reason = if start > zone_today {
        format!(
            "startDate {start} is still a future day in {} (it is {} there) and App Store Connect lists the change as future, but Apple's delete compares startDate with the UTC day, which is already {utc_today} (forum post 13): until {start} begins in {}, this change can be neither deleted nor replaced through the API",
            zone.name,
            zone.wall(now),
            zone.name
        )
    } else {
        format!(
            "the price has been in effect since {start} (today is {zone_today} in {})",
            zone.name
        )
    };
    Err(AscError::new(
        409,
        "ENTITY_ERROR",
        "There is a problem with the request entity",
        format!(
            "Cannot delete Subscription Price with id {}. Only future price changes can be deleted.",
            existing.id
        ),
    )
    .reason(reason))
}

// ------------------------------------------------------------------------------------ reads

/// The price point an id names, when its product exists.
async fn existing_point(
    engine: &Engine,
    kind: Kind,
    id: &str,
) -> Result<Option<PricePoint>, AscError> {
    Ok(match PricePoint::parse(kind, id) {
        Some(p)
            if engine
                .store
                .get(kind.product_type(), &p.product)
                .await?
                .is_some() =>
        {
            Some(p)
        }
        _ => None,
    })
}

async fn serve(
    engine: &Engine,
    op: &Operation,
    req: &Request,
    read: Read,
) -> Result<Reply, AscError> {
    let q = query::parse(op, &req.query)?;
    let id = req.id.clone().unwrap_or_default();
    let filter = |name: &str| {
        q.filters
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    let territories = filter("territory");
    let points = match read {
        Read::OfProduct(kind) => {
            if engine.store.get(kind.product_type(), &id).await?.is_none() {
                return Err(AscError::not_found(kind.product_type(), &id));
            }
            PricePoint::all(kind, &id, territories.as_deref())
        }
        Read::Instance(kind) | Read::Equalizations(kind) => {
            let Some(p) = existing_point(engine, kind, &id).await? else {
                // Not one of crabapple's price points: a seed's own (stored) one, or Apple's 404.
                return engine.generic(engine.op(req.op), req).await;
            };
            if matches!(read, Read::Instance(_)) {
                let doc = document(engine, op, req, &q, &[p], false);
                return Ok(Reply::json(200, &doc));
            }
            // `filter[subscription]`: the same tier of another subscription.
            let product = filter("subscription")
                .and_then(|v| v.into_iter().next())
                .unwrap_or_else(|| p.product.clone());
            p.equalizations(&product, territories.as_deref())
        }
    };
    let (page, paging, next) = crabapple_jsonapi::engine::page_of(engine, req, &q, points);
    let mut reply = if op.kind == OpKind::GetToManyRelationship {
        let data: Vec<Value> = page
            .iter()
            .map(|p| json!({ "type": p.kind.point_type(), "id": p.id() }))
            .collect();
        let related = format!("{}{}", req.base, req.path.replace("/relationships/", "/"));
        json!({ "data": data, "links": { "self": Engine::doc_self(req), "related": related } })
    } else {
        document(engine, op, req, &q, &page, true)
    };
    if let Some(n) = next {
        reply["links"]["next"] = json!(n);
    }
    reply["meta"] = json!({ "paging": paging });
    Ok(Reply::json(200, &reply))
}

/// A document of price points (`data` an array when `many`), with `include=territory`.
fn document(
    engine: &Engine,
    op: &Operation,
    req: &Request,
    q: &Query,
    points: &[PricePoint],
    many: bool,
) -> Value {
    let plan = engine
        .schemas
        .plans
        .get(&op.id)
        .cloned()
        .unwrap_or_default();
    let includes: HashSet<&str> = q.include.iter().map(String::as_str).collect();
    let mut data = Vec::with_capacity(points.len());
    let mut included = Vec::new();
    let mut seen = HashSet::new();
    for p in points {
        let linkage = vec![("territories".to_string(), p.storefront.alpha3.to_string())];
        let rel_data = HashMap::from([("territory", (&linkage, 1))]);
        data.push(engine.render_resource(&plan, &p.resource(), &req.base, q, &rel_data, &includes));
        if includes.contains("territory") && seen.insert(p.storefront.alpha3) {
            included.push(engine.render_resource(
                &plan,
                &territory_resource(p.storefront),
                &req.base,
                q,
                &HashMap::new(),
                &HashSet::new(),
            ));
        }
    }
    let data = match many {
        true => Value::from(data),
        false => data.into_iter().next().unwrap_or(Value::Null),
    };
    let mut doc = json!({ "data": data, "links": { "self": Engine::doc_self(req) } });
    if !q.include.is_empty() {
        doc["included"] = Value::from(included);
    }
    doc
}

// ----------------------------------------------------------------------------------- writes

/// Stores the price points a request document refers to, so that the generic engine finds them
/// like any other resource; a reference to no price point of crabapple's is Apple's 409 (§5).
async fn store_referenced_points(engine: &Engine, req: &Request) -> Result<(), AscError> {
    let Ok(body) = serde_json::from_slice::<Value>(&req.body) else {
        // Not JSON: the generic engine answers Apple's 400.
        return Ok(());
    };
    let mut refs = Vec::new();
    collect_refs(&body["data"], "/data", &mut refs);
    for (i, inc) in body["included"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        collect_refs(inc, &format!("/included/{i}"), &mut refs);
    }
    if refs.is_empty() {
        return Ok(());
    }
    // The product the document prices (its `data`, or what `data` relates to), if it names one:
    // a price point of another product is refused like one that does not exist.
    let owner = |kind: Kind| {
        let data = &body["data"];
        if data["type"] == kind.product_type() {
            return data["id"].as_str();
        }
        let rels = data["relationships"].as_object()?;
        rels.values()
            .map(|r| &r["data"])
            .find(|d| d["type"] == kind.product_type())
            .and_then(|d| d["id"].as_str())
    };
    let mut tx = engine.store.begin().await?;
    for (kind, id, pointer) in refs {
        let point = match PricePoint::parse(kind, &id) {
            Some(p)
                if owner(kind).is_none_or(|o| o == p.product)
                    && tx.exists(kind.product_type(), &p.product).await? =>
            {
                p
            }
            _ => return Err(pricing_error(&pointer)),
        };
        tx.put(kind.point_type(), &id, &point.attributes()).await?;
        tx.link(
            (kind.point_type(), &id),
            "territory",
            ("territories", point.storefront.alpha3),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// `(kind, id, pointer)` of every price point a resource object's relationships name.
fn collect_refs(resource: &Value, at: &str, out: &mut Vec<(Kind, String, String)>) {
    let rels = resource.get("relationships").and_then(Value::as_object);
    for (rel, v) in rels.into_iter().flatten() {
        let items: Vec<(&Value, String)> = match v.get("data") {
            Some(Value::Array(a)) => a
                .iter()
                .enumerate()
                .map(|(i, x)| (x, format!("{at}/relationships/{rel}/data/{i}/id")))
                .collect(),
            Some(x @ Value::Object(_)) => vec![(x, format!("{at}/relationships/{rel}/id"))],
            _ => Vec::new(),
        };
        for (x, pointer) in items {
            let kind = x
                .get("type")
                .and_then(Value::as_str)
                .and_then(Kind::of_point);
            if let (Some(kind), Some(id)) = (kind, x.get("id").and_then(Value::as_str)) {
                out.push((kind, id.to_string(), pointer));
            }
        }
    }
}

fn first_target(w: &Write, rel: &str) -> Option<String> {
    w.relationships
        .iter()
        .find(|(n, _)| n == rel)
        .and_then(|(_, l)| l.first())
        .map(|(_, id)| id.clone())
}

/// 409 STATE_ERROR "Must delete future price change before creating a new price change."
/// (forum post 13's capture, §5).
fn future_change_exists(zone: &PriceZone, now: i64, id: &str, start: &str) -> AscError {
    let utc_today = utc_day(now);
    let mut reason = format!(
        "subscriptionPrices {id} is a future change in this territory (startDate {start}); delete it first (DELETE /v1/subscriptionPrices/{id}). Apple's web UI replaces a scheduled change, the API refuses"
    );
    if *start <= *utc_today {
        reason.push_str(&format!(
            ". It cannot be deleted now either: {start} is already today in UTC, which Apple's delete compares with, while it is {} in {} (forum post 13); wait until {start} begins there",
            zone.wall(now),
            zone.name
        ));
    }
    AscError::state_error("Must delete future price change before creating a new price change.")
        .reason(reason)
}

/// The day a price takes (or took) effect: its `startDate`, else the day it was created.
fn effective_date(r: &Resource) -> String {
    r.attributes
        .get("startDate")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| utc_day(r.created_ms))
}

/// §5: checks a new `subscriptionPrices` entry and completes it (territory, `preserved`).
async fn schedule_price(tx: &mut Tx, w: &mut Write) -> Result<(), AscError> {
    let point = first_target(w, "subscriptionPricePoint")
        .and_then(|id| PricePoint::parse(Kind::Subscription, &id))
        .ok_or_else(|| pricing_error(POINT_POINTER))?;
    let subscription = first_target(w, "subscription").unwrap_or_else(|| point.product.clone());
    let territory = point.storefront.alpha3;
    if subscription != point.product || first_target(w, "territory").is_some_and(|t| t != territory)
    {
        return Err(pricing_error(POINT_POINTER));
    }
    // §5: no price in a territory the subscription is not available in.
    let mut available = false;
    for (_, a) in tx
        .linked("subscriptions", &subscription, "subscriptionAvailability")
        .await?
    {
        let ts = tx
            .linked("subscriptionAvailabilities", &a, "availableTerritories")
            .await?;
        available |= ts.iter().any(|(_, t)| t == territory);
    }
    if !available {
        return Err(pricing_error(POINT_POINTER));
    }
    let zone = PriceZone::of(tx).await?;
    let now = tx.now_ms();
    let today = zone.day(now);
    let start = w
        .attributes
        .get("startDate")
        .and_then(Value::as_str)
        .map(str::to_string);
    if let Some(s) = &start
        && *s < today
    {
        // A guess (§5 names no text for it): Apple's attribute error on `startDate`.
        return Err(AscError::entity_error(
            "ATTRIBUTE.INVALID",
            "An attribute value is invalid.",
            format!("The start date '{s}' is in the past. Choose today or a future date."),
            "/data/attributes/startDate",
        )
        .reason(format!("today is {today} in {}", zone.name)));
    }
    let effective = start.clone().unwrap_or_else(|| today.clone());
    // A price without `startDate` starts today; written out, as the spec declares the attribute a
    // date (not nullable) and clients' models require it.
    w.attributes
        .insert("startDate".into(), Value::from(effective.as_str()));
    let mut others = Vec::new();
    for (_, id) in tx.linked("subscriptions", &subscription, "prices").await? {
        let Some(other) = tx.get("subscriptionPrices", &id).await? else {
            continue;
        };
        let same_territory = tx
            .linked("subscriptionPrices", &id, "territory")
            .await?
            .iter()
            .any(|(_, t)| t == territory);
        if same_territory {
            others.push((id, effective_date(&other)));
        }
    }
    if let Some((id, start)) = others.iter().find(|(_, d)| *d > today) {
        // §5, forum post 13: one future change per territory; the API refuses any new price
        // while one is scheduled (Apple's web UI replaces it).
        return Err(future_change_exists(&zone, now, id, start));
    }
    if others.iter().any(|(_, d)| *d == effective) {
        // §5: a second price on the same day.
        return Err(pricing_error(POINT_POINTER));
    }
    if first_target(w, "territory").is_none() {
        w.relationships.push((
            "territory".into(),
            vec![("territories".into(), territory.into())],
        ));
    }
    if first_target(w, "subscription").is_none() {
        w.relationships.push((
            "subscription".into(),
            vec![("subscriptions".into(), subscription)],
        ));
    }
    let preserve = w.attributes.remove("preserveCurrentPrice");
    w.attributes.insert(
        "preserved".into(),
        preserve.filter(Value::is_boolean).unwrap_or(json!(false)),
    );
    Ok(())
}
