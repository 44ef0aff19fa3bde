//! Bringing a local stack up (every port checked before anything starts; what started is stopped
//! again if a later step fails) and down (exactly what was started, nothing else).

use std::net::TcpListener;
use std::path::Path;

use chrono::Utc;

use super::config::StackConfig;
use super::env::LocalEnv;
use super::process::{self, Liveness};
use super::state::{ProcessRecord, STATE_FORMAT, StackState};
use super::{cluster, sentinel};
use crate::environment::{Component, DownReport, EnvKind};
use crate::error::{Error, Result};
use crate::probe::port_open;
use crate::state_file::StateFile;

impl LocalEnv {
    /// Starts Redis and the nodes of `config`, waits until every one is ready, and records them
    /// in `config.state_dir`.
    ///
    /// Every port is checked before anything starts. If a later step fails, what was started is
    /// stopped again and the state file removed.
    ///
    /// # Errors
    /// [`Error::Config`], [`Error::AlreadyUp`] when the state directory records a running stack,
    /// [`Error::PortTaken`] naming the port, [`Error::Spawn`] or [`Error::NotReady`] (with the
    /// end of the component's log).
    pub async fn up(config: StackConfig) -> Result<Self> {
        config.validate()?;
        // Records hold absolute paths: later commands may run from another directory.
        let dir = std::path::absolute(&config.state_dir)
            .map_err(|e| Error::io(format!("state dir {}", config.state_dir.display()), e))?;
        std::fs::create_dir_all(dir.join("logs"))
            .map_err(|e| Error::io(format!("create {}", dir.display()), e))?;
        if let Some(old) = StackState::load(&dir)? {
            let running: Vec<String> = old
                .components
                .iter()
                .filter(|r| matches!(process::liveness(r), Liveness::Running { .. }))
                .map(|r| format!("{} pid {}", r.component, r.pid.unwrap_or(0)))
                .collect();
            if !running.is_empty() {
                return Err(Error::AlreadyUp {
                    dir,
                    environment: EnvKind::Local,
                    running: running.join(", "),
                });
            }
            StackState::remove(&dir)?;
        }
        let state = plan(&config, &dir)?;
        for rec in &state.components {
            check_port(&config, rec.port, rec.component)?;
            if config.redis_cluster && matches!(rec.component, Component::RedisMember(_)) {
                check_port(&config, rec.port + cluster::BUS_OFFSET, rec.component)?;
            }
        }
        for rec in &state.components {
            // Each run starts with fresh logs.
            std::fs::write(&rec.log, b"")
                .map_err(|e| Error::io(format!("log file {}", rec.log.display()), e))?;
        }
        if config.redis_sentinel {
            // Fresh configurations: a sentinel rewrites its own with what it learns.
            for rec in &state.components {
                if matches!(rec.component, Component::Sentinel(_)) {
                    let d = dir.join(rec.component.to_string());
                    let _ = std::fs::remove_dir_all(&d);
                    sentinel::write_conf(&d, rec.port, &config.sentinel_master, config.redis_port)?;
                }
            }
        }
        state.save(&dir)?;
        let env = Self::with_state(&dir, state, &config)?;
        if let Err(e) = env.start_all().await {
            // Leave nothing half-started behind.
            let _ = down(&env).await;
            return Err(e);
        }
        Ok(env)
    }

    async fn start_all(&self) -> Result<()> {
        let is_redis = |c: Component| matches!(c, Component::Redis | Component::RedisMember(_));
        let mut redis = Vec::new();
        for rec in self.state().components {
            if is_redis(rec.component) {
                redis.push(self.spawn(rec.component)?);
            }
        }
        for rec in &redis {
            self.wait_ready(rec).await?;
        }
        let master = self.state().sentinel_master;
        if let Some(master) = &master {
            // The sentinels start once the primary and its replica answer.
            let mut sentinels = Vec::new();
            for rec in self.state().components {
                if matches!(rec.component, Component::Sentinel(_)) {
                    sentinels.push(self.spawn(rec.component)?);
                }
            }
            for rec in &sentinels {
                self.wait_ready(rec).await?;
            }
            let ports: Vec<u16> = sentinels.iter().map(|r| r.port).collect();
            let (primary, replica) = match redis.as_slice() {
                [p, r] => (p.port, r.port),
                _ => return Err(Error::Config("a sentinel set has two data members".into())),
            };
            sentinel::wait_set(primary, replica, &ports, master, self.ready_timeout * 2).await?;
        } else if let Some(first) = redis
            .iter()
            .find(|r| matches!(r.component, Component::RedisMember(_)))
        {
            let ports: Vec<u16> = redis.iter().map(|r| r.port).collect();
            cluster::create(&first.program, &ports, self.ready_timeout * 2).await?;
        }
        let mut nodes = Vec::new();
        for rec in self.state().components {
            if matches!(rec.component, Component::Node(_)) {
                nodes.push(self.spawn(rec.component)?);
            }
        }
        for rec in &nodes {
            self.wait_ready(rec).await?;
        }
        Ok(())
    }
}

/// The records of a stack about to start: programs, arguments, ports and logs.
fn plan(config: &StackConfig, dir: &Path) -> Result<StackState> {
    let logs = dir.join("logs");
    let redis_url = config.endpoints().redis_url;
    let mut components = vec![ProcessRecord {
        component: Component::Redis,
        port: config.redis_port,
        pid: None,
        start_ticks: None,
        started_at: None,
        program: config.redis_server.clone(),
        args: process::redis_server_args(config.redis_port),
        log: logs.join("redis.log"),
    }];
    if config.redis_cluster {
        components = cluster::member_ports(config.redis_port)
            .into_iter()
            .enumerate()
            .map(|(i, port)| {
                let component = Component::RedisMember(i + 1);
                ProcessRecord {
                    component,
                    port,
                    pid: None,
                    start_ticks: None,
                    started_at: None,
                    program: config.redis_server.clone(),
                    args: cluster::member_args(port),
                    log: logs.join(format!("{component}.log")),
                }
            })
            .collect();
    }
    if config.redis_sentinel {
        components = sentinel_records(config, &logs);
    }
    for (i, port) in config.node_ports.iter().enumerate() {
        let component = Component::Node(i + 1);
        let mut args: Vec<String> = [
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--redis-url",
            &redis_url,
            "--node-id",
            &component.to_string(),
            "--key-prefix",
            &config.key_prefix,
            "--failure-mode",
            config.failure_mode.as_str(),
        ]
        .into_iter()
        .map(str::to_owned)
        .collect();
        if config.redis_cluster {
            args.extend(["--redis-mode".to_owned(), "cluster".to_owned()]);
        }
        if config.redis_sentinel {
            args.extend([
                "--redis-mode".to_owned(),
                "sentinel".to_owned(),
                "--sentinel-master".to_owned(),
                config.sentinel_master.clone(),
            ]);
        }
        if let Some(p) = &config.policies {
            let abs = std::path::absolute(p)
                .map_err(|e| Error::io(format!("policies file {}", p.display()), e))?;
            args.push("--policies".to_owned());
            args.push(abs.display().to_string());
        }
        components.push(ProcessRecord {
            component,
            port: *port,
            pid: None,
            start_ticks: None,
            started_at: None,
            program: config.node_bin.clone(),
            args,
            log: logs.join(format!("{component}.log")),
        });
    }
    Ok(StackState {
        format: STATE_FORMAT,
        environment: "local".to_owned(),
        subject: "ratelimit".to_owned(),
        created_at: Utc::now(),
        key_prefix: config.key_prefix.clone(),
        failure_mode: config.failure_mode.to_string(),
        components,
        secrets: config.secrets.clone(),
        sentinel_master: config
            .redis_sentinel
            .then(|| config.sentinel_master.clone()),
        overrides: Default::default(),
    })
}

/// The records of a sentinel set: `redis-1` the primary, `redis-2` its replica, then the
/// sentinels (`redis-server sentinel.conf --sentinel`, each in its own directory).
fn sentinel_records(config: &StackConfig, logs: &Path) -> Vec<ProcessRecord> {
    let record = |component: Component, port: u16, args: Vec<String>| ProcessRecord {
        component,
        port,
        pid: None,
        start_ticks: None,
        started_at: None,
        program: config.redis_server.clone(),
        args,
        log: logs.join(format!("{component}.log")),
    };
    let data = sentinel::run_of(config.redis_port, sentinel::DATA_MEMBERS);
    let mut records: Vec<ProcessRecord> = data
        .iter()
        .enumerate()
        .map(|(i, port)| {
            let primary = (i > 0).then_some(config.redis_port);
            record(
                Component::RedisMember(i + 1),
                *port,
                sentinel::data_args(*port, primary),
            )
        })
        .collect();
    records.extend(
        config
            .sentinel_ports()
            .into_iter()
            .enumerate()
            .map(|(i, port)| record(Component::Sentinel(i + 1), port, sentinel::sentinel_args())),
    );
    records
}

/// Fails with [`Error::PortTaken`] when `port` cannot be bound on 127.0.0.1, naming a free
/// alternative.
fn check_port(config: &StackConfig, port: u16, component: Component) -> Result<()> {
    TcpListener::bind(("127.0.0.1", port))
        .map(drop)
        .map_err(|source| Error::PortTaken {
            port,
            component: component.to_string(),
            instead: config.instead(&component.to_string(), port),
            source,
        })
}

/// Stops every recorded process that is still the one started (nodes first), checks that their
/// ports closed, removes the state file and Redis's working directory, and keeps the logs.
pub(super) async fn down(env: &LocalEnv) -> Result<DownReport> {
    let records = env.state().components;
    let mut stopped = Vec::new();
    for rec in records.iter().rev() {
        let mut child = env.take_child(rec.component);
        let what = process::terminate(rec, child.as_mut(), env.stop_grace).await?;
        stopped.push(format!("{}: {what}", rec.component));
    }
    let mut ports_still_open = Vec::new();
    for rec in &records {
        if port_open(rec.port).await {
            ports_still_open.push(rec.port);
        }
    }
    StackState::remove(&env.dir)?;
    let _ = std::fs::remove_dir_all(env.dir.join("redis"));
    for rec in &records {
        if matches!(
            rec.component,
            Component::RedisMember(_) | Component::Sentinel(_)
        ) {
            let _ = std::fs::remove_dir_all(env.dir.join(rec.component.to_string()));
        }
    }
    Ok(DownReport {
        stopped,
        ports_still_open,
        logs_kept: Some(env.dir.join("logs").display().to_string()),
        left_behind: Vec::new(),
    })
}
