//! Detector inputs of videos exactly as the worker builds them (one decode, K evenly spaced
//! frames, BlazeFace, face crops cut per the manifest's `margin` and `align`, then the detector's own resize and normalisation), written
//! as a NumPy `.npy` array so baseline detectors are trained on the tensors they will be scored on.

use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use arena_worker::detector::model_input;
use arena_worker::faces::FaceDetector;
use arena_worker::manifest::{Layout, Manifest};
use arena_worker::media::{AsRgb, RgbImage};
use arena_worker::pipeline::{PreparePlan, prepare_frames};
use serde::Serialize;

/// Bytes reserved for the `.npy` header, so the row count can be written once it is known.
const NPY_HEADER: usize = 128;

#[derive(Debug, thiserror::Error)]
pub enum ModelInputsError {
    #[error("{path}: {message}")]
    Video { path: PathBuf, message: String },
    #[error("model input: {0}")]
    Input(String),
    #[error("cannot write {path}: {reason}")]
    Io { path: PathBuf, reason: String },
}

/// Where one video's rows are in the array.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VideoRows {
    pub path: PathBuf,
    /// First row of this video.
    pub start: usize,
    pub rows: usize,
    /// Sampled frames with a real face detection.
    pub face_frames: usize,
}

/// What [`export`] wrote: `rows` model inputs of `shape` (one per picked frame), float32.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Exported {
    /// Shape of one input, in the manifest's layout (`[3, H, W]` or `[H, W, 3]`).
    pub shape: [usize; 3],
    pub rows: usize,
    pub videos: Vec<VideoRows>,
}

fn npy_header(rows: usize, shape: [usize; 3]) -> Vec<u8> {
    let dict = format!(
        "{{'descr': '<f4', 'fortran_order': False, 'shape': ({rows}, {}, {}, {}), }}",
        shape[0], shape[1], shape[2]
    );
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    let len = NPY_HEADER - 10;
    out.extend_from_slice(&(len as u16).to_le_bytes());
    out.extend_from_slice(dict.as_bytes());
    out.resize(NPY_HEADER - 1, b' ');
    out.push(b'\n');
    out
}

/// Prepares each video as the `prepare_video` job does with `plan`, picks the manifest's
/// `frames` of its face crops (or whole frames) as the `score` job does, preprocesses them as
/// the detector session does, and writes the float32 inputs to `out` (`.npy`) and an index of
/// the rows per video to `out` with extension `json`.
#[tracing::instrument(skip_all, fields(videos = videos.len(), out = %out.display()), err)]
pub fn export(
    faces: &mut FaceDetector,
    plan: &PreparePlan,
    manifest: &Manifest,
    videos: &[PathBuf],
    out: &Path,
) -> Result<Exported, ModelInputsError> {
    let io = |path: &Path, e: &dyn std::fmt::Display| ModelInputsError::Io {
        path: path.to_owned(),
        reason: e.to_string(),
    };
    let (h, w) = (manifest.height() as usize, manifest.width() as usize);
    let shape = match manifest.layout {
        Layout::Nchw => [3, h, w],
        Layout::Nhwc => [h, w, 3],
    };
    let mut file = BufWriter::new(File::create(out).map_err(|e| io(out, &e))?);
    file.write_all(&npy_header(0, shape))
        .map_err(|e| io(out, &e))?;
    let mut exported = Exported {
        shape,
        rows: 0,
        videos: Vec::with_capacity(videos.len()),
    };
    for path in videos {
        let prepared = prepare_frames(path, plan, faces).map_err(|e| ModelInputsError::Video {
            path: path.clone(),
            message: e.to_string(),
        })?;
        let picked: Vec<RgbImage> = prepared
            .images_for(manifest.crop)
            .for_detector(manifest)
            .iter()
            .map(|c| c.rgb().to_image())
            .collect();
        let input =
            model_input(manifest, &picked).map_err(|e| ModelInputsError::Input(e.to_string()))?;
        let bytes: Vec<u8> = input.iter().flat_map(|v| v.to_le_bytes()).collect();
        file.write_all(&bytes).map_err(|e| io(out, &e))?;
        exported.videos.push(VideoRows {
            path: path.clone(),
            start: exported.rows,
            rows: picked.len(),
            face_frames: prepared.faces.face_frames(),
        });
        exported.rows += picked.len();
    }
    file.seek(SeekFrom::Start(0)).map_err(|e| io(out, &e))?;
    file.write_all(&npy_header(exported.rows, shape))
        .map_err(|e| io(out, &e))?;
    file.flush().map_err(|e| io(out, &e))?;
    let index = out.with_extension("json");
    let text = serde_json::to_string_pretty(&exported).map_err(|e| io(&index, &e))?;
    std::fs::write(&index, text).map_err(|e| io(&index, &e))?;
    Ok(exported)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::synth::tests::face_detector;

    #[test]
    fn header_is_a_padded_npy_v1_header() {
        let h = npy_header(12345, [3, 64, 64]);
        assert_eq!(h.len(), NPY_HEADER);
        assert_eq!(&h[..6], b"\x93NUMPY");
        assert_eq!(u16::from_le_bytes([h[8], h[9]]) as usize, NPY_HEADER - 10);
        let text = String::from_utf8_lossy(&h[10..]);
        assert!(text.contains("'shape': (12345, 3, 64, 64)"), "{text}");
        assert!(text.ends_with('\n'));
    }

    #[test]
    fn writes_what_the_detector_is_fed() {
        let dir = tempfile::tempdir().unwrap();
        let video = crate::video("face_moving.mp4");
        let manifest = Manifest::parse(
            "name = \"t\"\ninput = \"input\"\noutput = \"logit\"\nsize = [32, 32]\n\
             layout = \"nchw\"\ncolor = \"rgb\"\nmean = [0.0, 0.0, 0.0]\nstd = [1.0, 1.0, 1.0]\n\
             output_kind = \"logit\"\nframes = 4\n",
        )
        .unwrap();
        let plan = PreparePlan {
            frames: 6,
            decode_max_side: 1920,
            max_side: 512,
        };
        let out = dir.path().join("x.npy");
        let mut faces = face_detector();
        let got = export(
            &mut faces,
            &plan,
            &manifest,
            std::slice::from_ref(&video),
            &out,
        )
        .unwrap();
        assert_eq!((got.rows, got.shape), (4, [3, 32, 32]));
        assert_eq!(got.videos[0].face_frames, 6);
        let bytes = std::fs::read(&out).unwrap();
        assert_eq!(bytes.len(), NPY_HEADER + 4 * 3 * 32 * 32 * 4);
        let prepared = prepare_frames(&video, &plan, &mut faces).unwrap();
        let picked: Vec<RgbImage> = prepared
            .faces
            .for_detector(&manifest)
            .iter()
            .map(|c| c.rgb().to_image())
            .collect();
        let want = model_input(&manifest, &picked).unwrap();
        let first = f32::from_le_bytes(bytes[NPY_HEADER..NPY_HEADER + 4].try_into().unwrap());
        assert_eq!(first, want[0]);
        assert!(dir.path().join("x.json").is_file());
    }
}
