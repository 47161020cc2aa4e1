//! Writing and reading raw RGB frames through the `ffmpeg` CLI (H.264 in MP4, deterministic flags).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use arena_worker::RgbImage;

#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    #[error("cannot run ffmpeg: {0}")]
    Spawn(String),
    #[error("ffmpeg failed on {path}: {stderr}")]
    Failed { path: PathBuf, stderr: String },
    #[error("frame {index} is {got:?}, expected {want:?}")]
    FrameSize {
        index: usize,
        got: (u32, u32),
        want: (u32, u32),
    },
}

/// Encodes `frames` (all the same size) at `fps` to `out` as H.264 yuv420p in MP4, bit-exact and
/// single-threaded so a rerun writes the same bytes.
#[tracing::instrument(skip_all, fields(out = %out.display(), frames = frames.len()), err)]
pub fn encode_mp4(frames: &[RgbImage], fps: f64, out: &Path) -> Result<(), EncodeError> {
    let Some(first) = frames.first() else {
        return Err(EncodeError::Failed {
            path: out.to_owned(),
            stderr: "no frames".into(),
        });
    };
    let want = (first.width, first.height);
    let mut child = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(["-f", "rawvideo", "-pix_fmt", "rgb24"])
        .args(["-s", &format!("{}x{}", want.0, want.1)])
        .args(["-r", &format!("{fps}"), "-i", "-"])
        .args([
            "-frames:v",
            &frames.len().to_string(),
            "-an",
            "-map_metadata",
            "-1",
        ])
        .args(["-fflags", "+bitexact", "-flags:v", "+bitexact"])
        .args([
            "-c:v", "libx264", "-preset", "medium", "-crf", "18", "-pix_fmt", "yuv420p",
        ])
        .args(["-x264-params", "threads=1:sliced-threads=0"])
        .arg(out)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| EncodeError::Spawn(e.to_string()))?;
    let written = match child.stdin.take() {
        Some(mut stdin) => write_frames(&mut stdin, frames, want),
        None => Err(EncodeError::Spawn("no stdin".into())),
    };
    let output = child
        .wait_with_output()
        .map_err(|e| EncodeError::Spawn(e.to_string()))?;
    if !output.status.success() {
        return Err(EncodeError::Failed {
            path: out.to_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        });
    }
    written
}

fn write_frames(
    stdin: &mut impl Write,
    frames: &[RgbImage],
    want: (u32, u32),
) -> Result<(), EncodeError> {
    for (index, f) in frames.iter().enumerate() {
        if (f.width, f.height) != want {
            return Err(EncodeError::FrameSize {
                index,
                got: (f.width, f.height),
                want,
            });
        }
        stdin
            .write_all(&f.data)
            .map_err(|e| EncodeError::Spawn(format!("writing frame {index}: {e}")))?;
    }
    Ok(())
}

/// Decodes a still image (e.g. a PNG) with the ffmpeg CLI into packed RGB24.
pub fn decode_image(path: &Path) -> Result<RgbImage, EncodeError> {
    let probe = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0"])
        .args(["-show_entries", "stream=width,height", "-of", "csv=p=0:s=x"])
        .arg(path)
        .output()
        .map_err(|e| EncodeError::Spawn(e.to_string()))?;
    let failed = |stderr: String| EncodeError::Failed {
        path: path.to_owned(),
        stderr,
    };
    let dims = String::from_utf8_lossy(&probe.stdout).trim().to_owned();
    let (w, h) = dims
        .split_once('x')
        .and_then(|(w, h)| Some((w.parse::<u32>().ok()?, h.parse::<u32>().ok()?)))
        .ok_or_else(|| failed(format!("no size in {dims:?}")))?;
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-i"])
        .arg(path)
        .args(["-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        .output()
        .map_err(|e| EncodeError::Spawn(e.to_string()))?;
    if !out.status.success() || out.stdout.len() != w as usize * h as usize * 3 {
        return Err(failed(
            String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        ));
    }
    Ok(RgbImage {
        width: w,
        height: h,
        data: out.stdout,
    })
}
