//! Ids in Apple's formats: numeric Apple IDs for apps and products, 10-character identifiers for
//! provisioning resources, UUIDs elsewhere (apple-semantics.md §2.1 example ids; Apple's docs).

use crabapple_jsonapi::Family;
use rand::Rng;

pub struct AppleIds;

/// Types whose ids are numeric Apple IDs (e.g. app `1476097583`).
const NUMERIC: &[&str] = &[
    "apps",
    "inAppPurchases",
    "subscriptions",
    "subscriptionGroups",
    "gameCenterDetails",
];

/// Types whose ids are 10-character upper-case identifiers (e.g. bundle id `X2S4Q7N8J9`).
const TEN_CHAR: &[&str] = &[
    "bundleIds",
    "certificates",
    "profiles",
    "devices",
    "passTypeIds",
    "merchantIds",
];

pub fn numeric_id() -> String {
    let mut rng = rand::rng();
    format!("{}", rng.random_range(1_000_000_000u64..7_000_000_000))
}

pub fn ten_char_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ0123456789";
    let mut rng = rand::rng();
    (0..10)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

impl Family for AppleIds {
    fn name(&self) -> &'static str {
        "ids"
    }

    fn new_id(&self, rtype: &str) -> Option<String> {
        if NUMERIC.contains(&rtype) {
            Some(numeric_id())
        } else if TEN_CHAR.contains(&rtype) {
            Some(ten_char_id())
        } else {
            None
        }
    }
}
