//! [`RedisHandle`]: one reconnecting connection to the rate limiter's Redis, every call bounded
//! in time. The observation gatherers, the actions and the diagnosis context all talk to Redis
//! through it, and through nothing wider.
//!
//! On a Redis Cluster the subject's handle is a cluster connection (redis-rs's own, which
//! routes each keyed command to the primary owning its slot and follows `MOVED`/`ASK`), and
//! each instance of the cluster gets a plain handle of its own for what is asked of one
//! instance (`PING`, `INFO`, `CLUSTER NODES`, `SCAN`).

use std::time::Duration;

use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisFuture, Value};
use tokio::sync::Mutex;

use crate::config::redact_url;
use crate::error::{Error, Result};

/// How the handle reaches Redis.
// One per handle, built once: the size of the larger variant costs nothing.
#[allow(clippy::large_enum_variant)]
enum Client {
    Single(redis::Client),
    Cluster(redis::cluster::ClusterClient),
    /// The current primary of a set watched by Redis Sentinel, asked of the sentinels at each
    /// (re)connection: after a failover, the first failed call drops the connection and the
    /// next one reaches the promoted replica.
    Sentinel(Mutex<redis::sentinel::SentinelClient>),
}

/// A connection of either kind; commands and pipelines run on it alike.
#[derive(Clone)]
pub(crate) enum RedisConn {
    /// One Redis server.
    Single(MultiplexedConnection),
    /// A Redis Cluster, routed by key.
    Cluster(ClusterConnection),
}

impl ConnectionLike for RedisConn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            RedisConn::Single(c) => c.req_packed_command(cmd),
            RedisConn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            RedisConn::Single(c) => c.req_packed_commands(pipeline, offset, count),
            RedisConn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            RedisConn::Single(c) => c.get_db(),
            RedisConn::Cluster(c) => c.get_db(),
        }
    }
}

/// A Redis client with its last connection, reused until a call on it fails.
pub(crate) struct RedisHandle {
    client: Client,
    conn: Mutex<Option<RedisConn>>,
    timeout: Duration,
}

impl RedisHandle {
    /// A handle on the Redis at `url`; `timeout` bounds connecting and each plain call.
    ///
    /// # Errors
    /// [`Error::Config`] when the URL is not a Redis URL.
    pub(crate) fn new(url: &str, timeout: Duration) -> Result<Self> {
        let client = redis::Client::open(url)
            .map_err(|e| Error::Config(format!("redis url {:?}: {e}", redact_url(url))))?;
        Ok(Self::with_client(Client::Single(client), timeout))
    }

    /// A handle on the Redis Cluster reached through the seed `urls`; keyed commands go to the
    /// primary of their slot. The cluster client's own response timeout is `timeout`.
    ///
    /// # Errors
    /// [`Error::Config`] when a URL is not a Redis URL.
    pub(crate) fn cluster(urls: &[&str], timeout: Duration) -> Result<Self> {
        let client = redis::cluster::ClusterClient::builder(urls.iter().map(|u| u.to_string()))
            .connection_timeout(timeout)
            .response_timeout(timeout)
            .retries(1)
            .build()
            .map_err(|e| Error::Config(format!("redis cluster urls: {e}")))?;
        Ok(Self::with_client(Client::Cluster(client), timeout))
    }

    /// A handle on the current primary of the set `master` watched by the sentinels at `urls`.
    ///
    /// # Errors
    /// [`Error::Config`] when a URL is not a Redis URL.
    pub(crate) fn sentinel(urls: &[&str], master: &str, timeout: Duration) -> Result<Self> {
        let client = redis::sentinel::SentinelClient::build(
            urls.iter().map(|u| u.to_string()).collect(),
            master,
            None,
            redis::sentinel::SentinelServerType::Master,
        )
        .map_err(|e| Error::Config(format!("redis sentinel urls: {e}")))?;
        Ok(Self::with_client(
            Client::Sentinel(Mutex::new(client)),
            timeout,
        ))
    }

    fn with_client(client: Client, timeout: Duration) -> Self {
        Self {
            client,
            conn: Mutex::new(None),
            timeout,
        }
    }

    /// The bound on connecting and on one plain call; longer steps are multiples of it.
    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }

    /// A connection, reusing the last one; dropped by [`Self::forget`] after an error.
    async fn connection(&self) -> Result<RedisConn> {
        let mut slot = self.conn.lock().await;
        if let Some(c) = slot.as_ref() {
            return Ok(c.clone());
        }
        let conn = tokio::time::timeout(self.timeout * 2, self.connect())
            .await
            .map_err(|_| Error::RedisTimeout(self.timeout.as_millis()))??;
        *slot = Some(conn.clone());
        Ok(conn)
    }

    async fn connect(&self) -> Result<RedisConn> {
        Ok(match &self.client {
            Client::Single(client) => {
                let config = redis::AsyncConnectionConfig::new()
                    .set_connection_timeout(Some(self.timeout))
                    .set_response_timeout(Some(self.timeout));
                RedisConn::Single(
                    client
                        .get_multiplexed_async_connection_with_config(&config)
                        .await?,
                )
            }
            Client::Cluster(client) => RedisConn::Cluster(client.get_async_connection().await?),
            Client::Sentinel(client) => {
                RedisConn::Single(client.lock().await.get_async_connection().await?)
            }
        })
    }

    async fn forget(&self) {
        *self.conn.lock().await = None;
    }

    /// Runs `f` on a connection within `bound`, forgetting the connection on failure.
    ///
    /// # Errors
    /// [`Error::Redis`] when connecting or the call fails, [`Error::RedisTimeout`] when either
    /// takes too long.
    pub(crate) async fn run<T, F, Fut>(&self, bound: Duration, f: F) -> Result<T>
    where
        F: FnOnce(RedisConn) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        let conn = self.connection().await?;
        let outcome = tokio::time::timeout(bound, f(conn)).await;
        let result = match outcome {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(Error::Redis(e)),
            Err(_) => Err(Error::RedisTimeout(bound.as_millis())),
        };
        if result.is_err() {
            self.forget().await;
        }
        result
    }
}
