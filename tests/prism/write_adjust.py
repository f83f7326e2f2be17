"""Per-operation adjustments of the write sweep (write_sweep.py): the few write operations whose
request, built from the spec's schema alone, is valid for the spec but breaks one of Apple's
rules. Each adjustment asks the running server (through Prism, like every request of the sweep)
for what a real client following Apple's rules would ask for first, and changes only what the
rule is about; nothing here loosens the server. Each also names the refusals it works around:
the same request without the adjustment (one rule broken each) is sent first and must be refused
with Apple's status, code and detail, so the sweep proves the rule as well.

Operation (rule, where crabapple has it) -> what the sweep sends instead:

* subscriptionPrices create (apple-semantics.md §5, crates/asc rules/pricing.rs: a price point of
  the subscription itself, in a territory where it is available, one price per territory and
  day) -> a point from the subscription's `pricePoints` in a territory of its
  `subscriptionAvailability` (made available first when it has none), `startDate` 30 days after
  the server's today. Refusals: a point of another product; a territory not available.
* subscriptionPrices delete (§5: only future price changes can be deleted) -> the sweep deletes
  its own future price (the create above). Refusal: the demo world's price, in effect.
* inAppPurchaseOfferCodes, subscriptionOfferCodes, subscriptionPromotionalOffers and
  inAppPurchasePriceSchedules create (§5: each price point of the document belongs to the product
  it prices) -> every `…PricePoints` linkage, in `data` and in the inline `included` prices, gets
  a point from the product's `pricePoints` list in the territory the price names. Refusal: a
  point of another product.
* profiles create (rules/profiles.rs: development and ad hoc profiles need enabled devices of
  their platform and class, App Store profiles take none; certificates current and of a type the
  profile takes) -> the schema's IOS_APP_DEVELOPMENT with an enabled iOS device from
  `GET /v1/devices` and a current development certificate from `GET /v1/certificates`.
  Refusals: no devices; an App Store profile with a device; a distribution certificate.
* appInfoLocalizations create (one localization per locale of the parent, issue 7 §2) -> a
  locale the parent's `appInfoLocalizations` listing does not have yet. Refusal: a locale it has.
* betaAppReviewSubmissions create (Beta App Review takes a processed, unexpired build with its
  export compliance answer and the app's test information: rules/beta_review.rs) -> a build whose
  beta detail is READY_FOR_BETA_SUBMISSION, of an app with a feedback email. Refusal: the demo
  world's first build (expired), 422 "The build is not in a valid processing state for this
  operation.".
* builds update (rules/builds.rs: the export compliance answer `usesNonExemptEncryption` is given
  once) -> a processed, unexpired build without an answer (the demo world's build 131). Refusal:
  the first build, answered, given another answer (409 "You cannot update when the value is
  already set.").
* betaGroups <-> builds links, either path (rules/testflight.rs: a group is given only a
  processed, unexpired build with its export compliance answer) -> such a build (every
  relationship write of a build acts on it). Refusal: an expired build (422 "The build is not in a
  valid processing state for this operation.").
* appStoreVersions create (crates/asc rules/review/versions.rs: a new version only when every
  other version of the app for the platform is live or replaced) -> a platform the app has no
  unfinished version for. Refusal: the platform of an unfinished one (409 "You cannot create a new
  version of the App in the current state.").
* appStoreVersionReleaseRequests create (rules/review/release.rs: only a version
  PENDING_DEVELOPER_RELEASE is released) -> such a version of the world. Refusal: the version the
  schema alone picks, when it is not one.

Each refusal answered otherwise than Apple (status, `code`, `detail`) is a `rule-not-enforced`
defect of the operation; the report lists the refusals seen (`refusedWithoutAdjustment`).

Standard library only.
"""

from __future__ import annotations

import datetime
import json
import urllib.parse
from dataclasses import dataclass
from typing import Callable

from sweep import http_get
from write_values import LOCALES

PRICING = ("ENTITY_ERROR.RELATIONSHIP.INVALID", "An error occurred while processing the pricing information.")
# The product a `…PricePoints` linkage must belong to, and the list of its own points.
PRICE_POINTS = {"subscriptions": "/v1/subscriptions/{id}/pricePoints",
                "inAppPurchases": "/v2/inAppPurchases/{id}/pricePoints"}
# Profile types the sweep sends: (device platform, device classes, certificate types it takes).
PROFILES = {"IOS_APP_DEVELOPMENT": ("IOS", ("IPHONE", "IPAD", "IPOD", "APPLE_WATCH", "APPLE_VISION_PRO"),
                                    ("IOS_DEVELOPMENT", "DEVELOPMENT"))}
DISTRIBUTION = ("IOS_DISTRIBUTION", "DISTRIBUTION")


@dataclass
class Refusal:
    """A request that breaks one rule, and Apple's answer to it."""
    what: str
    method: str
    path: str
    body: dict | None
    status: int
    code: str
    detail: str


@dataclass
class Adjustment:
    """fix(sweep, o, body) -> (body, None) or (None, why not); refusals(sweep, o, body) -> [Refusal]
    (body: the adjusted request, None for a delete)."""
    fix: Callable | None
    refusals: Callable


def q(rid: str) -> str:
    return urllib.parse.quote(rid, safe="")


def today(sweep) -> datetime.date:
    """The server's day (UTC, on its virtual clock: `GET /crabapple/admin/status`)."""
    status = http_get(f"{sweep.base}/crabapple/admin/status", None, 30).json() or {}
    ms = (status.get("clock") or {}).get("nowMs")
    now = datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc) if ms else \
        datetime.datetime.now(datetime.timezone.utc)
    return now.date()


def data_of(sweep, path, query=None) -> list[dict]:
    r, doc = sweep.get_doc(path, query)
    d = doc.get("data") if r.status == 200 else None
    return [x for x in (d if isinstance(d, list) else [d]) if isinstance(x, dict)]


def linked(res: dict, rtype: str) -> str | None:
    """The id a resource object's to-one relationship of that type names."""
    for link in (res.get("relationships") or {}).values():
        d = link.get("data")
        if isinstance(d, dict) and d.get("type") == rtype:
            return d.get("id")
    return None


def copy(body):
    return json.loads(json.dumps(body))


# ------------------------------------------------------------------------------ pricing (§5)
def product_of(body) -> tuple[str, str] | None:
    """(type, id) of the subscription or in-app purchase the document prices."""
    for t in PRICE_POINTS:
        if (pid := linked(body["data"], t)) is not None:
            return t, pid
    return None


def point_links(body):
    """[(resource object, relationship)] of every price point linkage in `data` and `included`."""
    out = []
    for res in [body["data"], *body.get("included", [])]:
        for n, link in (res.get("relationships") or {}).items():
            d = link.get("data")
            if isinstance(d, dict) and str(d.get("type", "")).endswith("PricePoints"):
                out.append((res, n))
    return out


def own_points(sweep, product, territory=None) -> list[tuple[str, str]]:
    """[(id, territory)] of the product's own price points (its `pricePoints` list), not free."""
    query = [("limit", "200"), ("include", "territory")] + ([("filter[territory]", territory)] if territory else [])
    out = []
    for p in data_of(sweep, PRICE_POINTS[product[0]].replace("{id}", q(product[1])), query):
        t = (((p.get("relationships") or {}).get("territory") or {}).get("data") or {}).get("id")
        if (p.get("attributes") or {}).get("customerPrice") not in ("0", "0.0", "0.00"):
            out.append((p["id"], t))
    return out


def fix_points(sweep, o, body):
    """Every price point linkage gets one of the product's own points, in the territory the price
    names (its `territory`, else the document's `baseTerritory`)."""
    product = product_of(body)
    if product is None:
        return None, "no subscription or in-app purchase in the request to take price points from"
    base_territory = linked(body["data"], "territories")
    for res, n in point_links(body):
        territory = linked(res, "territories") or base_territory
        points = own_points(sweep, product, territory)
        if not points:
            return None, f"{product[0]} {product[1]} lists no price point in {territory}"
        res["relationships"][n]["data"]["id"] = points[0][0]
    return body, None


def foreign_point(sweep, body) -> str | None:
    """A price point id the sweep knows of another product (none of this product's list)."""
    product, links = product_of(body), point_links(body)
    if product is None or not links:
        return None
    ptype = links[0][0]["relationships"][links[0][1]]["data"]["type"]
    own = {p for p, _ in own_points(sweep, product)}
    return next((x for x in sweep.known_ids(ptype) if x not in own), None)


def refuse_foreign_point(sweep, o, body):
    other = foreign_point(sweep, body)
    if other is None:
        return []
    bad = copy(body)
    for res, n in point_links(bad):
        res["relationships"][n]["data"]["id"] = other
    return [Refusal("a price point of another product", o["method"], o["path"], bad, 409, *PRICING)]


def available_territories(sweep, sub) -> list[str]:
    """The territories of the subscription's `subscriptionAvailability` ([] without one)."""
    avail = data_of(sweep, f"/v1/subscriptions/{q(sub)}/subscriptionAvailability")
    if not avail:
        return []
    return [t["id"] for t in data_of(sweep, f"/v1/subscriptionAvailabilities/{q(avail[0]['id'])}/availableTerritories",
                                     [("limit", "200")])]


def fix_subscription_price(sweep, o, body):
    """§5: a point of the subscription in a territory where it is available (made available
    first, as a client sets availability before prices), starting 30 days from the server's today."""
    _, sub = product_of(body) or (None, None)
    if sub is None:
        return None, "no subscription in the request"
    territories = available_territories(sweep, sub)
    if not territories:
        first = own_points(sweep, ("subscriptions", sub))
        if not first:
            return None, f"subscription {sub} lists no price point"
        r, doc, _, _ = sweep.call("POST", "/v1/subscriptionAvailabilities", {"data": {
            "type": "subscriptionAvailabilities", "attributes": {"availableInNewTerritories": False},
            "relationships": {"subscription": {"data": {"type": "subscriptions", "id": sub}},
                              "availableTerritories": {"data": [{"type": "territories", "id": first[0][1]}]}}}})
        if r.status != 201:
            return None, f"POST /v1/subscriptionAvailabilities for {sub} answered {r.status}"
        territories = [first[0][1]]
    points = own_points(sweep, ("subscriptions", sub), territories[0])
    if not points:
        return None, f"subscription {sub} lists no price point in {territories[0]}"
    body["data"]["relationships"]["subscriptionPricePoint"]["data"]["id"] = points[0][0]
    body["data"].setdefault("attributes", {})["startDate"] = (today(sweep) + datetime.timedelta(days=30)).isoformat()
    return body, None


def refuse_subscription_price(sweep, o, body):
    out = refuse_foreign_point(sweep, o, body)
    _, sub = product_of(body)
    territories = set(available_territories(sweep, sub))
    elsewhere = next((p for p, t in own_points(sweep, ("subscriptions", sub)) if t not in territories), None)
    if elsewhere:
        bad = copy(body)
        bad["data"]["relationships"]["subscriptionPricePoint"]["data"]["id"] = elsewhere
        out.append(Refusal("a territory where the subscription is not available", o["method"], o["path"],
                           bad, 409, *PRICING))
    return out


def refuse_price_delete(sweep, o, _body):
    """§5: a price already in effect (started on or before today). The demo world's price is
    linked to no subscription, so no GET of the spec lists it: crabapple's admin listing finds it."""
    day = today(sweep).isoformat()
    doc = http_get(f"{sweep.base}/crabapple/admin/resources/subscriptionPrices?limit=200", None, 30).json() or {}
    for p in doc.get("data") or []:
        if str((p.get("attributes") or {}).get("startDate") or day) <= day:
            return [Refusal("a price in effect", "DELETE", o["path"].replace("{id}", q(p["id"])), None, 409,
                            "ENTITY_ERROR", f"Cannot delete Subscription Price with id {p['id']}. "
                            "Only future price changes can be deleted.")]
    return []


# ------------------------------------------------------------------------------- profiles
def current(cert, day) -> bool:
    a = cert.get("attributes") or {}
    return a.get("activated") is not False and str(a.get("expirationDate") or "9999") > day


def pick_certificate(sweep, types) -> str | None:
    day = today(sweep).isoformat()
    certs = data_of(sweep, "/v1/certificates", [("filter[certificateType]", ",".join(types)), ("limit", "200")])
    return next((c["id"] for c in certs if current(c, day)), None)


def fix_profile(sweep, o, body):
    """A development profile with an enabled device of its platform and class and a current
    development certificate."""
    ptype = body["data"]["attributes"]["profileType"]
    if ptype not in PROFILES:
        return None, f"no adjustment for a {ptype} profile"
    platform, classes, cert_types = PROFILES[ptype]
    devices = data_of(sweep, "/v1/devices", [("filter[platform]", platform), ("filter[status]", "ENABLED"),
                                             ("limit", "200")])
    device = next((d["id"] for d in devices if (d.get("attributes") or {}).get("deviceClass") in classes), None)
    cert = pick_certificate(sweep, cert_types)
    if device is None or cert is None:
        return None, f"no enabled {platform} device or current {'/'.join(cert_types)} certificate"
    rels = body["data"]["relationships"]
    rels["devices"] = {"data": [{"type": "devices", "id": device}]}
    rels["certificates"] = {"data": [{"type": "certificates", "id": cert}]}
    return body, None


def refuse_profile(sweep, o, body):
    no_devices = copy(body)
    del no_devices["data"]["relationships"]["devices"]
    app_store = copy(body)
    app_store["data"]["attributes"]["profileType"] = "IOS_APP_STORE"
    out = [Refusal("a development profile without devices", o["method"], o["path"], no_devices, 409,
                   "ENTITY_ERROR.RELATIONSHIP.REQUIRED",
                   "The relationship 'devices' is required but was not provided with this request."),
           Refusal("an App Store profile with a device", o["method"], o["path"], app_store, 409,
                   "ENTITY_ERROR.RELATIONSHIP.NOT_ALLOWED",
                   "No devices can be associated to Provisioning Profiles for the App Store.")]
    dist = pick_certificate(sweep, DISTRIBUTION)
    if dist:
        wrong = copy(body)
        wrong["data"]["relationships"]["certificates"] = {"data": [{"type": "certificates", "id": dist}]}
        out.append(Refusal("a development profile with a distribution certificate", o["method"], o["path"],
                           wrong, 409, "ENTITY_ERROR",
                           "There are no current certificates on this team matching the provided certificate IDs."))
    return out


# -------------------------------------------------------------------------------- locales
def parent_locales(sweep, o, body) -> list[str] | None:
    """The locales of the localizations the request's parent already has (its related listing)."""
    for n, link in (body["data"].get("relationships") or {}).items():
        d = link.get("data")
        if not isinstance(d, dict):
            continue
        g = next((g for g in sweep.m["operations"] if g["kind"] == "getToManyRelated"
                  and g.get("resource") == d["type"] and g.get("target") == o["resource"]), None)
        if g:
            return [(x.get("attributes") or {}).get("locale")
                    for x in data_of(sweep, g["path"].replace("{id}", q(d["id"])), [("limit", "200")])]
    return None


def fix_locale(sweep, o, body):
    used = parent_locales(sweep, o, body)
    if used is None:
        return None, "no listing of the parent's localizations"
    free = next((x for x in LOCALES if x not in used), None)
    if free is None:
        return None, "every locale of write_values.LOCALES is used"
    body["data"]["attributes"]["locale"] = free
    return body, None


def refuse_locale(sweep, o, body):
    used = [x for x in parent_locales(sweep, o, body) or [] if x]
    if not used:
        return []
    bad = copy(body)
    bad["data"]["attributes"]["locale"] = used[0]
    return [Refusal("a locale the parent has", o["method"], o["path"], bad, 409, "ENTITY_ERROR.ATTRIBUTE.INVALID",
                    f"A localization for the locale '{used[0]}' already exists.")]


# ------------------------------------------------------------------ versions (issue 11)
PLATFORMS = ("IOS", "MAC_OS", "TV_OS", "VISION_OS")
LIVE = ("READY_FOR_DISTRIBUTION", "REPLACED_WITH_NEW_VERSION")
NEW_VERSION = ("ENTITY_ERROR.RELATIONSHIP.INVALID", "You cannot create a new version of the App in the current state.")


def unfinished_platforms(sweep, body) -> list[str] | None:
    """The platforms for which the request's app has a version that is not live yet."""
    app = linked(body["data"], "apps")
    if app is None:
        return None
    return [(v.get("attributes") or {}).get("platform")
            for v in data_of(sweep, f"/v1/apps/{q(app)}/appStoreVersions", [("limit", "200")])
            if (v.get("attributes") or {}).get("appVersionState") not in LIVE]


def fix_new_version(sweep, o, body):
    busy = unfinished_platforms(sweep, body)
    if busy is None:
        return None, "no app in the request"
    free = next((p for p in PLATFORMS if p not in busy), None)
    if free is None:
        return None, "the app has an unfinished version for every platform"
    body["data"]["attributes"]["platform"] = free
    return body, None


def refuse_new_version(sweep, o, body):
    busy = [p for p in unfinished_platforms(sweep, body) or [] if p]
    if not busy:
        return []
    bad = copy(body)
    bad["data"]["attributes"]["platform"] = busy[0]
    return [Refusal("a platform with an unfinished version", o["method"], o["path"], bad, 409, *NEW_VERSION)]


def versions_in(sweep, state) -> list[str]:
    return [v["id"] for a in data_of(sweep, "/v1/apps", [("limit", "200")])
            for v in data_of(sweep, f"/v1/apps/{q(a['id'])}/appStoreVersions", [("limit", "200")])
            if (v.get("attributes") or {}).get("appVersionState") == state]


def fix_release_request(sweep, o, body):
    pending = versions_in(sweep, "PENDING_DEVELOPER_RELEASE")
    if not pending:
        return None, "no version PENDING_DEVELOPER_RELEASE in the world"
    body["data"]["relationships"]["appStoreVersion"]["data"]["id"] = pending[0]
    return body, None


def refuse_release_request(sweep, o, body):
    other = next((v for v in versions_in(sweep, "PREPARE_FOR_SUBMISSION")), None)
    if other is None:
        return []
    bad = copy(body)
    bad["data"]["relationships"]["appStoreVersion"]["data"]["id"] = other
    return [Refusal("a version not waiting for its developer", o["method"], o["path"], bad, 409, "STATE_ERROR",
                    f"The appStoreVersion with id '{other}' cannot be released in its current state "
                    "PREPARE_FOR_SUBMISSION. Only a version in PENDING_DEVELOPER_RELEASE can be released.")]


# ----------------------------------------------------- Beta App Review (crates/asc rules/beta_review.rs)
NOT_VALID = "The build is not in a valid processing state for this operation."


def ready_for_review(sweep, build: str) -> bool:
    """The build's beta detail says READY_FOR_BETA_SUBMISSION (processed, unexpired, export
    compliance answered, not in review) and its app has the feedback email Beta App Review needs."""
    detail = data_of(sweep, f"/v1/builds/{q(build)}/buildBetaDetail")
    if not detail or (detail[0].get("attributes") or {}).get("externalBuildState") != "READY_FOR_BETA_SUBMISSION":
        return False
    app = data_of(sweep, f"/v1/builds/{q(build)}/app")
    locs = data_of(sweep, f"/v1/apps/{q(app[0]['id'])}/betaAppLocalizations") if app else []
    return any((loc.get("attributes") or {}).get("feedbackEmail") for loc in locs)


def fix_beta_review(sweep, o, body):
    """A build ready for Beta App Review, as a client submits the build it just processed."""
    build = next((b for b in sweep.known_ids("builds") if ready_for_review(sweep, b)), None)
    if build is None:
        return None, "no build of the world is ready for Beta App Review"
    body["data"]["relationships"]["build"]["data"]["id"] = build
    return body, None


def refuse_beta_review(sweep, o, body):
    """The first build the sweep knows of (the demo world's oldest, expired) is refused."""
    first = sweep.pick("builds")
    if first is None or ready_for_review(sweep, first):
        return []
    bad = copy(body)
    bad["data"]["relationships"]["build"]["data"]["id"] = first
    return [Refusal("a build that is not processed or expired", o["method"], o["path"], bad, 422,
                    "ENTITY_UNPROCESSABLE", NOT_VALID)]


# ------------------------------------------ builds (crates/asc rules/builds.rs, rules/testflight.rs)
# Builds have no create operation: the sweep updates and links the demo world's. The first it knows
# of is expired and has its export compliance answer, which breaks the rules of all three writes.
ANSWERED = ("ENTITY_ERROR.ATTRIBUTE.INVALID", "You cannot update when the value is already set.")


def build_attrs(sweep, build: str) -> dict:
    got = data_of(sweep, f"/v1/builds/{q(build)}")
    return (got[0].get("attributes") or {}) if got else {}


def usable(a: dict) -> bool:
    """Processed and not expired."""
    return a.get("processingState") == "VALID" and a.get("expired") is False


def unanswered_build(sweep, _rid):
    """A processed, unexpired build without its export compliance answer (the demo's build 131),
    as a client answers it for the build it just processed."""
    return next((b for b in sweep.known_ids("builds") if (a := build_attrs(sweep, b))
                 and usable(a) and a.get("usesNonExemptEncryption") is None), None)


def testable_build(sweep, _rid):
    """A processed, unexpired build with its export compliance answer: one a group may be given."""
    return next((b for b in sweep.known_ids("builds") if (a := build_attrs(sweep, b))
                 and usable(a) and a.get("usesNonExemptEncryption") is not None), None)


def expired_build(sweep) -> str | None:
    return next((b for b in sweep.known_ids("builds") if build_attrs(sweep, b).get("expired") is True), None)


def refuse_second_answer(sweep, o, _rid):
    """An answered build given another answer: 409 at /data/attributes/usesNonExemptEncryption."""
    answered = next((b for b in sweep.known_ids("builds")
                     if isinstance(build_attrs(sweep, b).get("usesNonExemptEncryption"), bool)), None)
    if answered is None:
        return []
    other = not build_attrs(sweep, answered)["usesNonExemptEncryption"]
    body = {"data": {"type": "builds", "id": answered, "attributes": {"usesNonExemptEncryption": other}}}
    return [Refusal("a build whose export compliance is answered, another answer", "PATCH",
                    o["path"].replace("{id}", q(answered)), body, 409, *ANSWERED)]


def refuse_expired_link(sweep, o, rid, link):
    """A group given an expired build (either path): 422, the build is not in a valid processing
    state (rules/testflight.rs, App-Store-Connect-CLI#2595)."""
    old = expired_build(sweep)
    if old is None:
        return []
    if o["resource"] == "builds":
        path, body = o["path"].replace("{id}", q(old)), {"data": [link]}
    else:
        path, body = o["path"].replace("{id}", q(rid)), {"data": [{"type": "builds", "id": old}]}
    return [Refusal("an expired build for a group", o["method"], path, body, 422, "ENTITY_UNPROCESSABLE", NOT_VALID)]


@dataclass
class Instance:
    """pick(sweep, rid) -> the id an update or the relationship writes of a type act on instead of
    `rid` (the demo world's first), None when the world has none; refusals(sweep, o, rid) ->
    [Refusal] (o: the update, None for relationship writes)."""
    pick: Callable
    refusals: Callable | None = None


# Update: operation id -> Instance. Relationship writes: resource type -> Instance.
UPDATE_INSTANCES = {"builds_updateInstance": Instance(unanswered_build, refuse_second_answer)}
LINK_INSTANCES = {"builds": Instance(testable_build)}
# Relationship writes: operation id -> (the linked type, the ids to prefer, refusals(sweep, o,
# rid, link) -> [Refusal]).
LINKS = {
    "betaGroups_builds_createToManyRelationship": ("builds", testable_build, refuse_expired_link),
    "builds_betaGroups_createToManyRelationship": ("betaGroups", None, refuse_expired_link),
}


def update_instance(sweep, o, rid):
    """The id the sweep patches with update `o` (rid unless UPDATE_INSTANCES names a rule);
    first sends its refusals."""
    ins = UPDATE_INSTANCES.get(o["id"])
    if ins is None:
        return rid
    check(sweep, o, ins.refusals(sweep, o, rid) if ins.refusals else [])
    return ins.pick(sweep, rid) or rid


def link_instance(sweep, t, rid):
    """The id whose relationships the sweep writes (rid unless LINK_INSTANCES names a rule)."""
    ins = LINK_INSTANCES.get(t)
    return (ins.pick(sweep, rid) or rid) if ins else rid


def link_candidates(sweep, o, cands):
    """The ids relationship write `o` may link, the ones its rule allows first."""
    rule = LINKS.get(o["id"])
    if rule is None or rule[1] is None:
        return cands
    good = rule[1](sweep, None)
    return [good] + [c for c in cands if c != good] if good else cands


def link_refusals(sweep, o, rid, link):
    """Sends the refusals of relationship write `o` on `rid` (LINKS) before the write itself."""
    rule = LINKS.get(o["id"])
    if rule is not None:
        check(sweep, o, rule[2](sweep, o, rid, link))


ADJUSTMENTS = {
    "appStoreVersions_createInstance": Adjustment(fix_new_version, refuse_new_version),
    "appStoreVersionReleaseRequests_createInstance": Adjustment(fix_release_request, refuse_release_request),
    "betaAppReviewSubmissions_createInstance": Adjustment(fix_beta_review, refuse_beta_review),
    "subscriptionPrices_createInstance": Adjustment(fix_subscription_price, refuse_subscription_price),
    "subscriptionPrices_deleteInstance": Adjustment(None, refuse_price_delete),
    "inAppPurchaseOfferCodes_createInstance": Adjustment(fix_points, refuse_foreign_point),
    "subscriptionOfferCodes_createInstance": Adjustment(fix_points, refuse_foreign_point),
    "subscriptionPromotionalOffers_createInstance": Adjustment(fix_points, refuse_foreign_point),
    "inAppPurchasePriceSchedules_createInstance": Adjustment(fix_points, refuse_foreign_point),
    "profiles_createInstance": Adjustment(fix_profile, refuse_profile),
    "appInfoLocalizations_createInstance": Adjustment(fix_locale, refuse_locale),
}


def apply(sweep, o, body):
    """(the adjusted body, None) or (None, why it cannot be built); first sends the refusals and
    records a `rule-not-enforced` defect for each one not answered as Apple does."""
    adj = ADJUSTMENTS.get(o["id"])
    if adj is None:
        return body, None
    if adj.fix is not None:
        body, why = adj.fix(sweep, o, body)
        if body is None:
            return None, why
    check(sweep, o, adj.refusals(sweep, o, body))
    return body, None


def check(sweep, o, refusals):
    """Sends each refusal; records a `rule-not-enforced` defect of `o` for each one not answered
    as Apple does (a `rule-not-checked` one when none could be built)."""
    if not refusals:
        sweep.rule_checks.setdefault(o["id"], []).append("no refusal could be built")
        sweep.record(o, "defect", "rule-not-checked", ["no request without the adjustment could be built"])
    for ref in refusals:
        r, doc, _, req_v = sweep.call(ref.method, ref.path, ref.body)
        err = ((doc or {}).get("errors") or [{}])[0] if isinstance(doc, dict) else {}
        got = (r.status, err.get("code"), err.get("detail"))
        if req_v or got != (ref.status, ref.code, ref.detail):
            sweep.record(o, "defect", "rule-not-enforced",
                         [f"{ref.what}: want {ref.status} {ref.code} {ref.detail!r}, got {got}"] + req_v,
                         request=f"{ref.method} {ref.path}", body=ref.body)
        else:
            sweep.rule_checks.setdefault(o["id"], []).append(f"{ref.what}: {ref.status} {ref.code}")
