//! How a node reaches Redis ([`RedisMode`]) and what it reports about each shard
//! ([`ShardInfo`] in `/v1/node`), plus the Redis Cluster slot of a key ([`key_slot`]), so the
//! node and the operator agree on which primary owns which key.

use std::str::FromStr;

use serde::{Deserialize, Serialize};
use strum::VariantArray as _;

/// Number of hash slots of a Redis Cluster.
pub const SLOTS: u16 = 16384;

/// How a node reaches Redis (`--redis-mode`).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Default,
    Serialize,
    Deserialize,
    strum::Display,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum RedisMode {
    /// One `redis-server` (`--redis-url` is one URL).
    #[default]
    Single,
    /// A Redis Cluster (`--redis-url` lists seed nodes, comma-separated).
    Cluster,
    /// A primary watched by Redis Sentinel (`--redis-url` lists the sentinels,
    /// `--sentinel-master` names the primary set).
    Sentinel,
}

impl RedisMode {
    /// The lowercase name used in flags and JSON.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// Error parsing a [`RedisMode`].
#[derive(Debug, Clone, thiserror::Error)]
#[error("unknown redis mode {0:?} (expected single, cluster or sentinel)")]
pub struct ParseRedisModeError(String);

impl FromStr for RedisMode {
    type Err = ParseRedisModeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::VARIANTS
            .iter()
            .copied()
            .find(|mode| mode.as_str() == s)
            .ok_or_else(|| ParseRedisModeError(s.to_owned()))
    }
}

/// One primary as a node sees it (`shards` of `/v1/node`): in single and sentinel mode the one
/// primary, in cluster mode one entry per primary with the slots it serves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardInfo {
    /// `host:port` of the primary.
    pub address: String,
    /// Inclusive slot ranges it serves (`[[0, 5460]]`); empty outside cluster mode.
    pub slots: Vec<[u16; 2]>,
    /// Round trip of the node's last `PING` to it, in microseconds; `None` before any answer.
    pub rtt_us: Option<u64>,
    /// Whether it answered the node's last sample, and decisions for its slots go to Redis
    /// (its circuit breaker is closed).
    pub ok: bool,
    /// Its clock (`TIME`) minus the node's clock at the midpoint of the round trip, in ms, from
    /// the last sample; `None` before any. Compare it across shards for their skew.
    #[serde(default)]
    pub clock_skew_ms: Option<i64>,
}

/// The Redis Cluster hash slot of `key`: CRC16 (XMODEM) of its hash tag (the text between the
/// first `{` and the next `}`, when not empty) or of the whole key, modulo [`SLOTS`].
pub fn key_slot(key: &[u8]) -> u16 {
    let tagged = key.iter().position(|&b| b == b'{').and_then(|open| {
        let rest = &key[open + 1..];
        let close = rest.iter().position(|&b| b == b'}')?;
        (close > 0).then(|| &rest[..close])
    });
    crc16(tagged.unwrap_or(key)) % SLOTS
}

/// CRC16-CCITT (XMODEM: polynomial 0x1021, initial value 0), the checksum of Redis Cluster.
fn crc16(data: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &b in data {
        crc ^= u16::from(b) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_match_redis_cluster() {
        // Values from `CLUSTER KEYSLOT` of redis-server 7.
        assert_eq!(crc16(b"123456789"), 0x31C3, "the XMODEM check value");
        assert_eq!(key_slot(b"foo"), 12182);
        assert_eq!(key_slot(b"bar"), 5061);
        assert_eq!(key_slot(b"{user1000}.following"), key_slot(b"user1000"));
        assert_ne!(
            key_slot(b"foo{}{bar}"),
            key_slot(b"bar"),
            "empty tag: the whole key"
        );
        assert_eq!(key_slot(b"foo{{bar}}zap"), key_slot(b"{bar"));
    }

    #[test]
    fn modes_round_trip_through_text_and_json() {
        for &mode in RedisMode::VARIANTS {
            assert_eq!(mode.as_str().parse::<RedisMode>().unwrap(), mode);
            assert_eq!(serde_json::to_string(&mode).unwrap(), format!("\"{mode}\""));
        }
        assert!("ring".parse::<RedisMode>().is_err());
        assert_eq!(RedisMode::default(), RedisMode::Single);
    }
}
