//! Which roles may call what (§1.2, §1.7). The whole policy is [`ROLE_MATRIX`]; the
//! decision is [`check_role`]:
//!
//! - every resource name in the path template counts (`/v1/apps/{id}/analyticsReportRequests`
//!   is checked as `apps` and as `analyticsReportRequests`; `{…}` ids, the version and
//!   `relationships` are skipped; a singular relationship name like `build` counts as
//!   `builds`);
//! - each name takes the first matching row; GET/HEAD use the row's `read`, any other
//!   method its `write`; individual keys are refused by rows with `individual_keys: false`;
//! - the key passes when it holds one of the allowed roles for every name.
//!
//! Team keys can access all apps regardless of role (§1.2); which app an individual
//! key's user may see is the server's business, not this matrix's.

use crate::{AuthError, KeyKind, Principal};

/// Which resource names a row covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Match {
    /// Exactly this name (or its singular, `build` for `builds`).
    Name(&'static str),
    /// Any name starting with this, e.g. `ci` for `ciProducts`, `ciBuildRuns`.
    Prefix(&'static str),
    /// Any name ending with this, e.g. `Localizations`.
    Suffix(&'static str),
    /// Every name (the last, default row).
    Any,
}

impl Match {
    fn covers(self, name: &str) -> bool {
        match self {
            Match::Name(n) => {
                n == name || (n.len() == name.len() + 1 && n.starts_with(name) && n.ends_with('s'))
            }
            Match::Prefix(p) => name.starts_with(p),
            Match::Suffix(s) => name.ends_with(s),
            Match::Any => true,
        }
    }
}

/// Which roles a row allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Allow {
    AnyRole,
    OneOf(&'static [&'static str]),
}

impl Allow {
    fn permits(self, roles: &[String]) -> bool {
        match self {
            Allow::AnyRole => true,
            Allow::OneOf(allowed) => roles.iter().any(|r| allowed.contains(&r.as_str())),
        }
    }
}

/// One row of the role matrix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RoleRule {
    /// Words for reasons, e.g. "provisioning".
    pub family: &'static str,
    pub resources: &'static [Match],
    /// `false`: individual API keys may not touch these at all (§1.2).
    pub individual_keys: bool,
    /// GET / HEAD.
    pub read: Allow,
    /// POST / PATCH / PUT / DELETE.
    pub write: Allow,
    pub source: &'static str,
}

const MANAGERS: Allow = Allow::OneOf(&["ADMIN", "ACCOUNT_HOLDER", "APP_MANAGER"]);
const DEVELOPERS: Allow = Allow::OneOf(&["ADMIN", "ACCOUNT_HOLDER", "APP_MANAGER", "DEVELOPER"]);

/// The role matrix; first matching row wins for each resource name (order matters:
/// `betaAppLocalizations` is TestFlight, not marketing; `subscriptionPrices` is pricing).
pub static ROLE_MATRIX: &[RoleRule] = &[
    RoleRule {
        family: "provisioning",
        resources: &[
            Match::Name("bundleIds"),
            Match::Name("bundleIdCapabilities"),
            Match::Name("certificates"),
            Match::Name("devices"),
            Match::Name("profiles"),
            Match::Name("merchantIds"),
            Match::Name("passTypeIds"),
        ],
        individual_keys: false,
        read: Allow::AnyRole,
        write: DEVELOPERS,
        source: "§1.2: individual keys aren't able to use Provisioning endpoints; writes kept simple: Admin, Account Holder, App Manager, Developer",
    },
    RoleRule {
        family: "Sales and Trends reports",
        resources: &[Match::Name("salesReports")],
        individual_keys: false,
        read: Allow::OneOf(&[
            "ADMIN",
            "ACCOUNT_HOLDER",
            "FINANCE",
            "SALES",
            "ACCESS_TO_REPORTS",
        ]),
        write: Allow::OneOf(&["ADMIN", "ACCOUNT_HOLDER"]),
        source: "§1.2: individual keys can't access Sales and Finance; §1.7: Sales and Reports can read sales reports (ACCESS_TO_REPORTS is its deprecated name)",
    },
    RoleRule {
        family: "finance reports",
        resources: &[Match::Name("financeReports")],
        individual_keys: false,
        read: Allow::OneOf(&["ADMIN", "ACCOUNT_HOLDER", "FINANCE"]),
        write: Allow::OneOf(&["ADMIN", "ACCOUNT_HOLDER"]),
        source: "§1.2: individual keys can't access Sales and Finance; §1.7: finance reports are Account Holder, Admin, Finance",
    },
    RoleRule {
        family: "analytics reports",
        resources: &[Match::Prefix("analyticsReport")],
        individual_keys: true,
        read: Allow::OneOf(&["ADMIN", "FINANCE", "SALES"]),
        write: Allow::OneOf(&["ADMIN"]),
        source: "§1.7 analytics doc: only Admin can request (POST) and delete report requests; Admin, Finance, Sales and Reports can read",
    },
    RoleRule {
        family: "users and invitations",
        resources: &[Match::Name("users"), Match::Name("userInvitations")],
        individual_keys: true,
        read: Allow::AnyRole,
        write: Allow::OneOf(&["ADMIN", "ACCOUNT_HOLDER"]),
        source: "§1.7: Users and Access changes are for Admin (and the Account Holder)",
    },
    RoleRule {
        family: "customer reviews and responses",
        resources: &[
            Match::Name("customerReviews"),
            Match::Name("customerReviewResponses"),
        ],
        individual_keys: true,
        read: Allow::AnyRole,
        write: Allow::OneOf(&["ADMIN", "ACCOUNT_HOLDER", "APP_MANAGER", "CUSTOMER_SUPPORT"]),
        source: "§1.7: Customer Support reads reviews and writes responses",
    },
    RoleRule {
        family: "TestFlight",
        resources: &[
            Match::Prefix("beta"),
            Match::Name("builds"),
            Match::Name("buildBetaDetails"),
            Match::Name("buildBetaNotifications"),
            Match::Name("buildBundles"),
            Match::Name("preReleaseVersions"),
            Match::Name("appEncryptionDeclarations"),
        ],
        individual_keys: true,
        read: Allow::AnyRole,
        write: DEVELOPERS,
        source: "§1.7 [DEV]: Developer keys manage internal TestFlight (external-group creation 403s, which needs the body, so the server's rule)",
    },
    RoleRule {
        family: "Xcode Cloud",
        resources: &[Match::Prefix("ci"), Match::Prefix("scm")],
        individual_keys: true,
        read: Allow::AnyRole,
        write: DEVELOPERS,
        source: "§1.7 [DEV]: Developer keys can manage Xcode Cloud",
    },
    RoleRule {
        family: "pricing and availability",
        resources: &[
            Match::Name("appPriceSchedules"),
            Match::Name("appPricePoints"),
            Match::Name("appPrices"),
            Match::Name("manualPrices"),
            Match::Name("automaticPrices"),
            Match::Name("prices"),
            Match::Name("pricePoints"),
            Match::Name("subscriptionPrices"),
            Match::Name("subscriptionPricePoints"),
            Match::Name("inAppPurchasePriceSchedules"),
            Match::Name("inAppPurchasePricePoints"),
            Match::Name("appAvailabilities"),
            Match::Name("appAvailabilityV2"),
            Match::Name("territoryAvailabilities"),
            Match::Name("subscriptionAvailabilities"),
            Match::Name("inAppPurchaseAvailabilities"),
        ],
        individual_keys: true,
        read: Allow::AnyRole,
        write: MANAGERS,
        source: "§1.7: subscription pricing \"Required role: Account Holder, Admin, or App Manager\" (applied to all pricing)",
    },
    RoleRule {
        family: "localizations, screenshots and previews",
        resources: &[
            Match::Suffix("Localizations"),
            Match::Name("appScreenshots"),
            Match::Name("appScreenshotSets"),
            Match::Name("appPreviews"),
            Match::Name("appPreviewSets"),
        ],
        individual_keys: true,
        read: Allow::AnyRole,
        write: Allow::OneOf(&["ADMIN", "ACCOUNT_HOLDER", "APP_MANAGER", "MARKETING"]),
        source: "§1.7: Marketing may edit localized metadata, screenshots and previews",
    },
    RoleRule {
        family: "in-app purchases and subscriptions",
        resources: &[
            Match::Prefix("inAppPurchase"),
            Match::Prefix("subscription"),
            Match::Name("promotedPurchases"),
            Match::Name("winBackOffers"),
        ],
        individual_keys: true,
        read: Allow::AnyRole,
        write: MANAGERS,
        source: "§1.7: app metadata and IAP writes are Account Holder, Admin, App Manager",
    },
    RoleRule {
        family: "app metadata",
        resources: &[
            Match::Name("apps"),
            Match::Name("appInfos"),
            Match::Name("appStoreVersions"),
            Match::Name("appStoreReviewDetails"),
            Match::Name("appStoreVersionSubmissions"),
            Match::Name("appStoreVersionPhasedReleases"),
            Match::Name("appStoreVersionExperiments"),
            Match::Name("reviewSubmissions"),
            Match::Name("reviewSubmissionItems"),
            Match::Name("ageRatingDeclarations"),
            Match::Name("appCustomProductPages"),
            Match::Name("appEvents"),
            Match::Name("endUserLicenseAgreements"),
            Match::Name("routingAppCoverages"),
        ],
        individual_keys: true,
        read: Allow::AnyRole,
        write: MANAGERS,
        source: "§1.5/§1.7 [DEV]: metadata writes by Developer keys → 403 \"The API key in use does not allow this request\"",
    },
    RoleRule {
        family: "other resources",
        resources: &[Match::Any],
        individual_keys: true,
        read: Allow::AnyRole,
        write: MANAGERS,
        source: "default: GETs for any role; writes for Account Holder, Admin, App Manager",
    },
];

fn rule_for(name: &str) -> &'static RoleRule {
    ROLE_MATRIX
        .iter()
        .find(|r| r.resources.iter().any(|m| m.covers(name)))
        .unwrap_or(&ROLE_MATRIX[ROLE_MATRIX.len() - 1])
}

/// Resource names in a path template: `/v1/apps/{id}/relationships/builds` → apps, builds.
fn resource_names(path_template: &str) -> impl Iterator<Item = &str> {
    path_template.split('/').filter(|seg| {
        let is_version =
            seg.len() >= 2 && seg.starts_with('v') && seg[1..].bytes().all(|b| b.is_ascii_digit());
        !is_version
            && *seg != "relationships"
            && seg.starts_with(|c: char| c.is_ascii_lowercase())
            && seg.bytes().all(|b| b.is_ascii_alphanumeric())
    })
}

/// May this principal call `method path_template` (e.g. `"/v1/apps/{id}/builds"`)?
/// `Err` → 403 `FORBIDDEN_ERROR`; the reason names the role(s) that would be needed.
pub fn check_role(
    principal: &Principal,
    method: &str,
    path_template: &str,
) -> Result<(), AuthError> {
    let key = &principal.key;
    let write = !(method.eq_ignore_ascii_case("GET") || method.eq_ignore_ascii_case("HEAD"));
    for name in resource_names(path_template) {
        let rule = rule_for(name);
        if key.kind == KeyKind::Individual && !rule.individual_keys {
            return Err(AuthError::new(format!(
                "individual API keys can't use {} endpoints ({name}); use a team API key ({})",
                rule.family, rule.source
            )));
        }
        let allow = if write { rule.write } else { rule.read };
        if let Allow::OneOf(needed) = allow
            && !allow.permits(&key.roles)
        {
            let held = if key.roles.is_empty() {
                "no roles".to_owned()
            } else {
                key.roles.join(", ")
            };
            return Err(AuthError::new(format!(
                "key {} ({held}) may not {method} {name} ({}); needs one of: {} ({})",
                key.key_id,
                rule.family,
                needed.join(", "),
                rule.source
            )));
        }
    }
    Ok(())
}

/// Roles that may create external TestFlight groups (§1.7 [DEV]: a Developer key manages
/// internal TestFlight only).
const EXTERNAL_TESTFLIGHT: Allow = Allow::OneOf(&["ADMIN", "ACCOUNT_HOLDER", "APP_MANAGER"]);

/// The operations whose role rules read the request body (only their bodies are parsed for it).
pub const BODY_RULE_OPERATIONS: &[&str] = &["betaGroups_createInstance"];

/// Role rules that depend on the request body, checked once the body is read. §1.7 [DEV]:
/// a Developer key may create internal beta groups, but creating an external group (one that
/// is not `isInternalGroup: true`, e.g. with `publicLinkEnabled`) is refused with 403.
pub fn check_role_with_body(
    principal: &Principal,
    operation_id: &str,
    body: &serde_json::Value,
) -> Result<(), AuthError> {
    if !BODY_RULE_OPERATIONS.contains(&operation_id) {
        return Ok(());
    }
    let internal =
        body.pointer("/data/attributes/isInternalGroup") == Some(&serde_json::Value::Bool(true));
    let key = &principal.key;
    if internal || EXTERNAL_TESTFLIGHT.permits(&key.roles) {
        return Ok(());
    }
    Err(AuthError::new(format!(
        "key {} ({}) may create internal beta groups only (isInternalGroup: true); an external group needs one of: ADMIN, ACCOUNT_HOLDER, APP_MANAGER (§1.7 [DEV])",
        key.key_id,
        key.roles.join(", ")
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ApiKey;

    fn principal(kind: KeyKind, roles: &[&str]) -> Principal {
        Principal {
            key: ApiKey {
                key_id: "2X9R4HXF34".into(),
                issuer_id: "57246542-96fe-1a63-e053-0824d011072a".into(),
                kind,
                roles: roles.iter().map(|r| (*r).to_owned()).collect(),
                user_id: (kind == KeyKind::Individual).then(|| "user-1".to_owned()),
                public_key_der: vec![],
                revoked: false,
                name: "test".into(),
            },
            claims: serde_json::Value::Null,
            exp: 0,
        }
    }

    fn allowed(kind: KeyKind, roles: &[&str], method: &str, path: &str) -> bool {
        check_role(&principal(kind, roles), method, path).is_ok()
    }

    const T: KeyKind = KeyKind::Team;
    const I: KeyKind = KeyKind::Individual;

    #[test]
    fn resource_names_skip_ids_versions_and_relationships() {
        let names: Vec<_> = resource_names("/v1/apps/{id}/relationships/betaTesters").collect();
        assert_eq!(names, ["apps", "betaTesters"]);
        let names: Vec<_> = resource_names("/v2/inAppPurchases/{id}").collect();
        assert_eq!(names, ["inAppPurchases"]);
    }

    #[test]
    fn s1_2_individual_keys_never_reach_provisioning_sales_finance() {
        for path in [
            "/v1/bundleIds",
            "/v1/certificates/{id}",
            "/v1/devices",
            "/v1/profiles/{id}/bundleId",
            "/v1/salesReports",
            "/v1/financeReports",
        ] {
            let err = check_role(&principal(I, &["ADMIN"]), "GET", path).unwrap_err();
            assert!(
                err.reason.contains("individual API keys"),
                "{path}: {}",
                err.reason
            );
        }
        assert!(allowed(T, &["ADMIN"], "GET", "/v1/bundleIds"));
        assert!(allowed(I, &["ADMIN"], "GET", "/v1/apps"));
    }

    #[test]
    fn s1_7_sales_and_finance_reports() {
        for role in [
            "ADMIN",
            "ACCOUNT_HOLDER",
            "FINANCE",
            "SALES",
            "ACCESS_TO_REPORTS",
        ] {
            assert!(allowed(T, &[role], "GET", "/v1/salesReports"), "{role}");
        }
        for role in ["DEVELOPER", "APP_MANAGER", "MARKETING", "CUSTOMER_SUPPORT"] {
            assert!(!allowed(T, &[role], "GET", "/v1/salesReports"), "{role}");
        }
        assert!(allowed(T, &["FINANCE"], "GET", "/v1/financeReports"));
        let err = check_role(&principal(T, &["SALES"]), "GET", "/v1/financeReports").unwrap_err();
        assert!(
            err.reason.contains("ADMIN, ACCOUNT_HOLDER, FINANCE"),
            "{}",
            err.reason
        );
    }

    #[test]
    fn s1_7_analytics_post_delete_admin_only_reads_admin_finance_sales() {
        assert!(allowed(
            T,
            &["ADMIN"],
            "POST",
            "/v1/analyticsReportRequests"
        ));
        assert!(allowed(
            T,
            &["ADMIN"],
            "DELETE",
            "/v1/analyticsReportRequests/{id}"
        ));
        for role in ["FINANCE", "SALES", "APP_MANAGER", "DEVELOPER"] {
            let err = check_role(
                &principal(T, &[role]),
                "POST",
                "/v1/analyticsReportRequests",
            )
            .unwrap_err();
            assert!(
                err.reason.contains("needs one of: ADMIN ("),
                "{}",
                err.reason
            );
        }
        for role in ["ADMIN", "FINANCE", "SALES"] {
            assert!(allowed(
                T,
                &[role],
                "GET",
                "/v1/analyticsReportRequests/{id}/reports"
            ));
            assert!(allowed(
                T,
                &[role],
                "GET",
                "/v1/analyticsReportSegments/{id}"
            ));
            assert!(allowed(
                T,
                &[role],
                "GET",
                "/v1/apps/{id}/analyticsReportRequests"
            ));
        }
        assert!(!allowed(
            T,
            &["DEVELOPER"],
            "GET",
            "/v1/apps/{id}/analyticsReportRequests"
        ));
        assert!(!allowed(
            T,
            &["APP_MANAGER"],
            "GET",
            "/v1/analyticsReports/{id}/instances"
        ));
    }

    #[test]
    fn s1_7_users_writes_admin_only() {
        assert!(allowed(T, &["ADMIN"], "POST", "/v1/userInvitations"));
        assert!(allowed(T, &["ACCOUNT_HOLDER"], "PATCH", "/v1/users/{id}"));
        assert!(!allowed(T, &["APP_MANAGER"], "DELETE", "/v1/users/{id}"));
        assert!(!allowed(
            T,
            &["DEVELOPER"],
            "POST",
            "/v1/users/{id}/relationships/visibleApps"
        ));
        assert!(allowed(T, &["DEVELOPER"], "GET", "/v1/users"));
    }

    #[test]
    fn s1_7_developer_writes_testflight_xcode_cloud_provisioning_not_metadata() {
        let dev = &["DEVELOPER"];
        assert!(allowed(T, dev, "POST", "/v1/betaGroups"));
        assert!(allowed(
            T,
            dev,
            "POST",
            "/v1/betaGroups/{id}/relationships/builds"
        ));
        assert!(allowed(T, dev, "PATCH", "/v1/builds/{id}"));
        assert!(allowed(T, dev, "POST", "/v1/ciBuildRuns"));
        assert!(allowed(T, dev, "POST", "/v1/devices"));
        assert!(allowed(T, dev, "POST", "/v1/betaAppLocalizations"));
        assert!(!allowed(T, dev, "PATCH", "/v1/apps/{id}"));
        assert!(!allowed(T, dev, "POST", "/v1/appStoreVersionLocalizations"));
        assert!(!allowed(T, dev, "POST", "/v1/subscriptionPrices"));
        // Reads: everything but sales, finance, analytics.
        assert!(allowed(T, dev, "GET", "/v1/apps/{id}/customerReviews"));
        assert!(allowed(T, dev, "GET", "/v1/subscriptions/{id}/prices"));
    }

    #[test]
    fn s1_7_marketing_writes_localizations_and_screenshots_only() {
        let mk = &["MARKETING"];
        assert!(allowed(
            T,
            mk,
            "PATCH",
            "/v1/appStoreVersionLocalizations/{id}"
        ));
        assert!(allowed(T, mk, "POST", "/v1/appScreenshotSets"));
        assert!(allowed(T, mk, "POST", "/v1/subscriptionLocalizations"));
        assert!(!allowed(T, mk, "PATCH", "/v1/appStoreVersions/{id}"));
        assert!(!allowed(T, mk, "POST", "/v1/inAppPurchases"));
    }

    #[test]
    fn s1_7_pricing_writes_need_account_holder_admin_or_app_manager() {
        for role in ["ADMIN", "ACCOUNT_HOLDER", "APP_MANAGER"] {
            assert!(
                allowed(T, &[role], "POST", "/v1/subscriptionPrices"),
                "{role}"
            );
            assert!(
                allowed(T, &[role], "POST", "/v1/inAppPurchasePriceSchedules"),
                "{role}"
            );
        }
        for role in ["MARKETING", "DEVELOPER", "FINANCE", "SALES"] {
            let err =
                check_role(&principal(T, &[role]), "POST", "/v1/subscriptionPrices").unwrap_err();
            assert!(
                err.reason.contains("ADMIN, ACCOUNT_HOLDER, APP_MANAGER"),
                "{}",
                err.reason
            );
        }
    }

    #[test]
    fn s1_7_customer_support_reads_reviews_writes_responses() {
        let cs = &["CUSTOMER_SUPPORT"];
        assert!(allowed(T, cs, "GET", "/v1/apps/{id}/customerReviews"));
        assert!(allowed(T, cs, "POST", "/v1/customerReviewResponses"));
        assert!(allowed(T, cs, "DELETE", "/v1/customerReviewResponses/{id}"));
        assert!(!allowed(T, cs, "PATCH", "/v1/apps/{id}"));
        assert!(!allowed(T, cs, "POST", "/v1/betaGroups"));
        assert!(!allowed(
            T,
            &["DEVELOPER"],
            "POST",
            "/v1/customerReviewResponses"
        ));
    }

    #[test]
    fn s1_7_finance_and_sales_are_read_only_on_apps() {
        for role in ["FINANCE", "SALES"] {
            assert!(allowed(T, &[role], "GET", "/v1/apps"));
            assert!(allowed(T, &[role], "GET", "/v1/apps/{id}/builds"));
            assert!(!allowed(T, &[role], "PATCH", "/v1/apps/{id}"));
            assert!(!allowed(T, &[role], "POST", "/v1/betaTesters"));
        }
    }

    #[test]
    fn any_role_may_get_everything_else_and_multiple_roles_union() {
        assert!(allowed(T, &[], "GET", "/v1/apps/{id}/perfPowerMetrics"));
        assert!(allowed(
            T,
            &["MARKETING"],
            "GET",
            "/v1/gameCenterDetails/{id}"
        ));
        assert!(!allowed(T, &["MARKETING"], "POST", "/v1/gameCenterDetails"));
        assert!(allowed(
            T,
            &["DEVELOPER", "APP_MANAGER"],
            "PATCH",
            "/v1/apps/{id}"
        ));
        let err = check_role(&principal(T, &[]), "PATCH", "/v1/apps/{id}").unwrap_err();
        assert!(err.reason.contains("no roles"), "{}", err.reason);
    }

    #[test]
    fn singular_relationship_names_count_as_their_resource() {
        // PATCH /v1/appStoreVersions/{id}/relationships/build → appStoreVersions + builds.
        assert!(!allowed(
            T,
            &["DEVELOPER"],
            "PATCH",
            "/v1/appStoreVersions/{id}/relationships/build"
        ));
        assert!(!allowed(I, &["ADMIN"], "GET", "/v1/profiles/{id}/bundleId"));
    }
}
