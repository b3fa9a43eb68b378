use std::sync::Arc;

use once_client::Client;
use once_core::{Clock, Core, SystemClock};
use once_crypto::KeyRing;
use once_server::{Application, Config, LogFormat, MasterKeySource};
use tempfile::TempDir;

pub struct TestApp {
    pub base: String,
    pub client: Client,
    pub http: reqwest::Client,
    pub config: Config,
    pub _dir: TempDir,
    _stop: tokio::sync::oneshot::Sender<()>,
}

pub enum Backend {
    Sqlite,
    Memory,
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> TestApp {
        Self::spawn_with(backend, |_| {}).await
    }

    pub async fn spawn_with(backend: Backend, tweak: impl FnOnce(&mut Config)) -> TestApp {
        // The subscriber the binary installs: it carries the layer that counts audit events for
        // `/metrics`. Logs stay off unless RUST_LOG is set; later calls are no-ops.
        once_server::telemetry::init(LogFormat::Pretty, "off");
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = Config {
            listen: "127.0.0.1:0".parse().expect("addr"),
            data_dir: dir.path().to_owned(),
            store: Some(match backend {
                Backend::Sqlite => format!("sqlite://{}", dir.path().join("once.db").display()),
                Backend::Memory => "memory://".into(),
            }),
            ..Config::default()
        };
        // Cheap Argon2id so passphrase tests stay fast; the cost is a parameter, not the logic.
        config.crypto.passphrase_m_cost_kib = 256;
        config.crypto.passphrase_t_cost = 1;
        // Tests make many requests from one address; the rate-limit tests turn limits back on.
        config.limits.enabled = false;
        tweak(&mut config);
        let app = Application::build(config.clone(), MasterKeySource::KeyRingFile).await.expect("build");
        let base = format!("http://127.0.0.1:{}", app.port());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(app.run_until(async move {
            let _ = stopped.await;
        }));
        TestApp {
            client: Client::new(&base),
            http: reqwest::Client::new(),
            base,
            config,
            _dir: dir,
            _stop: stop,
        }
    }

    /// Adds a user straight through the core (as `once user add` does) and returns the API key.
    pub async fn add_user(&self, email: &str) -> String {
        let store =
            once_server::open_store(&self.config.store_url(), &self.config.redis).await.expect("store");
        let keys = KeyRing::load(&self.config.keyring_path()).expect("keyring");
        let core =
            Core::new(store, Arc::new(keys), Arc::new(SystemClock) as Arc<dyn Clock>, self.config.policy());
        let user = core.accounts.add_user(email, once_store::Role::User).await.expect("add user");
        user.api_key.expose().to_owned()
    }

    /// Adds an admin (as `once user add --admin` does) with a password for signing in, and returns
    /// the admin's API key (every scope).
    pub async fn add_admin(&self, email: &str, password: &str) -> String {
        let store =
            once_server::open_store(&self.config.store_url(), &self.config.redis).await.expect("store");
        let keys = KeyRing::load(&self.config.keyring_path()).expect("keyring");
        let core =
            Core::new(store, Arc::new(keys), Arc::new(SystemClock) as Arc<dyn Clock>, self.config.policy());
        let admin = core.accounts.add_user(email, once_store::Role::Admin).await.expect("add admin");
        self.set_password(email, password).await;
        admin.api_key.expose().to_owned()
    }

    /// Sets a user's password straight through the core (as `once user password` does).
    pub async fn set_password(&self, email: &str, password: &str) {
        let store =
            once_server::open_store(&self.config.store_url(), &self.config.redis).await.expect("store");
        let keys = KeyRing::load(&self.config.keyring_path()).expect("keyring");
        let core =
            Core::new(store, Arc::new(keys), Arc::new(SystemClock) as Arc<dyn Clock>, self.config.policy());
        core.accounts
            .set_password(email, zeroize::Zeroizing::new(password.to_owned()))
            .await
            .expect("set password");
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// The `/metrics` body (asserting a 200).
    pub async fn metrics(&self) -> String {
        let resp = self.http.get(self.url("/metrics")).send().await.expect("metrics");
        assert_eq!(resp.status(), reqwest::StatusCode::OK);
        resp.text().await.expect("metrics body")
    }
}
