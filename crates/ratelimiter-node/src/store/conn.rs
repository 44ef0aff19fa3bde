//! The connection to Redis in each `--redis-mode`, behind one cheap-to-clone type
//! ([`RedisConn`]) that every call of the store goes through.
//!
//! - `single`: redis-rs's [`ConnectionManager`], multiplexed and reconnecting, as always.
//! - `cluster`: redis-rs's [`cluster_async::ClusterConnection`]: commands are routed by key
//!   slot, `MOVED`/`ASK` followed and the slot map refreshed by redis-rs itself; its response
//!   timeout is the node's Redis timeout.
//! - `sentinel`: a multiplexed connection to the primary that the sentinels name; dropped on an
//!   I/O error, a `READONLY` answer (a demoted primary) or a timeout, and whenever the sentinels
//!   name another primary ([`RedisConn::refresh`]), so the next call resolves the primary again.
//!
//! Cluster and sentinel connections are made on first use ([`Lazy`]), so a node starts while
//! Redis is down and connects once it is up; one task connects at a time while the others fail
//! fast to their failure mode.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use ratelimiter_schema::RedisMode;
use redis::aio::{
    ConnectionLike, ConnectionManager, ConnectionManagerConfig, MultiplexedConnection,
};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::sentinel::{SentinelClient, SentinelClientBuilder, SentinelServerType};
use redis::{
    AsyncConnectionConfig, Cmd, ErrorKind, IntoConnectionInfo, Pipeline, RedisError, RedisFuture,
    RedisResult, Value,
};

use super::lazy::{Connector, Lazy};

/// What the store needs to connect.
#[derive(Debug, Clone, Copy)]
pub struct ConnectOptions<'a> {
    /// How Redis is reached.
    pub mode: RedisMode,
    /// One URL (single) or a comma-separated list (cluster seeds, sentinels).
    pub urls: &'a str,
    /// PEM roots trusted for `rediss://`.
    pub ca_pem: Option<&'a [u8]>,
    /// The primary set the sentinels watch (sentinel mode).
    pub sentinel_master: Option<&'a str>,
    /// The node's Redis timeout.
    pub timeout: Duration,
}

/// The node's connection to Redis, whatever the mode. Clones share one connection.
#[derive(Clone)]
pub enum RedisConn {
    /// One `redis-server`.
    Single(ConnectionManager),
    /// A Redis Cluster, connected on first use; and direct connections to each primary, for
    /// the decision path.
    Cluster(Arc<Lazy<ClusterConnection>>, Arc<Primaries>),
    /// The primary named by Redis Sentinel, resolved on first use and after failures; and the
    /// sentinel client, to ask which primary they name now.
    Sentinel(
        Arc<Lazy<MultiplexedConnection>>,
        Arc<tokio::sync::Mutex<SentinelClient>>,
    ),
}

impl RedisConn {
    /// A connection as `opts` says, connecting lazily.
    ///
    /// # Errors
    /// When a URL does not parse, or sentinel mode has no master name.
    pub fn new(opts: ConnectOptions<'_>) -> RedisResult<Self> {
        let urls: Vec<&str> = opts
            .urls
            .split(',')
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .collect();
        let certs = opts.ca_pem.map(|pem| redis::TlsCertificates {
            client_tls: None,
            root_cert: Some(pem.to_vec()),
        });
        match opts.mode {
            RedisMode::Single => single(urls.first().copied().unwrap_or(""), certs, opts.timeout),
            RedisMode::Cluster => cluster(&urls, certs, opts.timeout),
            RedisMode::Sentinel => sentinel(&urls, certs, opts),
        }
    }

    /// The mode of this connection.
    pub fn mode(&self) -> RedisMode {
        match self {
            Self::Single(_) => RedisMode::Single,
            Self::Cluster(..) => RedisMode::Cluster,
            Self::Sentinel(..) => RedisMode::Sentinel,
        }
    }

    /// The cluster connection, once made (cluster mode only).
    pub(super) fn cluster(&self) -> Option<ClusterConnection> {
        match self {
            Self::Cluster(lazy, _) => lazy.current(),
            _ => None,
        }
    }

    /// Cluster mode: a direct connection to the primary at `address` (`host:port`), made on
    /// first use and kept. Decisions go straight to the primary owning their slot on it, so a
    /// dead primary (whose requests fail or wait) never holds up the others' in the cluster
    /// client's recovery; a redirect falls back to the cluster connection
    /// ([`is_redirect`]).
    pub(super) fn primary(&self, address: &str) -> Option<RedisConn> {
        match self {
            Self::Cluster(_, primaries) => primaries.get(address).map(RedisConn::Single),
            _ => None,
        }
    }

    /// Sentinel mode: `host:port` of the primary currently connected to.
    pub(super) fn sentinel_primary(&self) -> Option<String> {
        match self {
            Self::Sentinel(lazy, _) => lazy.address(),
            _ => None,
        }
    }

    /// Sentinel mode: asks the sentinels which primary they name now and drops the connection
    /// when it goes elsewhere (a failover, even one that left the old primary reachable);
    /// that primary's `host:port`. Other modes, or while the client is busy: `None`.
    pub(super) async fn refresh_sentinel(&self) -> Option<String> {
        let Self::Sentinel(lazy, client) = self else {
            return None;
        };
        let mut client = client.try_lock().ok()?;
        let now = client.async_get_client().await.ok()?;
        let address = now.get_connection_info().addr().to_string();
        if lazy.address().is_some_and(|a| a != address) {
            tracing::info!(primary = %address, "the sentinels name a new primary: reconnecting");
            lazy.invalidate();
        }
        Some(address)
    }
}

fn single(
    url: &str,
    certs: Option<redis::TlsCertificates>,
    timeout: Duration,
) -> RedisResult<RedisConn> {
    let client = match certs {
        Some(certs) => redis::Client::build_with_tls(url, certs)?,
        None => redis::Client::open(url)?,
    };
    single_from(client, timeout)
}

fn single_from(client: redis::Client, timeout: Duration) -> RedisResult<RedisConn> {
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(timeout.max(Duration::from_millis(500))))
        .set_response_timeout(Some(timeout.max(Duration::from_secs(1))))
        .set_number_of_retries(1)
        .set_min_delay(Duration::from_millis(50))
        .set_max_delay(Duration::from_millis(500));
    Ok(RedisConn::Single(ConnectionManager::new_lazy_with_config(
        client, config,
    )?))
}

fn cluster(
    urls: &[&str],
    certs: Option<redis::TlsCertificates>,
    timeout: Duration,
) -> RedisResult<RedisConn> {
    let mut builder = ClusterClient::builder(urls.iter().copied())
        .connection_timeout(timeout.max(Duration::from_millis(500)))
        .response_timeout(timeout)
        .retries(3)
        .min_retry_wait(10)
        .max_retry_wait(200);
    let certs_copy = certs.clone();
    if let Some(certs) = certs {
        builder = builder.certs(certs);
    }
    let client = builder.build()?;
    let primaries = Arc::new(Primaries {
        template: urls
            .first()
            .copied()
            .unwrap_or_default()
            .into_connection_info()?,
        certs: certs_copy,
        timeout,
        conns: RwLock::new(std::collections::HashMap::new()),
    });
    let connect: Connector<ClusterConnection> = Arc::new(move || {
        let client = client.clone();
        Box::pin(async move { Ok((client.get_async_connection().await?, String::new())) })
    });
    Ok(RedisConn::Cluster(
        Arc::new(Lazy::new(connect, false)),
        primaries,
    ))
}

fn sentinel(
    urls: &[&str],
    certs: Option<redis::TlsCertificates>,
    opts: ConnectOptions<'_>,
) -> RedisResult<RedisConn> {
    let master = opts.sentinel_master.unwrap_or_default();
    if master.is_empty() {
        return Err(RedisError::from((
            ErrorKind::InvalidClientConfig,
            "sentinel mode needs --sentinel-master",
        )));
    }
    // The primary is reached with the credentials (and TLS) of the sentinel URLs.
    let first = urls
        .first()
        .copied()
        .unwrap_or_default()
        .into_connection_info()?;
    let mut builder = SentinelClientBuilder::new(
        urls.iter()
            .map(|u| u.into_connection_info().map(|i| i.addr().clone()))
            .collect::<RedisResult<Vec<_>>>()?,
        master,
        SentinelServerType::Master,
    )?;
    if let Some(password) = first.redis_settings().password() {
        builder = builder
            .set_client_to_sentinel_password(password)
            .set_client_to_redis_password(password);
    }
    if let redis::ConnectionAddr::TcpTls { insecure, .. } = first.addr() {
        let mode = if *insecure {
            redis::TlsMode::Insecure
        } else {
            redis::TlsMode::Secure
        };
        builder = builder
            .set_client_to_sentinel_tls_mode(mode)
            .set_client_to_redis_tls_mode(mode);
    }
    if let Some(certs) = certs {
        builder = builder
            .set_client_to_redis_certificates(certs.clone())
            .set_client_to_sentinel_certificates(certs);
    }
    let client: SentinelClient = builder.build()?;
    let client = Arc::new(tokio::sync::Mutex::new(client));
    let for_refresh = Arc::clone(&client);
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(opts.timeout.max(Duration::from_millis(500))))
        .set_response_timeout(Some(opts.timeout));
    let connect: Connector<MultiplexedConnection> = Arc::new(move || {
        let (client, config) = (Arc::clone(&client), config.clone());
        Box::pin(async move {
            let mut client = client.lock().await;
            let primary = client.async_get_client().await?;
            let address = primary.get_connection_info().addr().to_string();
            let conn = primary
                .get_multiplexed_async_connection_with_config(&config)
                .await?;
            Ok((conn, address))
        })
    });
    Ok(RedisConn::Sentinel(
        Arc::new(Lazy::new(connect, true)),
        for_refresh,
    ))
}

/// Cluster mode: one reconnecting connection per primary, with the seeds' credentials and TLS.
pub struct Primaries {
    template: redis::ConnectionInfo,
    certs: Option<redis::TlsCertificates>,
    timeout: Duration,
    conns: RwLock<std::collections::HashMap<String, ConnectionManager>>,
}

impl Primaries {
    fn get(&self, address: &str) -> Option<ConnectionManager> {
        if let Some(c) = self
            .conns
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(address)
        {
            return Some(c.clone());
        }
        let (host, port) = address.rsplit_once(':')?;
        let port: u16 = port.parse().ok()?;
        let addr = match self.template.addr() {
            redis::ConnectionAddr::TcpTls {
                insecure,
                tls_params,
                ..
            } => redis::ConnectionAddr::TcpTls {
                host: host.to_owned(),
                port,
                insecure: *insecure,
                tls_params: tls_params.clone(),
            },
            _ => redis::ConnectionAddr::Tcp(host.to_owned(), port),
        };
        let info = self.template.clone().set_addr(addr);
        let client = match &self.certs {
            Some(certs) => redis::Client::build_with_tls(info, certs.clone()).ok()?,
            None => redis::Client::open(info).ok()?,
        };
        let RedisConn::Single(manager) = single_from(client, self.timeout).ok()? else {
            return None;
        };
        let mut conns = self.conns.write().unwrap_or_else(|e| e.into_inner());
        Some(conns.entry(address.to_owned()).or_insert(manager).clone())
    }
}

/// Whether `e` is a cluster redirect or a transient cluster state (`MOVED`, `ASK`, `TRYAGAIN`,
/// `CLUSTERDOWN`): the call is worth sending again through the cluster connection, which
/// follows redirects and refreshes its slot map.
pub fn is_redirect(e: &RedisError) -> bool {
    use redis::ServerErrorKind as K;
    matches!(
        e.kind(),
        ErrorKind::Server(K::Moved | K::Ask | K::TryAgain | K::ClusterDown)
    )
}

impl ConnectionLike for RedisConn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(c) => c.req_packed_command(cmd),
            Self::Cluster(lazy, _) => lazy.command(cmd),
            Self::Sentinel(lazy, _) => lazy.command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipe: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(c) => c.req_packed_commands(pipe, offset, count),
            Self::Cluster(lazy, _) => lazy.commands(pipe, offset, count),
            Self::Sentinel(lazy, _) => lazy.commands(pipe, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(c) => c.get_db(),
            Self::Cluster(..) => 0,
            Self::Sentinel(lazy, _) => lazy.current().map_or(0, |c| c.get_db()),
        }
    }
}
