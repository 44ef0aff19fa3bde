//! [`ComposeEnv`]: the stack as Docker Compose services of `docker-compose.ratelimit.yml`,
//! driven through the compose CLI (`docker compose`, else `docker-compose`) and recorded in a
//! state directory.
//!
//! - `config`: [`ComposeConfig`], which file, project, ports and images.
//! - `state`: [`ComposeState`], the record `up` writes (`compose.json`).
//! - `env`: [`ComposeEnv`] itself: the recorded project and how a component maps to its
//!   service, host port and container.
//! - `verbs`: the [`Environment`](crate::Environment) verbs on the services.
//! - `engine`: running compose and `docker`, finding containers, networks and volumes by their
//!   compose labels.
//! - `inspect`: what `docker inspect` says about a container.
//! - `ready`: waiting until a container is ready on its host port, or gone.
//! - `up`: bringing the project up (ports checked first, torn down again on failure) and down
//!   (verified: no container, network or volume of the project left, no port open).
//!
//! Components are services: `redis` is `redis`, `node-N` is `ratelimiter-N`. Readiness is probed
//! from the host on the published ports (Redis PING, a node's `/readyz`), as the monitor sees
//! the stack. The Redis of the compose file persists (append-only file on the `redis-data`
//! volume), so a stopped or killed Redis comes back with its data;
//! [`Environment::restart_empty`](crate::Environment::restart_empty) removes the container and
//! the volume to bring it back empty.

mod config;
mod engine;
mod env;
mod inspect;
mod ready;
mod state;
mod up;
mod verbs;

pub use config::{CORE_SERVICES, ComposeConfig, IMAGE_VARIABLES, NODES, REDIS_VOLUME};
pub use env::ComposeEnv;
pub use state::{COMPOSE_STATE_FILE, COMPOSE_STATE_FORMAT, ComposeState};
