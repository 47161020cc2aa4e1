//! Frame sampling: one in-order decode per video, keeping K evenly spaced frames as RGB24.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use ffmpeg_next as ff;

use super::display::DisplayGeometry;
use super::error::MediaError;
use super::image::RgbImage;
use super::open::open_input;
use super::probe::stream_timing;
use super::resize::capped_size as scaled_size;

static DECODES: AtomicU64 = AtomicU64::new(0);

/// How many times this process has decoded a video with [`sample_frames`], counting the decodes its
/// evaluation children reported (see [`crate::sandbox`]).
pub fn decode_count() -> u64 {
    DECODES.load(Ordering::Relaxed)
}

/// Adds decodes done on this process's behalf by an evaluation child.
pub(crate) fn count_child_decodes(n: u64) {
    DECODES.fetch_add(n, Ordering::Relaxed);
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

/// The size a `width`×`height` decoded frame is converted to before rotation: square pixels
/// (the sample aspect ratio applied by the scaler), longer side at most `max_side`.
fn converted_size(
    geometry: &DisplayGeometry,
    width: u32,
    height: u32,
    max_side: u32,
) -> (u32, u32) {
    let frame = DisplayGeometry {
        width,
        height,
        ..*geometry
    };
    let (w, h) = frame.unrotated_size();
    scaled_size(w, h, max_side)
}

/// Converts decoded frames to packed RGB24 as displayed (sample aspect ratio, then the display
/// matrix's rotation or flip), rebuilding the scaler when the input geometry changes.
struct RgbConverter {
    max_side: u32,
    geometry: DisplayGeometry,
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
            let (dw, dh) = converted_size(&self.geometry, sw, sh, self.max_side);
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
        let stored = RgbImage {
            width: w as u32,
            height: h as u32,
            data,
        };
        Ok(self.geometry.orientation.apply(stored))
    }
}

/// Decodes `path` once, in order, and keeps the frames at `round(linspace(0, n-1, k))` as displayed
/// (see [`super::display`]), scaled so the larger side is at most `max_side`. A stream shorter than advertised yields fewer frames.
pub fn sample_frames(path: &Path, k: usize, max_side: u32) -> Result<SampledFrames, MediaError> {
    let mut multi = sample_frames_sized(path, k, &[max_side])?;
    Ok(SampledFrames {
        indices: multi.indices,
        frames: multi.sizes.pop().unwrap_or_default(),
    })
}

/// The kept frames of one decode, at several sizes.
#[derive(Debug, Clone)]
pub struct SampledSizes {
    /// Display-order indices of the kept frames (0-based).
    pub indices: Vec<u64>,
    /// One list of frames per requested `max_side`, in the order requested.
    pub sizes: Vec<Vec<RgbImage>>,
}

/// Like [`sample_frames`], but converts each kept frame once per entry of `max_sides` (straight
/// from the decoder's pixels, so a small size is as sharp as if decoded alone): one decode gives
/// both the large frames faces are cut from and the small whole frames.
pub fn sample_frames_sized(
    path: &Path,
    k: usize,
    max_sides: &[u32],
) -> Result<SampledSizes, MediaError> {
    let mut out = SampledSizes {
        indices: Vec::new(),
        sizes: vec![Vec::new(); max_sides.len()],
    };
    sample_frames_each(path, k, max_sides, |index, images| {
        out.indices.push(index);
        for (list, img) in out.sizes.iter_mut().zip(images) {
            list.push(img);
        }
        Ok::<(), MediaError>(())
    })?;
    Ok(out)
}

/// The streaming form of [`sample_frames_sized`]: hands each kept frame (its index, and one image
/// per entry of `max_sides`) to `on_frame` as soon as it is decoded, so a caller can reduce it
/// (e.g. to a face crop) without holding every large frame. Returns how many frames were kept.
#[tracing::instrument(skip_all, fields(path = %path.display(), k), err(level = "info"))]
pub fn sample_frames_each<E, F>(
    path: &Path,
    k: usize,
    max_sides: &[u32],
    mut on_frame: F,
) -> Result<usize, E>
where
    E: From<MediaError> + std::fmt::Display,
    F: FnMut(u64, Vec<RgbImage>) -> Result<(), E>,
{
    let mut ictx = open_input(path)?;
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
    let geometry = DisplayGeometry::of(&stream, &decoder)?;
    DECODES.fetch_add(1, Ordering::Relaxed);
    let mut run = DecodeRun {
        decoder,
        wanted,
        next: 0,
        decoded: 0,
        frame: ff::frame::Video::empty(),
        converters: max_sides
            .iter()
            .map(|&max_side| RgbConverter {
                max_side,
                geometry,
                scaler: None,
                out: ff::frame::Video::empty(),
            })
            .collect(),
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
        run.drain(&mut on_frame)?;
    }
    if !run.done() && run.decoder.send_eof().is_ok() {
        run.drain(&mut on_frame)?;
    }
    if run.decoded == 0 {
        return Err(MediaError::InvalidVideo("no decodable frame".into()).into());
    }
    Ok(run.next)
}

struct DecodeRun {
    decoder: ff::decoder::Video,
    wanted: Vec<u64>,
    next: usize,
    decoded: u64,
    frame: ff::frame::Video,
    converters: Vec<RgbConverter>,
}

impl DecodeRun {
    fn done(&self) -> bool {
        self.next >= self.wanted.len()
    }

    /// Pulls every frame the decoder has ready, converting only the wanted ones.
    fn drain<E: From<MediaError>>(
        &mut self,
        on_frame: &mut impl FnMut(u64, Vec<RgbImage>) -> Result<(), E>,
    ) -> Result<(), E> {
        while !self.done() && self.decoder.receive_frame(&mut self.frame).is_ok() {
            let idx = self.decoded;
            self.decoded += 1;
            if self.wanted.get(self.next) == Some(&idx) {
                let (w, h) = (self.frame.width(), self.frame.height());
                let mut images: Vec<RgbImage> = Vec::with_capacity(self.converters.len());
                for conv in &mut self.converters {
                    let (cw, ch) = converted_size(&conv.geometry, w, h, conv.max_side);
                    let size = conv.geometry.orientation.size(cw, ch);
                    // Two caps above the frame's size give the same image: convert it once.
                    let same = images.iter().find(|i| (i.width, i.height) == size).cloned();
                    images.push(match same {
                        Some(img) => img,
                        None => conv.convert(&self.frame)?,
                    });
                }
                self.next += 1;
                on_frame(idx, images)?;
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
    fn one_decode_gives_every_size() {
        let _guard = decode_lock();
        let before = decode_count();
        let s = sample_frames_sized(&video("face_moving.mp4"), 4, &[1920, 160, 100_000]).unwrap();
        assert_eq!(decode_count(), before + 1);
        assert_eq!(s.indices, vec![0, 4, 7, 11]);
        let dims = |list: &[RgbImage]| list.iter().map(|f| (f.width, f.height)).collect::<Vec<_>>();
        assert_eq!(dims(&s.sizes[0]), vec![(320, 240); 4]);
        assert_eq!(dims(&s.sizes[1]), vec![(160, 120); 4]);
        assert_eq!(s.sizes[2], s.sizes[0]);
        // The small size is converted from the decoder's pixels, like a decode at that size.
        let alone = sample_frames(&video("face_moving.mp4"), 4, 160).unwrap();
        assert_eq!(alone.frames, s.sizes[1]);
    }

    fn mean_abs_diff(a: &RgbImage, b: &RgbImage) -> f64 {
        assert_eq!((a.width, a.height), (b.width, b.height));
        let total: u64 = a
            .data
            .iter()
            .zip(&b.data)
            .map(|(x, y)| u64::from(x.abs_diff(*y)))
            .sum();
        total as f64 / a.data.len() as f64
    }

    #[test]
    fn rotated_flipped_and_anamorphic_clips_are_sampled_as_displayed() {
        // Each stores face_moving.mp4's frames differently (datasets/fixtures/make_display_clips.py);
        // displayed, all four look the same.
        let upright = sample("face_moving.mp4", 12, 512).unwrap();
        for (name, tolerance) in [
            ("face_rot90.mp4", 1.5),
            ("face_hflip.mp4", 1.5),
            ("face_anamorphic.mp4", 4.0),
        ] {
            let s = sample(name, 12, 512).unwrap();
            assert_eq!(s.indices, upright.indices, "{name}");
            for (i, (f, u)) in s.frames.iter().zip(&upright.frames).enumerate() {
                assert_eq!((f.width, f.height), (320, 240), "{name} frame {i}");
                let d = mean_abs_diff(f, u);
                assert!(d < tolerance, "{name} frame {i}: mean difference {d}");
            }
        }
        // Turned the other way, the same frame is far from the upright one: the tolerance tells
        // a right turn from a wrong one.
        let turned = sample("face_rot90.mp4", 1, 512).unwrap().frames.remove(0);
        let half = crate::media::display::Orientation {
            a: -1,
            b: 0,
            c: 0,
            d: -1,
        };
        let d = mean_abs_diff(&half.apply(turned), &upright.frames[0]);
        assert!(d > 10.0, "mean difference {d}");
    }

    #[test]
    fn rotation_matches_ffmpegs_own_autorotate() {
        // FFmpeg's CLI applies the display matrix itself (transpose=clock here): an independent
        // reference for the direction of the turn.
        let out = std::process::Command::new("ffmpeg")
            .args(["-nostdin", "-loglevel", "error", "-i"])
            .arg(video("face_rot90.mp4"))
            .args(["-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
            .output()
            .unwrap();
        assert!(out.status.success());
        assert_eq!(out.stdout.len(), 320 * 240 * 3);
        let cli = RgbImage {
            width: 320,
            height: 240,
            data: out.stdout,
        };
        let ours = sample("face_rot90.mp4", 1, 512).unwrap().frames.remove(0);
        // Both scale with swscale from the same decoded pixels (the CLI's default is bicubic).
        let d = mean_abs_diff(&ours, &cli);
        assert!(d < 1.5, "mean difference {d}");
    }

    #[test]
    fn refuses_non_videos() {
        assert_eq!(
            sample("not_a_video.mp4", 4, 64).unwrap_err().code(),
            "unsupported_media"
        );
    }
}
