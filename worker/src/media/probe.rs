//! Probing an uploaded video: demuxer and codec allow-lists, facts, limits, and a first-frame decode.

use std::path::Path;

use ffmpeg_next as ff;
use serde::{Deserialize, Serialize};

use super::display::{DisplayGeometry, rational_to_f64};
use super::error::MediaError;
use super::open::{open_input_header, read_stream_info};

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
///
/// An MP4 whose header gives the frame size, rate and count is read without
/// `avformat_find_stream_info` (which decodes the first frame to fill in what a header lacks):
/// the first-frame decode here gives the rest, the coded size and the bitstream's sample aspect
/// ratio, which are what that function would have copied into the stream's parameters (test
/// `facts_match_ffprobes_stream_information`). Other containers, and an MP4 whose header lacks
/// one of those, have their stream information read first, as before. (Until 2026-12-05 every
/// probe read it, and so decoded the first frame twice: docs/BENCHMARKS.md "The probe without
/// the stream information".)
#[tracing::instrument(skip_all, fields(path = %path.display()), err(level = "info"))]
pub fn probe_video(path: &Path, limits: &ProbeLimits) -> Result<ProbeFacts, MediaError> {
    let mut ictx = open_input_header(path)?;
    if !header_is_enough(&ictx) {
        read_stream_info(&mut ictx)?;
    }
    if ictx.nb_streams() > limits.max_streams {
        return Err(MediaError::LimitsExceeded(format!(
            "{} streams (max {})",
            ictx.nb_streams(),
            limits.max_streams
        )));
    }
    let (index, mut decoder) = video_decoder(&ictx)?;
    // What the header says, checked before anything is decoded.
    let facts = stream_facts(&ictx, index, &decoder)?;
    check_limits(&facts, limits)?;
    let declared = ictx
        .stream(index)
        .map_or(0, |s| u64::try_from(s.frames()).unwrap_or(0));
    let present = decode_first_frame(&mut ictx, index, &mut decoder)?;
    // The decoder has read the bitstream's own size and sample aspect ratio by now.
    let facts = stream_facts(&ictx, index, &decoder)?;
    check_limits(&facts, limits)?;
    // A cut file keeps an index listing frames it no longer holds; the demuxer stops at the end.
    if declared > 0 && present < declared {
        return Err(MediaError::InvalidVideo(format!(
            "the file is truncated: its index lists {declared} frames but it holds {present}"
        )));
    }
    Ok(facts)
}

/// Whether the container's header alone gives what [`stream_facts`] needs before a frame is
/// decoded: an MP4's sample tables hold the frame count, rate and duration and its sample
/// description the frame size; other containers may leave the rate or the count to the frames.
fn header_is_enough(ictx: &ff::format::context::Input) -> bool {
    if !ictx.format().name().starts_with("mov") {
        return false;
    }
    let Some(stream) = ictx.streams().best(ff::media::Type::Video) else {
        return false;
    };
    let params = stream.parameters();
    // SAFETY: `params` borrows the stream's live `AVCodecParameters`; only plain fields are read.
    #[expect(
        unsafe_code,
        reason = "ffmpeg-next has no getter for a parameters' frame size"
    )]
    let (width, height) = unsafe {
        let p = params.as_ptr();
        ((*p).width, (*p).height)
    };
    let timing = stream_timing(ictx, &stream);
    width > 0 && height > 0 && timing.fps > 0.0 && timing.fps.is_finite() && timing.frames > 0
}

/// The best video stream's index and an opened decoder for it; the codec allow-list.
fn video_decoder(
    ictx: &ff::format::context::Input,
) -> Result<(usize, ff::decoder::Video), MediaError> {
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
    Ok((stream.index(), decoder))
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

/// The facts of stream `index` as `decoder` knows them (the stream's parameters when nothing
/// has been decoded yet, the bitstream's once a frame has been).
fn stream_facts(
    ictx: &ff::format::context::Input,
    index: usize,
    decoder: &ff::decoder::Video,
) -> Result<ProbeFacts, MediaError> {
    let stream = ictx
        .stream(index)
        .ok_or_else(|| MediaError::InvalidVideo("no video stream".into()))?;
    let (width, height) = (decoder.width(), decoder.height());
    if width == 0 || height == 0 {
        return Err(MediaError::InvalidVideo("video has no frame size".into()));
    }
    let (display_width, display_height) = DisplayGeometry::of(&stream, decoder)?.display_size();
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
        codec: stream.parameters().id().name().to_owned(),
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

/// Decodes the first frame of stream `index`, then demuxes (without decoding) to the end;
/// returns how many packets of that stream the file holds. The first packet is tried alone
/// first (sent, then the decoder drained): a decoder that holds frames back for reordering gives
/// it so without decoding the two or three packets after it. When that gives nothing, the
/// decoder is reset and the packets are decoded in order, the first again, until one gives a
/// frame.
fn decode_first_frame(
    ictx: &mut ff::format::context::Input,
    index: usize,
    decoder: &mut ff::decoder::Video,
) -> Result<u64, MediaError> {
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
        if packets == 1 && !decoded {
            decoded = decoder.send_eof().is_ok() && decoder.receive_frame(&mut frame).is_ok();
            if !decoded {
                decoder.flush();
                if let Err(e) = decoder.send_packet(&packet) {
                    last_error = e.to_string();
                }
            }
        }
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

    /// ffprobe's view of a file's video stream (it reads the stream information).
    fn ffprobe(path: &Path) -> serde_json::Value {
        let out = std::process::Command::new("ffprobe")
            .args(["-v", "error", "-select_streams", "v:0", "-show_streams"])
            .args(["-of", "json"])
            .arg(path)
            .output()
            .unwrap();
        assert!(out.status.success(), "ffprobe {}", path.display());
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["streams"][0].clone()
    }

    fn encode(path: &Path, vf: &str, bsf: Option<&str>) {
        let mut cmd = std::process::Command::new("ffmpeg");
        cmd.args(["-nostdin", "-loglevel", "error", "-y", "-f", "lavfi"])
            .args(["-i", "testsrc=s=64x48:r=10:d=1", "-vf", vf])
            .args([
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-pix_fmt",
                "yuv420p",
            ]);
        if let Some(bsf) = bsf {
            cmd.args(["-bsf:v", bsf]);
        }
        assert!(
            cmd.arg(path).status().unwrap().success(),
            "{}",
            path.display()
        );
    }

    #[test]
    fn facts_match_ffprobes_stream_information() {
        // It decodes with the sampler: not while a test counts decodes.
        let _guard = crate::test_support::decode_lock();
        // An MP4 is probed from its header and its first frame, without the stream information
        // ffprobe reads: the size, rate, count and sample aspect ratio come out the same, the
        // last one from the bitstream when only the bitstream has it, or when the two disagree.
        let dir = tempfile::tempdir().unwrap();
        let mut files: Vec<std::path::PathBuf> = [
            "real_1.mp4",
            "real_1.webm",
            "face_rot90.mp4",
            "face_anamorphic.mp4",
            "two_faces_1080p.mp4",
        ]
        .iter()
        .map(|n| video(n))
        .collect();
        // The sample aspect ratio written into the H.264 stream after encoding: the container
        // does not know it.
        let sar_4_3 = Some("h264_metadata=sample_aspect_ratio=4/3");
        for (name, vf, bsf) in [
            ("bitstream_sar.mp4", "null", sar_4_3),
            ("bitstream_sar.mkv", "null", sar_4_3),
            ("both_sar.mp4", "setsar=3/2", sar_4_3),
            ("container_sar.mkv", "setsar=3/2", None),
        ] {
            let path = dir.path().join(name);
            encode(&path, vf, bsf);
            files.push(path);
        }
        for path in files {
            let f = probe(&path).unwrap();
            let s = ffprobe(&path);
            let name = path.display();
            assert_eq!(u64::from(f.width), s["width"].as_u64().unwrap(), "{name}");
            assert_eq!(u64::from(f.height), s["height"].as_u64().unwrap(), "{name}");
            let ratio = |v: &serde_json::Value| {
                let t = v.as_str().unwrap_or("0:1").replace('/', ":");
                let (n, d) = t.split_once(':').unwrap();
                let (n, d) = (n.parse::<f64>().unwrap(), d.parse::<f64>().unwrap());
                (n > 0.0 && d > 0.0).then(|| n / d)
            };
            let fps = ratio(&s["avg_frame_rate"]).unwrap();
            assert!((f.fps - fps).abs() < 1e-9, "{name}: {} vs {fps}", f.fps);
            if let Some(n) = s["nb_frames"].as_str() {
                assert_eq!(f.frames, n.parse::<u64>().unwrap(), "{name}");
            }
            // The display size is what the sampler delivers (it reads the stream information;
            // ffprobe prints the container's sample aspect ratio where both have one).
            let mut size = None;
            crate::media::sample_frames_each(&path, 1, &[4096], |_, images| {
                size = images.first().map(|i| (i.width, i.height));
                Ok::<_, MediaError>(())
            })
            .unwrap();
            assert_eq!(Some((f.display_width, f.display_height)), size, "{name}");
            if name.to_string().ends_with("sar.mp4") {
                // 64x48 with 4:3 pixels: the bitstream's ratio, also over the container's 3:2.
                assert_eq!((f.display_width, f.display_height), (85, 48), "{name}");
            }
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
