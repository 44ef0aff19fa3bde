//! Docker Compose on this machine's engine, which cannot pull images: local images built
//! `FROM scratch` out of the binaries built or installed here (once per test binary, shared by
//! its tests, removed by the last one), one engine scenario at a time, and compose projects taken
//! down (containers, network, volume) when dropped.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, Instant};

use test_support::docker::{
    ImageFile, build_scratch_image, compose_command, docker_available, run, which,
};
use test_support::workspace_bin;

/// The core services (compose_prometheus.rs adds Prometheus on a local image; Grafana has none).
/// The admin token the tests' compose stacks run with (a test value, not a secret).
pub const ADMIN_TOKEN: &str = "compose-test-admin-token";

pub const CORE_SERVICES: [&str; 5] = [
    "redis",
    "ratelimiter-1",
    "ratelimiter-2",
    "ratelimiter-3",
    "lb",
];

/// The repository's root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("repository root")
        .to_path_buf()
}

/// The rate limiter's compose file.
pub fn compose_file() -> PathBuf {
    repo_root().join("docker-compose.ratelimit.yml")
}

/// Whether to run; panics when Docker is required (`OPERATOR_REQUIRE_DOCKER`) but missing.
/// Says loudly, past the harness's output capture, that `test` did not run.
pub fn docker_or_say_so(test: &str) -> bool {
    if docker_available() {
        return true;
    }
    assert!(
        std::env::var_os("OPERATOR_REQUIRE_DOCKER").is_none(),
        "OPERATOR_REQUIRE_DOCKER is set but no Docker engine answers `docker info`"
    );
    let _ = std::io::stderr().write_all(
        format!("\n\n*** {test}: NO DOCKER ENGINE: this docker-compose.ratelimit.yml test DID NOT RUN ***\n\n")
            .as_bytes(),
    );
    false
}

/// Local images standing in for the public ones; removed when the last holder drops them.
pub struct Images {
    /// `RATELIMITER_IMAGE`.
    pub node: String,
    /// `REDIS_IMAGE`.
    pub redis: String,
    /// `NGINX_IMAGE`.
    pub nginx: String,
}

impl Images {
    /// The environment a user gives `compose up`: the images built here, and the admin token and
    /// identifier secret the compose file requires (test values, not secrets).
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("RATELIMITER_IMAGE".into(), self.node.clone()),
            ("REDIS_IMAGE".into(), self.redis.clone()),
            ("NGINX_IMAGE".into(), self.nginx.clone()),
            ("RATELIMITER_ADMIN_TOKEN".into(), ADMIN_TOKEN.into()),
            (
                "RATELIMITER_IDENTIFIER_SECRET".into(),
                "compose-test-identifier-secret".into(),
            ),
        ]
    }

    /// [`env`](Self::env) on the network `<prefix>.0/24` (`RATELIMIT_SUBNET_PREFIX`): stacks
    /// running at once need subnets of their own, as Docker refuses overlapping ones.
    pub fn env_with_subnet(&self, prefix: &str) -> Vec<(String, String)> {
        let mut env = self.env();
        env.push(("RATELIMIT_SUBNET_PREFIX".into(), prefix.into()));
        env
    }

    fn build() -> Self {
        let tag = |name: &str| format!("operator-test/{name}:{}", std::process::id());
        let need = |name: &str, pkg: &str| {
            which(name).unwrap_or_else(|| {
                panic!(
                    "{name} is not installed: `sudo apt-get install -y {pkg}` (./scripts/test does it)"
                )
            })
        };
        let images = Self {
            node: tag("ratelimiter-node"),
            redis: tag("redis"),
            nginx: tag("nginx"),
        };
        let started = Instant::now();
        build_scratch_image(
            &images.node,
            &[ImageFile::new(
                workspace_bin("ratelimiter-node"),
                "/usr/local/bin/ratelimiter-node",
            )],
            &[],
            &[],
            "ENV PATH=/usr/local/bin:/usr/bin:/bin\nENV RATELIMITER_LISTEN=0.0.0.0:8080\nUSER 10001:10001\n\
             ENTRYPOINT [\"ratelimiter-node\"]",
        );
        build_scratch_image(
            &images.redis,
            &[
                ImageFile::new(
                    need("redis-server", "redis-server"),
                    "/usr/local/bin/redis-server",
                ),
                ImageFile::new(need("redis-cli", "redis-tools"), "/usr/local/bin/redis-cli"),
            ],
            &[],
            &["/data"],
            "ENV PATH=/usr/local/bin:/usr/bin:/bin\nCMD [\"redis-server\"]",
        );
        build_scratch_image(
            &images.nginx,
            &[ImageFile::new(
                need("nginx", "nginx-light"),
                "/usr/sbin/nginx",
            )],
            &[],
            &["/var/log/nginx", "/var/lib/nginx", "/etc/nginx", "/run"],
            "ENV PATH=/usr/sbin:/usr/bin:/bin\nCMD [\"nginx\", \"-g\", \"daemon off;\"]",
        );
        let _ = writeln!(
            std::io::stderr(),
            "built local images {}, {}, {} in {:?}",
            images.node,
            images.redis,
            images.nginx,
            started.elapsed()
        );
        images
    }
}

impl Drop for Images {
    fn drop(&mut self) {
        for image in [&self.node, &self.redis, &self.nginx] {
            let _ = run(Command::new("docker").args(["rmi", "-f", image]));
        }
    }
}

static IMAGES: Mutex<Weak<Images>> = Mutex::new(Weak::new());
static ENGINE: Mutex<()> = Mutex::new(());

/// The local images, built by the first test that asks while no other holds them.
pub fn images() -> Arc<Images> {
    let mut slot = IMAGES.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(images) = slot.upgrade() {
        return images;
    }
    let images = Arc::new(Images::build());
    *slot = Arc::downgrade(&images);
    images
}

/// One engine scenario at a time: two stacks starting at once on two cores would blur every
/// timing the scenarios observe.
pub fn engine() -> MutexGuard<'static, ()> {
    ENGINE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A compose project of the rate limiter's file, taken down (`down -v`) when dropped.
pub struct Project {
    /// The project name.
    pub name: String,
    program: String,
    lead: Vec<String>,
    file: PathBuf,
    /// Variables of every compose command (images, ports).
    pub env: Vec<(String, String)>,
}

impl Project {
    /// Project `name` with `env`.
    pub fn new(name: &str, env: Vec<(String, String)>) -> Self {
        Self::with_file(name, compose_file(), env)
    }

    /// Project `name` of the compose file `file` with `env`.
    pub fn with_file(name: &str, file: PathBuf, env: Vec<(String, String)>) -> Self {
        let (program, lead) = compose_command();
        Self {
            name: name.to_owned(),
            program,
            lead,
            file,
            env,
        }
    }

    /// `compose -p NAME -f FILE <args>`.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.program);
        c.args(&self.lead)
            .args(["-p", &self.name, "-f"])
            .arg(&self.file)
            .args(args)
            .current_dir(repo_root())
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        c
    }

    /// Runs compose; panics unless it succeeds; returns its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = run(&mut self.cmd(args));
        assert!(
            out.status.success(),
            "compose {args:?} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The container id of `service`.
    pub fn container(&self, service: &str) -> String {
        self.ok(&["ps", "-q", service]).trim().to_owned()
    }

    /// Docker's health status of `service`'s container.
    pub fn health(&self, service: &str) -> String {
        let id = self.container(service);
        let out =
            run(Command::new("docker").args(["inspect", "-f", "{{.State.Health.Status}}", &id]));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Waits until every core service is healthy.
    ///
    /// # Panics
    /// After `timeout`, naming each service's health.
    pub fn wait_healthy(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let states: Vec<String> = CORE_SERVICES.iter().map(|s| self.health(s)).collect();
            if states.iter().all(|s| s == "healthy") {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "not all healthy after {timeout:?}: {CORE_SERVICES:?} = {states:?}"
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// What the engine still holds with the project's label: containers, networks, volumes.
    pub fn leftovers(&self) -> Vec<String> {
        let label = format!("label=com.docker.compose.project={}", self.name);
        let mut left = Vec::new();
        for (kind, args) in [
            ("container", vec!["ps", "-a", "-q", "--filter", &label]),
            ("network", vec!["network", "ls", "-q", "--filter", &label]),
            ("volume", vec!["volume", "ls", "-q", "--filter", &label]),
        ] {
            let out = run(Command::new("docker").args(&args));
            left.extend(
                String::from_utf8_lossy(&out.stdout)
                    .lines()
                    .map(|l| format!("{kind} {l}")),
            );
        }
        left
    }

    /// `down -v --remove-orphans`.
    pub fn down(&self) {
        let _ = run(&mut self.cmd(&["down", "-v", "--remove-orphans", "-t", "2"]));
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        self.down();
    }
}

/// Runs `operator` with `args` and the variables `env` (images), logs quiet.
pub fn operator_with(env: &[(String, String)], args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_operator"))
        .args(args)
        .env("OPERATOR_LOG", "error")
        .env_remove("OPERATOR_STATE_DIR")
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .expect("run operator")
}
