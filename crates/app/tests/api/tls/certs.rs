//! Test certificates made with the `openssl` command line into a folder
//! of their own, removed when dropped: a CA, a server certificate for
//! `127.0.0.1` and `localhost` and a client certificate signed by it, and
//! a second CA that signed nothing (the wrong one to trust).

use std::path::{Path, PathBuf};

use tokio::process::Command;
use uuid::Uuid;

/// The files, by name: `ca.crt`, `server.crt`, `server.key`, `client.crt`,
/// `client.key`, `other-ca.crt`.
pub struct Certs {
    dir: PathBuf,
}

const CA_EXT: &str = "basicConstraints=critical,CA:TRUE
keyUsage=critical,keyCertSign,cRLSign
subjectKeyIdentifier=hash
";
const SERVER_EXT: &str = "basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,DNS:localhost
authorityKeyIdentifier=keyid
";
const CLIENT_EXT: &str = "basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth
authorityKeyIdentifier=keyid
";

impl Certs {
    pub async fn make() -> Self {
        let dir = std::env::temp_dir().join(format!("bulkhead-certs-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let certs = Self { dir };
        certs.authority("ca", "bulkhead test CA").await;
        certs.authority("other-ca", "bulkhead other test CA").await;
        certs.leaf("server", "127.0.0.1", SERVER_EXT).await;
        certs.leaf("client", "bulkhead-client", CLIENT_EXT).await;
        certs
    }

    pub fn path(&self, name: &str) -> PathBuf {
        let path = self.dir.join(name);
        assert!(path.exists(), "no test file {name}");
        path
    }

    pub fn path_str(&self, name: &str) -> String {
        self.path(name).to_str().unwrap().to_owned()
    }

    async fn authority(&self, name: &str, cn: &str) {
        self.key_and_request(name, cn).await;
        std::fs::write(self.dir.join(format!("{name}.ext")), CA_EXT).unwrap();
        openssl(
            &self.dir,
            &[
                "x509",
                "-req",
                "-days",
                "2",
                "-in",
                &format!("{name}.csr"),
                "-signkey",
                &format!("{name}.key"),
                "-extfile",
                &format!("{name}.ext"),
                "-out",
                &format!("{name}.crt"),
            ],
        )
        .await;
    }

    async fn leaf(&self, name: &str, cn: &str, ext: &str) {
        self.key_and_request(name, cn).await;
        std::fs::write(self.dir.join(format!("{name}.ext")), ext).unwrap();
        let serial = format!("0x{}", Uuid::new_v4().simple());
        openssl(
            &self.dir,
            &[
                "x509",
                "-req",
                "-days",
                "2",
                "-in",
                &format!("{name}.csr"),
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-set_serial",
                &serial,
                "-extfile",
                &format!("{name}.ext"),
                "-out",
                &format!("{name}.crt"),
            ],
        )
        .await;
    }

    async fn key_and_request(&self, name: &str, cn: &str) {
        let key = format!("{name}.key");
        openssl(
            &self.dir,
            &[
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-out",
                &key,
            ],
        )
        .await;
        let subject = format!("/CN={cn}");
        openssl(
            &self.dir,
            &[
                "req",
                "-new",
                "-key",
                &key,
                "-subj",
                &subject,
                "-out",
                &format!("{name}.csr"),
            ],
        )
        .await;
    }
}

impl Drop for Certs {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn openssl(dir: &Path, args: &[&str]) {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .await
        .expect("the openssl command line is installed");
    assert!(
        output.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}
