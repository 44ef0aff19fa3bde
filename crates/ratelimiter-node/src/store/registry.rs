//! The node registry in Redis: heartbeats with Redis time, and the list of nodes.

use std::collections::HashMap;

use ratelimiter_schema::keys::{self, LONG_TTL_MS};
use ratelimiter_schema::{NodeEntry, NodeRecord, NodesResponse};

use super::handle::Store;
use crate::error::StoreError;

/// Registry entries whose last heartbeat is older than this are removed (a day).
const FORGET_AFTER_MS: u64 = 24 * 3_600_000;

impl Store {
    /// Registers or refreshes this node. `started_ms` is 0 on the first heartbeat. Returns the
    /// Redis time of the heartbeat and the node's start time, both Unix ms.
    ///
    /// # Errors
    /// Redis failures or timeouts.
    pub async fn heartbeat(
        &self,
        id: &str,
        addr: &str,
        version: &str,
        started_ms: u64,
    ) -> Result<(u64, u64), StoreError> {
        let mut call = self.heartbeat.call();
        call.key(keys::nodes_key(&self.prefix))
            .arg(id)
            .arg(addr)
            .arg(version)
            .arg(started_ms)
            .arg(LONG_TTL_MS)
            .arg(FORGET_AFTER_MS);
        let mut conn = self.conn();
        self.admin(call.invoke(&mut conn, &self.metrics)).await
    }

    /// Removes this node from the registry (graceful shutdown).
    ///
    /// # Errors
    /// Redis failures or timeouts.
    pub async fn deregister(&self, id: &str) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let _: i64 = self
            .admin(
                redis::cmd("HDEL")
                    .arg(keys::nodes_key(&self.prefix))
                    .arg(id)
                    .query_async(&mut conn),
            )
            .await?;
        Ok(())
    }

    /// Every registered node with its state by Redis time, sorted by id.
    ///
    /// # Errors
    /// Redis failures or timeouts.
    pub async fn nodes(&self) -> Result<NodesResponse, StoreError> {
        let mut conn = self.conn();
        // The keyed command first: on a cluster the pipeline goes to the primary of the
        // `nodes` slot, whose clock stamped the heartbeats.
        let (all, (secs, micros)): (HashMap<String, String>, (u64, u64)) = self
            .admin(
                redis::pipe()
                    .cmd("HGETALL")
                    .arg(keys::nodes_key(&self.prefix))
                    .cmd("TIME")
                    .query_async(&mut conn),
            )
            .await?;
        let now = secs * 1000 + micros / 1000;
        let mut nodes: Vec<NodeEntry> = all
            .values()
            .filter_map(|json| serde_json::from_str::<NodeRecord>(json).ok())
            .map(|rec| NodeEntry::from_record(rec, now))
            .collect();
        nodes.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(NodesResponse {
            redis_now_ms: now,
            nodes,
        })
    }
}
