//! A connection made on first use by one task at a time, and made again after it is dropped
//! ([`Lazy`]): how the cluster and sentinel connections of [`super::conn`] start while Redis is
//! down and, for Sentinel, follow a new primary.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};

use redis::aio::ConnectionLike;
use redis::{Cmd, ErrorKind, Pipeline, RedisError, RedisFuture, RedisResult, Value};

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Makes a connection and says where it goes (`host:port`, or empty).
pub type Connector<C> = Arc<dyn Fn() -> BoxFuture<RedisResult<(C, String)>> + Send + Sync>;

/// A connection made on first use by one task at a time, and made again after it is dropped.
pub struct Lazy<C> {
    current: RwLock<Option<(C, String)>>,
    connecting: tokio::sync::Mutex<()>,
    connect: Connector<C>,
    /// Whether errors that suggest a lost or demoted server drop the connection (sentinel);
    /// a cluster connection heals itself.
    drop_on_error: bool,
}

impl<C: Clone> Lazy<C> {
    pub(super) fn new(connect: Connector<C>, drop_on_error: bool) -> Self {
        Self {
            current: RwLock::new(None),
            connecting: tokio::sync::Mutex::new(()),
            connect,
            drop_on_error,
        }
    }

    /// The connection, if made.
    pub(super) fn current(&self) -> Option<C> {
        // A poisoned lock still holds a complete value (it is only ever replaced whole).
        let guard = self.current.read().unwrap_or_else(|e| e.into_inner());
        guard.as_ref().map(|(c, _)| c.clone())
    }

    /// Where the connection goes, if made.
    pub(super) fn address(&self) -> Option<String> {
        let guard = self.current.read().unwrap_or_else(|e| e.into_inner());
        guard.as_ref().map(|(_, a)| a.clone())
    }

    pub(super) fn invalidate(&self) {
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// The connection, made now if needed; fails fast while another task is connecting.
    async fn get(&self) -> RedisResult<C> {
        if let Some(c) = self.current() {
            return Ok(c);
        }
        let Ok(_turn) = self.connecting.try_lock() else {
            return Err(RedisError::from((
                ErrorKind::Io,
                "connecting to redis (another request is connecting)",
            )));
        };
        if let Some(c) = self.current() {
            return Ok(c);
        }
        let (conn, address) = (self.connect)().await?;
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Some((conn.clone(), address));
        Ok(conn)
    }

    /// Drops the connection after `e` if it says the server is gone or no longer a primary.
    fn after_error(&self, e: &RedisError) {
        let lost = e.is_io_error()
            || e.is_connection_dropped()
            || e.is_timeout()
            || e.is_connection_refusal()
            || matches!(
                e.kind(),
                ErrorKind::Server(redis::ServerErrorKind::ReadOnly)
            );
        if self.drop_on_error && lost {
            self.invalidate();
        }
    }
}

impl<C: ConnectionLike + Clone + Send + Sync + 'static> Lazy<C> {
    pub(super) fn command<'a>(&'a self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move {
            let mut conn = self.get().await?;
            let r = conn.req_packed_command(cmd).await;
            if let Err(e) = &r {
                self.after_error(e);
            }
            r
        })
    }

    pub(super) fn commands<'a>(
        &'a self,
        pipe: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            let mut conn = self.get().await?;
            let r = conn.req_packed_commands(pipe, offset, count).await;
            if let Err(e) = &r {
                self.after_error(e);
            }
            r
        })
    }
}
