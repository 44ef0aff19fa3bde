//! Docker for tests on a machine that cannot pull images: images are built `FROM scratch` out of
//! binaries built or installed here, with exactly the shared libraries `ldd` says they need.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// Whether a Docker engine answers (`docker info`).
pub fn docker_available() -> bool {
    Command::new("docker")
        .arg("info")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The Compose command of this machine: `docker compose` (v2) when it exists, else
/// `docker-compose` (v1), as program and leading arguments.
///
/// # Panics
/// When neither exists.
pub fn compose_command() -> (String, Vec<String>) {
    let v2 = Command::new("docker")
        .args(["compose", "version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if v2 {
        return ("docker".into(), vec!["compose".into()]);
    }
    let v1 = Command::new("docker-compose")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        v1,
        "neither `docker compose` nor `docker-compose` is installed"
    );
    ("docker-compose".into(), Vec::new())
}

/// A file to put in an image: where it comes from on this machine, where it goes in the image.
#[derive(Debug, Clone)]
pub struct ImageFile {
    /// Path on this machine.
    pub from: PathBuf,
    /// Absolute path in the image.
    pub to: String,
}

impl ImageFile {
    /// `from` at `to`.
    pub fn new(from: impl Into<PathBuf>, to: impl Into<String>) -> Self {
        Self {
            from: from.into(),
            to: to.into(),
        }
    }
}

/// The shared libraries (and dynamic loader) `binary` loads, per `ldd`.
///
/// # Panics
/// When `ldd` fails.
pub fn shared_libraries(binary: &Path) -> Vec<PathBuf> {
    let out = Command::new("ldd").arg(binary).output().expect("run ldd");
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .filter_map(|l| {
            let l = l.trim();
            // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" or "/lib64/ld-linux-x86-64.so.2 (0x...)"
            let path = l
                .split("=>")
                .nth(1)
                .unwrap_or(l)
                .split_whitespace()
                .next()?;
            path.starts_with('/').then(|| PathBuf::from(path))
        })
        .collect()
}

/// Builds image `tag` `FROM scratch` holding `binaries` (each with its shared libraries),
/// `files`, CA certificates, empty `dirs`, a minimal `/etc/passwd`, and the Dockerfile `tail`
/// (e.g. `ENTRYPOINT [...]`, `USER ...`).
///
/// # Panics
/// When a file is missing or `docker build` fails (its output is in the message).
pub fn build_scratch_image(
    tag: &str,
    binaries: &[ImageFile],
    files: &[ImageFile],
    dirs: &[&str],
    tail: &str,
) {
    let ctx = tempfile::tempdir().expect("build context");
    let root = ctx.path().join("rootfs");
    let mut copies: Vec<ImageFile> = binaries.to_vec();
    copies.extend(files.iter().cloned());
    let mut libs = BTreeSet::new();
    for b in binaries {
        libs.extend(shared_libraries(&b.from));
    }
    copies.extend(libs.into_iter().map(|l| {
        let to = l.to_string_lossy().into_owned();
        ImageFile { from: l, to }
    }));
    let certs = Path::new("/etc/ssl/certs/ca-certificates.crt");
    if certs.is_file() {
        copies.push(ImageFile::new(certs, "/etc/ssl/certs/ca-certificates.crt"));
    }
    for f in &copies {
        let dest = root.join(f.to.trim_start_matches('/'));
        std::fs::create_dir_all(dest.parent().expect("absolute path")).expect("mkdir");
        // Follow symlinks: the image gets the real file under the name the loader asks for.
        std::fs::copy(&f.from, &dest)
            .unwrap_or_else(|e| panic!("copy {} into the image: {e}", f.from.display()));
    }
    for d in dirs.iter().chain(&["/tmp"]) {
        std::fs::create_dir_all(root.join(d.trim_start_matches('/'))).expect("mkdir");
    }
    std::fs::create_dir_all(root.join("etc")).expect("mkdir etc");
    std::fs::write(
        root.join("etc/passwd"),
        "root:x:0:0:root:/:/sbin/nologin\nnobody:x:65534:65534:nobody:/:/sbin/nologin\napp:x:10001:10001:app:/:/sbin/nologin\n",
    )
    .expect("passwd");
    std::fs::write(
        root.join("etc/group"),
        "root:x:0:\nnogroup:x:65534:\napp:x:10001:\n",
    )
    .expect("group");
    std::fs::write(
        ctx.path().join("Dockerfile"),
        format!("FROM scratch\nCOPY rootfs/ /\n{tail}\n"),
    )
    .expect("Dockerfile");
    let out = run(Command::new("docker")
        .args(["build", "-q", "-t", tag])
        .arg(ctx.path()));
    assert!(
        out.status.success(),
        "docker build {tag} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs `cmd`, capturing its output.
///
/// # Panics
/// When it cannot be started.
pub fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {:?}: {e}", cmd.get_program()))
}

/// Finds `name` on `PATH`.
pub fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}
