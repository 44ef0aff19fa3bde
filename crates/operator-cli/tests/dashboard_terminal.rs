//! `operator dashboard` once in a real terminal: tmux runs it against a real `redis-server` and
//! `ratelimiter-node`; the screen shows the stack, and `q` (then, in another session, Ctrl-C)
//! ends it with exit code 0 and the terminal restored (the alternate screen left).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use test_support::LocalStack;

/// A tmux server of its own (its own socket), killed with everything in it on drop.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn start(name: &str) -> Self {
        assert!(
            test_support::docker::which("tmux").is_some(),
            "tmux is not on PATH: install it with `sudo apt-get install -y tmux`"
        );
        Self {
            socket: format!("operator-test-{name}-{}", std::process::id()),
        }
    }

    fn run(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Starts `command` in a detached 160×50 session.
    fn session(&self, command: &str) {
        let out = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args([
                "new-session",
                "-d",
                "-s",
                "main",
                "-x",
                "160",
                "-y",
                "50",
                command,
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "tmux: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "main"])
    }

    fn alternate_screen(&self) -> bool {
        self.run(&["display", "-p", "-t", "main", "#{alternate_on}"])
            .trim()
            == "1"
    }

    fn wait_screen(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let screen = self.screen();
            if pred(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "screen never showed {what}:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .arg("kill-server")
            .output();
    }
}

fn wait_file(path: &Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Ok(s) = std::fs::read_to_string(path)
            && s.ends_with('\n')
        {
            return s;
        }
        assert!(Instant::now() < deadline, "the dashboard did not exit");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn dashboard_ends_with(key: &str, name: &str) {
    let stack = LocalStack::start(1, |_| vec![]);
    let dir = tempfile::tempdir().unwrap();
    let exit = dir.path().join("exit");
    let command = format!(
        "{} --db {} dashboard --subject ratelimit --redis-url {} --nodes {}; echo $? > {}; sleep 60",
        env!("CARGO_BIN_EXE_operator"),
        dir.path().join("t.db").display(),
        stack.redis.url(),
        stack.nodes_flag(),
        exit.display(),
    );
    let tmux = Tmux::start(name);
    tmux.session(&command);
    // The whole frame, not one caught half drawn: ratatui redraws only the cells that changed,
    // and the capture may land between two writes.
    let screen = tmux.wait_screen("a healthy stack", |s| {
        s.contains("HEALTHY")
            && s.contains("node node-1")
            && s.contains("ready")
            && s.contains("open tickets (0)")
    });
    assert!(screen.contains("operator dashboard: ratelimit"), "{screen}");
    assert!(
        screen.contains("redis_healthy") && screen.contains("open tickets (0)"),
        "{screen}"
    );
    assert!(
        tmux.alternate_screen(),
        "the dashboard draws on the alternate screen"
    );

    tmux.run(&["send-keys", "-t", "main", key]);
    assert_eq!(wait_file(&exit).trim(), "0", "exit code");
    assert!(!tmux.alternate_screen(), "the alternate screen was left");
    let after = tmux.screen();
    assert!(
        !after.contains("operator dashboard:"),
        "the shell's screen is back:\n{after}"
    );
}

#[test]
fn q_quits_and_restores_the_terminal() {
    dashboard_ends_with("q", "q");
}

#[test]
fn ctrl_c_quits_and_restores_the_terminal() {
    dashboard_ends_with("C-c", "ctrl-c");
}

/// `--read-only` shows the tickets another monitor opened in the same database, and writes
/// none of its own.
#[test]
fn read_only_shows_another_monitors_tickets() {
    let ports = test_support::free_ports(2);
    let (redis, nodes) = (
        format!("redis://127.0.0.1:{}", ports[0]),
        format!("http://127.0.0.1:{}", ports[1]),
    );
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    let db = db.to_str().unwrap();
    let target = [
        "--subject",
        "ratelimit",
        "--redis-url",
        &redis,
        "--nodes",
        &nodes,
    ];
    let once = Command::new(env!("CARGO_BIN_EXE_operator"))
        .args(["--db", db, "monitor", "--once"])
        .args(target)
        .output()
        .unwrap();
    assert_eq!(
        once.status.code(),
        Some(1),
        "nothing runs there: violations"
    );
    let exit = dir.path().join("exit");
    let tmux = Tmux::start("read-only");
    tmux.session(&format!(
        "{} --db {db} dashboard --read-only {}; echo $? > {}; sleep 60",
        env!("CARGO_BIN_EXE_operator"),
        target.join(" "),
        exit.display()
    ));
    let screen = tmux.wait_screen("the other monitor's tickets", |s| {
        s.contains("open tickets (2)") && s.contains("observation #")
    });
    assert!(
        screen.contains("[read-only]") && screen.contains("FIRING"),
        "{screen}"
    );
    assert!(
        screen.contains("redis_healthy") && screen.contains("node_down["),
        "{screen}"
    );
    tmux.run(&["send-keys", "-t", "main", "q"]);
    assert_eq!(wait_file(&exit).trim(), "0");
    let list = Command::new(env!("CARGO_BIN_EXE_operator"))
        .args(["--db", db, "--json", "tickets", "list"])
        .output()
        .unwrap();
    let tickets: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    let n = tickets
        .as_array()
        .map(Vec::len)
        .or_else(|| tickets["tickets"].as_array().map(Vec::len));
    assert_eq!(n, Some(2), "the dashboard wrote no ticket: {tickets:#}");
}
