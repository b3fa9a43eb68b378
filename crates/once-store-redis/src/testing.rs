//! Test support (feature `testing`): a `redis-server` a test owns (its own port, directory and
//! settings, so it can be killed and restarted), unique key prefixes, and key cleanup.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The shared Redis the suites use (`ONCE_TEST_REDIS_URL`, default `redis://127.0.0.1:6379/`).
pub fn shared_redis_url() -> String {
    std::env::var("ONCE_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/".into())
}

static NEXT: AtomicU64 = AtomicU64::new(0);

/// A key prefix no other test (in this or another process) uses.
pub fn fresh_prefix() -> String {
    format!("once-test:{}:{}:", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Deletes every key under `prefix` when dropped. Synchronous, so it works wherever it drops.
pub struct Cleanup {
    pub url: String,
    pub prefix: String,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let Ok(client) = redis::Client::open(self.url.as_str()) else { return };
        let Ok(mut conn) = client.get_connection_with_timeout(Duration::from_secs(2)) else { return };
        let keys: Vec<Vec<u8>> = match redis::cmd("KEYS").arg(format!("{}*", self.prefix)).query(&mut conn) {
            Ok(keys) => keys,
            Err(_) => return,
        };
        if !keys.is_empty() {
            let _: redis::RedisResult<()> = redis::cmd("DEL").arg(keys).query(&mut conn);
        }
    }
}

/// A `redis-server` process owned by one test, on a free port, in a temp dir.
pub struct OwnedRedis {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
    args: Vec<String>,
}

impl OwnedRedis {
    /// Starts `redis-server` with no snapshots plus `extra` arguments (e.g. `--appendonly yes`).
    /// Panics with a clear message if `redis-server` is not installed.
    pub fn start(extra: &[&str]) -> OwnedRedis {
        let dir = tempfile::tempdir().expect("temp dir for redis-server");
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            l.local_addr().expect("addr").port()
        };
        let mut redis =
            OwnedRedis { child: None, port, dir, args: extra.iter().map(|s| s.to_string()).collect() };
        redis.launch();
        redis
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    pub fn dir(&self) -> PathBuf {
        self.dir.path().to_owned()
    }

    fn launch(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", "", "--dir"])
            .arg(self.dir.path())
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("cannot run redis-server: install it (Debian: apt-get install redis-server)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.ping() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("redis-server on port {} did not answer within 10 s", self.port);
    }

    fn ping(&self) -> bool {
        let Ok(client) = redis::Client::open(self.url()) else { return false };
        let Ok(mut conn) = client.get_connection_with_timeout(Duration::from_millis(200)) else {
            return false;
        };
        redis::cmd("PING").query::<String>(&mut conn).is_ok()
    }

    /// SIGKILL: Redis gets no chance to flush anything.
    pub fn kill_9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port and directory (so it reloads its AOF, if it has one).
    pub fn restart(&mut self) {
        self.kill_9();
        self.launch();
    }
}

impl Drop for OwnedRedis {
    fn drop(&mut self) {
        self.kill_9();
    }
}
