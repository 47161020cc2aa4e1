//! The fork server's preloaded face detector ([`crate::sandbox::fork::Preload`]): built once in
//! the fork server before it forks anything, inherited by every forked child, and taken by the
//! first prepare request that names the same model and session options. A child that never
//! prepares (probe, score, check) leaves it unused; its pages are the fork server's, shared
//! copy-on-write.

use std::path::Path;
use std::sync::Mutex;

use crate::detector::{OrtRuntime, SessionOptions};
use crate::faces::{FaceDetector, FaceError};
use crate::sandbox::fork::Preload;

struct Preloaded {
    spec: Preload,
    faces: FaceDetector,
}

static PRELOADED: Mutex<Option<Preloaded>> = Mutex::new(None);

/// Loads onnxruntime and builds the face detector's sessions (in the fork server, single-threaded
/// before and, as the caller checks, after).
pub(super) fn preload(spec: Preload) -> Result<(), String> {
    let rt = OrtRuntime::init(&spec.ort_lib).map_err(|e| format!("onnxruntime: {e}"))?;
    let faces = FaceDetector::load(&rt, &spec.face_model, &spec.session)
        .map_err(|e| format!("the face detector: {e}"))?;
    let mut slot = PRELOADED
        .lock()
        .map_err(|_| "the preload lock is poisoned".to_owned())?;
    *slot = Some(Preloaded { spec, faces });
    Ok(())
}

/// The face detector for a prepare request: the preloaded one when it was built from `model`
/// with `session` (taken once per child), else one loaded now.
pub(super) fn face_detector(
    rt: &OrtRuntime,
    model: &Path,
    session: &SessionOptions,
) -> Result<FaceDetector, FaceError> {
    if let Ok(mut slot) = PRELOADED.lock() {
        let fits = slot
            .as_ref()
            .is_some_and(|p| p.spec.face_model == model && p.spec.session == *session);
        if let Some(preloaded) = slot.take_if(|_| fits) {
            return Ok(preloaded.faces);
        }
    }
    FaceDetector::load(rt, model, session)
}
