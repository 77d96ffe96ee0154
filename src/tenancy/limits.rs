//! Per-tenant rate limits (requests per second with a burst, GCRA via `governor`) on the REST
//! API and on the proxy, and a cap on concurrent proxy streams. Defaults come from the
//! configuration; a tenant's overrides are stored with the tenant and cached here briefly.
//!
//! Limits are per replica: N replicas admit up to N times the rate. Nothing here grows
//! without bound: a tenant's limiter state is dropped once it is indistinguishable from a
//! fresh one (`retain_recent`), stream counters are removed at zero, cached overrides expire.

use std::collections::HashMap;
use std::hash::Hash;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use governor::clock::Clock as _;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use uuid::Uuid;

use super::LimitOverrides;
use crate::config::{LimitDefaults, Rate};
use crate::error::{Error, Result};
use crate::platform::metrics::RATE_LIMITED;

/// How long a tenant's overrides are used before they are read again. A change made through
/// this replica applies at once; other replicas see it within this time.
const OVERRIDES_TTL: Duration = Duration::from_secs(10);
/// A tenant whose limits were not used for this long is forgotten (its overrides are read
/// again, synchronously, when it comes back).
const OVERRIDES_KEPT: Duration = Duration::from_secs(600);
/// How often idle limiter state and expired overrides are swept.
const SWEEP_EVERY: Duration = Duration::from_secs(60);
/// What a caller over its stream cap is told to wait: streams end at unknown times.
const STREAM_RETRY_AFTER: Duration = Duration::from_secs(5);

/// The governor quota of a rate; `None` when unlimited. A burst of 0 means one second's
/// worth.
fn quota(rate: Rate) -> Option<Quota> {
    let per_second = NonZeroU32::new(rate.per_second)?;
    let burst = NonZeroU32::new(rate.burst).unwrap_or(per_second);
    Some(Quota::per_second(per_second).allow_burst(burst))
}

/// The limits that apply to a tenant with these overrides.
pub fn effective(defaults: LimitDefaults, o: &LimitOverrides) -> LimitDefaults {
    let pick = |value: Option<i32>, default: u32| value.map_or(default, |v| v.max(0) as u32);
    LimitDefaults {
        api: Rate {
            per_second: pick(o.api_rps, defaults.api.per_second),
            burst: pick(o.api_burst, defaults.api.burst),
        },
        proxy: Rate {
            per_second: pick(o.proxy_rps, defaults.proxy.per_second),
            burst: pick(o.proxy_burst, defaults.proxy.burst),
        },
        proxy_streams: pick(o.proxy_streams, defaults.proxy_streams),
        gateway_key: defaults.gateway_key,
    }
}

/// Which limit a request counts against.
#[derive(Debug, Clone, Copy)]
pub enum Surface {
    Api,
    Proxy,
}

impl Surface {
    fn label(self) -> &'static str {
        match self {
            Surface::Api => "api",
            Surface::Proxy => "proxy",
        }
    }
}

/// One keyed limiter per distinct rate: tenants sharing a rate share a limiter (keyed by
/// tenant, or whatever `K` names the caller), so the number of limiters is bounded by the
/// configured rates, not by tenants.
#[derive(Default)]
struct Buckets<K: Hash + Eq + Clone = Uuid> {
    by_rate: Mutex<HashMap<Rate, Arc<DefaultKeyedRateLimiter<K>>>>,
}

impl<K: Hash + Eq + Clone> Buckets<K> {
    fn limiter(&self, rate: Rate, quota: Quota) -> Arc<DefaultKeyedRateLimiter<K>> {
        let mut by_rate = self.by_rate.lock().expect("limiter lock");
        by_rate.entry(rate).or_insert_with(|| Arc::new(RateLimiter::keyed(quota))).clone()
    }

    fn sweep(&self) {
        let mut by_rate = self.by_rate.lock().expect("limiter lock");
        by_rate.retain(|_, limiter| {
            limiter.retain_recent();
            limiter.shrink_to_fit();
            !limiter.is_empty()
        });
    }
}

#[derive(Default)]
struct Inner {
    overrides: Mutex<HashMap<Uuid, (Instant, LimitOverrides)>>,
    api: Buckets,
    proxy: Buckets,
    /// Keyed by gateway and caller's key: a gateway's rate applies to each key at it, and a
    /// tenant key used at several gateways has a bucket at each.
    keys: Buckets<(Uuid, Uuid)>,
    streams: Mutex<HashMap<Uuid, u32>>,
    last_sweep: Mutex<Option<Instant>>,
}

/// The limits of this replica; cheap to clone.
#[derive(Clone, Default)]
pub struct RateLimits {
    defaults: LimitDefaults,
    inner: Arc<Inner>,
}

impl RateLimits {
    pub fn new(defaults: LimitDefaults) -> Self {
        Self { defaults, inner: Arc::default() }
    }

    /// Counts one request of `tenant` against `surface`; 429 with `Retry-After` when over.
    pub async fn check(&self, db: &sqlx::PgPool, tenant: Uuid, surface: Surface) -> Result<()> {
        let limits = self.limits_of(db, tenant).await?;
        let rate = match surface {
            Surface::Api => limits.api,
            Surface::Proxy => limits.proxy,
        };
        let Some(quota) = quota(rate) else { return Ok(()) };
        let buckets = match surface {
            Surface::Api => &self.inner.api,
            Surface::Proxy => &self.inner.proxy,
        };
        let limiter = buckets.limiter(rate, quota);
        let verdict = limiter.check_key(&tenant);
        self.maybe_sweep();
        verdict.map_err(|not_until| {
            metrics::counter!(RATE_LIMITED, "limit" => surface.label()).increment(1);
            Error::RateLimited {
                detail: format!(
                    "this tenant is over its {} rate limit ({} requests per second, burst {})",
                    surface.label(),
                    rate.per_second,
                    rate.burst.max(1)
                ),
                retry_after: not_until.wait_time_from(limiter.clock().now()),
            }
        })
    }

    /// The configured defaults (a gateway's key rate starts from them).
    pub fn defaults(&self) -> LimitDefaults {
        self.defaults
    }

    /// Counts one request made with the key `key_id` at the gateway `gateway_id`, whose rate
    /// for each key is `rate`; 429 with `Retry-After` when over.
    pub fn check_key(&self, gateway_id: Uuid, key_id: Uuid, rate: Rate) -> Result<()> {
        let Some(quota) = quota(rate) else { return Ok(()) };
        let limiter = self.inner.keys.limiter(rate, quota);
        let verdict = limiter.check_key(&(gateway_id, key_id));
        self.maybe_sweep();
        verdict.map_err(|not_until| {
            metrics::counter!(RATE_LIMITED, "limit" => "gateway_key").increment(1);
            Error::RateLimited {
                detail: format!(
                    "this key is over its rate limit at this gateway ({} requests per second, burst {})",
                    rate.per_second,
                    rate.burst.max(1)
                ),
                retry_after: not_until.wait_time_from(limiter.clock().now()),
            }
        })
    }

    /// Opens one standalone proxy stream of `tenant`; the permit closes it when dropped.
    pub async fn open_stream(&self, db: &sqlx::PgPool, tenant: Uuid) -> Result<StreamPermit> {
        let max = self.limits_of(db, tenant).await?.proxy_streams;
        let mut streams = self.inner.streams.lock().expect("stream counter lock");
        let open = streams.entry(tenant).or_insert(0);
        if max > 0 && *open >= max {
            metrics::counter!(RATE_LIMITED, "limit" => "proxy_streams").increment(1);
            return Err(Error::RateLimited {
                detail: format!("this tenant already has {max} open proxy streams, its limit"),
                retry_after: STREAM_RETRY_AFTER,
            });
        }
        *open += 1;
        Ok(StreamPermit { inner: self.inner.clone(), tenant })
    }

    /// Forgets a tenant's cached overrides (after they were changed here).
    pub fn forget(&self, tenant: Uuid) {
        self.inner.overrides.lock().expect("overrides lock").remove(&tenant);
    }

    /// The tenant's limits. Its overrides are read from the database the first time; after
    /// that the known ones apply at once, and when older than [`OVERRIDES_TTL`] they are read
    /// again in the background (one read per tenant at a time). So a known tenant's request
    /// never waits on the database here: not on a slow one, nor through an outage, when the
    /// last overrides read stay in force.
    async fn limits_of(&self, db: &sqlx::PgPool, tenant: Uuid) -> Result<LimitDefaults> {
        let overrides = match self.known_overrides(db, tenant) {
            Some(known) => known,
            None => {
                let fresh = Box::pin(super::service::limit_overrides(db, tenant)).await?;
                self.inner.overrides.lock().expect("overrides lock").insert(tenant, (Instant::now(), fresh));
                fresh
            }
        };
        Ok(effective(self.defaults, &overrides))
    }

    /// The overrides known for `tenant`; starts a background re-read when they are due.
    fn known_overrides(&self, db: &sqlx::PgPool, tenant: Uuid) -> Option<LimitOverrides> {
        let mut overrides = self.inner.overrides.lock().expect("overrides lock");
        let (read_at, known) = overrides.get_mut(&tenant)?;
        if read_at.elapsed() >= OVERRIDES_TTL {
            // Marked as read now, so that concurrent requests do not start reads of their own.
            *read_at = Instant::now();
            self.reread(db.clone(), tenant);
        }
        Some(*known)
    }

    fn reread(&self, db: sqlx::PgPool, tenant: Uuid) {
        let inner = self.inner.clone();
        tokio::spawn(async move {
            match super::service::limit_overrides(&db, tenant).await {
                Ok(fresh) => {
                    inner.overrides.lock().expect("overrides lock").insert(tenant, (Instant::now(), fresh));
                }
                Err(err) => {
                    tracing::debug!(%err, %tenant, "re-reading rate-limit overrides failed; the known ones stay")
                }
            }
        });
    }

    fn maybe_sweep(&self) {
        {
            let mut last = self.inner.last_sweep.lock().expect("sweep lock");
            match *last {
                Some(at) if at.elapsed() < SWEEP_EVERY => return,
                None => {
                    *last = Some(Instant::now());
                    return;
                }
                Some(_) => *last = Some(Instant::now()),
            }
        }
        self.inner.api.sweep();
        self.inner.proxy.sweep();
        self.inner.keys.sweep();
        self.inner
            .overrides
            .lock()
            .expect("overrides lock")
            .retain(|_, (at, _)| at.elapsed() < OVERRIDES_KEPT);
    }
}

/// One open standalone proxy stream; dropping it (when the stream's body is dropped) frees
/// the tenant's slot.
pub struct StreamPermit {
    inner: Arc<Inner>,
    tenant: Uuid,
}

impl Drop for StreamPermit {
    fn drop(&mut self) {
        let mut streams = self.inner.streams.lock().expect("stream counter lock");
        if let Some(open) = streams.get_mut(&self.tenant) {
            *open -= 1;
            if *open == 0 {
                streams.remove(&self.tenant);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_replace_defaults_field_by_field() {
        let defaults = LimitDefaults::default();
        let o = LimitOverrides { api_rps: Some(5), proxy_streams: Some(0), ..LimitOverrides::default() };
        let limits = effective(defaults, &o);
        assert_eq!(limits.api, Rate { per_second: 5, burst: defaults.api.burst });
        assert_eq!(limits.proxy, defaults.proxy);
        assert_eq!(limits.proxy_streams, 0);
    }

    #[test]
    fn zero_per_second_is_unlimited_and_zero_burst_is_one_second() {
        assert!(quota(Rate { per_second: 0, burst: 10 }).is_none());
        let three = quota(Rate { per_second: 3, burst: 0 }).unwrap();
        assert_eq!(three.burst_size().get(), 3);
    }

    #[test]
    fn a_key_has_a_bucket_at_each_gateway() {
        let limits = RateLimits::new(LimitDefaults::default());
        let rate = Rate { per_second: 1, burst: 1 };
        let (one, two, key) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        assert!(limits.check_key(one, key, rate).is_ok());
        assert!(limits.check_key(one, key, rate).is_err(), "the burst is spent at one");
        assert!(limits.check_key(two, key, rate).is_ok(), "two has a bucket of its own");
    }

    #[test]
    fn idle_tenants_are_swept_away() {
        let buckets = Buckets::default();
        let rate = Rate { per_second: 1000, burst: 1 };
        let limiter = buckets.limiter(rate, quota(rate).unwrap());
        assert!(limiter.check_key(&Uuid::now_v7()).is_ok());
        assert_eq!(limiter.len(), 1);
        std::thread::sleep(Duration::from_millis(5)); // > 1 ms: the state is fresh again
        buckets.sweep();
        assert!(buckets.by_rate.lock().unwrap().is_empty(), "an empty limiter is dropped too");
    }
}
