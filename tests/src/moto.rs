//! A real S3-compatible server for tests: moto's server (PyPI `moto[server]`, installed by
//! scripts/bootstrap) on a free loopback port, killed on drop.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct MotoServer {
    child: Child,
    pub endpoint: String,
}

impl MotoServer {
    /// Starts moto and waits until it answers.
    pub fn start() -> anyhow::Result<MotoServer> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let child = Command::new("python3")
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let server = MotoServer {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            anyhow::ensure!(
                start.elapsed() < Duration::from_secs(30),
                "moto did not start (pip install 'moto[server]')"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(server)
    }

    /// Creates a bucket (S3 CreateBucket is a PUT on the bucket path).
    pub async fn create_bucket(&self, name: &str) -> anyhow::Result<()> {
        let resp = reqwest::Client::new()
            .put(format!("{}/{name}", self.endpoint))
            .send()
            .await?;
        anyhow::ensure!(
            resp.status().is_success(),
            "create bucket: {}",
            resp.status()
        );
        Ok(())
    }

    /// object_store S3 options pointing at this server.
    pub fn options(&self) -> BTreeMap<String, String> {
        [
            ("aws_endpoint", self.endpoint.as_str()),
            ("aws_allow_http", "true"),
            ("aws_access_key_id", "test"),
            ("aws_secret_access_key", "test"),
            ("aws_region", "us-east-1"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
