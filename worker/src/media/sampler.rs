//! Frame sampling: one in-order decode per video, keeping K evenly spaced frames as RGB24.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use ffmpeg_next as ff;

use super::probe::stream_timing;
use super::{MediaError, RgbImage, open_input};

static DECODES: AtomicU64 = AtomicU64::new(0);

/// How many times this process has decoded a video with [`sample_frames`].
pub fn decode_count() -> u64 {
    DECODES.load(Ordering::Relaxed)
}

#[derive(Debug, Clone)]
pub struct SampledFrames {
    /// Decode-order indices of the kept frames (display order, 0-based).
    pub indices: Vec<u64>,
    pub frames: Vec<RgbImage>,
}

/// `round(linspace(0, n-1, k))`; every frame when `n <= k`.
pub fn linspace_indices(n: u64, k: usize) -> Vec<u64> {
    let k64 = k as u64;
    if k == 0 || n == 0 {
        return Vec::new();
    }
    if n <= k64 {
        return (0..n).collect();
    }
    if k == 1 {
        return vec![0];
    }
    let step = (n - 1) as f64 / (k - 1) as f64;
    (0..k64).map(|i| (i as f64 * step).round() as u64).collect()
}

/// Output size with the larger side at most `max_side`, aspect kept, never upscaled.
fn scaled_size(w: u32, h: u32, max_side: u32) -> (u32, u32) {
    let side = w.max(h);
    if side <= max_side || max_side == 0 {
        return (w, h);
    }
    let s = f64::from(max_side) / f64::from(side);
    let dim = |v: u32| ((f64::from(v) * s).round() as u32).clamp(1, max_side);
    (dim(w), dim(h))
}

/// Converts decoded frames to packed RGB24, rebuilding the scaler when the input geometry changes.
struct RgbConverter {
    max_side: u32,
    scaler: Option<ff::software::scaling::Context>,
    out: ff::frame::Video,
}

impl RgbConverter {
    fn convert(&mut self, frame: &ff::frame::Video) -> Result<RgbImage, MediaError> {
        let (sw, sh, fmt) = (frame.width(), frame.height(), frame.format());
        let stale = self.scaler.as_ref().is_none_or(|s| {
            let i = s.input();
            (i.width, i.height, i.format) != (sw, sh, fmt)
        });
        if stale {
            let (dw, dh) = scaled_size(sw, sh, self.max_side);
            let flags = ff::software::scaling::Flags::BILINEAR;
            let scaler = ff::software::scaling::Context::get(
                fmt,
                sw,
                sh,
                ff::format::Pixel::RGB24,
                dw,
                dh,
                flags,
            )
            .map_err(|e| {
                MediaError::Internal(format!("swscale setup for {fmt:?} {sw}x{sh}: {e}"))
            })?;
            self.scaler = Some(scaler);
        }
        let scaler = self
            .scaler
            .as_mut()
            .ok_or_else(|| MediaError::Internal("no scaler".into()))?;
        scaler
            .run(frame, &mut self.out)
            .map_err(|e| MediaError::Internal(format!("swscale: {e}")))?;
        let (w, h) = (self.out.width() as usize, self.out.height() as usize);
        let stride = self.out.stride(0);
        let src = self.out.data(0);
        let row = w * 3;
        let mut data = Vec::with_capacity(row * h);
        for y in 0..h {
            let line = src
                .get(y * stride..y * stride + row)
                .ok_or_else(|| MediaError::Internal("short swscale output".into()))?;
            data.extend_from_slice(line);
        }
        Ok(RgbImage {
            width: w as u32,
            height: h as u32,
            data,
        })
    }
}

/// Decodes `path` once, in order, and keeps the frames at `round(linspace(0, n-1, k))`, scaled so
/// the larger side is at most `max_side`. A stream shorter than advertised yields fewer frames.
#[tracing::instrument(skip_all, fields(path = %path.display(), k), err(level = "info"))]
pub fn sample_frames(path: &Path, k: usize, max_side: u32) -> Result<SampledFrames, MediaError> {
    let mut ictx = open_input(path, None)?;
    let stream = ictx
        .streams()
        .best(ff::media::Type::Video)
        .ok_or_else(|| MediaError::InvalidVideo("no video stream".into()))?;
    let index = stream.index();
    let timing = stream_timing(&ictx, &stream);
    // Without a usable frame count, the first k frames are the best we can do in one pass.
    let n = if timing.frames > 0 {
        timing.frames
    } else {
        k as u64
    };
    let wanted = linspace_indices(n, k);
    let mut ctx = ff::codec::context::Context::from_parameters(stream.parameters())
        .map_err(|e| MediaError::InvalidVideo(format!("decoder parameters: {e}")))?;
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    ctx.set_threading(ff::threading::Config {
        kind: ff::threading::Type::Frame,
        count: threads,
        ..Default::default()
    });
    let decoder = ctx
        .decoder()
        .video()
        .map_err(|e| MediaError::InvalidVideo(format!("cannot open the decoder: {e}")))?;
    DECODES.fetch_add(1, Ordering::Relaxed);
    let mut run = DecodeRun {
        decoder,
        wanted,
        next: 0,
        decoded: 0,
        frame: ff::frame::Video::empty(),
        converter: RgbConverter {
            max_side,
            scaler: None,
            out: ff::frame::Video::empty(),
        },
        out: SampledFrames {
            indices: Vec::new(),
            frames: Vec::new(),
        },
    };
    for (s, packet) in ictx.packets() {
        if s.index() != index {
            continue;
        }
        if run.done() {
            break;
        }
        if let Err(e) = run.decoder.send_packet(&packet) {
            tracing::debug!(error = %e, "skipping a packet the decoder refused");
            continue;
        }
        run.drain()?;
    }
    if !run.done() && run.decoder.send_eof().is_ok() {
        run.drain()?;
    }
    if run.decoded == 0 {
        return Err(MediaError::InvalidVideo("no decodable frame".into()));
    }
    Ok(run.out)
}

struct DecodeRun {
    decoder: ff::decoder::Video,
    wanted: Vec<u64>,
    next: usize,
    decoded: u64,
    frame: ff::frame::Video,
    converter: RgbConverter,
    out: SampledFrames,
}

impl DecodeRun {
    fn done(&self) -> bool {
        self.next >= self.wanted.len()
    }

    /// Pulls every frame the decoder has ready, converting only the wanted ones.
    fn drain(&mut self) -> Result<(), MediaError> {
        while !self.done() && self.decoder.receive_frame(&mut self.frame).is_ok() {
            let idx = self.decoded;
            self.decoded += 1;
            if self.wanted.get(self.next) == Some(&idx) {
                let img = self.converter.convert(&self.frame)?;
                self.out.indices.push(idx);
                self.out.frames.push(img);
                self.next += 1;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::test_support::{decode_lock, sample, video};

    #[test]
    fn linspace_matches_numpy_rounding() {
        assert_eq!(linspace_indices(10, 4), vec![0, 3, 6, 9]);
        assert_eq!(linspace_indices(10, 1), vec![0]);
        assert_eq!(linspace_indices(3, 8), vec![0, 1, 2]);
        // np.linspace(0, 299, 32) rounded: 0, 9.645 -> 10, 19.29 -> 19, ...
        let v = linspace_indices(300, 32);
        assert_eq!(v.len(), 32);
        assert_eq!(&v[..3], &[0, 10, 19]);
        assert_eq!(v[31], 299);
    }

    #[test]
    fn scaled_size_keeps_aspect_and_never_upscales() {
        assert_eq!(scaled_size(64, 64, 512), (64, 64));
        assert_eq!(scaled_size(1920, 1080, 512), (512, 288));
        assert_eq!(scaled_size(1080, 1920, 512), (288, 512));
    }

    #[test]
    fn keeps_linspace_frames_with_the_background_colour() {
        for name in ["real_1.mp4", "real_1.webm"] {
            let s = sample(name, 4, 512).unwrap();
            assert_eq!(s.indices, vec![0, 3, 6, 9], "{name}");
            for f in &s.frames {
                assert_eq!((f.width, f.height, f.data.len()), (64, 64, 64 * 64 * 3));
                // The box moves along rows 8..16; row 50 is always background (60, 128, 200).
                let px = f.pixel(5, 50).unwrap();
                for (got, want) in px.iter().zip([60u8, 128, 200]) {
                    assert!(got.abs_diff(want) <= 4, "{name}: {px:?}");
                }
            }
            // Each kept frame shows the white box where the generator put it in that frame:
            // x = 6 * (index + 1), rows 8..16.
            for (f, &i) in s.frames.iter().zip(&s.indices) {
                let x = 6 * (i as u32 + 1) + 2;
                assert!(
                    f.pixel(x, 12).unwrap().iter().all(|&v| v > 240),
                    "{name} frame {i}"
                );
                assert!(
                    f.pixel((x + 8) % 64, 12).unwrap().iter().any(|&v| v < 200),
                    "{name} frame {i}"
                );
            }
        }
    }

    #[test]
    fn scales_down_and_keeps_everything_of_short_clips() {
        let s = sample("fake_2.mp4", 20, 32).unwrap();
        assert_eq!(s.indices, (0..10).collect::<Vec<_>>());
        assert!(s.frames.iter().all(|f| (f.width, f.height) == (32, 32)));
    }

    #[test]
    fn decodes_once_per_call() {
        let _guard = decode_lock();
        let before = decode_count();
        sample_frames(&video("real_2.mp4"), 8, 512).unwrap();
        assert_eq!(decode_count(), before + 1);
        sample_frames(&video("real_2.mp4"), 2, 16).unwrap();
        assert_eq!(decode_count(), before + 2);
    }

    #[test]
    fn refuses_non_videos() {
        assert_eq!(
            sample("not_a_video.mp4", 4, 64).unwrap_err().code(),
            "unsupported_media"
        );
    }
}
