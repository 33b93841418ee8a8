//! The library's error type: one variant per layer, each carrying the context a user needs, and
//! the one place that decides which exit code (CONTRACTS.md) a failure becomes.

use crate::auth::AuthError;
use crate::journal::JournalError;
use crate::mapping::{MappingError, TemplateError};
use crate::source::SourceError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Mapping(#[from] MappingError),
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// Signing in, or the sign-in kept.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// A file the user asked us to write could not be written.
    #[error("cannot write `{}`", path.display())]
    Write {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Sealing or opening credentials, or a key that cannot be used.
    #[error(transparent)]
    Credentials(#[from] crate::credentials::CredentialError),
    /// Something the tool itself needs could not be set up (the async runtime, the HTTP client).
    #[error("cannot start {what}")]
    Setup {
        what: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A setting or argument that cannot be used.
    #[error("{message}")]
    Usage {
        message: String,
        hint: Option<String>,
    },
}

/// The process exit codes of CONTRACTS.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    Success = 0,
    RowsFailed = 1,
    Usage = 2,
    Auth = 3,
    Interrupted = 4,
}

impl Error {
    /// The async runtime (or another piece the tool needs) could not be set up.
    pub fn setup(
        what: &'static str,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Error {
        Error::Setup {
            what,
            source: Box::new(source),
        }
    }

    pub fn usage(message: impl Into<String>, hint: Option<String>) -> Error {
        Error::Usage {
            message: message.into(),
            hint,
        }
    }

    pub fn exit_code(&self) -> ExitCode {
        match self {
            Error::Source(_)
            | Error::Mapping(_)
            | Error::Template(_)
            | Error::Journal(_)
            | Error::Write { .. }
            | Error::Usage { .. } => ExitCode::Usage,
            Error::Credentials(_) | Error::Setup { .. } => ExitCode::Usage,
            Error::Auth(e) if e.is_configuration() => ExitCode::Usage,
            Error::Auth(_) => ExitCode::Auth,
        }
    }

    /// What the user can do about it, when there is something to say.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::Source(e) => e.hint(),
            Error::Mapping(e) => e.hint(),
            Error::Template(e) => e.hint(),
            Error::Journal(e) => e.hint(),
            Error::Auth(e) => e.hint(),
            Error::Usage { hint, .. } => hint.clone(),
            Error::Write { .. } | Error::Credentials(_) | Error::Setup { .. } => None,
        }
    }
}
