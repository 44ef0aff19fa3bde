//! Test certificates: a CA and a server certificate for 127.0.0.1 signed by it, made with the
//! `openssl` command.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The PEM files of a test CA and of a server certificate for `127.0.0.1` it signed.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// The CA certificate, to trust (`--redis-ca-file`).
    pub ca: PathBuf,
    /// The server certificate.
    pub cert: PathBuf,
    /// The server's private key.
    pub key: PathBuf,
}

impl TlsFiles {
    /// Makes the CA and the server certificate in `dir` (valid one day).
    ///
    /// # Panics
    /// When `openssl` is missing (the message says how to install it) or fails.
    pub fn generate(dir: &Path) -> Self {
        let p = |name: &str| dir.join(name).display().to_string();
        std::fs::write(
            dir.join("ext.cnf"),
            "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
        )
        .expect("write the certificate extensions");
        let steps: [&[&str]; 3] = [
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "1",
                "-subj",
                "/CN=test-ca",
                "-keyout",
                &p("ca.key"),
                "-out",
                &p("ca.pem"),
            ],
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                "/CN=127.0.0.1",
                "-keyout",
                &p("key.pem"),
                "-out",
                &p("req.csr"),
            ],
            &[
                "x509",
                "-req",
                "-in",
                &p("req.csr"),
                "-CA",
                &p("ca.pem"),
                "-CAkey",
                &p("ca.key"),
                "-CAcreateserial",
                "-days",
                "1",
                "-out",
                &p("cert.pem"),
                "-extfile",
                &p("ext.cnf"),
            ],
        ];
        for args in steps {
            let status = Command::new("openssl")
                .args(args)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .expect(
                    "the `openssl` command is needed to make test certificates \
                     (apt-get install openssl)",
                );
            assert!(status.success(), "openssl {args:?} failed");
        }
        Self {
            ca: dir.join("ca.pem"),
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
        }
    }
}
