//! Running `once` as users do: `once serve` processes on free ports, and one-shot commands.

#![allow(dead_code)]

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use once_client::Client;

pub const BIN: &str = env!("CARGO_BIN_EXE_once");

pub struct Server {
    pub child: Child,
    pub port: u16,
    pub log: PathBuf,
}

pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

impl Server {
    /// `once serve` on `data_dir`, logging to `<data_dir>/<name>.log`, once it accepts connections.
    pub fn start(data_dir: &Path, name: &str, envs: &[(&str, &str)]) -> Server {
        Self::spawn(data_dir, data_dir.join(format!("{name}.log")), &[], envs)
    }

    /// `once serve` with extra arguments and the log where the caller wants it.
    pub fn spawn(data_dir: &Path, log: PathBuf, extra: &[&str], envs: &[(&str, &str)]) -> Server {
        let port = free_port();
        let mut cmd = once_command();
        cmd.args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
            .arg(data_dir)
            .args(extra)
            .env_remove("RUST_LOG")
            .env("ONCE_CRYPTO__PASSPHRASE_M_COST_KIB", "256")
            .env("ONCE_CRYPTO__PASSPHRASE_T_COST", "1")
            // Tests make many requests from one address; a test may turn limits back on in `envs`.
            .env("ONCE_LIMITS__ENABLED", "false")
            .stdout(Stdio::null())
            .stderr(File::create(&log).expect("log file"));
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("spawn once serve");
        let mut server = Server { child, port, log };
        server.wait_ready();
        server
    }

    pub fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "server exited with {status}: {}",
                    std::fs::read_to_string(&self.log).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("server did not start: {}", std::fs::read_to_string(&self.log).unwrap_or_default());
    }

    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn client(&self) -> Client {
        Client::new(&self.base())
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill_9(mut self) {
        self.child.kill().expect("kill -9");
        let _ = self.child.wait();
    }

    /// SIGTERM, then wait for a graceful exit.
    pub fn stop(mut self) -> String {
        let term = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().expect("kill");
        assert!(term.success());
        let status = self.child.wait().expect("wait");
        assert!(status.success(), "graceful shutdown exits 0, got {status}");
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `once` binary, without the tests' own settings (`ONCE_TEST_*`), which are not its config
/// keys.
pub fn once_command() -> Command {
    let mut cmd = Command::new(BIN);
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("ONCE_TEST_")) {
        cmd.env_remove(k);
    }
    cmd
}

pub fn once(args: &[&str], data_dir: &Path) -> (bool, String, String) {
    let out = once_command().args(args).arg("--data-dir").arg(data_dir).output().expect("run once");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `once ARGS --data-dir DIR` with `input` on standard input (not a terminal).
pub fn once_with_input(args: &[&str], data_dir: &Path, input: &str) -> (bool, String, String) {
    use std::io::Write;
    let mut child = once_command()
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run once");
    child.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("write stdin");
    let out = child.wait_with_output().expect("wait");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `callers` concurrent `POST /api/v1/secret/{key}`, released together, alternating between the
/// `bases` (instances). Asserts no server error and that every 200 carries `expected`; returns
/// how many got the secret.
pub async fn reveal_race(
    http: &reqwest::Client,
    bases: &[String],
    key: &str,
    callers: usize,
    expected: &str,
) -> usize {
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(callers));
    let tasks: Vec<_> = (0..callers)
        .map(|n| {
            let url = format!("{}/api/v1/secret/{key}", bases[n % bases.len()]);
            let (http, barrier) = (http.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                let resp = http.post(url).send().await.expect("reveal");
                (resp.status().as_u16(), resp.json::<serde_json::Value>().await.expect("json"))
            })
        })
        .collect();
    let mut winners = 0;
    for t in tasks {
        let (status, body) = t.await.expect("task");
        assert!(status < 500, "server error {status}: {body}");
        if status == 200 {
            assert_eq!(body["value"], expected);
            winners += 1;
        }
    }
    winners
}
