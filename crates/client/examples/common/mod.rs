//! What every example talks to, so that each example file is only about its topic.
//!
//! By default an [`Emulator`] (the in-process OSS server of `ossguard-emulator`) is started on
//! 127.0.0.1 with a throw-away data directory and a fresh bucket: no credentials, no network.
//!
//! With `OSS_ENDPOINT` set (e.g. `https://oss-cn-hangzhou.aliyuncs.com`) the examples use real
//! OSS instead: credentials from `OSS_ACCESS_KEY_ID` / `OSS_ACCESS_KEY_SECRET` (and
//! `OSS_SESSION_TOKEN` for STS), region from `OSS_REGION` or the endpoint, and the existing
//! bucket named by `OSS_BUCKET`. The examples write under `ossguard-examples/` in that bucket.
#![allow(dead_code)] // each example uses a different part of this module

use ossguard::{Client, ClientBuilder, Credentials};
use ossguard_emulator::server::{Emulator, EmulatorConfig};

/// The examples' error type: anything, with a readable message at exit.
pub type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// The emulator's key pair (it accepts nothing else).
const AK: &str = "example-ak";
const SK: &str = "example-sk";

/// Where the example runs.
pub struct Env {
    /// The bucket to use.
    pub bucket: String,
    /// Scratch space for local files, checkpoints and caches; deleted when `Env` is dropped.
    pub dir: tempfile::TempDir,
    endpoint: String,
    /// The emulator's key pair and region; `None`: from the environment (real OSS).
    credentials: Option<(Credentials, String)>,
    emulator: Option<Emulator>,
}

impl Env {
    /// Real OSS when `OSS_ENDPOINT` is set, else a fresh emulator with bucket `examples`.
    pub async fn start() -> Result<Env> {
        let dir = tempfile::tempdir()?;
        if let Ok(endpoint) = std::env::var("OSS_ENDPOINT") {
            let bucket = std::env::var("OSS_BUCKET")
                .map_err(|_| "OSS_ENDPOINT is set: set OSS_BUCKET to an existing bucket too")?;
            println!("using {endpoint}, bucket {bucket}");
            return Ok(Env {
                bucket,
                dir,
                endpoint,
                credentials: None,
                emulator: None,
            });
        }
        let mut config = EmulatorConfig::local(dir.path().join("emulator"), AK, SK);
        config.sync = false; // throw-away data: no fsync
        let region = config.region.clone();
        let emulator = Emulator::start(config).await?;
        let env = Env {
            bucket: "examples".into(),
            dir,
            endpoint: emulator.endpoint(),
            credentials: Some((Credentials::new(AK, SK), region)),
            emulator: Some(emulator),
        };
        env.client()?
            .create_bucket(&env.bucket, Default::default())
            .await?;
        println!("using the emulator at {}", env.endpoint);
        Ok(env)
    }

    /// A builder pointed at the endpoint with its credentials: add a policy, metrics, … and
    /// `build()`.
    pub fn client_builder(&self) -> ClientBuilder {
        let builder = Client::builder().endpoint(&self.endpoint);
        match &self.credentials {
            // Explicit, so that `OSS_REGION` or keys in the environment cannot get in the way.
            Some((credentials, region)) => builder.credentials(credentials.clone()).region(region),
            None => builder.credentials_from_env(),
        }
    }

    /// A client with the default (resilient) policy.
    pub fn client(&self) -> Result<Client> {
        Ok(self.client_builder().build()?)
    }

    /// The key `name` under `ossguard-examples/`.
    pub fn key(&self, name: &str) -> String {
        format!("ossguard-examples/{name}")
    }

    /// The emulator, when running against one: examples use it to inject faults (see
    /// `crates/emulator/FAULTS.md`) that real OSS cannot be asked for.
    pub fn emulator(&self) -> Option<&Emulator> {
        self.emulator.as_ref()
    }

    /// Takes the server away. The emulator shuts down (its port refuses connections); real OSS
    /// cannot be switched off, so clients built from now on point at a local port nothing
    /// listens on — to a client, the same as an outage.
    pub async fn stop_server(&mut self) -> Result {
        match self.emulator.take() {
            Some(emulator) => emulator.shutdown().await?,
            None => self.endpoint = "http://127.0.0.1:9".into(),
        }
        Ok(())
    }
}
