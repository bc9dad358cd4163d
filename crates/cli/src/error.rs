//! The CLI's errors and their exit codes (those of ossutil v2).

use ossguard::ErrorKind;

/// Exit codes.
pub mod exit {
    pub const OK: u8 = 0;
    /// Bad arguments or usage.
    pub const USAGE: u8 = 1;
    /// OSS answered with an error.
    pub const SERVER: u8 = 2;
    /// Network, local I/O, credentials.
    pub const CLIENT: u8 = 3;
    /// Some items of a batch failed.
    pub const PARTIAL: u8 = 4;
    /// Ctrl-C.
    pub const INTERRUPTED: u8 = 5;
    /// Degraded mode: OSS was unavailable and the upload was journaled in the local spool
    /// (`--spool-dir`). Accepted locally, NOT stored: it reaches OSS with `ossguard spool
    /// replay`. Not 0 (that would claim "stored") and not 4 (nothing failed).
    pub const SPOOLED: u8 = 6;
}

#[derive(Debug)]
pub enum CliError {
    /// The command line is wrong.
    Usage(String),
    /// The library failed.
    Oss(ossguard::Error),
    /// A local file operation failed outside the library.
    Local {
        context: String,
        source: std::io::Error,
    },
    /// Some items of a recursive command failed (each was reported already).
    Partial { failed: usize, total: usize },
    /// Interrupted by Ctrl-C; `resumable` when rerunning continues where it stopped.
    Interrupted { resumable: bool },
    /// Anything else, with its exit code (the cache and spool engines' errors, a replay that
    /// stopped or left conflicts).
    Failed { code: u8, message: String },
}

impl CliError {
    pub fn usage(msg: impl Into<String>) -> Self {
        Self::Usage(msg.into())
    }

    pub fn local(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Local {
            context: context.into(),
            source,
        }
    }

    pub fn failed(code: u8, message: impl Into<String>) -> Self {
        Self::Failed {
            code,
            message: message.into(),
        }
    }

    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Failed { code, .. } => *code,
            Self::Usage(_) => exit::USAGE,
            Self::Oss(e) => oss_exit_code(e),
            Self::Local { .. } => exit::CLIENT,
            Self::Partial { .. } => exit::PARTIAL,
            Self::Interrupted { .. } => exit::INTERRUPTED,
        }
    }

    /// The OSS error code, when there is one (for `--json`).
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Oss(e) => e.code(),
            _ => None,
        }
    }
}

/// Service errors → 2; invalid arguments caught by the library → 1; everything else
/// (transport, integrity, credentials, local I/O) → 3.
pub fn oss_exit_code(e: &ossguard::Error) -> u8 {
    match e.kind() {
        ErrorKind::Service(_) => exit::SERVER,
        ErrorKind::InvalidInput(_) => exit::USAGE,
        _ => exit::CLIENT,
    }
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Usage(m) => write!(f, "{m} (see ossguard --help)"),
            Self::Oss(e) => write!(f, "{e}"),
            Self::Local { context, source } => write!(f, "{context}: {source}"),
            Self::Partial { failed, total } => write!(
                f,
                "{failed} of {total} items failed (see the errors above); rerun the command to retry them"
            ),
            Self::Interrupted { resumable: true } => write!(
                f,
                "interrupted; the transfer state is kept: rerun the same command to resume"
            ),
            Self::Interrupted { resumable: false } => write!(f, "interrupted"),
            Self::Failed { message, .. } => write!(f, "{message}"),
        }
    }
}

impl std::error::Error for CliError {}

impl From<ossguard::Error> for CliError {
    fn from(e: ossguard::Error) -> Self {
        Self::Oss(e)
    }
}
