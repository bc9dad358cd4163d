//! The client commands: one module per command group.

pub mod acl;
pub mod batch;
pub mod bucket;
pub mod cache;
pub mod cat;
pub mod cors;
pub mod cp;
mod cp_fallback;
pub mod du;
pub mod logging;
pub mod ls;
pub mod presign;
pub mod rm;
pub mod spool;
pub mod stat;
pub mod sync;

use std::sync::OnceLock;

use clap::Subcommand;
use ossguard::{Client, Fallback};

use crate::config::{self, GlobalArgs, Resolved};
use crate::degraded::{self, Settings};
use crate::error::{exit, CliError};
use crate::output::Output;

/// What every command gets: the flags, the output, and the client (built on first use, so
/// argument errors are reported before configuration errors).
pub struct Ctx {
    pub global: GlobalArgs,
    pub out: Output,
    client: OnceLock<(Client, Resolved)>,
    settings: OnceLock<Settings>,
    fallback: tokio::sync::OnceCell<Option<Fallback>>,
}

impl Ctx {
    pub fn new(global: GlobalArgs) -> Self {
        Self {
            out: Output::new(global.json, global.quiet),
            global,
            client: OnceLock::new(),
            settings: OnceLock::new(),
            fallback: tokio::sync::OnceCell::new(),
        }
    }

    /// The degraded-mode settings (cache, replica, spool), resolved once.
    pub fn settings(&self) -> Result<&Settings, CliError> {
        if let Some(s) = self.settings.get() {
            return Ok(s);
        }
        let file = config::load_file(&self.global)?;
        let s = Settings::resolve(&self.global, &|n| std::env::var(n).ok(), &file)?;
        Ok(self.settings.get_or_init(|| s))
    }

    /// The fallback chain over the client, built on first use; `None` when no part of it is
    /// configured. `with_spool` opens the spool too (uploads and `spool replay`: it locks the
    /// directory); the first call decides for the process.
    pub async fn fallback(&self, with_spool: bool) -> Result<Option<&Fallback>, CliError> {
        let fb = self
            .fallback
            .get_or_try_init(|| async {
                let s = self.settings()?;
                let spool = with_spool && s.spool.is_some();
                if !(s.reads_fall_back() || spool) {
                    return Ok(None);
                }
                let (client, resolved) = self.resolved()?;
                degraded::build(&self.global, s, client, resolved, with_spool)
                    .await
                    .map(Some)
            })
            .await?;
        Ok(fb.as_ref())
    }

    pub fn client(&self) -> Result<&Client, CliError> {
        Ok(&self.resolved()?.0)
    }

    pub fn resolved(&self) -> Result<&(Client, Resolved), CliError> {
        if let Some(c) = self.client.get() {
            return Ok(c);
        }
        let built = config::client(&self.global)?;
        Ok(self.client.get_or_init(|| built))
    }
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Copy: local → OSS (upload), OSS → local (download), OSS → OSS (server-side).
    Cp(cp::CpArgs),
    /// Print an object to stdout.
    Cat(cat::CatArgs),
    /// List buckets (no argument), or objects under oss://bucket[/prefix].
    Ls(ls::LsArgs),
    /// Show an object's (or a bucket's) metadata.
    Stat(stat::StatArgs),
    /// Delete an object, or with -r every object and unfinished multipart upload under a prefix.
    Rm(rm::RmArgs),
    /// Total size and object count under oss://bucket[/prefix], per storage class (counts
    /// objects only, not the parts of unfinished multipart uploads).
    ///
    /// Streams the listing (memory does not grow with the number of objects). The prefix is
    /// matched as a string, as by `ls` and ossutil: oss://b/dir counts dir/... and dir2/...;
    /// write oss://b/dir/ for the directory only. `--json` prints one document with exact byte
    /// counts.
    Du(du::DuArgs),
    /// Make a bucket.
    Mb(bucket::MbArgs),
    /// Remove an (empty) bucket.
    Rb(bucket::RbArgs),
    /// Print a presigned URL for an object.
    Presign(presign::PresignArgs),
    /// Get or set the ACL of a bucket or an object.
    Acl(acl::AclArgs),
    /// Get, set or remove a bucket's CORS rules.
    Cors(cors::CorsArgs),
    /// Get, set or remove a bucket's access logging.
    Logging(logging::LoggingArgs),
    /// The degraded-mode read cache (--cache-dir): stats, verify against OSS, clean, purge.
    Cache(cache::CacheArgs),
    /// The degraded-mode write spool (--spool-dir): list, replay to OSS, drop an entry.
    Spool(spool::SpoolArgs),
    /// Bring a destination tree in line with a source tree (local ↔ OSS, OSS → OSS).
    Sync(sync::SyncArgs),
}

impl Command {
    /// Whether an interrupted run leaves state that a rerun resumes from.
    pub fn resumable(&self, g: &GlobalArgs) -> bool {
        matches!(self, Self::Cp(_) | Self::Sync(_)) && !g.no_resume
    }

    /// Runs the command; `Ok` carries the exit code (0, or [`exit::SPOOLED`] when an upload
    /// was only journaled locally).
    pub async fn run(self, ctx: &Ctx) -> Result<u8, CliError> {
        let done = match self {
            Self::Cp(a) => return cp::run(a, ctx).await,
            Self::Cache(a) => return cache::run(a, ctx).await,
            Self::Spool(a) => return spool::run(a, ctx).await,
            Self::Sync(a) => return sync::run(a, ctx).await,
            Self::Cat(a) => cat::run(a, ctx).await,
            Self::Ls(a) => ls::run(a, ctx).await,
            Self::Stat(a) => stat::run(a, ctx).await,
            Self::Rm(a) => rm::run(a, ctx).await,
            Self::Du(a) => du::run(a, ctx).await,
            Self::Mb(a) => bucket::mb(a, ctx).await,
            Self::Rb(a) => bucket::rb(a, ctx).await,
            Self::Presign(a) => presign::run(a, ctx).await,
            Self::Acl(a) => acl::run(a, ctx).await,
            Self::Cors(a) => cors::run(a, ctx).await,
            Self::Logging(a) => logging::run(a, ctx).await,
        };
        done.map(|()| exit::OK)
    }
}
