//! The primaries a node decides on, one circuit breaker each.
//!
//! On a cluster, every decision's keys live in one slot, owned by one primary: the decision
//! consults (and feeds) that primary's breaker only, so a dead shard sends its own keys to the
//! failure mode and leaves the keys of healthy shards alone. The slot map comes from `CLUSTER
//! SLOTS` ([`parse_cluster_slots`]), refreshed by the background sampler; after a failover the
//! slots point at the promoted replica, whose breaker starts closed, so exact limiting resumes
//! with the first decision after the refresh. Outside cluster mode (and before the first slot
//! map) there is one breaker, as before.
//!
//! Also kept here, per primary: what the sampler last measured (round trip, clock skew, whether
//! it answered), for `/v1/node` and `/readyz`.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use ratelimiter_schema::ShardInfo;
use ratelimiter_schema::cluster::key_slot;
use redis::Value;

use super::breaker::Breaker;

/// One primary and the slot ranges it serves (inclusive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shard {
    /// `host:port`.
    pub address: String,
    /// Inclusive slot ranges.
    pub slots: Vec<(u16, u16)>,
}

impl Shard {
    /// Whether it serves `slot`.
    pub fn serves(&self, slot: u16) -> bool {
        self.slots.iter().any(|&(a, b)| a <= slot && slot <= b)
    }
}

/// What the sampler last saw of one primary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ShardHealth {
    /// Round trip of its last `PING`, µs.
    pub rtt_us: Option<u64>,
    /// Whether its last sample succeeded.
    pub answered: bool,
    /// Its clock minus the node's, ms.
    pub clock_skew_ms: Option<i64>,
}

/// The node's shards: the slot map, a breaker per primary, and their health.
#[derive(Debug)]
pub struct Shards {
    timeout: Duration,
    map: RwLock<Arc<Vec<Shard>>>,
    breakers: RwLock<HashMap<String, Arc<Breaker>>>,
    /// The breaker outside cluster mode, and before the first slot map.
    whole: Arc<Breaker>,
    health: RwLock<HashMap<String, ShardHealth>>,
}

/// The breaker a decision on one key uses, and the primary it belongs to (`None`: the single
/// breaker).
#[derive(Debug, Clone)]
pub struct Route {
    /// The breaker.
    pub breaker: Arc<Breaker>,
    /// The primary's address and slot ranges, in cluster mode.
    pub shard: Option<Shard>,
}

impl Shards {
    /// No slot map yet: every decision uses one breaker suited to `timeout`.
    pub fn new(timeout: Duration) -> Self {
        Self {
            timeout,
            map: RwLock::new(Arc::new(Vec::new())),
            breakers: RwLock::new(HashMap::new()),
            whole: Arc::new(Breaker::new(timeout)),
            health: RwLock::new(HashMap::new()),
        }
    }

    /// The current slot map (empty outside cluster mode).
    pub fn map(&self) -> Arc<Vec<Shard>> {
        Arc::clone(&self.map.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Replaces the slot map; primaries seen for the first time get a closed breaker, those
    /// already known keep theirs (and their state).
    pub fn set_map(&self, shards: Vec<Shard>) {
        {
            let mut breakers = self.breakers.write().unwrap_or_else(|e| e.into_inner());
            for s in &shards {
                breakers
                    .entry(s.address.clone())
                    .or_insert_with(|| Arc::new(Breaker::new(self.timeout)));
            }
        }
        *self.map.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(shards);
    }

    /// The breaker for a call whose first key is `key`.
    pub fn route(&self, key: Option<&[u8]>) -> Route {
        let map = self.map();
        let shard = key.and_then(|k| {
            let slot = key_slot(k);
            map.iter().find(|s| s.serves(slot))
        });
        match shard {
            Some(s) => Route {
                breaker: self.breaker_of(&s.address),
                shard: Some(s.clone()),
            },
            None => Route {
                breaker: Arc::clone(&self.whole),
                shard: None,
            },
        }
    }

    fn breaker_of(&self, address: &str) -> Arc<Breaker> {
        let breakers = self.breakers.read().unwrap_or_else(|e| e.into_inner());
        breakers
            .get(address)
            .cloned()
            .unwrap_or_else(|| Arc::clone(&self.whole))
    }

    /// Whether any breaker in use is open.
    pub fn any_open(&self) -> bool {
        let map = self.map();
        if map.is_empty() {
            return self.whole.is_open();
        }
        map.iter().any(|s| self.breaker_of(&s.address).is_open())
    }

    /// Records what the sampler saw of the primary at `address`.
    pub fn set_health(&self, address: &str, health: ShardHealth) {
        self.health
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(address.to_owned(), health);
    }

    /// What the sampler last saw of `address`.
    pub fn health(&self, address: &str) -> ShardHealth {
        self.health
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(address)
            .copied()
            .unwrap_or_default()
    }

    /// The shards as `/v1/node` reports them: every primary of the slot map, or the one primary
    /// at `single_address` outside cluster mode.
    pub fn report(&self, single_address: Option<&str>) -> Vec<ShardInfo> {
        let map = self.map();
        let info = |address: &str, slots: Vec<[u16; 2]>, breaker: &Breaker| {
            let h = self.health(address);
            ShardInfo {
                address: address.to_owned(),
                slots,
                rtt_us: h.rtt_us,
                ok: h.answered && !breaker.is_open(),
                clock_skew_ms: h.clock_skew_ms,
            }
        };
        if map.is_empty() {
            return single_address
                .map(|a| info(a, Vec::new(), &self.whole))
                .into_iter()
                .collect();
        }
        map.iter()
            .map(|s| {
                let slots = s.slots.iter().map(|&(a, b)| [a, b]).collect();
                info(&s.address, slots, &self.breaker_of(&s.address))
            })
            .collect()
    }
}

/// The primaries and their slot ranges out of a `CLUSTER SLOTS` reply (`[[start, end,
/// [host, port, id, ...], replica...], ...]`), sorted by address; `None` when it is not one.
pub fn parse_cluster_slots(reply: &Value) -> Option<Vec<Shard>> {
    let Value::Array(ranges) = reply else {
        return None;
    };
    let mut by_primary: HashMap<String, Vec<(u16, u16)>> = HashMap::new();
    for range in ranges {
        let Value::Array(parts) = range else {
            return None;
        };
        let int = |v: &Value| match v {
            Value::Int(i) => u16::try_from(*i).ok(),
            _ => None,
        };
        let (start, end) = (int(parts.first()?)?, int(parts.get(1)?)?);
        let Value::Array(primary) = parts.get(2)? else {
            return None;
        };
        let host = match primary.first()? {
            Value::BulkString(b) => String::from_utf8(b.clone()).ok()?,
            Value::SimpleString(s) => s.clone(),
            _ => return None,
        };
        let port = int(primary.get(1)?)?;
        by_primary
            .entry(format!("{host}:{port}"))
            .or_default()
            .push((start, end));
    }
    let mut shards: Vec<Shard> = by_primary
        .into_iter()
        .map(|(address, mut slots)| {
            slots.sort_unstable();
            Shard { address, slots }
        })
        .collect();
    shards.sort_by(|a, b| a.address.cmp(&b.address));
    Some(shards)
}

/// The smallest salt whose salted key (made by `key_of`) falls in `shard`'s slots: how the
/// probe of one shard picks a key on it. `None` after 100 000 tries (a shard without slots).
pub fn salt_for(shard: &Shard, key_of: impl Fn(u32) -> String) -> Option<u32> {
    (0..100_000).find(|&salt| shard.serves(key_slot(key_of(salt).as_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    fn node(host: &str, port: i64) -> Value {
        Value::Array(vec![bulk(host), Value::Int(port), bulk("id")])
    }

    fn range(a: i64, b: i64, primary: Value, replica: Value) -> Value {
        Value::Array(vec![Value::Int(a), Value::Int(b), primary, replica])
    }

    fn three() -> Vec<Shard> {
        let reply = Value::Array(vec![
            range(0, 5460, node("127.0.0.1", 7000), node("127.0.0.1", 7004)),
            range(
                10923,
                16383,
                node("127.0.0.1", 7002),
                node("127.0.0.1", 7003),
            ),
            range(
                5461,
                10922,
                node("127.0.0.1", 7001),
                node("127.0.0.1", 7005),
            ),
            range(100, 100, node("127.0.0.1", 7000), node("127.0.0.1", 7004)),
        ]);
        parse_cluster_slots(&reply).unwrap()
    }

    #[test]
    fn cluster_slots_group_by_primary() {
        let shards = three();
        assert_eq!(shards.len(), 3);
        assert_eq!(shards[0].address, "127.0.0.1:7000");
        assert_eq!(shards[0].slots, vec![(0, 5460), (100, 100)]);
        assert!(shards[2].serves(16383) && !shards[2].serves(0));
        assert!(parse_cluster_slots(&Value::Int(1)).is_none());
        assert!(parse_cluster_slots(&Value::Array(vec![Value::Int(1)])).is_none());
    }

    #[test]
    fn a_dead_shard_trips_only_its_own_keys() {
        let shards = Shards::new(Duration::from_millis(50));
        let before = shards.route(Some(b"{a}"));
        assert!(before.shard.is_none(), "no slot map yet: the one breaker");
        shards.set_map(three());
        // "{a}" is slot 15495 (7002); "{b}" is slot 3300 (7000).
        let a = shards.route(Some(b"x{a}y"));
        let b = shards.route(Some(b"{b}"));
        assert_eq!(a.shard.as_ref().unwrap().address, "127.0.0.1:7002");
        assert_eq!(b.shard.as_ref().unwrap().address, "127.0.0.1:7000");
        b.breaker.record_success(1_000);
        for _ in 0..5 {
            b.breaker.record_failure(2_000);
        }
        assert!(b.breaker.is_open());
        assert!(
            !shards.route(Some(b"x{a}y")).breaker.is_open(),
            "healthy shard closed"
        );
        assert!(shards.any_open());
        let report = shards.report(None);
        assert_eq!(report.len(), 3);
        assert!(!report[0].ok, "the open shard is not ok");
        assert_eq!(report[0].slots, vec![[0, 5460], [100, 100]]);
    }

    #[test]
    fn a_promoted_replica_gets_a_fresh_breaker() {
        let shards = Shards::new(Duration::from_millis(50));
        shards.set_map(three());
        let old = shards.route(Some(b"{b}")).breaker;
        for _ in 0..5 {
            old.record_failure(2_000);
        }
        let mut after = three();
        after[0].address = "127.0.0.1:7004".into();
        shards.set_map(after);
        let new = shards.route(Some(b"{b}"));
        assert_eq!(new.shard.unwrap().address, "127.0.0.1:7004");
        assert!(
            !new.breaker.is_open(),
            "decisions go to the new primary at once"
        );
    }

    #[test]
    fn the_probe_salt_lands_on_its_shard() {
        for shard in three() {
            let key_of = |salt: u32| format!("rl:probe:{{n1:{salt}}}");
            let salt = salt_for(&shard, key_of).unwrap();
            assert!(shard.serves(key_slot(key_of(salt).as_bytes())));
        }
        let empty = Shard {
            address: "x".into(),
            slots: Vec::new(),
        };
        assert_eq!(salt_for(&empty, |s| s.to_string()), None);
    }

    #[test]
    fn outside_cluster_mode_the_report_is_the_one_primary() {
        let shards = Shards::new(Duration::from_millis(50));
        assert!(shards.report(None).is_empty());
        shards.set_health(
            "127.0.0.1:6379",
            ShardHealth {
                rtt_us: Some(120),
                answered: true,
                clock_skew_ms: Some(-1),
            },
        );
        let r = shards.report(Some("127.0.0.1:6379"));
        assert_eq!(r.len(), 1);
        assert!(r[0].ok && r[0].slots.is_empty());
        assert_eq!(r[0].rtt_us, Some(120));
    }
}
