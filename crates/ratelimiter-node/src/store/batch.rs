//! Decisions that leave together: the script calls of concurrent requests, gathered by one task
//! and written to Redis as one pipeline ([`Batcher`]).
//!
//! Why: a profile of the node under load showed half of its CPU in the kernel, most of it in
//! the loopback `writev` path, and about one write to Redis per decision. The multiplexed
//! connection already pipelines, but Tokio runs a task woken by the running one next (its LIFO
//! slot), so the connection's writer ran after each request's command alone. The gatherer
//! instead yields once after the first call arrives ([`tokio::task::yield_now`] defers it until
//! the worker has run its ready tasks and polled the I/O driver): every request of that round
//! adds its call, and all of them go out in one write, come back in one read, and cost Redis one
//! read and one write too. Each call is still its own script call, answered on its own: the
//! round trip per decision stays one, and nothing is merged.
//!
//! Used on one Redis (`single`); on a cluster each decision goes to its primary's own
//! connection as before.

use redis::aio::ConnectionLike;
use redis::{Cmd, ErrorKind, RedisError, RedisResult, Value};
use tokio::sync::{mpsc, oneshot};

use super::conn::RedisConn;

/// Most calls in one pipeline: a bound on one write, and on what a slow batch holds up.
const MAX_BATCH: usize = 256;

/// One call waiting to leave, and where its answer goes.
struct Job {
    cmd: Cmd,
    reply: oneshot::Sender<RedisResult<Value>>,
}

/// The gathering task's inbox. Cheap to clone; the task ends when the last clone is dropped.
#[derive(Clone)]
pub(super) struct Batcher {
    jobs: mpsc::UnboundedSender<Job>,
}

impl std::fmt::Debug for Batcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batcher").finish_non_exhaustive()
    }
}

impl Batcher {
    /// Starts the gathering task on `conn`. Must be called inside a Tokio runtime.
    pub(super) fn start(conn: RedisConn) -> Self {
        let (jobs, inbox) = mpsc::unbounded_channel();
        tokio::spawn(gather(inbox, conn));
        Self { jobs }
    }

    /// Sends `cmd` with the calls of the other requests of this scheduler round; its answer
    /// (a server error as `Err`).
    ///
    /// # Errors
    /// What Redis answered to it, or the connection's error for the whole pipeline.
    pub(super) async fn send(&self, cmd: Cmd) -> RedisResult<Value> {
        let (reply, answer) = oneshot::channel();
        self.jobs.send(Job { cmd, reply }).map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

fn stopped() -> RedisError {
    RedisError::from((ErrorKind::Io, "the batching task stopped"))
}

/// Gathers the calls that arrive in one scheduler round and sends each batch on its own task,
/// so a batch in flight never holds up the next.
async fn gather(mut inbox: mpsc::UnboundedReceiver<Job>, conn: RedisConn) {
    while let Some(first) = inbox.recv().await {
        let mut batch = vec![first];
        tokio::task::yield_now().await;
        while batch.len() < MAX_BATCH {
            match inbox.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        tokio::spawn(send_batch(conn.clone(), batch));
    }
}

/// Sends `batch` as one pipeline and hands each call its own answer.
async fn send_batch(mut conn: RedisConn, mut batch: Vec<Job>) {
    if batch.len() == 1 {
        let Some(job) = batch.pop() else { return };
        let answer = conn
            .req_packed_command(&job.cmd)
            .await
            .and_then(Value::extract_error);
        let _ = job.reply.send(answer);
        return;
    }
    let count = batch.len();
    let mut pipe = redis::Pipeline::with_capacity(count);
    let mut replies = Vec::with_capacity(count);
    for job in batch {
        pipe.add_command(job.cmd);
        replies.push(job.reply);
    }
    match conn.req_packed_commands(&pipe, 0, count).await {
        Ok(values) if values.len() == count => {
            for (reply, value) in replies.into_iter().zip(values) {
                let _ = reply.send(value.extract_error());
            }
        }
        Ok(values) => {
            let e = RedisError::from((
                ErrorKind::Parse,
                "pipeline answered a different number of replies",
                format!("{} for {count} calls", values.len()),
            ));
            for reply in replies {
                let _ = reply.send(Err(e.clone()));
            }
        }
        Err(e) => {
            for reply in replies {
                let _ = reply.send(Err(e.clone()));
            }
        }
    }
}
