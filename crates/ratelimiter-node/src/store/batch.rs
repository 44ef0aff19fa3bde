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
//! read and one write too. Each call is answered on its own: the round trip per decision stays
//! one. Calls that are the same decision of one key (a hot key under concurrent requests) are
//! coalesced into one script call deciding them one after the other ([`super::coalesce`]).
//!
//! Used on one Redis (`single`); on a cluster each decision goes to its primary's own
//! connection as before.

use std::collections::HashMap;

use redis::aio::ConnectionLike;
use redis::{Cmd, ErrorKind, RedisError, RedisResult, Value};
use tokio::sync::{mpsc, oneshot};

use super::coalesce::{Group, split};
use super::conn::RedisConn;

/// Most calls in one pipeline: a bound on one write, and on what a slow batch holds up.
const MAX_BATCH: usize = 256;

/// One call waiting to leave, and where its answer goes.
struct Job {
    cmd: Cmd,
    /// When the call may be coalesced with the same calls of this batch: what makes them the
    /// same, and the cost of one request.
    group: Option<(Group, i64)>,
    reply: oneshot::Sender<RedisResult<Value>>,
}

type Reply = oneshot::Sender<RedisResult<Value>>;

/// Where the answer of one command of the pipeline goes.
enum Answer {
    /// One call's.
    One(Reply),
    /// Coalesced calls of requests of this cost: split among them, in order.
    Split(Vec<Reply>, i64),
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
    pub(super) async fn send(&self, cmd: Cmd, group: Option<(Group, i64)>) -> RedisResult<Value> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Job { cmd, group, reply })
            .map_err(|_| stopped())?;
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

/// The commands of `batch`, the same calls of one group coalesced into one (`ARGV[2n+2] = '0'`,
/// no memory guard; `ARGV[2n+3] = k`), each with where its answer goes.
fn coalesce(batch: Vec<Job>) -> Vec<(Cmd, Answer)> {
    let mut out: Vec<(Cmd, Answer)> = Vec::with_capacity(batch.len());
    let mut groups: HashMap<Group, usize> = HashMap::new();
    for job in batch {
        let Some((group, cost)) = job.group else {
            out.push((job.cmd, Answer::One(job.reply)));
            continue;
        };
        match groups.get(&group) {
            Some(&at) => {
                let answer = &mut out[at].1;
                *answer = match std::mem::replace(answer, Answer::Split(Vec::new(), cost)) {
                    Answer::One(first) => Answer::Split(vec![first, job.reply], cost),
                    Answer::Split(mut replies, cost) => {
                        replies.push(job.reply);
                        Answer::Split(replies, cost)
                    }
                };
            }
            None => {
                groups.insert(group, out.len());
                out.push((job.cmd, Answer::One(job.reply)));
            }
        }
    }
    for (cmd, answer) in &mut out {
        if let Answer::Split(replies, _) = answer {
            cmd.arg("0").arg(replies.len());
        }
    }
    out
}

/// Hands `value` (or the error) to where it goes.
fn deliver(answer: Answer, value: RedisResult<Value>) {
    match answer {
        Answer::One(reply) => {
            let _ = reply.send(value.and_then(Value::extract_error));
        }
        Answer::Split(replies, cost) => {
            let k = replies.len();
            let each = match value.and_then(Value::extract_error) {
                Ok(v) => split(&v, k, cost).map(|each| each.into_iter().map(Ok).collect()),
                Err(e) => Some(vec![Err(e); k]),
            };
            let each: Vec<RedisResult<Value>> = each.unwrap_or_else(|| {
                let e = RedisError::from((
                    ErrorKind::Parse,
                    "coalesced check answered an unexpected reply",
                ));
                vec![Err(e); k]
            });
            for (reply, v) in replies.into_iter().zip(each) {
                let _ = reply.send(v);
            }
        }
    }
}

/// Sends `batch` as one pipeline and hands each call its own answer.
async fn send_batch(mut conn: RedisConn, batch: Vec<Job>) {
    let mut commands = coalesce(batch);
    if commands.len() == 1 {
        let Some((cmd, answer)) = commands.pop() else {
            return;
        };
        deliver(answer, conn.req_packed_command(&cmd).await);
        return;
    }
    let count = commands.len();
    let mut pipe = redis::Pipeline::with_capacity(count);
    let mut answers = Vec::with_capacity(count);
    for (cmd, answer) in commands {
        pipe.add_command(cmd);
        answers.push(answer);
    }
    match conn.req_packed_commands(&pipe, 0, count).await {
        Ok(values) if values.len() == count => {
            for (answer, value) in answers.into_iter().zip(values) {
                deliver(answer, Ok(value));
            }
        }
        Ok(values) => {
            let e = RedisError::from((
                ErrorKind::Parse,
                "pipeline answered a different number of replies",
                format!("{} for {count} calls", values.len()),
            ));
            for answer in answers {
                deliver(answer, Err(e.clone()));
            }
        }
        Err(e) => {
            for answer in answers {
                deliver(answer, Err(e.clone()));
            }
        }
    }
}
