//! The analytics family: the read endpoints of Analytics Reports (apple-semantics.md §2.1) served
//! from computed resources — `…/analyticsReportRequests/{id}/reports` (and its linkage),
//! `analyticsReports/{id}` and `…/instances`, `analyticsReportInstances/{id}` and `…/segments`,
//! `analyticsReportSegments/{id}`. Requests themselves stay generic resources (create, 409 and
//! delete are crates/asc's analytics rules). Filters, paging (`limit`, `cursor`, `links.next`,
//! `meta.paging`) and `fields[…]` follow the generic engine's.

use super::explain;
use super::lifecycle::{self, Live};
use super::schedule::{self, Instance, RequestFacts};
use super::segment;
use super::{CATALOGUE, Report};
use crate::pacific;
use crabapple_jsonapi::query::{self, Query};
use crabapple_jsonapi::{AscError, BoxFut, Engine, Family, Reply, Request};
use crabapple_reports_store::ReportsStore;
use crabapple_spec::{OpKind, Operation};
use crabapple_store::{Resource, Store};
use serde_json::{Map, Value, json};
use std::collections::{HashMap, HashSet};

pub struct Analytics;

const REQUESTS: &str = "analyticsReportRequests";
const REPORTS: &str = "analyticsReports";
const INSTANCES: &str = "analyticsReportInstances";
const SEGMENTS: &str = "analyticsReportSegments";
/// The list of an app's requests (§2.1: there is no GET collection of requests).
const APPS_REQUESTS: &str = "/v1/apps/{id}/analyticsReportRequests";

impl Family for Analytics {
    fn name(&self) -> &'static str {
        "analytics-reports"
    }

    fn computed_types(&self) -> &'static [&'static str] {
        &[REPORTS, INSTANCES, SEGMENTS]
    }

    fn handles(&self, op: &Operation) -> bool {
        op.method.eq_ignore_ascii_case("get")
            && ((op.path.starts_with("/v1/analyticsReport")
                && op.path != "/v1/analyticsReportRequests")
                || op.path == APPS_REQUESTS)
    }

    fn handle<'a>(
        &'a self,
        engine: &'a Engine,
        op: &'a Operation,
        req: &'a Request,
    ) -> Option<BoxFut<'a, Result<Reply, AscError>>> {
        Some(Box::pin(serve(engine, op, req)))
    }
}

/// A request's schedule facts and its app, if the request exists.
pub async fn load_request(
    store: &Store,
    id: &str,
    now_ms: i64,
) -> anyhow::Result<Option<(RequestFacts, String)>> {
    let Some(r) = store.get(REQUESTS, id).await? else {
        return Ok(None);
    };
    let (apps, _) = store.linked(REQUESTS, id, "app", 0, 1).await?;
    let app = match apps.first() {
        Some((_, a)) => a.clone(),
        // A seed file links the app to its requests only (`apps.analyticsReportRequests`).
        None => {
            let from = store.linking("apps", REQUESTS, (REQUESTS, id)).await?;
            from.into_iter().next().unwrap_or_default()
        }
    };
    let snapshot =
        r.attributes.get("accessType").and_then(Value::as_str) == Some("ONE_TIME_SNAPSHOT");
    let day = pacific::day_of_ms(r.created_ms);
    // The app's first day of data bounds a snapshot's backfill (ONGOING requests do not need it).
    let first_data_day = if snapshot {
        store
            .first_app_units_day(
                &app,
                &schedule::HISTORY_START.to_string(),
                &pacific::day_of_ms(now_ms).to_string(),
            )
            .await?
            .and_then(|d| d.parse().ok())
    } else {
        None
    };
    Ok(Some((
        RequestFacts {
            id: id.to_string(),
            snapshot,
            day,
            first_data_day,
        },
        app,
    )))
}

fn resource(rtype: &str, id: String, attributes: Value) -> Resource {
    Resource {
        rtype: rtype.to_string(),
        id,
        attributes: match attributes {
            Value::Object(m) => m,
            _ => Map::new(),
        },
        seq: 0,
        created_ms: 0,
        updated_ms: 0,
    }
}

fn report_resource(report: &Report, request: &str) -> Resource {
    resource(
        REPORTS,
        report.id(request),
        json!({ "name": report.name, "category": report.category }),
    )
}

fn instance_resource(i: &Instance) -> Resource {
    resource(
        INSTANCES,
        i.id(),
        json!({ "granularity": i.granularity.name(), "processingDate": i.processing_date.to_string() }),
    )
}

/// The instance if a client sees it now (its request exists, the clock has made it, neither the
/// inactivity stop nor an injected fault hides it), with its request.
async fn existing_instance(
    store: &Store,
    id: &str,
    now_ms: i64,
) -> Result<Option<(Instance, Live)>, AscError> {
    let Some(i) = Instance::parse_id(id) else {
        return Ok(None);
    };
    let Some(live) = lifecycle::load(store, &i.request, now_ms).await? else {
        return Ok(None);
    };
    Ok(live.shows(&i, now_ms).then_some((i, live)))
}

/// The segment of an instance, or why it has none (§4.5: a withheld app-usage report).
async fn segment_resource(
    store: &Store,
    base: &str,
    i: &Instance,
    live: &Live,
    now_ms: i64,
) -> Result<Result<Resource, String>, AscError> {
    let f = segment::file(store, i, live).await?;
    if let Some(why) = f.withheld {
        return Ok(Err(why));
    }
    let url = segment::url(store, base, &f.id, now_ms).await?;
    Ok(Ok(resource(
        SEGMENTS,
        f.id,
        json!({ "checksum": f.checksum, "sizeInBytes": f.gz.len(), "url": url }),
    )))
}

fn filter<'q>(q: &'q Query, name: &str) -> Option<&'q Vec<String>> {
    q.filters.iter().find(|(n, _)| n == name).map(|(_, v)| v)
}

async fn serve(engine: &Engine, op: &Operation, req: &Request) -> Result<Reply, AscError> {
    let q = query::parse(op, &req.query)?;
    let store = &engine.store;
    let now = store.clock.now_ms();
    let id = req.id.clone().unwrap_or_default();
    let parent = op.path.split('/').nth(2).unwrap_or_default();
    let many = matches!(
        op.kind,
        OpKind::GetToManyRelated | OpKind::GetToManyRelationship
    );
    // Requests stay generic resources; an inactivity stop reached since the last look is stored
    // first, so `stoppedDueToInactivity` reads true from its day on (lifecycle.rs).
    if op.path == APPS_REQUESTS || op.path == "/v1/analyticsReportRequests/{id}" {
        let ids: Vec<String> = if op.path == APPS_REQUESTS {
            store
                .linked("apps", &id, REQUESTS, 0, 1000)
                .await?
                .0
                .into_iter()
                .map(|(_, r)| r)
                .collect()
        } else {
            vec![id.clone()]
        };
        for r in ids {
            lifecycle::load(store, &r, now).await?;
        }
        return engine.generic(engine.op(req.op), req).await;
    }
    let mut reason = None;
    let items: Vec<Resource> = match (parent, many) {
        (REQUESTS, true) => {
            if store.get(REQUESTS, &id).await?.is_none() {
                return Err(AscError::not_found(REQUESTS, &id));
            }
            let names = filter(&q, "name");
            let categories = filter(&q, "category");
            CATALOGUE
                .iter()
                .filter(|r| names.is_none_or(|n| n.iter().any(|x| x == r.name)))
                .filter(|r| categories.is_none_or(|c| c.iter().any(|x| x == r.category)))
                .map(|r| report_resource(r, &id))
                .collect()
        }
        (REPORTS, false) => {
            let report = match Report::parse_id(&id) {
                Some((r, request)) if store.get(REQUESTS, request).await?.is_some() => r,
                _ => return Err(AscError::not_found(REPORTS, &id)),
            };
            let (_, request) = Report::parse_id(&id).unwrap_or((report, ""));
            vec![report_resource(report, request)]
        }
        (REPORTS, true) => {
            let Some((report, request)) = Report::parse_id(&id) else {
                return Err(AscError::not_found(REPORTS, &id));
            };
            let Some(live) = lifecycle::load(store, request, now).await? else {
                return Err(AscError::not_found(REPORTS, &id));
            };
            let grans = filter(&q, "granularity");
            let dates = filter(&q, "processingDate");
            let (mut list, hidden) = live.instances(report, now);
            reason = explain::list_reason(&live, report, &list, &hidden, now);
            list.retain(|i| {
                grans.is_none_or(|g| g.iter().any(|x| x == i.granularity.name()))
                    && dates.is_none_or(|d| d.iter().any(|x| *x == i.processing_date.to_string()))
            });
            // Newest first, DAILY before WEEKLY before MONTHLY on a day.
            list.sort_by(|a, b| {
                (b.processing_date, a.granularity).cmp(&(a.processing_date, b.granularity))
            });
            list.iter().map(instance_resource).collect()
        }
        (INSTANCES, false) => match existing_instance(store, &id, now).await? {
            Some((i, _)) => vec![instance_resource(&i)],
            None => return Err(AscError::not_found(INSTANCES, &id)),
        },
        (INSTANCES, true) => match existing_instance(store, &id, now).await? {
            Some((i, live)) => match live.empty_fault(&i) {
                // An injected empty instance: no segments, and the header says so.
                Some(f) => {
                    reason = Some(format!(
                        "{}: instance {} has no segments",
                        f.label(),
                        i.id()
                    ));
                    vec![]
                }
                None => match segment_resource(store, &req.base, &i, &live, now).await? {
                    Ok(r) => vec![r],
                    Err(why) => {
                        reason = Some(why);
                        vec![]
                    }
                },
            },
            None => return Err(AscError::not_found(INSTANCES, &id)),
        },
        (SEGMENTS, _) => {
            let found = match segment::parse_segment_id(&id) {
                Some(i) => existing_instance(store, &i.id(), now).await?,
                None => None,
            };
            match found {
                Some((i, live)) if live.empty_fault(&i).is_none() => {
                    match segment_resource(store, &req.base, &i, &live, now).await? {
                        Ok(r) => vec![r],
                        Err(_) => return Err(AscError::not_found(SEGMENTS, &id)),
                    }
                }
                _ => return Err(AscError::not_found(SEGMENTS, &id)),
            }
        }
        _ => return engine.generic(engine.op(req.op), req).await,
    };
    if !many {
        let data = render(engine, op, req, &q, &items[0]);
        return Ok(Reply::json(
            200,
            &json!({ "data": data, "links": { "self": Engine::doc_self(req) } }),
        ));
    }
    let (page, paging, next) = crabapple_jsonapi::engine::page_of(engine, req, &q, items);
    let data: Vec<Value> = page
        .iter()
        .map(|r| match op.kind {
            OpKind::GetToManyRelationship => json!({ "type": r.rtype, "id": r.id }),
            _ => render(engine, op, req, &q, r),
        })
        .collect();
    let mut doc = json!({ "data": data, "links": { "self": Engine::doc_self(req) } });
    if op.kind == OpKind::GetToManyRelationship {
        let related = req.path.replace("/relationships/", "/");
        doc["links"]["related"] = json!(format!("{}{related}", req.base));
    }
    if let Some(n) = next {
        doc["links"]["next"] = json!(n);
    }
    doc["meta"] = json!({ "paging": paging });
    let mut reply = Reply::json(200, &doc);
    if let Some(why) = reason {
        reply.headers.push((
            crabapple_http::REASON_HEADER.into(),
            crabapple_http::encode_header_text(&why),
        ));
    }
    Ok(reply)
}

/// One computed resource as the engine writes it (attributes narrowed by `fields[…]`,
/// relationship links, `links.self`).
fn render(engine: &Engine, op: &Operation, req: &Request, q: &Query, r: &Resource) -> Value {
    let plan = engine
        .schemas
        .plans
        .get(&op.id)
        .cloned()
        .unwrap_or_default();
    engine.render_resource(&plan, r, &req.base, q, &HashMap::new(), &HashSet::new())
}
