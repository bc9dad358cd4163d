//! The store's one error type. Each variant is one OSS error code, so the HTTP layer can answer
//! with [`StoreError::oss_code`] and [`StoreError::http_status`] without a lookup table of its own.

/// Result alias for store operations.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("bucket {0:?} does not exist; create it first")]
    NoSuchBucket(String),
    #[error("bucket {0:?} already exists; pick another name or reuse it")]
    BucketAlreadyExists(String),
    #[error("bucket {0:?} is not empty; delete its objects and abort its multipart uploads first")]
    BucketNotEmpty(String),
    #[error(
        "invalid bucket name {0:?}: use 3-63 characters of a-z, 0-9 and '-', starting and ending \
         with a letter or digit"
    )]
    InvalidBucketName(String),
    #[error("object {0:?} does not exist")]
    NoSuchKey(String),
    #[error(
        "invalid object name: keys are 1-1023 bytes of UTF-8 without NUL, not starting with '/' \
         or '\\' ({0})"
    )]
    InvalidObjectName(String),
    #[error("multipart upload {0:?} does not exist (aborted, completed or never initiated)")]
    NoSuchUpload(String),
    #[error("invalid part: {0}; list the uploaded parts and send their numbers and ETags")]
    InvalidPart(String),
    #[error("part numbers must be strictly ascending in the complete request")]
    InvalidPartOrder,
    #[error("part {part_number} is {size} bytes; every part but the last must be at least 102400")]
    EntityTooSmall { part_number: u32, size: u64 },
    #[error("append position does not equal the object length; append at {next_position}")]
    PositionNotEqualToLength { next_position: u64 },
    #[error("object {0:?} is not appendable (only objects created by AppendObject are)")]
    ObjectNotAppendable(String),
    #[error("object {0:?} already exists and overwriting was forbidden")]
    FileAlreadyExists(String),
    #[error("the body's MD5 does not match the Content-MD5 sent; the object was not stored")]
    InvalidDigest,
    #[error("range {start}..{end} is not satisfiable for an object of {size} bytes")]
    InvalidRange { start: u64, end: u64, size: u64 },
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    #[error("precondition failed: {0}")]
    PreconditionFailed(String),
    #[error(
        "the copy source is {size} bytes; CopyObject copies at most {max}: copy larger objects \
         with a multipart upload of UploadPartCopy parts"
    )]
    EntityTooLarge { size: u64, max: u64 },
    #[error("storage I/O error: {0}")]
    Io(#[from] std::io::Error),
}

impl StoreError {
    /// The OSS error code (`<Code>` of the XML error body).
    pub fn oss_code(&self) -> &'static str {
        match self {
            Self::NoSuchBucket(_) => "NoSuchBucket",
            Self::BucketAlreadyExists(_) => "BucketAlreadyExists",
            Self::BucketNotEmpty(_) => "BucketNotEmpty",
            Self::InvalidBucketName(_) => "InvalidBucketName",
            Self::NoSuchKey(_) => "NoSuchKey",
            Self::InvalidObjectName(_) => "InvalidObjectName",
            Self::NoSuchUpload(_) => "NoSuchUpload",
            Self::InvalidPart(_) => "InvalidPart",
            Self::InvalidPartOrder => "InvalidPartOrder",
            Self::EntityTooSmall { .. } => "EntityTooSmall",
            Self::PositionNotEqualToLength { .. } => "PositionNotEqualToLength",
            Self::ObjectNotAppendable(_) => "ObjectNotAppendable",
            Self::FileAlreadyExists(_) => "FileAlreadyExists",
            Self::InvalidDigest => "InvalidDigest",
            Self::InvalidRange { .. } => "InvalidRange",
            Self::InvalidArgument(_) => "InvalidArgument",
            Self::PreconditionFailed(_) => "PreconditionFailed",
            Self::EntityTooLarge { .. } => "EntityTooLarge",
            Self::Io(_) => "InternalError",
        }
    }

    /// The HTTP status OSS answers this error with.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::NoSuchBucket(_) | Self::NoSuchKey(_) | Self::NoSuchUpload(_) => 404,
            Self::BucketAlreadyExists(_)
            | Self::BucketNotEmpty(_)
            | Self::PositionNotEqualToLength { .. }
            | Self::ObjectNotAppendable(_)
            | Self::FileAlreadyExists(_) => 409,
            Self::InvalidBucketName(_)
            | Self::InvalidObjectName(_)
            | Self::InvalidPart(_)
            | Self::InvalidPartOrder
            | Self::EntityTooSmall { .. }
            | Self::InvalidDigest
            | Self::InvalidArgument(_)
            | Self::EntityTooLarge { .. } => 400,
            Self::PreconditionFailed(_) => 412,
            Self::InvalidRange { .. } => 416,
            Self::Io(_) => 500,
        }
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        Self::Io(std::io::Error::new(std::io::ErrorKind::InvalidData, e))
    }
}
