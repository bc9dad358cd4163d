//! The client commands: one module per command group.

pub mod acl;
pub mod batch;
pub mod bucket;
pub mod cat;
pub mod cors;
pub mod cp;
pub mod logging;
pub mod ls;
pub mod presign;
pub mod rm;
pub mod stat;

use std::sync::OnceLock;

use clap::Subcommand;
use ossguard::Client;

use crate::config::{self, GlobalArgs, Resolved};
use crate::error::CliError;
use crate::output::Output;

/// What every command gets: the flags, the output, and the client (built on first use, so
/// argument errors are reported before configuration errors).
pub struct Ctx {
    pub global: GlobalArgs,
    pub out: Output,
    client: OnceLock<(Client, Resolved)>,
}

impl Ctx {
    pub fn new(global: GlobalArgs) -> Self {
        Self {
            out: Output::new(global.json, global.quiet),
            global,
            client: OnceLock::new(),
        }
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
    /// Delete an object, or with -r everything under a prefix.
    Rm(rm::RmArgs),
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
}

impl Command {
    /// Whether an interrupted run leaves state that a rerun resumes from.
    pub fn resumable(&self, g: &GlobalArgs) -> bool {
        matches!(self, Self::Cp(_)) && !g.no_resume
    }

    pub async fn run(self, ctx: &Ctx) -> Result<(), CliError> {
        match self {
            Self::Cp(a) => cp::run(a, ctx).await,
            Self::Cat(a) => cat::run(a, ctx).await,
            Self::Ls(a) => ls::run(a, ctx).await,
            Self::Stat(a) => stat::run(a, ctx).await,
            Self::Rm(a) => rm::run(a, ctx).await,
            Self::Mb(a) => bucket::mb(a, ctx).await,
            Self::Rb(a) => bucket::rb(a, ctx).await,
            Self::Presign(a) => presign::run(a, ctx).await,
            Self::Acl(a) => acl::run(a, ctx).await,
            Self::Cors(a) => cors::run(a, ctx).await,
            Self::Logging(a) => logging::run(a, ctx).await,
        }
    }
}
