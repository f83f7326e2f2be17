//! The `software5.x` package schema (Apple's App Metadata Specification for Transporter
//! packages) written as data: for each element its attributes, its children (in order, or in any
//! order where Apple's schema interleaves them) and the type of its text.
//!
//! The layout follows what Apple's validator answered in forum post 11: under `package`, after
//! `software_assets` only `metadata_token` may follow; `software_metadata` belongs inside
//! `software` and holds `game_center`, `in_app_purchases`, `products`, `read_only_info` and
//! `versions`; `software` needs `software_assets` or `software_metadata`; `read_only_info` holds
//! `read_only_value` elements (`key` attribute), not `bundle_id`/`app_version`; `data_file` needs
//! `checksum` and `size` besides `file_name`, in any order.

/// How many times a slot of a content model may occur.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Occurs {
    /// `?`
    Optional,
    /// exactly once
    One,
    /// `*`
    ZeroOrMore,
    /// `+`
    OneOrMore,
}

impl Occurs {
    pub fn min(self) -> usize {
        match self {
            Occurs::One | Occurs::OneOrMore => 1,
            Occurs::Optional | Occurs::ZeroOrMore => 0,
        }
    }
    pub fn max(self) -> usize {
        match self {
            Occurs::One | Occurs::Optional => 1,
            Occurs::ZeroOrMore | Occurs::OneOrMore => usize::MAX,
        }
    }
}

/// One place in a content model: one of `choices` (ids of element definitions).
pub struct Slot {
    pub choices: &'static [&'static str],
    pub occurs: Occurs,
}

/// What an element's character content must be.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Text {
    /// Element-only content: non-blank text is an error.
    None,
    /// Any string.
    Any,
    /// `xsd:nonNegativeInteger`.
    Integer,
    /// `true` or `false`.
    Boolean,
}

/// An attribute: its name, whether it is required, and its allowed values (empty: any; one
/// entry starting with `^`: a pattern checked by [`value_matches`]).
pub struct Attr {
    pub name: &'static str,
    pub required: bool,
    pub values: &'static [&'static str],
}

/// One element definition. `id` is unique; `name` is the element's name (several definitions
/// may share a name when the same name means different things in different places).
pub struct Element {
    pub id: &'static str,
    pub name: &'static str,
    pub attrs: &'static [Attr],
    pub children: &'static [Slot],
    /// Children in any order (RELAX NG `interleave`) instead of in the slots' order.
    pub interleave: bool,
    pub text: Text,
    /// No checks below this element (content Apple's schema leaves open).
    pub open: bool,
}

/// Apple's importer namespace, which every element of `metadata.xml` is in.
pub const NAMESPACE: &str = "http://apple.com/itunes/importer";

/// The id of the document element's definition.
pub const ROOT: &str = "package";

const fn slot(choices: &'static [&'static str], occurs: Occurs) -> Slot {
    Slot { choices, occurs }
}

const fn req(name: &'static str) -> Attr {
    Attr {
        name,
        required: true,
        values: &[],
    }
}

const fn opt(name: &'static str) -> Attr {
    Attr {
        name,
        required: false,
        values: &[],
    }
}

const fn text(id: &'static str, name: &'static str, text: Text) -> Element {
    Element {
        id,
        name,
        attrs: &[],
        children: &[],
        interleave: false,
        text,
        open: false,
    }
}

const fn parent(id: &'static str, attrs: &'static [Attr], children: &'static [Slot]) -> Element {
    Element {
        id,
        name: id,
        attrs,
        children,
        interleave: false,
        text: Text::None,
        open: false,
    }
}

use Occurs::{One, OneOrMore, Optional, ZeroOrMore};

/// A file the package carries: name, size in bytes and md5 checksum, in any order.
const FILE_REFERENCE: &[Slot] = &[
    slot(&["file_name"], One),
    slot(&["size"], One),
    slot(&["checksum"], One),
];

const PLATFORMS: &[&str] = &["appletvos", "ios", "osx", "xros"];

/// The schema's element definitions.
pub static ELEMENTS: &[Element] = &[
    parent(
        "package",
        &[Attr {
            name: "version",
            required: true,
            values: &["^software5."],
        }],
        &[
            slot(&["provider"], Optional),
            slot(&["team_id"], Optional),
            slot(&["software", "software_assets"], One),
            slot(&["metadata_token"], Optional),
        ],
    ),
    text("provider", "provider", Text::Any),
    text("team_id", "team_id", Text::Any),
    text("metadata_token", "metadata_token", Text::Any),
    parent(
        "software_assets",
        &[
            opt("apple_id"),
            Attr {
                name: "app_platform",
                required: false,
                values: PLATFORMS,
            },
            opt("bundle_identifier"),
            opt("bundle_short_version_string"),
            opt("bundle_version"),
            opt("device_id"),
            opt("primary_bundle_identifier"),
        ],
        &[slot(&["asset"], OneOrMore)],
    ),
    parent(
        "asset",
        &[Attr {
            name: "type",
            required: true,
            values: &[
                "bundle",
                "developer-id-package",
                "in-app-purchase-content",
                "product-archive",
            ],
        }],
        &[slot(&["data_file"], OneOrMore)],
    ),
    Element {
        interleave: true,
        ..parent("data_file", &[opt("role")], FILE_REFERENCE)
    },
    text("file_name", "file_name", Text::Any),
    text("size", "size", Text::Integer),
    Element {
        attrs: &[Attr {
            name: "type",
            required: true,
            values: &["md5"],
        }],
        ..text("checksum", "checksum", Text::Any)
    },
    parent(
        "software",
        &[],
        &[
            slot(&["vendor_id"], One),
            slot(&["read_only_info"], Optional),
            slot(&["software_assets", "software_metadata"], One),
        ],
    ),
    text("vendor_id", "vendor_id", Text::Any),
    parent(
        "read_only_info",
        &[],
        &[slot(&["read_only_value"], OneOrMore)],
    ),
    Element {
        attrs: &[req("key")],
        ..text("read_only_value", "read_only_value", Text::Any)
    },
    parent(
        "software_metadata",
        &[Attr {
            name: "app_platform",
            required: false,
            values: PLATFORMS,
        }],
        &[
            slot(&["read_only_info"], Optional),
            slot(&["versions"], Optional),
            slot(&["products"], Optional),
            slot(&["in_app_purchases"], Optional),
            slot(&["game_center"], Optional),
        ],
    ),
    parent("versions", &[], &[slot(&["version"], OneOrMore)]),
    parent("version", &[req("string")], &[slot(&["locales"], Optional)]),
    parent("locales", &[], &[slot(&["locale"], OneOrMore)]),
    parent(
        "locale",
        &[req("name")],
        &[
            slot(&["title"], Optional),
            slot(&["subtitle"], Optional),
            slot(&["description"], Optional),
            slot(&["keywords"], Optional),
            slot(&["version_whats_new"], Optional),
            slot(&["promotional_text"], Optional),
            slot(&["software_url"], Optional),
            slot(&["privacy_url"], Optional),
            slot(&["support_url"], Optional),
            slot(&["software_screenshots"], Optional),
        ],
    ),
    text("title", "title", Text::Any),
    text("subtitle", "subtitle", Text::Any),
    text("description", "description", Text::Any),
    parent("keywords", &[], &[slot(&["keyword"], ZeroOrMore)]),
    text("keyword", "keyword", Text::Any),
    text("version_whats_new", "version_whats_new", Text::Any),
    text("promotional_text", "promotional_text", Text::Any),
    text("software_url", "software_url", Text::Any),
    text("privacy_url", "privacy_url", Text::Any),
    text("support_url", "support_url", Text::Any),
    parent(
        "software_screenshots",
        &[],
        &[slot(&["software_screenshot"], ZeroOrMore)],
    ),
    Element {
        interleave: true,
        ..parent(
            "software_screenshot",
            &[req("display_target"), req("position")],
            FILE_REFERENCE,
        )
    },
    parent("products", &[], &[slot(&["product"], OneOrMore)]),
    parent(
        "product",
        &[],
        &[
            slot(&["territory"], Optional),
            slot(&["cleared_for_sale"], Optional),
            slot(&["wholesale_price_tier"], Optional),
        ],
    ),
    text("territory", "territory", Text::Any),
    text("cleared_for_sale", "cleared_for_sale", Text::Boolean),
    text(
        "wholesale_price_tier",
        "wholesale_price_tier",
        Text::Integer,
    ),
    parent(
        "in_app_purchases",
        &[],
        &[slot(&["in_app_purchase"], OneOrMore)],
    ),
    parent(
        "in_app_purchase",
        &[],
        &[
            slot(&["product_id"], One),
            slot(&["reference_name"], One),
            slot(&["type"], One),
            slot(&["products"], Optional),
            slot(&["iap_locales"], Optional),
            slot(&["review_screenshot"], Optional),
            slot(&["review_notes"], Optional),
        ],
    ),
    text("product_id", "product_id", Text::Any),
    text("reference_name", "reference_name", Text::Any),
    text("type", "type", Text::Any),
    Element {
        name: "locales",
        ..parent("iap_locales", &[], &[slot(&["iap_locale"], OneOrMore)])
    },
    Element {
        name: "locale",
        ..parent(
            "iap_locale",
            &[req("name")],
            &[slot(&["title"], One), slot(&["description"], One)],
        )
    },
    Element {
        interleave: true,
        ..parent("review_screenshot", &[], FILE_REFERENCE)
    },
    text("review_notes", "review_notes", Text::Any),
    Element {
        open: true,
        ..parent("game_center", &[], &[])
    },
];

/// The definition with this id.
pub fn by_id(id: &str) -> Option<&'static Element> {
    ELEMENTS.iter().find(|e| e.id == id)
}

/// The first definition of an element with this name anywhere in the schema (how the validator
/// recovers inside an element that is not allowed where it stands).
pub fn by_name(name: &str) -> Option<&'static Element> {
    ELEMENTS.iter().find(|e| e.name == name)
}

/// The element name a definition id stands for.
pub fn name_of(id: &str) -> &'static str {
    by_id(id).map_or("", |e| e.name)
}

/// Whether `value` is allowed by an attribute's `values` (empty: anything; `^prefix`: starts
/// with the prefix and continues with digits only).
pub fn value_matches(values: &[&str], value: &str) -> bool {
    match values {
        [] => true,
        [p] if p.starts_with('^') => value
            .strip_prefix(&p[1..])
            .is_some_and(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit())),
        _ => values.contains(&value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_child_refers_to_a_definition_and_ids_are_unique() {
        for e in ELEMENTS {
            assert_eq!(
                ELEMENTS.iter().filter(|o| o.id == e.id).count(),
                1,
                "{}",
                e.id
            );
            for s in e.children {
                for c in s.choices {
                    assert!(by_id(c).is_some(), "{} -> {c}", e.id);
                }
            }
        }
    }

    #[test]
    fn package_version_is_software5_dot_a_number() {
        let v = &["^software5."];
        assert!(value_matches(v, "software5.10"));
        assert!(!value_matches(v, "software5."));
        assert!(!value_matches(v, "software4.1"));
    }
}
