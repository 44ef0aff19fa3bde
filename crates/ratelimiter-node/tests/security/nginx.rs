//! A real nginx in front of a node, as in the compose stack, for the trusted-proxy tests.

use std::process::{Command, Stdio};
use std::time::Duration;

use test_support::ChildGuard;

/// nginx on `127.0.0.1:port`, proxying to one node and connecting to it from `bind` (so the node
/// can tell the proxy from clients on the same host). Killed on drop.
pub struct Nginx {
    _guard: ChildGuard,
    /// Its port on 127.0.0.1.
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl Nginx {
    /// Starts nginx forwarding to `127.0.0.1:upstream` from the address `bind`, appending the
    /// client to `X-Forwarded-For` like the compose stack's `deploy/ratelimit/nginx.conf`.
    ///
    /// # Panics
    /// When nginx is not installed (`apt-get install nginx`) or does not listen within 10 s.
    pub fn start(upstream: u16, bind: &str) -> Self {
        let bin = std::env::var("NGINX_BIN").unwrap_or_else(|_| "nginx".into());
        let dir = tempfile::tempdir().expect("tempdir");
        let port = test_support::free_port();
        let d = dir.path().display();
        let conf = format!(
            "daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx.pid;\n\
             error_log {d}/error.log warn;\nevents {{ worker_connections 64; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n\
             fastcgi_temp_path {d}/fcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
             server {{\n    listen 127.0.0.1:{port};\n    location / {{\n\
             proxy_pass http://127.0.0.1:{upstream};\n      proxy_bind {bind};\n\
             proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n    }}\n  }}\n}}\n"
        );
        let path = dir.path().join("nginx.conf");
        std::fs::write(&path, conf).expect("write nginx.conf");
        let Some(bin) = which(&bin) else {
            panic!("nginx not found ({bin}): install it (apt-get install nginx) or set NGINX_BIN");
        };
        let mut cmd = Command::new(&bin);
        cmd.arg("-e")
            .arg(dir.path().join("error.log"))
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        let guard = ChildGuard::spawn("nginx", &mut cmd);
        assert!(
            test_support::ports::wait_for_port(port, Duration::from_secs(10)),
            "nginx did not listen on {port}; see {d}/error.log"
        );
        Self {
            _guard: guard,
            port,
            _dir: dir,
        }
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url_for(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

fn which(bin: &str) -> Option<std::path::PathBuf> {
    if bin.contains('/') {
        return Some(bin.into()).filter(|p: &std::path::PathBuf| p.exists());
    }
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .chain(["/usr/sbin", "/sbin"])
        .map(|d| std::path::Path::new(d).join(bin))
        .find(|p| p.exists())
}
