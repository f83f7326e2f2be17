//! Rate-limit windows.
//!
//! - App Store Connect (§1.6): per API key, a rolling hour ("your per-hour limit, minus
//!   the total requests you've made in the previous 60 minutes"); default limit 3600
//!   (the value observed in `X-Rate-Limit: user-hour-lim:3600;user-hour-rem:…;`).
//!   Over the limit → 429 `RATE_LIMIT_EXCEEDED`.
//! - App Store Server API (§1.9): per app and endpoint, a requests-per-second quota
//!   "enforced on an hourly basis" (so `per_second × 3600` per rolling hour), sandbox
//!   10 % of production; 429 carries `Retry-After` as UNIX epoch **milliseconds**.
//!
//! Both use [`SlidingWindow`]: counts in one-second buckets, so memory per key is at
//! most 3600 buckets whatever the limit. A hit made during second `s` stops counting
//! at `s + window` (up to a second early). Refused requests are not counted.

use std::borrow::Borrow;
use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::sync::{Mutex, MutexGuard};

/// §1.6 observed default: `user-hour-lim:3600`.
pub const DEFAULT_HOURLY_LIMIT: u64 = 3600;
pub const HOUR_MS: i64 = 3_600_000;
const BUCKET_MS: i64 = 1000;

/// The outcome of one request against a window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateStatus {
    pub limit: u64,
    /// Requests left in the window after this one (0 when refused).
    pub remaining: u64,
    pub allowed: bool,
    /// When refused: the epoch ms at which a request will be allowed again.
    pub retry_after_ms: Option<i64>,
}

impl RateStatus {
    /// The App Store Connect header value (§1.6): `user-hour-lim:3600;user-hour-rem:3599;`.
    pub fn header_value(&self) -> String {
        format!(
            "user-hour-lim:{};user-hour-rem:{};",
            self.limit, self.remaining
        )
    }
}

#[derive(Debug, Default)]
struct Window {
    /// (bucket start ms, hits), oldest first.
    buckets: VecDeque<(i64, u64)>,
    total: u64,
}

impl Window {
    fn expire(&mut self, now_ms: i64, window_ms: i64) {
        while let Some(&(start, n)) = self.buckets.front() {
            if now_ms >= start + window_ms {
                self.buckets.pop_front();
                self.total -= n;
            } else {
                break;
            }
        }
    }

    fn record(&mut self, now_ms: i64) {
        let start = now_ms.div_euclid(BUCKET_MS) * BUCKET_MS;
        match self.buckets.back_mut() {
            // A clock that went backwards lands in the newest bucket.
            Some((last, n)) if *last >= start => *n += 1,
            _ => self.buckets.push_back((start, 1)),
        }
        self.total += 1;
    }

    /// The earliest time at which `total` drops below `limit`.
    fn free_at(&self, limit: u64, window_ms: i64) -> i64 {
        let mut left = self.total;
        for &(start, n) in &self.buckets {
            left -= n;
            if left < limit {
                return start + window_ms;
            }
        }
        // limit == 0: never; report the end of the current window.
        self.buckets.back().map_or(0, |(s, _)| s + window_ms)
    }
}

/// A rolling-window counter per key; thread-safe, `&self` methods.
#[derive(Debug)]
pub struct SlidingWindow<K> {
    window_ms: i64,
    windows: Mutex<HashMap<K, Window>>,
}

impl<K: Hash + Eq> SlidingWindow<K> {
    pub fn new(window_ms: i64) -> Self {
        SlidingWindow {
            window_ms,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Count one request for `key` if the window has room under `limit`.
    pub fn hit<Q>(&self, key: &Q, limit: u64, now_ms: i64) -> RateStatus
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        let mut map = self.lock();
        if !map.contains_key(key) {
            map.insert(key.to_owned(), Window::default());
        }
        let w = map.get_mut(key).expect("inserted above");
        w.expire(now_ms, self.window_ms);
        if w.total < limit {
            w.record(now_ms);
            RateStatus {
                limit,
                remaining: limit - w.total,
                allowed: true,
                retry_after_ms: None,
            }
        } else {
            RateStatus {
                limit,
                remaining: 0,
                allowed: false,
                retry_after_ms: Some(w.free_at(limit, self.window_ms)),
            }
        }
    }

    /// The status without counting a request.
    pub fn peek<Q>(&self, key: &Q, limit: u64, now_ms: i64) -> RateStatus
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let mut map = self.lock();
        let used = map.get_mut(key).map_or(0, |w| {
            w.expire(now_ms, self.window_ms);
            w.total
        });
        RateStatus {
            limit,
            remaining: limit.saturating_sub(used),
            allowed: used < limit,
            retry_after_ms: None,
        }
    }

    /// Forget keys with nothing left in their window.
    pub fn purge_idle(&self, now_ms: i64) {
        let window_ms = self.window_ms;
        self.lock().retain(|_, w| {
            w.expire(now_ms, window_ms);
            w.total > 0
        });
    }

    pub fn clear(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<K, Window>> {
        self.windows.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// App Store Connect per-key hourly limiter (§1.6).
#[derive(Debug)]
pub struct RateLimiter {
    limit: u64,
    window: SlidingWindow<String>,
}

impl Default for RateLimiter {
    fn default() -> Self {
        RateLimiter::new(DEFAULT_HOURLY_LIMIT)
    }
}

impl RateLimiter {
    /// `limit` requests per key per rolling hour.
    pub fn new(limit: u64) -> Self {
        RateLimiter {
            limit,
            window: SlidingWindow::new(HOUR_MS),
        }
    }

    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Count a request by `key_id`; render `status.header_value()` as `X-Rate-Limit`.
    pub fn hit(&self, key_id: &str, now_ms: i64) -> RateStatus {
        self.window.hit(key_id, self.limit, now_ms)
    }

    pub fn peek(&self, key_id: &str, now_ms: i64) -> RateStatus {
        self.window.peek(key_id, self.limit, now_ms)
    }

    pub fn purge_idle(&self, now_ms: i64) {
        self.window.purge_idle(now_ms);
    }
}

/// App Store Server API endpoints with a documented quota (§1.9 table).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ServerEndpoint {
    GetTransactionInfo,
    GetTransactionHistory,
    GetTransactionHistoryV2,
    GetAllSubscriptionStatuses,
    SendConsumptionInformation,
    GetNotificationHistory,
    ExtendSubscriptionRenewalDate,
    SetAppAccountToken,
    LookUpOrderId,
    GetRefundHistory,
    GetRefundHistoryV2,
    ExtendRenewalDateForAllActiveSubscribers,
    RequestTestNotification,
    GetTestNotificationStatus,
}

impl ServerEndpoint {
    pub const ALL: [ServerEndpoint; 14] = [
        ServerEndpoint::GetTransactionInfo,
        ServerEndpoint::GetTransactionHistory,
        ServerEndpoint::GetTransactionHistoryV2,
        ServerEndpoint::GetAllSubscriptionStatuses,
        ServerEndpoint::SendConsumptionInformation,
        ServerEndpoint::GetNotificationHistory,
        ServerEndpoint::ExtendSubscriptionRenewalDate,
        ServerEndpoint::SetAppAccountToken,
        ServerEndpoint::LookUpOrderId,
        ServerEndpoint::GetRefundHistory,
        ServerEndpoint::GetRefundHistoryV2,
        ServerEndpoint::ExtendRenewalDateForAllActiveSubscribers,
        ServerEndpoint::RequestTestNotification,
        ServerEndpoint::GetTestNotificationStatus,
    ];

    /// Production requests per second (§1.9 table).
    pub fn per_second(self) -> u32 {
        use ServerEndpoint::*;
        match self {
            GetTransactionInfo
            | GetTransactionHistory
            | GetTransactionHistoryV2
            | GetAllSubscriptionStatuses
            | SendConsumptionInformation
            | GetNotificationHistory => 50,
            ExtendSubscriptionRenewalDate | SetAppAccountToken => 20,
            LookUpOrderId | GetRefundHistory | GetRefundHistoryV2 => 10,
            ExtendRenewalDateForAllActiveSubscribers
            | RequestTestNotification
            | GetTestNotificationStatus => 1,
        }
    }

    /// Requests allowed per rolling hour: `per_second × 3600`, sandbox 10 % (§1.9).
    pub fn hourly_budget(self, sandbox: bool) -> u64 {
        let prod = u64::from(self.per_second()) * 3600;
        if sandbox { prod / 10 } else { prod }
    }
}

/// App Store Server API limiter keyed by (bundle id, endpoint, sandbox) (§1.9).
#[derive(Debug)]
pub struct ServerApiRateLimiter {
    /// Multiplies every budget (1.0 = Apple's numbers; tests and demos may shrink it).
    scale: f64,
    window: SlidingWindow<(String, ServerEndpoint, bool)>,
}

impl Default for ServerApiRateLimiter {
    fn default() -> Self {
        ServerApiRateLimiter::new(1.0)
    }
}

impl ServerApiRateLimiter {
    /// `scale` multiplies Apple's budgets (at least 1 request per hour stays allowed).
    pub fn new(scale: f64) -> Self {
        ServerApiRateLimiter {
            scale,
            window: SlidingWindow::new(HOUR_MS),
        }
    }

    pub fn budget(&self, endpoint: ServerEndpoint, sandbox: bool) -> u64 {
        let b = (endpoint.hourly_budget(sandbox) as f64 * self.scale).floor();
        (b as u64).max(1)
    }

    /// Count a request; when `!allowed`, answer 429 with `Retry-After: retry_after_ms`.
    pub fn hit(
        &self,
        bundle_id: &str,
        endpoint: ServerEndpoint,
        sandbox: bool,
        now_ms: i64,
    ) -> RateStatus {
        let limit = self.budget(endpoint, sandbox);
        self.window
            .hit(&(bundle_id.to_owned(), endpoint, sandbox), limit, now_ms)
    }

    pub fn purge_idle(&self, now_ms: i64) {
        self.window.purge_idle(now_ms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_700_000_000_000;

    #[test]
    fn s1_6_rolling_hour_per_key() {
        let rl = RateLimiter::new(3);
        assert_eq!(rl.hit("K1", T0).remaining, 2);
        assert_eq!(rl.hit("K1", T0 + 10_000).remaining, 1);
        let third = rl.hit("K1", T0 + 20_000);
        assert!(third.allowed);
        assert_eq!(third.remaining, 0);
        let refused = rl.hit("K1", T0 + 30_000);
        assert!(!refused.allowed);
        assert_eq!(refused.retry_after_ms, Some(T0 + HOUR_MS));
        // Other keys have their own window.
        assert!(rl.hit("K2", T0 + 30_000).allowed);
        // Just before the first hit leaves the window: still refused.
        assert!(!rl.hit("K1", T0 + HOUR_MS - 1).allowed);
        // Rolling, not fixed: at T0 + 1 h only the first hit has left.
        let s = rl.hit("K1", T0 + HOUR_MS);
        assert!(s.allowed);
        assert_eq!(s.remaining, 0);
        assert!(!rl.hit("K1", T0 + HOUR_MS + 1).allowed);
        assert!(rl.hit("K1", T0 + HOUR_MS + 10_000).allowed);
    }

    #[test]
    fn s1_6_header_value_format() {
        let rl = RateLimiter::default();
        let s = rl.hit("K", T0);
        assert_eq!(s.header_value(), "user-hour-lim:3600;user-hour-rem:3599;");
        assert_eq!(rl.peek("K", T0).remaining, 3599);
        assert_eq!(rl.peek("unused", T0).remaining, 3600);
    }

    #[test]
    fn refused_requests_do_not_count() {
        let rl = RateLimiter::new(1);
        assert!(rl.hit("K", T0).allowed);
        for i in 1..100 {
            assert!(!rl.hit("K", T0 + i).allowed);
        }
        assert!(rl.hit("K", T0 + HOUR_MS).allowed);
    }

    #[test]
    fn purge_idle_forgets_empty_windows() {
        let w: SlidingWindow<String> = SlidingWindow::new(HOUR_MS);
        w.hit("a", 10, T0);
        w.purge_idle(T0 + HOUR_MS);
        assert_eq!(w.lock().len(), 0);
    }

    #[test]
    fn s1_9_per_second_table_and_sandbox_ten_percent() {
        assert_eq!(ServerEndpoint::GetTransactionInfo.per_second(), 50);
        assert_eq!(ServerEndpoint::GetNotificationHistory.per_second(), 50);
        assert_eq!(ServerEndpoint::SetAppAccountToken.per_second(), 20);
        assert_eq!(ServerEndpoint::LookUpOrderId.per_second(), 10);
        assert_eq!(ServerEndpoint::RequestTestNotification.per_second(), 1);
        assert_eq!(
            ServerEndpoint::GetTransactionInfo.hourly_budget(false),
            180_000
        );
        assert_eq!(
            ServerEndpoint::GetTransactionInfo.hourly_budget(true),
            18_000
        );
        assert_eq!(
            ServerEndpoint::RequestTestNotification.hourly_budget(true),
            360
        );
        assert!(ServerEndpoint::ALL.iter().all(|e| e.per_second() >= 1));
    }

    #[test]
    fn s1_9_server_api_quota_per_bundle_and_endpoint_with_retry_after_ms() {
        let rl = ServerApiRateLimiter::default();
        let ep = ServerEndpoint::RequestTestNotification;
        for i in 0..360 {
            assert!(
                rl.hit("com.example.app", ep, true, T0 + i).allowed,
                "hit {i}"
            );
        }
        let refused = rl.hit("com.example.app", ep, true, T0 + 5_000);
        assert!(!refused.allowed);
        assert_eq!(refused.limit, 360);
        assert_eq!(refused.retry_after_ms, Some(T0 + HOUR_MS));
        // Production, another endpoint and another app have separate quotas.
        assert!(rl.hit("com.example.app", ep, false, T0 + 5_000).allowed);
        assert!(
            rl.hit(
                "com.example.app",
                ServerEndpoint::GetTestNotificationStatus,
                true,
                T0
            )
            .allowed
        );
        assert!(rl.hit("com.example.other", ep, true, T0 + 5_000).allowed);
        assert!(rl.hit("com.example.app", ep, true, T0 + HOUR_MS).allowed);
    }

    #[test]
    fn s1_9_scaled_budget() {
        let rl = ServerApiRateLimiter::new(0.001);
        assert_eq!(rl.budget(ServerEndpoint::GetTransactionInfo, false), 180);
        assert_eq!(rl.budget(ServerEndpoint::RequestTestNotification, true), 1);
    }
}
