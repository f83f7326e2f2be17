//! Apple's rules as one table: each row is a request and the exact answer Apple gives (status,
//! code, title, detail, source), named after the fact it rests on (apple-semantics.md §, forum
//! post, or issue). The rows that pass are what `crabapple spec coverage` counts in its
//! "rules" column: the test writes `tests/coverage/rules.tsv` (operation id, rule) and fails when
//! the committed file differs (`CRABAPPLE_UPDATE_FACTS=1` rewrites it).

mod common;

use common::*;
use crabapple_auth::KeyKind;
use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Clone, Copy)]
enum Key {
    Admin,
    /// A team key with the DEVELOPER role only.
    Developer,
    /// The Admin key with this `scope` claim.
    Scoped(&'static str),
    /// An individual key with the ADMIN role.
    Individual,
    /// Not a token at all.
    Garbage,
}

struct Row {
    /// The fact: `apple-semantics.md §1.5`, `forum post 10`, `issue 7 §2` …
    source: &'static str,
    rule: &'static str,
    /// The operation the request reaches (Apple's operationId), "" when it reaches none (an
    /// unknown path or method: nothing to count in the coverage).
    op: &'static str,
    key: Key,
    method: &'static str,
    /// `{name}` placeholders are filled from the demo world (see `fixtures`).
    uri: &'static str,
    body: Option<&'static str>,
    status: u16,
    code: &'static str,
    title: &'static str,
    detail: &'static str,
    /// `pointer:/data/…` or `parameter:filter[…]`, or "" for none.
    source_member: &'static str,
}

const ROWS: &[Row] = &[
    Row {
        source: "issue 8 (a 10 MB bundle ID name was accepted; crabapple's cap for names, lengths.rs)",
        rule: "a name over 255 characters → 409 ENTITY_ERROR.ATTRIBUTE.INVALID",
        op: "bundleIds_createInstance",
        key: Key::Admin,
        method: "POST",
        uri: "/v1/bundleIds",
        body: Some(
            r#"{"data":{"type":"bundleIds","attributes":{"name":"{name256}","identifier":"com.rules.longname","platform":"IOS"}}}"#,
        ),
        status: 409,
        code: "ENTITY_ERROR.ATTRIBUTE.INVALID",
        title: "An attribute value is invalid.",
        detail: "The attribute 'name' has an invalid value: it is 256 characters long; the limit is 255",
        source_member: "pointer:/data/attributes/name",
    },
    Row {
        source: "issue 8 (Apple's documented limit: subscription description 45 characters)",
        rule: "a subscription description over 45 characters → 409 ENTITY_ERROR.ATTRIBUTE.INVALID",
        op: "subscriptionLocalizations_createInstance",
        key: Key::Admin,
        method: "POST",
        uri: "/v1/subscriptionLocalizations",
        body: Some(
            r#"{"data":{"type":"subscriptionLocalizations","attributes":{"name":"Rules","locale":"fr-FR","description":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"},"relationships":{"subscription":{"data":{"type":"subscriptions","id":"{sub}"}}}}}"#,
        ),
        status: 409,
        code: "ENTITY_ERROR.ATTRIBUTE.INVALID",
        title: "An attribute value is invalid.",
        detail: "The attribute 'description' has an invalid value: it is 46 characters long; the limit is 45",
        source_member: "pointer:/data/attributes/description",
    },
    Row {
        source: "apple-semantics.md §1.5",
        rule: "unknown attribute → 409 ENTITY_ERROR.ATTRIBUTE.UNKNOWN",
        op: "bundleIds_createInstance",
        key: Key::Admin,
        method: "POST",
        uri: "/v1/bundleIds",
        body: Some(
            r#"{"data":{"type":"bundleIds","attributes":{"name":"X","identifier":"com.rules.unknown","platform":"IOS","colour":"red"}}}"#,
        ),
        status: 409,
        code: "ENTITY_ERROR.ATTRIBUTE.UNKNOWN",
        title: "The provided entity includes an unknown attribute",
        detail: "'colour' is not a valid attribute for this request",
        source_member: "pointer:/data/attributes/colour",
    },
    Row {
        source: "apple-semantics.md §1.5",
        rule: "unknown relationship → 409 ENTITY_ERROR.RELATIONSHIP.UNKNOWN",
        op: "betaGroups_createInstance",
        key: Key::Admin,
        method: "POST",
        uri: "/v1/betaGroups",
        body: Some(
            r#"{"data":{"type":"betaGroups","attributes":{"name":"Rules"},"relationships":{"app":{"data":{"type":"apps","id":"{app}"}},"owner":{"data":{"type":"users","id":"1"}}}}}"#,
        ),
        status: 409,
        code: "ENTITY_ERROR.RELATIONSHIP.UNKNOWN",
        title: "The provided entity includes an unknown relationship",
        detail: "'owner' is not a valid relationship for this request",
        source_member: "pointer:/data/relationships/owner",
    },
    Row {
        source: "issue 7 §2 (Ponytech register_new_device)",
        rule: "an empty relationships object where none is required is accepted",
        op: "devices_createInstance",
        key: Key::Admin,
        method: "POST",
        uri: "/v1/devices",
        body: Some(
            r#"{"data":{"type":"devices","attributes":{"name":"Rules iPhone","udid":"00008030-001A35E22E88802E","platform":"IOS"},"relationships":{}}}"#,
        ),
        status: 201,
        code: "",
        title: "",
        detail: "",
        source_member: "",
    },
    Row {
        source: "apple-semantics.md §1.5",
        rule: "missing required attribute → 409 ENTITY_ERROR.ATTRIBUTE.REQUIRED",
        op: "bundleIds_createInstance",
        key: Key::Admin,
        method: "POST",
        uri: "/v1/bundleIds",
        body: Some(r#"{"data":{"type":"bundleIds","attributes":{"name":"X","platform":"IOS"}}}"#),
        status: 409,
        code: "ENTITY_ERROR.ATTRIBUTE.REQUIRED",
        title: "The provided entity is missing a required attribute",
        detail: "You must provide a value for the attribute 'identifier' with this request",
        source_member: "pointer:/data/attributes/identifier",
    },
    Row {
        source: "apple-semantics.md §1.5",
        rule: "value outside the enum → 409 ENTITY_ERROR.ATTRIBUTE.INVALID",
        op: "bundleIds_createInstance",
        key: Key::Admin,
        method: "POST",
        uri: "/v1/bundleIds",
        body: Some(
            r#"{"data":{"type":"bundleIds","attributes":{"name":"X","identifier":"com.rules.enum","platform":"WINDOWS"}}}"#,
        ),
        status: 409,
        code: "ENTITY_ERROR.ATTRIBUTE.INVALID",
        title: "An attribute value is invalid.",
        detail: "The attribute 'platform' has an invalid value: 'WINDOWS' is not one of: IOS, MAC_OS, UNIVERSAL",
        source_member: "pointer:/data/attributes/platform",
    },
    Row {
        source: "apple-semantics.md §1.5 (spec format email)",
        rule: "an empty string where the spec wants an email → 409 ENTITY_ERROR.ATTRIBUTE.INVALID",
        op: "betaTesters_createInstance",
        key: Key::Admin,
        method: "POST",
        uri: "/v1/betaTesters",
        body: Some(r#"{"data":{"type":"betaTesters","attributes":{"email":""}}}"#),
        status: 409,
        code: "ENTITY_ERROR.ATTRIBUTE.INVALID",
        title: "An attribute value is invalid.",
        detail: "The attribute 'email' has an invalid value: '' is not an email address",
        source_member: "pointer:/data/attributes/email",
    },
    Row {
        source: "apple-semantics.md §1.5",
        rule: "misspelled document member → 422 ENTITY_UNPROCESSABLE",
        op: "bundleIds_createInstance",
        key: Key::Admin,
        method: "POST",
        uri: "/v1/bundleIds",
        body: Some(r#"{"data":{"type":"bundleIds","atributes":{"name":"X"}}}"#),
        status: 422,
        code: "ENTITY_UNPROCESSABLE",
        title: "The request entity is not a valid request document object",
        detail: "Unexpected or invalid value at 'data.atributes'.",
        source_member: "pointer:/data/atributes",
    },
    Row {
        source: "apple-semantics.md §1.5",
        rule: "unknown id → 404 NOT_FOUND",
        op: "apps_getInstance",
        key: Key::Admin,
        method: "GET",
        uri: "/v1/apps/0000",
        body: None,
        status: 404,
        code: "NOT_FOUND",
        title: "The specified resource does not exist",
        detail: "There is no resource of type 'apps' with id '0000'",
        source_member: "",
    },
    Row {
        source: "apple-semantics.md §1.5",
        rule: "unknown parameter → 400 PARAMETER_ERROR.ILLEGAL",
        op: "apps_getCollection",
        key: Key::Admin,
        method: "GET",
        uri: "/v1/apps?colour=red",
        body: None,
        status: 400,
        code: "PARAMETER_ERROR.ILLEGAL",
        title: "A parameter cannot be used with this request",
        detail: "The parameter 'colour' can not be used with this request",
        source_member: "parameter:colour",
    },
    Row {
        source: "forum post 10",
        rule: "a scope entry with a {placeholder} → 400 ENTITY_INVALID Invalid scope",
        op: "apps_getCollection",
        key: Key::Scoped("GET /v1/apps/{appId}/appScreenshotSets"),
        method: "GET",
        uri: "/v1/apps",
        body: None,
        status: 400,
        code: "ENTITY_INVALID",
        title: "JSON processing failed",
        detail: "Invalid scope GET /v1/apps/{appId}/appScreenshotSets",
        source_member: "",
    },
    Row {
        source: "apple-semantics.md §1.7",
        rule: "a Developer key may not create an external beta group → 403",
        op: "betaGroups_createInstance",
        key: Key::Developer,
        method: "POST",
        uri: "/v1/betaGroups",
        body: Some(
            r#"{"data":{"type":"betaGroups","attributes":{"name":"Public","publicLinkEnabled":true},"relationships":{"app":{"data":{"type":"apps","id":"{app}"}}}}}"#,
        ),
        status: 403,
        code: "FORBIDDEN_ERROR",
        title: "Unable to process request.",
        detail: "",
        source_member: "",
    },
    Row {
        source: "apple-semantics.md §1.7",
        rule: "a Developer key may create an internal beta group",
        op: "betaGroups_createInstance",
        key: Key::Developer,
        method: "POST",
        uri: "/v1/betaGroups",
        body: Some(
            r#"{"data":{"type":"betaGroups","attributes":{"name":"Team","isInternalGroup":true},"relationships":{"app":{"data":{"type":"apps","id":"{app}"}}}}}"#,
        ),
        status: 201,
        code: "",
        title: "",
        detail: "",
        source_member: "",
    },
    Row {
        source: "apple-semantics.md §1.7",
        rule: "a Developer key may not download sales reports → 403",
        op: "salesReports_getCollection",
        key: Key::Developer,
        method: "GET",
        uri: "/v1/salesReports?filter[vendorNumber]={vendor}&filter[reportType]=SALES&filter[reportSubType]=SUMMARY&filter[frequency]=DAILY",
        body: None,
        status: 403,
        code: "FORBIDDEN_ERROR",
        title: "This request is forbidden for security reasons",
        detail: "The API key in use does not allow this request",
        source_member: "",
    },
    Row {
        source: "apple-semantics.md §3 (reports-formats.md §2.5)",
        rule: "retired subscription report version 1_2 → 400 filter[version]",
        op: "salesReports_getCollection",
        key: Key::Admin,
        method: "GET",
        uri: "/v1/salesReports?filter[vendorNumber]={vendor}&filter[reportType]=SUBSCRIPTION&filter[reportSubType]=SUMMARY&filter[frequency]=DAILY&filter[version]=1_2&filter[reportDate]=2026-11-01",
        body: None,
        status: 400,
        code: "PARAMETER_ERROR.INVALID",
        title: "A parameter has an invalid value",
        detail: "The version parameter you have specified is invalid. The latest version for this report is 1_4.",
        source_member: "parameter:filter[version]",
    },
    Row {
        source: "apple-semantics.md §3",
        rule: "SUBSCRIBER with reportSubType SUMMARY → 400 filter[reportSubType]",
        op: "salesReports_getCollection",
        key: Key::Admin,
        method: "GET",
        uri: "/v1/salesReports?filter[vendorNumber]={vendor}&filter[reportType]=SUBSCRIBER&filter[reportSubType]=SUMMARY&filter[frequency]=DAILY&filter[version]=1_3&filter[reportDate]=2026-11-01",
        body: None,
        status: 400,
        code: "PARAMETER_ERROR.INVALID",
        title: "A parameter has an invalid value",
        detail: "The report sub type 'SUMMARY' is not valid for the report type 'SUBSCRIBER'. Expected one of: DETAILED",
        source_member: "parameter:filter[reportSubType]",
    },
    Row {
        source: "apple-semantics.md §3",
        rule: "SALES WEEKLY in version 1_0 is valid (no sales yet → 404)",
        op: "salesReports_getCollection",
        key: Key::Admin,
        method: "GET",
        uri: "/v1/salesReports?filter[vendorNumber]={vendor}&filter[reportType]=SALES&filter[reportSubType]=SUMMARY&filter[frequency]=WEEKLY&filter[version]=1_0&filter[reportDate]=2026-11-01",
        body: None,
        status: 404,
        code: "NOT_FOUND",
        title: "The specified resource does not exist",
        detail: "There were no sales for the date specified.",
        source_member: "",
    },
    Row {
        source: "issue 7 §2",
        rule: "a second subscription with the same productId in an app → 409",
        op: "subscriptions_createInstance",
        key: Key::Admin,
        method: "POST",
        uri: "/v1/subscriptions",
        body: Some(
            r#"{"data":{"type":"subscriptions","attributes":{"name":"Again","productId":"{productId}","subscriptionPeriod":"ONE_MONTH"},"relationships":{"group":{"data":{"type":"subscriptionGroups","id":"{group}"}}}}}"#,
        ),
        status: 409,
        code: "ENTITY_ERROR.ATTRIBUTE.INVALID",
        title: "An attribute value is invalid.",
        detail: "The product ID '{productId}' has already been used.",
        source_member: "pointer:/data/attributes/productId",
    },
    Row {
        source: "issue 7 §2",
        rule: "a second localization with the same locale → 409",
        op: "subscriptionLocalizations_createInstance",
        key: Key::Admin,
        method: "POST",
        uri: "/v1/subscriptionLocalizations",
        body: Some(
            r#"{"data":{"type":"subscriptionLocalizations","attributes":{"name":"Again","locale":"{subLocale}"},"relationships":{"subscription":{"data":{"type":"subscriptions","id":"{sub}"}}}}}"#,
        ),
        status: 409,
        code: "ENTITY_ERROR.ATTRIBUTE.INVALID",
        title: "An attribute value is invalid.",
        detail: "A localization for the locale '{subLocale}' already exists.",
        source_member: "pointer:/data/attributes/locale",
    },
    Row {
        source: "issue 7 §2 (apple-semantics.md §1.5 STATE_ERROR)",
        rule: "deleting a subscription group that has subscriptions → 409 STATE_ERROR",
        op: "subscriptionGroups_deleteInstance",
        key: Key::Admin,
        method: "DELETE",
        uri: "/v1/subscriptionGroups/{group}",
        body: None,
        status: 409,
        code: "STATE_ERROR",
        title: "The request cannot be fulfilled because of the state of another resource.",
        detail: "Cannot delete the subscription group '{group}' because it has {groupSubs} subscription(s). Delete its subscriptions first.",
        source_member: "",
    },
    Row {
        source: "apple-semantics.md §1.5",
        rule: "a known path with another method → 405 METHOD_NOT_ALLOWED",
        op: "",
        key: Key::Admin,
        method: "PUT",
        uri: "/v1/apps",
        body: None,
        status: 405,
        code: "METHOD_NOT_ALLOWED",
        title: "The request method is not valid for the resource path.",
        detail: "The request method 'PUT' is not valid for the resource path '/v1/apps'. Allowed methods: GET",
        source_member: "",
    },
    Row {
        source: "apple-semantics.md §1.5 (fastlane#19788)",
        rule: "an operation the resource lacks → 403 does not allow GET_COLLECTION",
        op: "",
        key: Key::Admin,
        method: "GET",
        uri: "/v1/appScreenshotSets",
        body: None,
        status: 403,
        code: "FORBIDDEN_ERROR",
        title: "The given operation is not allowed",
        detail: "The resource 'appScreenshotSets' does not allow 'GET_COLLECTION'. Allowed operations are: GET_INSTANCE, CREATE, DELETE",
        source_member: "",
    },
    Row {
        source: "apple-semantics.md §1.5",
        rule: "an unknown path → 404 PATH_ERROR",
        op: "",
        key: Key::Admin,
        method: "GET",
        uri: "/v1/bananas",
        body: None,
        status: 404,
        code: "PATH_ERROR",
        title: "The URL path is not valid",
        detail: "The path provided '/v1/bananas' does not match a defined resource type.",
        source_member: "",
    },
    Row {
        source: "apple-semantics.md §1.5 (codemagic#467)",
        rule: "a filter value outside the enum → 400 PARAMETER_ERROR.INVALID",
        op: "certificates_getCollection",
        key: Key::Admin,
        method: "GET",
        uri: "/v1/certificates?filter[certificateType]=NOPE",
        body: None,
        status: 400,
        code: "PARAMETER_ERROR.INVALID",
        title: "A parameter has an invalid value",
        detail: "'NOPE' is not a valid filter value. Expected one of: APPLE_PAY, APPLE_PAY_MERCHANT_IDENTITY, APPLE_PAY_PSP_IDENTITY, APPLE_PAY_RSA, DEVELOPER_ID_KEXT, DEVELOPER_ID_KEXT_G2, DEVELOPER_ID_APPLICATION, DEVELOPER_ID_APPLICATION_G2, DEVELOPMENT, DISTRIBUTION, IDENTITY_ACCESS, IOS_DEVELOPMENT, IOS_DISTRIBUTION, MAC_APP_DISTRIBUTION, MAC_INSTALLER_DISTRIBUTION, MAC_APP_DEVELOPMENT, PASS_TYPE_ID, PASS_TYPE_ID_WITH_NFC",
        source_member: "parameter:filter[certificateType]",
    },
    Row {
        source: "apple-semantics.md §1.5, §3",
        rule: "a missing required parameter → 400 PARAMETER_ERROR.REQUIRED",
        op: "salesReports_getCollection",
        key: Key::Admin,
        method: "GET",
        uri: "/v1/salesReports",
        body: None,
        status: 400,
        code: "PARAMETER_ERROR.REQUIRED",
        title: "A required parameter is missing",
        detail: "The parameter 'filter[vendorNumber]' is required",
        source_member: "parameter:filter[vendorNumber]",
    },
    Row {
        source: "apple-semantics.md §1.5 (spec maximum)",
        rule: "limit above the operation's maximum → 400 PARAMETER_ERROR.INVALID",
        op: "apps_getCollection",
        key: Key::Admin,
        method: "GET",
        uri: "/v1/apps?limit=201",
        body: None,
        status: 400,
        code: "PARAMETER_ERROR.INVALID",
        title: "A parameter has an invalid value",
        detail: "'201' is not a valid value for 'limit'. The maximum is 200",
        source_member: "parameter:limit",
    },
    Row {
        source: "apple-semantics.md §1.1",
        rule: "not a token → 401 NOT_AUTHORIZED with Apple's exact body",
        op: "apps_getCollection",
        key: Key::Garbage,
        method: "GET",
        uri: "/v1/apps",
        body: None,
        status: 401,
        code: "NOT_AUTHORIZED",
        title: "Authentication credentials are missing or invalid.",
        detail: "Provide a properly configured and signed bearer token, and make sure that it has not expired. Learn more about Generating Tokens for API Requests https://developer.apple.com/go/?id=api-generating-tokens",
        source_member: "",
    },
    Row {
        source: "apple-semantics.md §1.2",
        rule: "an individual key never reaches provisioning → 403",
        op: "certificates_getCollection",
        key: Key::Individual,
        method: "GET",
        uri: "/v1/certificates",
        body: None,
        status: 403,
        code: "FORBIDDEN_ERROR",
        title: "This request is forbidden for security reasons",
        detail: "The API key in use does not allow this request",
        source_member: "",
    },
    Row {
        source: "apple-semantics.md §8.2",
        rule: "Developer ID certificates cannot be created through the API → 409",
        op: "certificates_createInstance",
        key: Key::Admin,
        method: "POST",
        uri: "/v1/certificates",
        body: Some(
            r#"{"data":{"type":"certificates","attributes":{"certificateType":"DEVELOPER_ID_APPLICATION","csrContent":"x"}}}"#,
        ),
        status: 409,
        code: "ENTITY_ERROR.ATTRIBUTE.INVALID",
        title: "An attribute value is invalid.",
        detail: "Certificates of type 'DEVELOPER_ID_APPLICATION' can not be created with the API.",
        source_member: "pointer:/data/attributes/certificateType",
    },
    Row {
        source: "apple-semantics.md §8.2 (Developer portal)",
        rule: "a bundle identifier already taken → 409",
        op: "bundleIds_createInstance",
        key: Key::Admin,
        method: "POST",
        uri: "/v1/bundleIds",
        body: Some(
            r#"{"data":{"type":"bundleIds","attributes":{"name":"Again","identifier":"{bundleIdentifier}","platform":"IOS"}}}"#,
        ),
        status: 409,
        code: "ENTITY_ERROR.ATTRIBUTE.INVALID",
        title: "An attribute value is invalid.",
        detail: "An App ID with Identifier '{bundleIdentifier}' is not available. Please enter a different string.",
        source_member: "pointer:/data/attributes/identifier",
    },
    Row {
        source: "apple-semantics.md §8.2 (fastlane/fastlane#17426)",
        rule: "a device UDID already registered → 409",
        op: "devices_createInstance",
        key: Key::Admin,
        method: "POST",
        uri: "/v1/devices",
        body: Some(
            r#"{"data":{"type":"devices","attributes":{"name":"Again","udid":"{udid}","platform":"IOS"}}}"#,
        ),
        status: 409,
        code: "ENTITY_ERROR",
        title: "There is a problem with the request entity",
        detail: "A device with number '{udid}' already exists on this team.",
        source_member: "pointer:/data/attributes/udid",
    },
    Row {
        source: "apple-semantics.md §8.2 (futureware-tech/simulator-action#276)",
        rule: "a simulator's UUID is not an iOS device's UDID → 409",
        op: "devices_createInstance",
        key: Key::Admin,
        method: "POST",
        uri: "/v1/devices",
        body: Some(
            r#"{"data":{"type":"devices","attributes":{"name":"Simulator","udid":"11DE7AF9-E77A-44F2-BECE-D8F9F69766B2","platform":"IOS"}}}"#,
        ),
        status: 409,
        code: "ENTITY_ERROR.ATTRIBUTE.INVALID",
        title: "An attribute in the provided entity has invalid value",
        detail: "An invalid value '11DE7AF9-E77A-44F2-BECE-D8F9F69766B2' was provided for the parameter 'udid'.",
        source_member: "pointer:/data/attributes/udid",
    },
    Row {
        source: "apple-semantics.md §8.2",
        rule: "a csrContent that is not a signed PKCS#10 request → 409",
        op: "certificates_createInstance",
        key: Key::Admin,
        method: "POST",
        uri: "/v1/certificates",
        body: Some(
            r#"{"data":{"type":"certificates","attributes":{"certificateType":"DISTRIBUTION","csrContent":"not a CSR"}}}"#,
        ),
        status: 409,
        code: "ENTITY_ERROR.ATTRIBUTE.INVALID",
        title: "An attribute in the provided entity has invalid value",
        detail: "Invalid Certificate Signing Request. The certificate signing request you entered appears to be invalid.",
        source_member: "pointer:/data/attributes/csrContent",
    },
    Row {
        source: "apple-semantics.md §1.7 (users)",
        rule: "inviting an email that is already a user → 409",
        op: "userInvitations_createInstance",
        key: Key::Admin,
        method: "POST",
        uri: "/v1/userInvitations",
        body: Some(
            r#"{"data":{"type":"userInvitations","attributes":{"email":"{userEmail}","firstName":"M","lastName":"Q","roles":["DEVELOPER"]}}}"#,
        ),
        status: 409,
        code: "ENTITY_ERROR.ATTRIBUTE.INVALID",
        title: "An attribute value is invalid.",
        detail: "The email address '{userEmail}' is already associated with a user or a pending invitation.",
        source_member: "pointer:/data/attributes/email",
    },
    Row {
        source: "apple-semantics.md §2.3",
        rule: "a second report request of the same access type for an app → 409 STATE_ERROR",
        op: "analyticsReportRequests_createInstance",
        key: Key::Admin,
        method: "POST",
        uri: "/v1/analyticsReportRequests",
        body: Some(
            r#"{"data":{"type":"analyticsReportRequests","attributes":{"accessType":"ONGOING"},"relationships":{"app":{"data":{"type":"apps","id":"{app}"}}}}}"#,
        ),
        status: 409,
        code: "STATE_ERROR",
        title: "The request cannot be fulfilled because of the state of another resource.",
        detail: "You already have such an entity",
        source_member: "",
    },
];

/// Ids and values of the demo world the rows refer to.
async fn fixtures(w: &World) -> BTreeMap<&'static str, String> {
    let data = |r: Resp| r.json()["data"].clone();
    let first_id = |v: &Value| v[0]["id"].as_str().unwrap_or_default().to_string();
    let apps = data(w.get("/v1/apps?limit=200").await);
    let app = first_id(&apps);
    let groups = data(w.get(&format!("/v1/apps/{app}/subscriptionGroups")).await);
    let group = first_id(&groups);
    let subs = data(
        w.get(&format!(
            "/v1/subscriptionGroups/{group}/subscriptions?limit=200"
        ))
        .await,
    );
    let sub = first_id(&subs);
    let locs = data(
        w.get(&format!(
            "/v1/subscriptions/{sub}/subscriptionLocalizations"
        ))
        .await,
    );
    let status = w.call("GET", "/crabapple/admin/status", None, None).await;
    let vendor = status.json()["team"]["vendorNumber"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let first_attr = |v: &Value, k: &str| {
        v[0]["attributes"][k]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let bundle = first_attr(&data(w.get("/v1/bundleIds?limit=1").await), "identifier");
    let udid = first_attr(&data(w.get("/v1/devices?limit=1").await), "udid");
    let email = first_attr(&data(w.get("/v1/users?limit=1").await), "username");
    let f = BTreeMap::from([
        ("app", app),
        ("bundleIdentifier", bundle),
        ("udid", udid),
        ("userEmail", email),
        ("group", group),
        ("groupSubs", subs.as_array().map_or(0, Vec::len).to_string()),
        (
            "productId",
            subs[0]["attributes"]["productId"]
                .as_str()
                .unwrap_or_default()
                .into(),
        ),
        ("sub", sub),
        (
            "subLocale",
            locs[0]["attributes"]["locale"]
                .as_str()
                .unwrap_or_default()
                .into(),
        ),
        ("vendor", vendor),
        ("name256", "n".repeat(256)),
    ]);
    for (k, v) in &f {
        assert!(!v.is_empty() && v != "0", "the demo world has no {k}");
    }
    f
}

fn fill(template: &str, f: &BTreeMap<&'static str, String>) -> String {
    f.iter().fold(template.to_string(), |s, (k, v)| {
        s.replace(&format!("{{{k}}}"), v)
    })
}

#[tokio::test]
async fn apple_rules_table() {
    let w = demo().await;
    let f = fixtures(&w).await;
    let (_, dev_token) = w.key_token(KeyKind::Team, &["DEVELOPER"]).await;
    let (_, individual_token) = w.key_token(KeyKind::Individual, &["ADMIN"]).await;

    let mut failures = Vec::new();
    let mut proven = Vec::new();
    for row in ROWS {
        let token = match row.key {
            Key::Admin => w.token.clone(),
            Key::Developer => dev_token.clone(),
            Key::Scoped(scope) => token_for(&w.dir, &w.key_id, Some(&w.issuer), &[scope.into()]),
            Key::Individual => individual_token.clone(),
            Key::Garbage => "not-a-token".into(),
        };
        let body = row
            .body
            .map(|b| serde_json::from_str::<Value>(&fill(b, &f)).unwrap());
        let r = w
            .call(row.method, &fill(row.uri, &f), Some(&token), body)
            .await;
        let name = format!("{} — {}", row.source, row.rule);
        let text = String::from_utf8_lossy(&r.body).to_string();
        let mut wrong = Vec::new();
        if r.status != row.status {
            wrong.push(format!("status {} (want {})", r.status, row.status));
        }
        if row.status >= 400 {
            let e = &r.json()["errors"][0];
            for (field, want) in [
                ("code", row.code.to_string()),
                ("title", row.title.to_string()),
                ("detail", fill(row.detail, &f)),
            ] {
                if e[field].as_str().unwrap_or_default() != want {
                    wrong.push(format!("{field} {:?} (want {want:?})", e[field]));
                }
            }
            let member = match row.source_member.split_once(':') {
                Some((k, v)) => serde_json::json!({ k: v }),
                None => Value::Null,
            };
            if e["source"] != member {
                wrong.push(format!("source {} (want {member})", e["source"]));
            }
            if r.header("x-crabapple-reason").is_none_or(|h| h.is_empty()) {
                wrong.push("no X-Crabapple-Reason".into());
            }
        }
        if wrong.is_empty() {
            if !row.op.is_empty() {
                proven.push(format!("{}\t{name}", row.op));
            }
        } else {
            failures.push(format!("{name}: {}\n    body: {text}", wrong.join("; ")));
        }
    }
    assert!(
        failures.is_empty(),
        "rules that do not hold:\n{}",
        failures.join("\n")
    );
    check_facts(
        "rules",
        &rules_header("crates/server/tests/rules.rs"),
        proven,
    );
}

/// Issue 7 §2: deleting a bundle ID takes its capabilities with it and leaves its profiles
/// `INVALID` (Apple's Developer portal: deleting an App ID invalidates its profiles); a refused
/// delete or create writes nothing.
#[tokio::test]
async fn deleting_a_bundle_id_invalidates_its_profiles_and_refusals_write_nothing() {
    let w = demo().await;
    let bundles = w
        .get("/v1/bundleIds?include=profiles,bundleIdCapabilities&limit=200")
        .await
        .json();
    let with_profiles = bundles["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| {
            b["relationships"]["profiles"]["data"]
                .as_array()
                .is_some_and(|a| !a.is_empty())
        })
        .expect("the demo world has a bundle ID with profiles")
        .clone();
    let id = with_profiles["id"].as_str().unwrap();
    let profiles: Vec<String> = with_profiles["relationships"]["profiles"]["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_string())
        .collect();
    let caps = w
        .get(&format!("/v1/bundleIds/{id}/bundleIdCapabilities"))
        .await
        .json();
    let r = w
        .call(
            "DELETE",
            &format!("/v1/bundleIds/{id}"),
            Some(&w.token.clone()),
            None,
        )
        .await;
    assert_eq!(r.status, 204, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(w.get(&format!("/v1/bundleIds/{id}")).await.status, 404);
    for p in &profiles {
        let p = w.get(&format!("/v1/profiles/{p}")).await.json();
        assert_eq!(p["data"]["attributes"]["profileState"], "INVALID", "{p}");
    }
    let caps = caps["data"].as_array().unwrap();
    assert!(!caps.is_empty(), "the bundle ID has capabilities to check");
    for c in caps {
        let c = c["id"].as_str().unwrap();
        // bundleIdCapabilities has no GET instance in the API: ask the admin API.
        let r = w
            .call(
                "GET",
                &format!("/crabapple/admin/resources/bundleIdCapabilities/{c}"),
                None,
                None,
            )
            .await;
        assert_eq!(r.status, 404, "capability {c} outlived its bundle ID");
    }

    // A refused delete leaves the group and its subscriptions as they were.
    let f = fixtures(&w).await;
    let before = w
        .get(&format!(
            "/v1/subscriptionGroups/{}/subscriptions?limit=200",
            f["group"]
        ))
        .await
        .json();
    let r = w
        .call(
            "DELETE",
            &format!("/v1/subscriptionGroups/{}", f["group"]),
            Some(&w.token.clone()),
            None,
        )
        .await;
    assert_eq!(r.status, 409);
    let after = w
        .get(&format!(
            "/v1/subscriptionGroups/{}/subscriptions?limit=200",
            f["group"]
        ))
        .await
        .json();
    assert_eq!(before["data"], after["data"]);
}
