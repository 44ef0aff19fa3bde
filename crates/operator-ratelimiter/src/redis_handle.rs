//! [`RedisHandle`]: one reconnecting connection to the rate limiter's Redis, every call bounded
//! in time. The observation gatherers, the actions and the diagnosis context all talk to Redis
//! through it, and through nothing wider.

use std::time::Duration;

use redis::aio::MultiplexedConnection;
use tokio::sync::Mutex;

use crate::config::redact_url;
use crate::error::{Error, Result};

/// A Redis client with its last connection, reused until a call on it fails.
pub(crate) struct RedisHandle {
    client: redis::Client,
    conn: Mutex<Option<MultiplexedConnection>>,
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
        Ok(Self {
            client,
            conn: Mutex::new(None),
            timeout,
        })
    }

    /// The bound on connecting and on one plain call; longer steps are multiples of it.
    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }

    /// A connection, reusing the last one; dropped by [`Self::forget`] after an error.
    async fn connection(&self) -> Result<MultiplexedConnection> {
        let mut slot = self.conn.lock().await;
        if let Some(c) = slot.as_ref() {
            return Ok(c.clone());
        }
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout));
        let conn = tokio::time::timeout(
            self.timeout,
            self.client
                .get_multiplexed_async_connection_with_config(&config),
        )
        .await
        .map_err(|_| Error::RedisTimeout(self.timeout.as_millis()))??;
        *slot = Some(conn.clone());
        Ok(conn)
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
        F: FnOnce(MultiplexedConnection) -> Fut,
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
