//! Lua scripts as the node runs them: `EVALSHA`, and on `NOSCRIPT` one `EVAL` with the body.
//!
//! Both commands carry the script's keys, so on a cluster both go to the primary owning their
//! slot, and the `EVAL` caches the script on exactly the node that said `NOSCRIPT` (a replica
//! just promoted, a restarted primary). `SCRIPT LOAD`, which redis-rs's own
//! `Script::invoke_async` sends on `NOSCRIPT`, would go to every primary and fail as a whole
//! while any one of them is down. Reloads and failed reloads are counted
//! (`ratelimiter_script_reloads_total`).

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use redis::{ErrorKind, FromRedisValue, RedisResult, ServerErrorKind, ToRedisArgs};

use super::batch::Batcher;
use super::coalesce::{Group, group_of};
use super::conn::RedisConn;
use crate::metrics::Metrics;

/// A Lua script: its body and its SHA1. Cheap to clone.
#[derive(Debug, Clone)]
pub struct LuaScript {
    code: &'static str,
    sha: Arc<str>,
}

impl LuaScript {
    /// The script `code`.
    pub fn new(code: &'static str) -> Self {
        let sha = redis::Script::new(code).get_hash().into();
        Self { code, sha }
    }

    /// Its SHA1 (for `EVALSHA`).
    pub fn sha(&self) -> &str {
        &self.sha
    }

    /// A call of it, keys and arguments to add.
    pub fn call(&self) -> ScriptCall<'_> {
        ScriptCall {
            script: self,
            keys: Vec::new(),
            args: Vec::new(),
            group: None,
        }
    }
}

/// One call of a [`LuaScript`]: `KEYS` and `ARGV`.
#[derive(Debug)]
pub struct ScriptCall<'s> {
    script: &'s LuaScript,
    keys: Vec<Vec<u8>>,
    args: Vec<Vec<u8>>,
    /// Set by [`ScriptCall::coalescable`].
    group: Option<(Group, i64)>,
}

impl ScriptCall<'_> {
    /// Adds `KEYS[n]`.
    pub fn key(&mut self, key: impl ToRedisArgs) -> &mut Self {
        key.write_redis_args(&mut self.keys);
        self
    }

    /// Adds `ARGV[n]`.
    pub fn arg(&mut self, arg: impl ToRedisArgs) -> &mut Self {
        arg.write_redis_args(&mut self.args);
        self
    }

    /// Lets the batching task coalesce this call with the same calls of concurrent requests
    /// (the check script only: `lua/check.lua` decides `k` of them in one call), when it is a
    /// one-window check without the memory guard's flag and `cost` is its cost.
    pub(super) fn coalescable(&mut self, cost: u64) -> &mut Self {
        self.group = group_of(&self.keys, &self.args).zip(i64::try_from(cost).ok());
        self
    }

    /// The first key (its slot is the call's slot on a cluster).
    pub fn first_key(&self) -> Option<&[u8]> {
        self.keys.first().map(Vec::as_slice)
    }

    fn command(&self, name: &str, head: &str) -> redis::Cmd {
        let mut cmd = redis::cmd(name);
        cmd.arg(head).arg(self.keys.len());
        for k in &self.keys {
            cmd.arg(k.as_slice());
        }
        for a in &self.args {
            cmd.arg(a.as_slice());
        }
        cmd
    }

    /// [`ScriptCall::invoke`] with the `EVALSHA` sent through `batcher`, in one pipeline with
    /// the calls of concurrent requests (the `EVAL` of a reload goes alone on `conn`).
    ///
    /// # Errors
    /// What Redis answered.
    pub(super) async fn invoke_batched<T: FromRedisValue>(
        &self,
        batcher: &Batcher,
        conn: &mut RedisConn,
        metrics: &Metrics,
    ) -> RedisResult<T> {
        match batcher
            .send(
                self.command("EVALSHA", self.script.sha()),
                self.group.clone(),
            )
            .await
        {
            Ok(value) => Ok(redis::from_redis_value(value)?),
            Err(e) if e.kind() == ErrorKind::Server(ServerErrorKind::NoScript) => {
                self.reload(conn, metrics).await
            }
            Err(e) => Err(e),
        }
    }

    /// The `EVAL` after a `NOSCRIPT`, counted in `metrics`.
    async fn reload<T: FromRedisValue>(
        &self,
        conn: &mut RedisConn,
        metrics: &Metrics,
    ) -> RedisResult<T> {
        metrics.script_reloads.fetch_add(1, Relaxed);
        let r = self
            .command("EVAL", self.script.code)
            .query_async(conn)
            .await;
        if r.is_err() {
            metrics.script_reload_failures.fetch_add(1, Relaxed);
        }
        r
    }

    /// Runs it: `EVALSHA`, then on `NOSCRIPT` `EVAL` with the body, counting the reload (and
    /// its failure) in `metrics`.
    ///
    /// # Errors
    /// What Redis answered.
    pub async fn invoke<T: FromRedisValue>(
        &self,
        conn: &mut RedisConn,
        metrics: &Metrics,
    ) -> RedisResult<T> {
        match self
            .command("EVALSHA", self.script.sha())
            .query_async(conn)
            .await
        {
            Err(e) if e.kind() == ErrorKind::Server(ServerErrorKind::NoScript) => {
                self.reload(conn, metrics).await
            }
            other => other,
        }
    }
}
