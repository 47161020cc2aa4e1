//! The error every media step returns, with its stable `code`.

#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("not a supported video file: {0}")]
    NotAVideo(String),
    #[error("invalid video: {0}")]
    InvalidVideo(String),
    #[error("video exceeds limits: {0}")]
    LimitsExceeded(String),
    #[error("internal media error: {0}")]
    Internal(String),
}

impl MediaError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotAVideo(_) => "unsupported_media",
            Self::InvalidVideo(_) => "invalid_video",
            Self::LimitsExceeded(_) => "video_limits_exceeded",
            Self::Internal(_) => "media_internal",
        }
    }

    pub fn is_client_error(&self) -> bool {
        !matches!(self, Self::Internal(_))
    }
}
