//! Media ingest: safe opening of untrusted video files, probing, and frame sampling (ffmpeg-next).

pub mod display;
pub mod probe;
pub mod resize;
pub mod sampler;

use std::path::Path;
use std::sync::OnceLock;

use ffmpeg_next as ff;

pub use probe::{ProbeFacts, ProbeLimits, probe_video};
pub use sampler::{
    SampledFrames, SampledSizes, decode_count, sample_frames, sample_frames_each,
    sample_frames_sized,
};

/// Demuxers an upload may be read with; anything else (HLS, concat, image2, ...) is refused.
pub const FORMAT_WHITELIST: &str = "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm";

/// A packed RGB24 image (no row padding): `data.len() == width * height * 3`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RgbImage {
    pub width: u32,
    pub height: u32,
    pub data: Vec<u8>,
}

impl RgbImage {
    /// The RGB triple at (x, y); `None` outside the image.
    pub fn pixel(&self, x: u32, y: u32) -> Option<[u8; 3]> {
        if x >= self.width || y >= self.height {
            return None;
        }
        let i = (y as usize * self.width as usize + x as usize) * 3;
        self.data.get(i..i + 3).map(|p| [p[0], p[1], p[2]])
    }
}

/// A borrowed packed RGB24 image, e.g. straight out of the crop cache's bytes (no copy).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RgbView<'a> {
    pub width: u32,
    pub height: u32,
    pub data: &'a [u8],
}

/// Anything that can be read as a packed RGB24 image: [`RgbImage`], [`RgbView`], references.
pub trait AsRgb {
    fn rgb(&self) -> RgbView<'_>;
}

impl AsRgb for RgbImage {
    fn rgb(&self) -> RgbView<'_> {
        RgbView {
            width: self.width,
            height: self.height,
            data: &self.data,
        }
    }
}

impl AsRgb for RgbView<'_> {
    fn rgb(&self) -> RgbView<'_> {
        *self
    }
}

impl<T: AsRgb + ?Sized> AsRgb for &T {
    fn rgb(&self) -> RgbView<'_> {
        (**self).rgb()
    }
}

impl RgbView<'_> {
    pub fn to_image(&self) -> RgbImage {
        RgbImage {
            width: self.width,
            height: self.height,
            data: self.data.to_vec(),
        }
    }
}

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

/// Initialises FFmpeg once per process and silences its logging.
pub(crate) fn init_ffmpeg() -> Result<(), MediaError> {
    static INIT: OnceLock<Result<(), String>> = OnceLock::new();
    INIT.get_or_init(|| {
        ff::init().map_err(|e| e.to_string())?;
        // Errors reach callers as MediaError; FFmpeg's own lines about untrusted input are noise.
        ff::log::set_level(ff::log::Level::Quiet);
        Ok(())
    })
    .clone()
    .map_err(|e| MediaError::Internal(format!("ffmpeg init: {e}")))
}

fn whitelist_options() -> ff::Dictionary<'static> {
    let mut opts = ff::Dictionary::new();
    opts.set("format_whitelist", FORMAT_WHITELIST);
    opts.set("protocol_whitelist", "file");
    opts
}

/// Opens `path` with only whitelisted demuxers and the `file` protocol. With `forced`, the demuxer
/// is fixed instead of probed (used to reopen with the demuxer the first open detected).
pub(crate) fn open_input(
    path: &Path,
    forced: Option<ff::format::format::Input>,
) -> Result<ff::format::context::Input, MediaError> {
    init_ffmpeg()?;
    // ffmpeg-next panics on paths that are not UTF-8 or contain NUL; our storage never makes those.
    let ok_path = path.to_str().is_some_and(|s| !s.contains('\0'));
    if !ok_path {
        return Err(MediaError::Internal(format!(
            "unusable path {}",
            path.display()
        )));
    }
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() => {}
        Ok(_) => {
            return Err(MediaError::Internal(format!(
                "{} is not a file",
                path.display()
            )));
        }
        Err(e) => return Err(MediaError::Internal(format!("{}: {e}", path.display()))),
    }
    let opened = match forced {
        None => ff::format::input_with_dictionary(path, whitelist_options()),
        Some(fmt) => {
            match ff::format::open_with(path, &ff::Format::Input(fmt), whitelist_options()) {
                Ok(ff::format::context::Context::Input(input)) => Ok(input),
                Ok(ff::format::context::Context::Output(_)) => {
                    return Err(MediaError::Internal("demuxer opened as a muxer".into()));
                }
                Err(e) => Err(e),
            }
        }
    };
    opened.map_err(|e| MediaError::NotAVideo(format!("cannot read as MP4/WebM/Matroska: {e}")))
}
