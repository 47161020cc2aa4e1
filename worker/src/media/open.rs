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

/// Opens `path` with only whitelisted demuxers and the `file` protocol, its stream information
/// read (`avformat_find_stream_info`: FFmpeg decodes the first frames to fill in what the
/// container's header lacks).
pub(crate) fn open_input(path: &Path) -> Result<ff::format::context::Input, MediaError> {
    check_path(path)?;
    ff::format::input_with_dictionary(path, whitelist_options()).map_err(not_a_video)
}

/// [`open_input`] without the stream information: only the container's header is read, and
/// the caller learns the rest from the frames it decodes (the ingest probe, which decodes the
/// first frame anyway). [`read_stream_info`] reads it where the header is not enough.
pub(crate) fn open_input_header(path: &Path) -> Result<ff::format::context::Input, MediaError> {
    check_path(path)?;
    let cpath = path
        .to_str()
        .and_then(|s| std::ffi::CString::new(s).ok())
        .ok_or_else(|| MediaError::Internal(format!("unusable path {}", path.display())))?;
    // SAFETY: what `ff::format::input_with_dictionary` does, less its `avformat_find_stream_info`:
    // `avformat_open_input` fills `ps` only when it succeeds (it frees the context itself when it
    // fails), the options dictionary is taken back and freed, and `Input::wrap` then owns the
    // context and closes it when dropped.
    #[expect(
        unsafe_code,
        reason = "ffmpeg-next has no safe open without avformat_find_stream_info; see SAFETY"
    )]
    let (res, ps) = unsafe {
        let mut ps = std::ptr::null_mut();
        let mut opts = whitelist_options().disown();
        let res =
            ff::ffi::avformat_open_input(&mut ps, cpath.as_ptr(), std::ptr::null_mut(), &mut opts);
        drop(ff::Dictionary::own(opts));
        (res, ps)
    };
    if res < 0 || ps.is_null() {
        return Err(not_a_video(ff::Error::from(res)));
    }
    #[expect(
        unsafe_code,
        reason = "`ps` is an open context no one else owns; see SAFETY"
    )]
    Ok(unsafe { ff::format::context::Input::wrap(ps) })
}

/// Reads the stream information of a context opened with [`open_input_header`].
pub(crate) fn read_stream_info(ictx: &mut ff::format::context::Input) -> Result<(), MediaError> {
    // SAFETY: `ictx` owns an open context; `avformat_find_stream_info` reads from it and updates
    // its streams in place (ffmpeg-next's open calls it the same way).
    #[expect(
        unsafe_code,
        reason = "ffmpeg-next has no safe avformat_find_stream_info; see SAFETY"
    )]
    let res =
        unsafe { ff::ffi::avformat_find_stream_info(ictx.as_mut_ptr(), std::ptr::null_mut()) };
    if res < 0 {
        return Err(not_a_video(ff::Error::from(res)));
    }
    Ok(())
}

fn not_a_video(e: ff::Error) -> MediaError {
    MediaError::NotAVideo(format!("cannot read as MP4/WebM/Matroska: {e}"))
}

/// FFmpeg initialised, and `path` a plain file FFmpeg can be given.
fn check_path(path: &Path) -> Result<(), MediaError> {
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
        Ok(m) if m.is_file() => Ok(()),
        Ok(_) => Err(MediaError::Internal(format!(
            "{} is not a file",
            path.display()
        ))),
        Err(e) => Err(MediaError::Internal(format!("{}: {e}", path.display()))),
    }
}
