//! Probing an uploaded video: demuxer and codec allow-lists, facts, limits, and a first-frame decode.

use std::path::Path;

use ffmpeg_next as ff;
use serde::{Deserialize, Serialize};

use super::display::{DisplayGeometry, rational_to_f64};
use super::error::MediaError;
use super::open::open_input;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeFacts {
    pub container: String,
    pub codec: String,
    /// Stored (coded) size.
    pub width: u32,
    pub height: u32,
    /// The size a viewer sees: sample aspect ratio and display-matrix rotation applied (what the
    /// sampler delivers and what task checks compare).
    pub display_width: u32,
    pub display_height: u32,
    pub fps: f64,
    pub frames: u64,
    pub duration_s: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProbeLimits {
    pub max_width: u32,
    pub max_height: u32,
    pub max_fps: f64,
    pub max_frames: u64,
    pub max_duration_s: f64,
    pub max_streams: u32,
}

impl Default for ProbeLimits {
    fn default() -> Self {
        Self {
            max_width: 3840,
            max_height: 2160,
            max_fps: 120.0,
            max_frames: 20_000,
            max_duration_s: 600.0,
            max_streams: 8,
        }
    }
}

const ALLOWED_CODECS: [ff::codec::Id; 6] = [
    ff::codec::Id::H264,
    ff::codec::Id::HEVC,
    ff::codec::Id::VP8,
    ff::codec::Id::VP9,
    ff::codec::Id::AV1,
    ff::codec::Id::MPEG4,
];

/// Packets read while looking for the first decodable frame before the file is declared broken.
const FIRST_FRAME_PACKET_BUDGET: usize = 1000;

/// Probes `path`: whitelisted demuxer, best video stream, codec allow-list, limits, and a decode
/// of the first frame. The file is opened once: the demuxer FFmpeg detects is already one of the
/// whitelist's (until 2026-12-03 the probe opened the file a second time with that demuxer
/// forced, which read the stream information again and changed nothing).
#[tracing::instrument(skip_all, fields(path = %path.display()), err(level = "info"))]
pub fn probe_video(path: &Path, limits: &ProbeLimits) -> Result<ProbeFacts, MediaError> {
    let mut ictx = open_input(path)?;
    if ictx.nb_streams() > limits.max_streams {
        return Err(MediaError::LimitsExceeded(format!(
            "{} streams (max {})",
            ictx.nb_streams(),
            limits.max_streams
        )));
    }
    let facts = stream_facts(&ictx)?;
    check_limits(&facts, limits)?;
    let declared = ictx
        .streams()
        .best(ff::media::Type::Video)
        .map_or(0, |s| u64::try_from(s.frames()).unwrap_or(0));
    let present = decode_first_frame(&mut ictx)?;
    // A cut file keeps an index listing frames it no longer holds; the demuxer stops at the end.
    if declared > 0 && present < declared {
        return Err(MediaError::InvalidVideo(format!(
            "the file is truncated: its index lists {declared} frames but it holds {present}"
        )));
    }
    Ok(facts)
}

fn container_name(format_name: &str) -> String {
    match format_name {
        n if n.starts_with("mov") => "mp4".to_owned(),
        n if n.starts_with("matroska") => "matroska".to_owned(),
        n => n.to_owned(),
    }
}

/// Frame rate, duration and frame count of the best video stream, with container fallbacks.
pub(crate) struct Timing {
    pub fps: f64,
    pub duration_s: f64,
    pub frames: u64,
}

pub(crate) fn stream_timing(ictx: &ff::format::context::Input, stream: &ff::Stream) -> Timing {
    let fps = rational_to_f64(stream.avg_frame_rate())
        .or_else(|| rational_to_f64(stream.rate()))
        .unwrap_or(0.0);
    let tb = rational_to_f64(stream.time_base()).unwrap_or(0.0);
    let stream_duration = (stream.duration() > 0).then(|| stream.duration() as f64 * tb);
    let container_duration =
        (ictx.duration() > 0).then(|| ictx.duration() as f64 / f64::from(ff::ffi::AV_TIME_BASE));
    let nb_frames = u64::try_from(stream.frames()).unwrap_or(0);
    let mut duration_s = stream_duration.or(container_duration).unwrap_or(0.0);
    if duration_s <= 0.0 && nb_frames > 0 && fps > 0.0 {
        duration_s = nb_frames as f64 / fps;
    }
    let frames = if nb_frames > 0 {
        nb_frames
    } else {
        (duration_s * fps).round().max(0.0) as u64
    };
    Timing {
        fps,
        duration_s,
        frames,
    }
}

fn stream_facts(ictx: &ff::format::context::Input) -> Result<ProbeFacts, MediaError> {
    let stream = ictx
        .streams()
        .best(ff::media::Type::Video)
        .ok_or_else(|| MediaError::InvalidVideo("no video stream".into()))?;
    let params = stream.parameters();
    let id = params.id();
    if !ALLOWED_CODECS.contains(&id) {
        return Err(MediaError::InvalidVideo(format!(
            "codec {} is not allowed (h264, hevc, vp8, vp9, av1, mpeg4)",
            id.name()
        )));
    }
    let decoder = ff::codec::context::Context::from_parameters(params)
        .and_then(|c| c.decoder().video())
        .map_err(|e| {
            MediaError::InvalidVideo(format!("cannot open a {} decoder: {e}", id.name()))
        })?;
    let (width, height) = (decoder.width(), decoder.height());
    if width == 0 || height == 0 {
        return Err(MediaError::InvalidVideo("video has no frame size".into()));
    }
    let (display_width, display_height) = DisplayGeometry::of(&stream, &decoder)?.display_size();
    let timing = stream_timing(ictx, &stream);
    if timing.fps <= 0.0 || !timing.fps.is_finite() {
        return Err(MediaError::InvalidVideo("unknown frame rate".into()));
    }
    if timing.frames == 0 {
        return Err(MediaError::InvalidVideo(
            "cannot determine the frame count".into(),
        ));
    }
    Ok(ProbeFacts {
        container: container_name(ictx.format().name()),
        codec: id.name().to_owned(),
        width,
        height,
        display_width,
        display_height,
        fps: timing.fps,
        frames: timing.frames,
        duration_s: timing.duration_s,
    })
}

fn check_limits(f: &ProbeFacts, l: &ProbeLimits) -> Result<(), MediaError> {
    let over = |what: String| Err(MediaError::LimitsExceeded(what));
    if f.width > l.max_width || f.height > l.max_height {
        return over(format!(
            "{}x{} is larger than {}x{}",
            f.width, f.height, l.max_width, l.max_height
        ));
    }
    if f.fps > l.max_fps {
        return over(format!("{:.2} fps (max {})", f.fps, l.max_fps));
    }
    if f.frames > l.max_frames {
        return over(format!("{} frames (max {})", f.frames, l.max_frames));
    }
    if f.duration_s > l.max_duration_s {
        return over(format!(
            "{:.1} s long (max {} s)",
            f.duration_s, l.max_duration_s
        ));
    }
    Ok(())
}

/// Decodes the first frame of the best video stream, then demuxes (without decoding) to the end;
/// returns how many packets of that stream the file holds.
fn decode_first_frame(ictx: &mut ff::format::context::Input) -> Result<u64, MediaError> {
    let stream = ictx
        .streams()
        .best(ff::media::Type::Video)
        .ok_or_else(|| MediaError::InvalidVideo("no video stream".into()))?;
    let index = stream.index();
    let mut decoder = ff::codec::context::Context::from_parameters(stream.parameters())
        .and_then(|c| c.decoder().video())
        .map_err(|e| MediaError::InvalidVideo(format!("cannot open the decoder: {e}")))?;
    let mut frame = ff::frame::Video::empty();
    let mut last_error = String::from("no packets");
    let mut decoded = false;
    let mut packets = 0u64;
    for (stream, packet) in ictx.packets() {
        if stream.index() != index {
            continue;
        }
        packets += 1;
        if decoded {
            continue;
        }
        if packets > FIRST_FRAME_PACKET_BUDGET as u64 {
            break;
        }
        if let Err(e) = decoder.send_packet(&packet) {
            last_error = e.to_string();
            continue;
        }
        decoded = decoder.receive_frame(&mut frame).is_ok();
    }
    // A decoder that buffers (frame threads, B-frames) gives its first frame only on flush.
    let decoded =
        decoded || (decoder.send_eof().is_ok() && decoder.receive_frame(&mut frame).is_ok());
    if !decoded {
        return Err(MediaError::InvalidVideo(format!(
            "no decodable frame ({last_error})"
        )));
    }
    Ok(packets)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::test_support::video;

    fn probe(path: &Path) -> Result<ProbeFacts, MediaError> {
        probe_video(path, &ProbeLimits::default())
    }

    #[test]
    fn probes_every_fixture() {
        for name in [
            "real_1.mp4",
            "real_2.mp4",
            "real_3.mp4",
            "fake_1.mp4",
            "fake_2.mp4",
            "real_1.webm",
        ] {
            let f = probe(&video(name)).unwrap();
            let (container, codec) = if name.ends_with(".webm") {
                ("matroska", "vp9")
            } else {
                ("mp4", "h264")
            };
            assert_eq!(
                (f.container.as_str(), f.codec.as_str()),
                (container, codec),
                "{name}"
            );
            assert_eq!((f.width, f.height, f.frames), (64, 64, 10), "{name}");
            assert_eq!((f.display_width, f.display_height), (64, 64), "{name}");
            assert!((f.fps - 10.0).abs() < 1e-9, "{name}: {}", f.fps);
            assert!(
                (f.duration_s - 1.0).abs() < 0.05,
                "{name}: {}",
                f.duration_s
            );
        }
    }

    #[test]
    fn display_sizes_apply_rotation_and_sample_aspect_ratio() {
        for (name, stored, displayed) in [
            ("face_moving.mp4", (320, 240), (320, 240)),
            ("face_rot90.mp4", (240, 320), (320, 240)),
            ("face_hflip.mp4", (320, 240), (320, 240)),
            ("face_anamorphic.mp4", (240, 240), (320, 240)),
        ] {
            let f = probe(&video(name)).unwrap();
            assert_eq!((f.width, f.height), stored, "{name}");
            assert_eq!((f.display_width, f.display_height), displayed, "{name}");
        }
    }

    #[test]
    fn an_absurd_sample_aspect_ratio_is_an_invalid_video() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wide.mp4");
        let status = std::process::Command::new("ffmpeg")
            .args(["-nostdin", "-loglevel", "error", "-y", "-f", "lavfi"])
            .args(["-i", "testsrc=s=64x64:r=10:d=1", "-vf", "setsar=8/1"])
            .args(["-c:v", "libx264", "-preset", "ultrafast"])
            .args(["-pix_fmt", "yuv420p"])
            .arg(&path)
            .status()
            .unwrap();
        assert!(status.success());
        let e = probe(&path).unwrap_err();
        assert_eq!(e.code(), "invalid_video", "{e}");
        assert!(e.to_string().contains("sample aspect ratio"), "{e}");
    }

    #[test]
    fn text_file_is_unsupported_media() {
        let e = probe(&video("not_a_video.mp4")).unwrap_err();
        assert_eq!(e.code(), "unsupported_media");
        assert!(e.is_client_error());
    }

    #[test]
    fn hls_playlist_pointing_at_a_local_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        // The "secret" is a valid video, so following the playlist would have succeeded.
        let secret = dir.path().join("secret.mp4");
        std::fs::copy(video("real_1.mp4"), &secret).unwrap();
        let playlist = dir.path().join("upload.mp4");
        let text = format!(
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:1\n#EXTINF:1.0,\nfile://{}\n#EXT-X-ENDLIST\n",
            secret.display()
        );
        std::fs::write(&playlist, text).unwrap();
        let e = probe(&playlist).unwrap_err();
        assert_eq!(e.code(), "unsupported_media", "{e}");
    }

    #[test]
    fn garbage_frames_are_an_invalid_video() {
        let mut bytes = std::fs::read(video("real_1.mp4")).unwrap();
        let mdat = bytes.windows(4).position(|w| w == b"mdat").unwrap();
        let size = u32::from_be_bytes(bytes[mdat - 4..mdat].try_into().unwrap()) as usize;
        for b in &mut bytes[mdat + 4..mdat - 4 + size] {
            *b = 0xff;
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("broken.mp4");
        std::fs::write(&path, bytes).unwrap();
        let e = probe(&path).unwrap_err();
        assert_eq!(e.code(), "invalid_video", "{e}");
    }

    #[test]
    fn truncated_file_is_rejected() {
        let bytes = std::fs::read(video("real_1.mp4")).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("half.mp4");
        std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
        let e = probe(&path).unwrap_err();
        assert!(e.is_client_error(), "{e}");
    }

    #[test]
    fn a_cut_file_whose_index_lists_missing_frames_is_truncated() {
        // Index first (fast start): the header survives the cut and the first frames decode.
        let dir = tempfile::tempdir().unwrap();
        let whole = dir.path().join("whole.mp4");
        let status = std::process::Command::new("ffmpeg")
            .args(["-nostdin", "-loglevel", "error", "-y", "-f", "lavfi"])
            .args(["-i", "testsrc=s=64x64:r=10:d=4", "-c:v", "libx264"])
            .args(["-preset", "ultrafast", "-pix_fmt", "yuv420p"])
            .args(["-movflags", "+faststart"])
            .arg(&whole)
            .status()
            .unwrap();
        assert!(status.success());
        assert!(probe(&whole).is_ok());
        let bytes = std::fs::read(&whole).unwrap();
        let cut = dir.path().join("cut.mp4");
        std::fs::write(&cut, &bytes[..bytes.len() * 6 / 10]).unwrap();
        let e = probe(&cut).unwrap_err();
        assert_eq!(e.code(), "invalid_video", "{e}");
        assert!(e.to_string().contains("truncated"), "{e}");
    }

    #[test]
    fn limits_are_enforced() {
        let path = video("real_1.mp4");
        let cases = [
            ProbeLimits {
                max_frames: 5,
                ..Default::default()
            },
            ProbeLimits {
                max_width: 32,
                ..Default::default()
            },
            ProbeLimits {
                max_fps: 5.0,
                ..Default::default()
            },
            ProbeLimits {
                max_duration_s: 0.5,
                ..Default::default()
            },
        ];
        for limits in cases {
            let e = probe_video(&path, &limits).unwrap_err();
            assert_eq!(e.code(), "video_limits_exceeded", "{limits:?}");
        }
    }

    #[test]
    fn missing_file_is_our_fault() {
        let e = probe(Path::new("/nonexistent/video.mp4")).unwrap_err();
        assert_eq!(e.code(), "media_internal");
        assert!(!e.is_client_error());
    }
}
