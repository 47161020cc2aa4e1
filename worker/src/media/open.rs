//! Opening untrusted files: FFmpeg initialised once, only whitelisted demuxers and `file:`.

use std::path::Path;
use std::sync::OnceLock;

use ffmpeg_next as ff;

use super::error::MediaError;

/// Demuxers an upload may be read with; anything else (HLS, concat, image2, ...) is refused.
pub const FORMAT_WHITELIST: &str = "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm";

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

/// Opens `path` with only whitelisted demuxers and the `file` protocol.
pub(crate) fn open_input(path: &Path) -> Result<ff::format::context::Input, MediaError> {
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
    ff::format::input_with_dictionary(path, whitelist_options())
        .map_err(|e| MediaError::NotAVideo(format!("cannot read as MP4/WebM/Matroska: {e}")))
}
