//! Verified-token cache. Clients reuse one token for up to 20 minutes (clients §3.1)
//! and an ES256 verify costs ~50 µs (rust-stack §2), so a token whose signature has
//! been checked once is remembered until its `exp`. A hit skips only the signature and
//! the JSON decoding: the key is looked up again (revocation, kind, same public key)
//! and every claim rule and the request's scope are checked again against `now`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::jws::Claims;

/// Default bound on remembered tokens.
pub const DEFAULT_CACHE_CAPACITY: usize = 4096;

/// Which API a token was verified for; a hit for the other API is treated as a miss.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Api {
    Asc,
    Storekit,
}

#[derive(Debug)]
pub(crate) struct CachedToken {
    pub api: Api,
    pub kid: String,
    pub public_key_der: Vec<u8>,
    pub claims: Arc<Claims>,
    pub exp: i64,
}

/// Token string → verified payload, bounded; see the module docs. Thread-safe.
#[derive(Debug)]
pub struct TokenCache {
    capacity: usize,
    map: Mutex<HashMap<String, Arc<CachedToken>>>,
}

impl Default for TokenCache {
    fn default() -> Self {
        TokenCache::new(DEFAULT_CACHE_CAPACITY)
    }
}

impl TokenCache {
    /// A cache holding at most `capacity` tokens (0 disables caching).
    pub fn new(capacity: usize) -> Self {
        TokenCache {
            capacity,
            map: Mutex::new(HashMap::new()),
        }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    pub fn clear(&self) {
        self.lock().clear();
    }

    /// Forget tokens whose `exp` has passed.
    pub fn evict_expired(&self, now_secs: i64) {
        self.lock().retain(|_, t| t.exp > now_secs);
    }

    pub(crate) fn get(&self, token: &str) -> Option<Arc<CachedToken>> {
        self.lock().get(token).cloned()
    }

    pub(crate) fn insert(&self, token: &str, entry: CachedToken, now_secs: i64) {
        if self.capacity == 0 {
            return;
        }
        let mut map = self.lock();
        if map.len() >= self.capacity && !map.contains_key(token) {
            map.retain(|_, t| t.exp > now_secs);
            if map.len() >= self.capacity {
                // Still full of live tokens: drop the quarter that expires soonest.
                let mut by_exp: Vec<(i64, String)> =
                    map.iter().map(|(k, t)| (t.exp, k.clone())).collect();
                by_exp.sort_unstable();
                let drop = (self.capacity / 4).max(1);
                for (_, k) in by_exp.into_iter().take(drop) {
                    map.remove(&k);
                }
            }
        }
        map.insert(token.to_owned(), Arc::new(entry));
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Arc<CachedToken>>> {
        // The map is always left consistent, so a poisoned lock is still usable.
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(exp: i64) -> CachedToken {
        CachedToken {
            api: Api::Asc,
            kid: "K".into(),
            public_key_der: vec![],
            claims: Arc::new(Claims::new()),
            exp,
        }
    }

    #[test]
    fn cache_is_bounded_and_drops_expired_first() {
        let c = TokenCache::new(4);
        c.insert("a", entry(10), 0);
        c.insert("b", entry(1000), 0);
        c.insert("c", entry(1000), 0);
        c.insert("d", entry(1000), 0);
        // Full; at now=20 "a" has expired and makes room.
        c.insert("e", entry(1000), 20);
        assert_eq!(c.len(), 4);
        assert!(c.get("a").is_none());
        assert!(c.get("e").is_some());
        // Full of live tokens: the soonest-expiring quarter (1 token) goes.
        c.insert("f", entry(2000), 20);
        assert_eq!(c.len(), 4);
        assert!(c.get("f").is_some());
    }

    #[test]
    fn zero_capacity_disables_cache() {
        let c = TokenCache::new(0);
        c.insert("a", entry(10), 0);
        assert!(c.is_empty());
    }

    #[test]
    fn evict_expired_removes_past_tokens() {
        let c = TokenCache::new(8);
        c.insert("a", entry(10), 0);
        c.insert("b", entry(30), 0);
        c.evict_expired(10);
        assert!(c.get("a").is_none());
        assert!(c.get("b").is_some());
    }
}
