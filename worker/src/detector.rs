//! Detector sessions (onnxruntime via `ort`): preprocessing per manifest, batched inference,
//! per-frame P(fake), and video-level aggregation.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use ort::environment::Environment;
use ort::session::{RunOptions, Session};
use ort::value::TensorRef;

use crate::manifest::{Aggregate, ColorOrder, CropMode, Layout, Manifest, OutputKind};
use crate::media::{AsRgb, RgbImage, RgbView};
use crate::onnx_model::{InputBatch, ModelError, check_manifest_against_model, inspect_model};

#[derive(Debug, thiserror::Error)]
pub enum DetectorError {
    #[error("onnxruntime is unavailable: {0}")]
    Runtime(String),
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error("the model could not be loaded: {0}")]
    Load(String),
    #[error("the model failed to run: {0}")]
    Run(String),
    #[error("the model's output is not finite")]
    NonFinite,
    #[error(
        "the model is not deterministic: the probe frames scored differently across runs or batch \
         sizes (by up to {max_diff:.2e}, allowed 1e-4)"
    )]
    NonDeterministic { max_diff: f32 },
    #[error("the model took longer than the {limit_ms} ms allowed to score the probe frames")]
    TooSlow { limit_ms: u64 },
    #[error("unexpected model output: {0}")]
    OutputShape(String),
    #[error("internal detector error: {0}")]
    Internal(String),
}

impl DetectorError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Runtime(_) => "onnxruntime_unavailable",
            Self::Model(e) => e.code(),
            Self::Load(_) => "model_load_failed",
            Self::Run(_) => "model_run_failed",
            Self::NonFinite => "model_output_not_finite",
            Self::NonDeterministic { .. } => "model_nondeterministic",
            Self::TooSlow { .. } => "model_too_slow",
            Self::OutputShape(_) => "model_output_shape",
            Self::Internal(_) => "detector_internal",
        }
    }

    /// True when the team's model (or manifest) is at fault.
    pub fn is_client_error(&self) -> bool {
        match self {
            Self::Runtime(_) | Self::Internal(_) => false,
            Self::Model(e) => e.is_client_error(),
            Self::Load(_)
            | Self::Run(_)
            | Self::NonFinite
            | Self::NonDeterministic { .. }
            | Self::TooSlow { .. }
            | Self::OutputShape(_) => true,
        }
    }
}

/// The process-wide onnxruntime environment; cheap to clone.
#[derive(Clone)]
pub struct OrtRuntime {
    env: Environment,
    /// The library it was loaded from (its folder holds the CUDA provider, if any).
    lib: PathBuf,
}

static ORT_ENV: Mutex<Option<(Environment, PathBuf)>> = Mutex::new(None);

impl OrtRuntime {
    /// Loads onnxruntime from `lib_path` and creates the environment, once per process; later
    /// calls return the same environment (and ignore `lib_path`).
    pub fn init(lib_path: &Path) -> Result<OrtRuntime, DetectorError> {
        let mut slot = ORT_ENV
            .lock()
            .map_err(|_| DetectorError::Runtime("environment lock poisoned".into()))?;
        if let Some((env, lib)) = slot.as_ref() {
            return Ok(OrtRuntime {
                env: env.clone(),
                lib: lib.clone(),
            });
        }
        let env = ort::init_from(lib_path)
            .map_err(|e| DetectorError::Runtime(load_error_text(&e)))?
            .with_name("arena")
            // onnxruntime 1.31's Linux build records usage events in a SQLite file under
            // ~/.cache/Microsoft/DeveloperTools and tries to upload them: never, from here.
            .with_telemetry(false)
            .build()
            .map_err(|e| DetectorError::Runtime(e.to_string()))?;
        let lib = std::fs::canonicalize(lib_path).unwrap_or_else(|_| lib_path.to_owned());
        *slot = Some((env.clone(), lib.clone()));
        Ok(OrtRuntime { env, lib })
    }

    /// The library this process's onnxruntime was loaded from.
    pub fn lib_path(&self) -> &Path {
        &self.lib
    }

    /// The library `settings` ask for: `ort_lib`, else [`OrtRuntime::lib_path_for`] their
    /// execution provider.
    pub fn lib_path_in(settings: &arena::Settings) -> PathBuf {
        settings.ort_lib.clone().unwrap_or_else(|| {
            let provider = ExecutionProvider::parse(&settings.evaluation.execution_provider);
            Self::lib_path_for(provider.unwrap_or_default())
        })
    }

    /// The library for `provider`: `ARENA_ORT_LIB` when set; for CUDA, the GPU build
    /// `scripts/bootstrap --gpu` lays out (`.cache/onnxruntime-gpu/lib/libonnxruntime.so`) when
    /// it is there; else [`OrtRuntime::default_lib_path`]. The GPU build runs CPU sessions too.
    pub fn lib_path_for(provider: ExecutionProvider) -> PathBuf {
        let gpu_build = (provider == ExecutionProvider::Cuda
            && std::env::var_os("ARENA_ORT_LIB").is_none())
        .then(|| find_in_cache(Path::new(GPU_LIB)))
        .flatten();
        gpu_build.unwrap_or_else(Self::default_lib_path)
    }

    /// `ARENA_ORT_LIB`, else `.cache/onnxruntime/libonnxruntime.so` in the current directory or an
    /// ancestor, else beside the workspace this crate was built in.
    pub fn default_lib_path() -> PathBuf {
        if let Some(p) = std::env::var_os("ARENA_ORT_LIB") {
            return PathBuf::from(p);
        }
        find_in_cache(Path::new(".cache/onnxruntime/libonnxruntime.so"))
            .unwrap_or_else(|| PathBuf::from("libonnxruntime.so"))
    }
}

/// Where `scripts/bootstrap --gpu` puts onnxruntime's GPU build, beside the CUDA libraries.
const GPU_LIB: &str = ".cache/onnxruntime-gpu/lib/libonnxruntime.so";

/// `rel` under the current directory or an ancestor, else beside the workspace this crate was
/// built in.
fn find_in_cache(rel: &Path) -> Option<PathBuf> {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let starts = std::env::current_dir()
        .ok()
        .into_iter()
        .chain(manifest_dir.parent().map(Path::to_path_buf));
    for start in starts {
        if let Some(found) = start.ancestors().map(|d| d.join(rel)).find(|p| p.is_file()) {
            return Some(found);
        }
    }
    None
}

/// The loader's own words (dlerror's, e.g. "cannot allocate memory"), which `ort`'s message omits.
fn load_error_text(e: &ort::LoadDynamicError) -> String {
    let mut text = e.to_string();
    if let ort::LoadDynamicError::Dlopen { error, .. } = e {
        let mut source = std::error::Error::source(error);
        while let Some(cause) = source {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            source = cause.source();
        }
    }
    text
}

/// Where onnxruntime runs a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExecutionProvider {
    #[default]
    Cpu,
    Cuda,
}

impl ExecutionProvider {
    /// `cpu` or `cuda` (case-insensitive).
    pub fn parse(name: &str) -> Option<ExecutionProvider> {
        match name.trim().to_ascii_lowercase().as_str() {
            "cpu" => Some(Self::Cpu),
            "cuda" => Some(Self::Cuda),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cpu => "cpu",
            Self::Cuda => "cuda",
        }
    }
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct SessionOptions {
    pub intra_threads: usize,
    /// Requested provider; CUDA falls back to CPU (with a warning) when it cannot be used.
    pub execution_provider: ExecutionProvider,
    /// How a CUDA session is set up (ignored on the CPU).
    #[serde(default)]
    pub cuda: CudaOptions,
}

impl Default for SessionOptions {
    fn default() -> Self {
        Self {
            intra_threads: 1,
            execution_provider: ExecutionProvider::Cpu,
            cuda: CudaOptions::default(),
        }
    }
}

/// The CUDA side of [`SessionOptions`].
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct CudaOptions {
    /// Device ordinal as this process sees it (an evaluation child sees only its slot's device,
    /// as 0: the sandbox sets its `CUDA_VISIBLE_DEVICES`).
    pub device_id: u32,
    /// onnxruntime's `gpu_mem_limit` (the session's CUDA arena), in MiB; 0 is no cap.
    pub mem_limit_mb: u64,
    /// Largest batch on the GPU when the model's batch dimension is free (0: the manifest's).
    pub batch: usize,
    /// Run frames of several videos in one session run ([`Detector::score_videos`]); `None`:
    /// only when the session runs on CUDA. The CPU gains nothing from it (NOTES: batching
    /// barely helps there), so its behaviour stays one video at a time.
    pub batch_across_videos: Option<bool>,
}

/// The options `ort` passes to onnxruntime's CUDA provider (`OrtCUDAProviderOptionsV2` keys).
pub fn cuda_provider_options(opts: &SessionOptions) -> Vec<(&'static str, String)> {
    let mut options = vec![("device_id", opts.cuda.device_id.to_string())];
    if opts.cuda.mem_limit_mb > 0 {
        let bytes = opts.cuda.mem_limit_mb.saturating_mul(1 << 20);
        options.push(("gpu_mem_limit", bytes.to_string()));
        // Grow the arena by what is asked, not to the next power of two, so the cap is usable.
        options.push(("arena_extend_strategy", "kSameAsRequested".to_owned()));
    }
    options
}

/// The CUDA provider built from [`cuda_provider_options`].
pub fn cuda_provider(opts: &SessionOptions) -> ort::ep::CUDA {
    use ort::ep::ArbitrarilyConfigurableExecutionProvider;
    cuda_provider_options(opts)
        .into_iter()
        .fold(ort::ep::CUDA::default(), |ep, (key, value)| {
            ep.with_arbitrary_config(key, value)
        })
}

impl SessionOptions {
    /// Options from the evaluation settings; an unknown provider name means CPU, with a warning.
    pub fn from_settings(s: &arena::config::EvaluationSettings) -> SessionOptions {
        let execution_provider =
            ExecutionProvider::parse(&s.execution_provider).unwrap_or_else(|| {
                tracing::warn!(
                    provider = %s.execution_provider,
                    "unknown execution provider (expected cpu or cuda); using cpu"
                );
                ExecutionProvider::Cpu
            });
        SessionOptions {
            intra_threads: s.intra_threads.max(1),
            execution_provider,
            cuda: CudaOptions {
                device_id: s.cuda_device(),
                mem_limit_mb: s.gpu_mem_limit_mb,
                batch: s.gpu_batch,
                batch_across_videos: None,
            },
        }
    }
}

static CUDA_WARNED: AtomicBool = AtomicBool::new(false);
static CUDA_FALLBACK: Mutex<Option<String>> = Mutex::new(None);

fn warn_cuda_fallback(reason: &str) {
    // Once per process at warn level: every session would repeat the same reason.
    if !CUDA_WARNED.swap(true, Ordering::Relaxed) {
        if let Ok(mut first) = CUDA_FALLBACK.lock() {
            *first = Some(reason.to_owned());
        }
        tracing::warn!(
            reason,
            "CUDA execution provider unavailable; falling back to CPU"
        );
    } else {
        tracing::debug!(reason, "CUDA execution provider unavailable; using CPU");
    }
}

/// Why this process's first CUDA session fell back to the CPU, if one did.
pub fn cuda_fallback_reason() -> Option<String> {
    CUDA_FALLBACK.lock().ok().and_then(|r| r.clone())
}

/// Creates a session from `model_bytes` on the requested provider, falling back to CPU when CUDA
/// cannot be registered or the CUDA session cannot be created. Returns the provider in use.
pub(crate) fn build_session(
    rt: &OrtRuntime,
    model_bytes: &[u8],
    opts: &SessionOptions,
) -> Result<(Session, ExecutionProvider), DetectorError> {
    if opts.execution_provider == ExecutionProvider::Cuda {
        match cuda_session(rt, model_bytes, opts) {
            Ok(session) => return Ok((session, ExecutionProvider::Cuda)),
            Err(reason) => warn_cuda_fallback(&reason),
        }
    }
    let session = Session::builder(&rt.env)
        .map_err(|e| DetectorError::Load(e.to_string()))?
        .with_intra_threads(opts.intra_threads.max(1))
        .map_err(|e| DetectorError::Load(e.to_string()))?
        .commit_from_memory(model_bytes)
        .map_err(|e| DetectorError::Load(e.to_string()))?;
    Ok((session, ExecutionProvider::Cpu))
}

/// A session with the CUDA provider registered, or why there is none (in words an operator can
/// act on: which library is missing, or onnxruntime's own message).
fn cuda_session(
    rt: &OrtRuntime,
    model_bytes: &[u8],
    opts: &SessionOptions,
) -> Result<Session, String> {
    let dir = rt.lib.parent().unwrap_or(Path::new("."));
    if !dir.join(CUDA_PROVIDER_LIB).is_file() {
        return Err(format!(
            "the onnxruntime in use ({}) has no CUDA provider ({CUDA_PROVIDER_LIB} is not beside \
             it): run scripts/bootstrap --gpu, or point ARENA_ORT_LIB at a GPU build",
            rt.lib.display()
        ));
    }
    // The provider needs the driver's library; without it, say so rather than what failed next.
    ort::util::preload_dylib("libcuda.so.1").map_err(|e| {
        format!(
            "the NVIDIA driver's libcuda.so.1 cannot be loaded (no driver here?): {}",
            error_chain(&e)
        )
    })?;
    preload_cuda_libraries(dir);
    let cuda = cuda_provider(opts).build().error_on_failure();
    let hint = || {
        if Path::new("/dev/nvidiactl").exists() {
            String::new()
        } else {
            " (no /dev/nvidiactl: no NVIDIA device visible here)".to_owned()
        }
    };
    Session::builder(&rt.env)
        .map_err(|e| e.to_string())?
        .with_intra_threads(opts.intra_threads.max(1))
        .map_err(|e| e.to_string())?
        .with_execution_providers([cuda])
        .map_err(|e| format!("registering CUDA: {e}{}", hint()))?
        .commit_from_memory(model_bytes)
        .map_err(|e| format!("creating a CUDA session: {e}{}", hint()))
}

/// `e` and its sources (the loader's own words sit in a source).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// onnxruntime's CUDA provider, which it loads from its own folder.
const CUDA_PROVIDER_LIB: &str = "libonnxruntime_providers_cuda.so";

static CUDA_PRELOADED: std::sync::Once = std::sync::Once::new();

/// Loads the CUDA, cuBLAS, cuDNN… libraries found in `dir` (the flat folder of
/// `scripts/bootstrap --gpu`), once per process. The CUDA provider names them by soname
/// (`libcudart.so.13`; cuDNN's sub-libraries are opened by name at run time), and a process
/// cannot change its own loader path after it started: a library already loaded under that
/// soname is what the loader then uses. Evaluation children also get the folder in
/// `LD_LIBRARY_PATH`. Passes repeat until nothing more loads, so the order needs no table; a
/// library that never loads (e.g. one needing a newer driver) is left to the provider's error.
fn preload_cuda_libraries(dir: &Path) {
    CUDA_PRELOADED.call_once(|| {
        let mut pending: Vec<PathBuf> = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                    n.starts_with("lib") && n.contains(".so") && !n.starts_with("libonnxruntime")
                })
            })
            .collect();
        pending.sort();
        loop {
            let before = pending.len();
            pending.retain(|lib| ort::util::preload_dylib(lib).is_err());
            if pending.is_empty() || pending.len() == before {
                break;
            }
        }
        for lib in &pending {
            if let Err(e) = ort::util::preload_dylib(lib) {
                tracing::debug!(lib = %lib.display(), error = %e, "CUDA library not preloaded");
            }
        }
    });
}

/// Stops a detector's runs in progress (and later ones until [`RunTerminator::reset`]); can be
/// used from another thread, e.g. a watchdog.
#[derive(Clone)]
pub struct RunTerminator {
    options: Arc<RunOptions>,
}

impl RunTerminator {
    pub fn terminate(&self) -> Result<(), DetectorError> {
        self.options
            .terminate()
            .map_err(|e| DetectorError::Internal(e.to_string()))
    }

    pub fn reset(&self) -> Result<(), DetectorError> {
        self.options
            .unterminate()
            .map_err(|e| DetectorError::Internal(e.to_string()))
    }
}

/// A loaded detector model with its manifest.
pub struct Detector {
    session: Session,
    provider: ExecutionProvider,
    run_options: Arc<RunOptions>,
    manifest: Manifest,
    batch: usize,
    across_videos: bool,
    runs: u64,
    plan: Option<ResizePlan>,
    input: Vec<f32>,
}

impl Detector {
    /// Validates the model against the manifest, then creates an onnxruntime session from memory.
    pub fn load(
        rt: &OrtRuntime,
        model_bytes: &[u8],
        manifest: Manifest,
        opts: &SessionOptions,
    ) -> Result<Detector, DetectorError> {
        let info = inspect_model(model_bytes, usize::MAX)?;
        let dynamic = match check_manifest_against_model(&manifest, &info)? {
            InputBatch::FixedOne => false,
            InputBatch::Dynamic => true,
        };
        let (session, provider) = build_session(rt, model_bytes, opts)?;
        let run_options =
            Arc::new(RunOptions::new().map_err(|e| DetectorError::Internal(e.to_string()))?);
        let on_gpu = provider == ExecutionProvider::Cuda;
        let batch = match (dynamic, on_gpu) {
            (false, _) => 1,
            (true, false) => manifest.batch.max(1) as usize,
            // A GPU wants wide runs; the manifest's batch is a floor, not a cap, there.
            (true, true) => (manifest.batch as usize).max(opts.cuda.batch).max(1),
        };
        Ok(Detector {
            session,
            provider,
            run_options,
            manifest,
            batch,
            across_videos: opts.cuda.batch_across_videos.unwrap_or(on_gpu),
            runs: 0,
            plan: None,
            input: Vec::new(),
        })
    }

    /// Whether [`Detector::score_videos`] puts frames of several videos in one run.
    pub fn batches_across_videos(&self) -> bool {
        self.across_videos
    }

    /// Session runs so far.
    pub fn runs(&self) -> u64 {
        self.runs
    }

    /// P(fake) per frame of each video, as [`Detector::score_frames`] gives them one video at a
    /// time. With batching across videos (on a GPU), the frames of all `videos` go through the
    /// session in runs of up to the batch size, crossing video boundaries; when such a run fails,
    /// the videos are scored one by one again so the error is the failing video's own.
    pub fn score_videos<F: AsRgb>(
        &mut self,
        videos: &[Vec<F>],
    ) -> Result<Vec<Vec<f32>>, DetectorError> {
        if self.across_videos && videos.len() > 1 {
            let all: Vec<&F> = videos.iter().flatten().collect();
            if let Ok(flat) = self.score_frames(&all) {
                let mut rest = flat.as_slice();
                let mut out = Vec::with_capacity(videos.len());
                for v in videos {
                    let (head, tail) = rest.split_at(v.len());
                    out.push(head.to_vec());
                    rest = tail;
                }
                return Ok(out);
            }
        }
        videos.iter().map(|v| self.score_frames(v)).collect()
    }

    /// The provider the session actually runs on (CPU after a CUDA fallback).
    pub fn execution_provider(&self) -> ExecutionProvider {
        self.provider
    }

    /// A handle that stops this detector's runs from another thread.
    pub fn terminator(&self) -> RunTerminator {
        RunTerminator {
            options: Arc::clone(&self.run_options),
        }
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Largest batch this detector is run with.
    pub fn batch_size(&self) -> usize {
        self.batch
    }

    /// P(fake) for each frame, in order (frames or references to them).
    pub fn score_frames<F: AsRgb>(&mut self, frames: &[F]) -> Result<Vec<f32>, DetectorError> {
        self.score_frames_batched(frames, self.batch)
    }

    /// [`Detector::score_frames`] in batches of at most `batch` (capped at the model's batch).
    pub fn score_frames_batched<F: AsRgb>(
        &mut self,
        frames: &[F],
        batch: usize,
    ) -> Result<Vec<f32>, DetectorError> {
        let batch = batch.clamp(1, self.batch);
        let mut scores = Vec::with_capacity(frames.len());
        for chunk in frames.chunks(batch) {
            self.fill_input(chunk)?;
            scores.extend(self.run_batch(chunk.len())?);
        }
        Ok(scores)
    }

    /// The model input for `frames`, built in the detector's own buffer as scoring builds it
    /// (for measuring preprocessing alone).
    pub fn preprocess<F: AsRgb>(&mut self, frames: &[F]) -> Result<&[f32], DetectorError> {
        self.fill_input(frames)?;
        Ok(&self.input)
    }

    /// Preprocesses `frames` into `self.input` in the manifest's layout.
    fn fill_input<F: AsRgb>(&mut self, frames: &[F]) -> Result<(), DetectorError> {
        write_input(&self.manifest, frames, &mut self.plan, &mut self.input)
    }

    fn run_batch(&mut self, n: usize) -> Result<Vec<f32>, DetectorError> {
        let m = &self.manifest;
        let (h, w) = (m.height() as usize, m.width() as usize);
        let shape = match m.layout {
            Layout::Nchw => [n, 3, h, w],
            Layout::Nhwc => [n, h, w, 3],
        };
        self.runs += 1;
        let tensor = TensorRef::from_array_view((shape, &self.input[..]))
            .map_err(|e| DetectorError::Internal(e.to_string()))?;
        let outputs = self
            .session
            .run_with_options(ort::inputs![m.input.as_str() => tensor], &self.run_options)
            .map_err(|e| DetectorError::Run(e.to_string()))?;
        let value = outputs
            .get(&m.output)
            .ok_or_else(|| DetectorError::OutputShape(format!("no output {:?}", m.output)))?;
        let (out_shape, data) = value.try_extract_tensor::<f32>().map_err(|e| {
            DetectorError::OutputShape(format!("output is not a float32 tensor: {e}"))
        })?;
        per_frame_scores(out_shape, data, n, m.output_kind, m.fake_class())
    }
}

/// The model input for `frames` exactly as a [`Detector`] with `manifest` builds it (resize,
/// normalisation, channel order, layout): `frames.len()` images of `3 * H * W` floats, in order.
/// Baseline detectors are trained on this, so training and scoring see the same tensors.
pub fn model_input(manifest: &Manifest, frames: &[RgbImage]) -> Result<Vec<f32>, DetectorError> {
    let mut out = Vec::new();
    write_input(manifest, frames, &mut None, &mut out)?;
    Ok(out)
}

/// Preprocesses `frames` into `input`, reusing `cached` while the frame size stays the same.
fn write_input<F: AsRgb>(
    m: &Manifest,
    frames: &[F],
    cached: &mut Option<ResizePlan>,
    input: &mut Vec<f32>,
) -> Result<(), DetectorError> {
    let (h, w) = (m.height() as usize, m.width() as usize);
    let norm = Normalize::new(m);
    // Every value is written below (the image and its padding), so the buffer is not cleared.
    input.resize(frames.len() * 3 * h * w, 0.0);
    for (i, frame) in frames.iter().enumerate() {
        let frame = frame.rgb();
        if frame.data.len() != frame.width as usize * frame.height as usize * 3
            || frame.width == 0
            || frame.height == 0
        {
            return Err(DetectorError::Internal(format!(
                "frame {i} is not a {}x{} RGB image",
                frame.width, frame.height
            )));
        }
        let region = match m.crop {
            CropMode::Face => Region::full(w, h),
            CropMode::Frame => Region::letterbox(frame.width as usize, frame.height as usize, w, h),
        };
        let plan = match cached.take() {
            Some(p) if p.matches(&frame, &region) => p,
            _ => ResizePlan::new(frame.width as usize, frame.height as usize, region),
        };
        let out = &mut input[i * 3 * h * w..(i + 1) * 3 * h * w];
        let target = Target {
            width: w,
            height: h,
            layout: m.layout,
        };
        plan.write(&frame, &norm, &target, out);
        *cached = Some(plan);
    }
    Ok(())
}

/// Turns a raw output tensor into one P(fake) per frame.
fn per_frame_scores(
    shape: &[i64],
    data: &[f32],
    n: usize,
    kind: OutputKind,
    fake: usize,
) -> Result<Vec<f32>, DetectorError> {
    let width = match shape {
        [b] | [b, 1] if *b == n as i64 => 1,
        [b, 2] if *b == n as i64 => 2,
        _ => {
            return Err(DetectorError::OutputShape(format!(
                "shape {shape:?} for a batch of {n}; expected [N], [N, 1] or [N, 2]"
            )));
        }
    };
    if data.len() != n * width {
        return Err(DetectorError::OutputShape(format!(
            "{} values for shape {shape:?}",
            data.len()
        )));
    }
    if data.iter().any(|v| !v.is_finite()) {
        return Err(DetectorError::NonFinite);
    }
    let sigmoid = |x: f64| 1.0 / (1.0 + (-x).exp());
    let scores = data
        .chunks(width)
        .map(|row| {
            let p = match (width, kind) {
                (1, OutputKind::Logit) => sigmoid(f64::from(row[0])),
                // Two-class logits: softmax of the fake column = sigmoid(fake - other).
                (_, OutputKind::Logit) => sigmoid(f64::from(row[fake]) - f64::from(row[1 - fake])),
                (1, OutputKind::Probability) => f64::from(row[0]),
                (_, OutputKind::Probability) => f64::from(row[fake]),
            };
            p.clamp(0.0, 1.0) as f32
        })
        .collect();
    Ok(scores)
}

/// Per-channel `(v / 255 - mean) / std` as `v * scale + offset`, in model channel order.
struct Normalize {
    scale: [f32; 3],
    offset: [f32; 3],
    /// Source RGB channel feeding each model channel.
    source: [usize; 3],
}

impl Normalize {
    fn new(m: &Manifest) -> Self {
        let scale = [0, 1, 2].map(|c| 1.0 / (255.0 * m.std[c]));
        let offset = [0, 1, 2].map(|c| -m.mean[c] / m.std[c]);
        let source = match m.color {
            ColorOrder::Rgb => [0, 1, 2],
            ColorOrder::Bgr => [2, 1, 0],
        };
        Self {
            scale,
            offset,
            source,
        }
    }
}

struct Target {
    width: usize,
    height: usize,
    layout: Layout,
}

/// Where the resized image lands inside the model input (the rest is black padding).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Region {
    x: usize,
    y: usize,
    w: usize,
    h: usize,
}

impl Region {
    fn full(w: usize, h: usize) -> Self {
        Self { x: 0, y: 0, w, h }
    }

    fn letterbox(sw: usize, sh: usize, dw: usize, dh: usize) -> Self {
        let s = (dw as f64 / sw as f64).min(dh as f64 / sh as f64);
        let w = ((sw as f64 * s).round() as usize).clamp(1, dw);
        let h = ((sh as f64 * s).round() as usize).clamp(1, dh);
        Self {
            x: (dw - w) / 2,
            y: (dh - h) / 2,
            w,
            h,
        }
    }
}

/// Precomputed bilinear taps (half-pixel centres, edge-clamped, like OpenCV's INTER_LINEAR).
struct ResizePlan {
    src: (usize, usize),
    region: Region,
    xs: Vec<(usize, usize, f32)>,
    ys: Vec<(usize, usize, f32)>,
}

fn taps(src: usize, dst: usize) -> Vec<(usize, usize, f32)> {
    let scale = src as f64 / dst as f64;
    (0..dst)
        .map(|d| {
            let pos = ((d as f64 + 0.5) * scale - 0.5).clamp(0.0, (src - 1) as f64);
            let i0 = pos.floor() as usize;
            let i1 = (i0 + 1).min(src - 1);
            (i0, i1, (pos - i0 as f64) as f32)
        })
        .collect()
}

impl ResizePlan {
    fn new(sw: usize, sh: usize, region: Region) -> Self {
        Self {
            src: (sw, sh),
            region,
            xs: taps(sw, region.w),
            ys: taps(sh, region.h),
        }
    }

    fn matches(&self, frame: &RgbView<'_>, region: &Region) -> bool {
        self.src == (frame.width as usize, frame.height as usize) && self.region == *region
    }

    /// Writes the normalized, resized frame into `out` (one image of the batch).
    ///
    /// Same arithmetic as a per-pixel bilinear tap (`top = a + (b - a)·wx`, `bottom` likewise,
    /// `v = top + (bottom - top)·wy`, then `v·scale + offset`), organised row by row: each source
    /// row's horizontal pass is computed once, one plane per channel, and kept while consecutive
    /// output rows need it; the vertical blend and the normalisation are one straight loop per
    /// channel over contiguous slices. A frame already at the region's size is only normalised
    /// (its taps all have weight 0, which gives the same values).
    fn write(&self, frame: &RgbView<'_>, norm: &Normalize, t: &Target, out: &mut [f32]) {
        let plane = t.width * t.height;
        let rw = self.region.w;
        self.pad(norm, t, out);
        let stride = frame.width as usize * 3;
        let src = frame.data;
        if self.src == (rw, self.region.h) {
            self.write_unscaled(src, norm, t, out);
            return;
        }
        // The horizontal pass of source row `y`: three planes of `rw` values (R, G, B). The row
        // is converted to floats once (a straight loop) before the taps read it.
        let mut row = vec![0f32; stride];
        let mut hpass = |y: usize, dst: &mut [f32]| {
            for (f, &v) in row.iter_mut().zip(&src[y * stride..(y + 1) * stride]) {
                *f = f32::from(v);
            }
            let (pixels, _) = row.as_chunks::<3>();
            let (r, rest) = dst.split_at_mut(rw);
            let (g, b) = rest.split_at_mut(rw);
            let planes = r.iter_mut().zip(g.iter_mut()).zip(b.iter_mut());
            for (((r, g), b), &(x0, x1, wx)) in planes.zip(&self.xs) {
                let (p0, p1) = (pixels[x0], pixels[x1]);
                let lerp = |ch: usize| p0[ch] + (p1[ch] - p0[ch]) * wx;
                *r = lerp(0);
                *g = lerp(1);
                *b = lerp(2);
            }
        };
        // Two cached horizontal passes, keyed by source row.
        let mut rows = [
            (usize::MAX, vec![0f32; rw * 3]),
            (usize::MAX, vec![0f32; rw * 3]),
        ];
        let mut slot = |rows: &mut [(usize, Vec<f32>); 2], y: usize, keep: usize| -> usize {
            if rows[0].0 == y {
                0
            } else if rows[1].0 == y {
                1
            } else {
                let s = usize::from(rows[0].0 == keep);
                hpass(y, &mut rows[s].1);
                rows[s].0 = y;
                s
            }
        };
        let mut px = vec![0f32; rw];
        for (ry, &(y0, y1, wy)) in self.ys.iter().enumerate() {
            let s0 = slot(&mut rows, y0, y1);
            let s1 = slot(&mut rows, y1, y0);
            let (top, bottom) = (&rows[s0].1, &rows[s1].1);
            let oy = self.region.y + ry;
            for c in 0..3 {
                let s = norm.source[c];
                let (scale, offset) = (norm.scale[c], norm.offset[c]);
                let top = &top[s * rw..(s + 1) * rw];
                let bottom = &bottom[s * rw..(s + 1) * rw];
                let blend = |(&a, &b): (&f32, &f32)| (a + (b - a) * wy) * scale + offset;
                match t.layout {
                    Layout::Nchw => {
                        let start = c * plane + oy * t.width + self.region.x;
                        let dst = &mut out[start..start + rw];
                        for (d, ab) in dst.iter_mut().zip(top.iter().zip(bottom)) {
                            *d = blend(ab);
                        }
                    }
                    Layout::Nhwc => {
                        for (p, ab) in px.iter_mut().zip(top.iter().zip(bottom)) {
                            *p = blend(ab);
                        }
                        let start = (oy * t.width + self.region.x) * 3;
                        let dst = &mut out[start..start + rw * 3];
                        for (d, &p) in dst.chunks_exact_mut(3).zip(&px) {
                            d[c] = p;
                        }
                    }
                }
            }
        }
    }

    /// Fills what lies outside the region (letterbox bars) with black, normalized like the rest.
    fn pad(&self, norm: &Normalize, t: &Target, out: &mut [f32]) {
        let r = self.region;
        if r.w == t.width && r.h == t.height {
            return;
        }
        let plane = t.width * t.height;
        let pad = norm.offset;
        // Spans of pixel positions (y * width + x) outside the region: the rows above it, the
        // bars left and right of each of its rows, and the rows below it.
        let mut spans = vec![(0, r.y * t.width)];
        for y in r.y..r.y + r.h {
            spans.push((y * t.width, y * t.width + r.x));
            spans.push((y * t.width + r.x + r.w, (y + 1) * t.width));
        }
        spans.push(((r.y + r.h) * t.width, plane));
        for (from, to) in spans.into_iter().filter(|(a, b)| a < b) {
            match t.layout {
                Layout::Nchw => {
                    for (c, &v) in pad.iter().enumerate() {
                        out[c * plane + from..c * plane + to].fill(v);
                    }
                }
                Layout::Nhwc => {
                    for px in out[from * 3..to * 3].chunks_exact_mut(3) {
                        px.copy_from_slice(&pad);
                    }
                }
            }
        }
    }

    /// [`ResizePlan::write`] for a frame already at the region's size: normalisation only.
    fn write_unscaled(&self, src: &[u8], norm: &Normalize, t: &Target, out: &mut [f32]) {
        let plane = t.width * t.height;
        let rw = self.region.w;
        for (ry, row) in src.chunks_exact(rw * 3).enumerate() {
            let oy = self.region.y + ry;
            match t.layout {
                Layout::Nchw => {
                    for c in 0..3 {
                        let (s, scale, offset) = (norm.source[c], norm.scale[c], norm.offset[c]);
                        let start = c * plane + oy * t.width + self.region.x;
                        let dst = &mut out[start..start + rw];
                        for (d, p) in dst.iter_mut().zip(row.chunks_exact(3)) {
                            *d = f32::from(p[s]) * scale + offset;
                        }
                    }
                }
                Layout::Nhwc => {
                    let start = (oy * t.width + self.region.x) * 3;
                    let dst = &mut out[start..start + rw * 3];
                    for (d, p) in dst.chunks_exact_mut(3).zip(row.chunks_exact(3)) {
                        for c in 0..3 {
                            d[c] = f32::from(p[norm.source[c]]) * norm.scale[c] + norm.offset[c];
                        }
                    }
                }
            }
        }
    }
}

/// Aggregates per-frame P(fake) into a video score; an empty list scores 0.5 (undecided).
pub fn aggregate(kind: Aggregate, per_frame: &[f32]) -> f32 {
    if per_frame.is_empty() {
        return 0.5;
    }
    let mean = |v: &[f32]| (v.iter().map(|&x| f64::from(x)).sum::<f64>() / v.len() as f64) as f32;
    match kind {
        Aggregate::Mean => mean(per_frame),
        Aggregate::Max => per_frame.iter().copied().fold(f32::NEG_INFINITY, f32::max),
        Aggregate::Median => {
            let mut v = per_frame.to_vec();
            v.sort_by(f32::total_cmp);
            let n = v.len();
            if n % 2 == 1 {
                v[n / 2]
            } else {
                (v[n / 2 - 1] + v[n / 2]) / 2.0
            }
        }
        Aggregate::Confident => {
            // The DFDC winner's rule (selimsef): trust a confident majority, else the mean.
            let n = per_frame.len() as f64;
            let high: Vec<f32> = per_frame.iter().copied().filter(|&p| p > 0.8).collect();
            let low: Vec<f32> = per_frame.iter().copied().filter(|&p| p < 0.2).collect();
            if high.len() as f64 > n / 2.5 {
                mean(&high)
            } else if low.len() as f64 > 0.9 * n {
                mean(&low)
            } else {
                mean(per_frame)
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::test_support::{
        channel_means, detector_fixture, means_model, node, runtime, sample, sigmoid, tensor_f32,
    };

    /// The per-pixel bilinear tap the row-wise `ResizePlan::write` replaced, kept as its
    /// reference: both must produce bit-identical inputs (scores are compared to 0 with Python).
    fn reference_write(
        plan: &ResizePlan,
        frame: &RgbImage,
        norm: &Normalize,
        t: &Target,
    ) -> Vec<f32> {
        let plane = t.width * t.height;
        let mut out = vec![0f32; 3 * plane];
        for c in 0..3 {
            let pad = norm.offset[c];
            match t.layout {
                Layout::Nchw => out[c * plane..(c + 1) * plane].fill(pad),
                Layout::Nhwc => out.iter_mut().skip(c).step_by(3).for_each(|v| *v = pad),
            }
        }
        let stride = frame.width as usize * 3;
        for (ry, &(y0, y1, wy)) in plan.ys.iter().enumerate() {
            for (rx, &(x0, x1, wx)) in plan.xs.iter().enumerate() {
                let (oy, ox) = (plan.region.y + ry, plan.region.x + rx);
                let mut px = [0f32; 3];
                for (ch, v) in px.iter_mut().enumerate() {
                    let at = |y: usize, x: usize| f32::from(frame.data[y * stride + x * 3 + ch]);
                    let top = at(y0, x0) + (at(y0, x1) - at(y0, x0)) * wx;
                    let bottom = at(y1, x0) + (at(y1, x1) - at(y1, x0)) * wx;
                    *v = top + (bottom - top) * wy;
                }
                for c in 0..3 {
                    let idx = match t.layout {
                        Layout::Nchw => c * plane + oy * t.width + ox,
                        Layout::Nhwc => (oy * t.width + ox) * 3 + c,
                    };
                    out[idx] = px[norm.source[c]] * norm.scale[c] + norm.offset[c];
                }
            }
        }
        out
    }

    #[test]
    fn row_wise_resize_is_bit_identical_to_the_per_pixel_tap() {
        let mut seed = 0x9e37_79b9_u32;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed
        };
        let norms = [
            Normalize {
                scale: [1.0 / 255.0; 3],
                offset: [0.0; 3],
                source: [0, 1, 2],
            },
            Normalize {
                scale: [
                    1.0 / (255.0 * 0.229),
                    1.0 / (255.0 * 0.224),
                    1.0 / (255.0 * 0.225),
                ],
                offset: [-0.485 / 0.229, -0.456 / 0.224, -0.406 / 0.225],
                source: [2, 1, 0],
            },
        ];
        // Upscaling, downscaling, odd sizes, letterboxed and full regions, both layouts.
        for (sw, sh, dw, dh, letterbox) in [
            (200, 190, 224, 224, false),
            (640, 480, 299, 299, false),
            (37, 91, 64, 48, true),
            (640, 360, 224, 224, true),
            (1, 1, 8, 8, false),
            // Already at the model's size (normalisation only), full and letterboxed.
            (224, 224, 224, 224, false),
            (64, 48, 64, 64, true),
        ] {
            let frame = RgbImage {
                width: sw,
                height: sh,
                data: (0..sw * sh * 3).map(|_| next() as u8).collect(),
            };
            let region = if letterbox {
                Region::letterbox(sw as usize, sh as usize, dw, dh)
            } else {
                Region::full(dw, dh)
            };
            let plan = ResizePlan::new(sw as usize, sh as usize, region);
            for norm in &norms {
                for layout in [Layout::Nchw, Layout::Nhwc] {
                    let t = Target {
                        width: dw,
                        height: dh,
                        layout,
                    };
                    let want = reference_write(&plan, &frame, norm, &t);
                    // Every value is written: stale ones in the buffer must not leak through.
                    let mut got = vec![f32::NAN; 3 * dw * dh];
                    plan.write(&frame.rgb(), norm, &t, &mut got);
                    let same = want
                        .iter()
                        .zip(&got)
                        .all(|(a, b)| a.to_bits() == b.to_bits());
                    assert!(
                        same,
                        "{sw}x{sh} -> {dw}x{dh} letterbox={letterbox} {layout:?}"
                    );
                }
            }
        }
    }

    fn load(name: &str) -> Detector {
        let (bytes, manifest) = detector_fixture(name);
        Detector::load(&runtime(), &bytes, manifest, &SessionOptions::default()).unwrap()
    }

    fn video_score(det: &mut Detector, video: &str) -> f32 {
        let k = det.manifest().frames as usize;
        let frames = sample(video, k, 512).unwrap().frames;
        let per_frame = det.score_frames(&frames).unwrap();
        aggregate(det.manifest().aggregate, &per_frame)
    }

    #[test]
    fn runtime_initialises_twice() {
        let a = runtime();
        let b = OrtRuntime::init(Path::new("/nonexistent/libonnxruntime.so")).unwrap();
        drop((a, b));
    }

    #[test]
    fn redblue_scores_follow_the_colours() {
        let mut det = load("redblue");
        assert_eq!(det.batch_size(), 4);
        for (video, [r, b]) in [("real_1.mp4", [60.0, 200.0]), ("fake_2.mp4", [230.0, 30.0])] {
            let frames = sample(video, 8, 512).unwrap().frames;
            let per_frame = det.score_frames(&frames).unwrap();
            assert_eq!(per_frame.len(), 8);
            for (p, f) in per_frame.iter().zip(&frames) {
                // A 2x bilinear downscale keeps channel means exactly.
                let [mr, _, mb] = channel_means(f);
                let exact = sigmoid(4.0 * (mr - mb) / 255.0);
                assert!(
                    (f64::from(*p) - exact).abs() < 1e-4,
                    "{video}: {p} vs {exact}"
                );
            }
            let score = aggregate(Aggregate::Mean, &per_frame);
            let nominal = sigmoid(4.0 * (r - b) / 255.0);
            assert!(
                (f64::from(score) - nominal).abs() < 0.02,
                "{video}: {score} vs {nominal}"
            );
        }
    }

    #[test]
    fn redblue_orders_the_fixtures() {
        let mut det = load("redblue");
        let order = [
            "real_1.mp4",
            "fake_1.mp4",
            "real_2.mp4",
            "real_3.mp4",
            "fake_2.mp4",
        ];
        let scores: Vec<f32> = order.iter().map(|v| video_score(&mut det, v)).collect();
        assert!(scores.windows(2).all(|w| w[0] < w[1]), "{scores:?}");
        assert!(
            (scores[2] - 0.5).abs() < 0.02,
            "grey is undecided: {scores:?}"
        );
    }

    #[test]
    fn batch_size_does_not_change_scores() {
        let frames = sample("real_3.mp4", 10, 512).unwrap().frames;
        let batched = load("redblue").score_frames(&frames).unwrap();
        let (bytes, manifest) = detector_fixture("redblue");
        let one = Manifest {
            batch: 1,
            ..manifest
        };
        let mut single =
            Detector::load(&runtime(), &bytes, one, &SessionOptions::default()).unwrap();
        let unbatched = single.score_frames(&frames).unwrap();
        assert_eq!(batched.len(), 10);
        for (a, b) in batched.iter().zip(&unbatched) {
            assert!((a - b).abs() < 1e-6);
        }
    }

    #[test]
    fn batching_across_videos_gives_each_video_its_own_scores() {
        let (bytes, manifest) = detector_fixture("redblue");
        let forced = SessionOptions {
            cuda: CudaOptions {
                batch_across_videos: Some(true),
                ..CudaOptions::default()
            },
            ..SessionOptions::default()
        };
        let mut across = Detector::load(&runtime(), &bytes, manifest, &forced).unwrap();
        let mut single = load("redblue");
        assert!(across.batches_across_videos() && !single.batches_across_videos());
        assert_eq!(
            across.batch_size(),
            4,
            "on the CPU the manifest's batch stays"
        );
        // 3 + 6 + 5 frames: 1 + 2 + 2 runs one video at a time, 4 runs of 4 across videos.
        let videos: Vec<Vec<RgbImage>> = [("real_1.mp4", 3), ("fake_2.mp4", 6), ("real_3.mp4", 5)]
            .iter()
            .map(|(v, k)| sample(v, *k, 512).unwrap().frames)
            .collect();
        let merged = across.score_videos(&videos).unwrap();
        let apart = single.score_videos(&videos).unwrap();
        assert_eq!((across.runs(), single.runs()), (4, 5));
        assert_eq!(merged.len(), 3);
        for ((m, a), v) in merged.iter().zip(&apart).zip(&videos) {
            assert_eq!((m.len(), a.len()), (v.len(), v.len()));
            for (x, y) in m.iter().zip(a) {
                assert!((x - y).abs() < 1e-6, "{m:?} vs {a:?}");
            }
        }
        // A broken frame in one video: that video's own error, as one video at a time gives it.
        let mut broken = videos.clone();
        broken[1][2].data.pop();
        let e = across.score_videos(&broken).unwrap_err();
        assert_eq!(e.code(), "detector_internal");
        assert!(e.to_string().contains("frame 2"), "{e}");
    }

    #[test]
    fn cuda_options_reach_the_provider() {
        let mut e = arena::config::EvaluationSettings {
            execution_provider: "CUDA".into(),
            gpus: vec![3, 1],
            gpu_mem_limit_mb: 2048,
            ..Default::default()
        };
        let opts = SessionOptions::from_settings(&e.for_slot(1));
        assert_eq!(opts.execution_provider, ExecutionProvider::Cuda);
        assert_eq!(opts.cuda.device_id, 1);
        assert_eq!(
            cuda_provider_options(&opts),
            [
                ("device_id", "1".to_owned()),
                ("gpu_mem_limit", "2147483648".to_owned()),
                ("arena_extend_strategy", "kSameAsRequested".to_owned()),
            ]
        );
        // What ort hands to onnxruntime's CUDA provider options.
        let built = format!("{:?}", cuda_provider(&opts));
        assert!(
            built.contains(r#""gpu_mem_limit": "2147483648""#),
            "{built}"
        );
        assert!(built.contains(r#""device_id": "1""#), "{built}");
        e.gpu_mem_limit_mb = 0;
        let uncapped = format!("{:?}", cuda_provider(&SessionOptions::from_settings(&e)));
        assert!(!uncapped.contains("gpu_mem_limit"), "{uncapped}");
        assert!(uncapped.contains(r#""device_id": "3""#), "{uncapped}");
    }

    #[test]
    fn letterbox_pads_with_black() {
        // 64x32 pure red: letterboxed into 32x32 it fills the middle 32x16 band, so mean R = 0.5.
        let red = RgbImage {
            width: 64,
            height: 32,
            data: [255u8, 0, 0].repeat(64 * 32),
        };
        let p = load("redblue").score_frames(&[red]).unwrap()[0];
        assert!((f64::from(p) - sigmoid(2.0)).abs() < 1e-4, "{p}");
    }

    #[test]
    fn greenish_uses_nhwc_bgr_softmax_and_fixed_batch() {
        let mut det = load("greenish");
        assert_eq!(det.batch_size(), 1, "the model's batch dim is fixed to 1");
        let frames = sample("fake_2.mp4", 4, 512).unwrap().frames;
        let per_frame = det.score_frames(&frames).unwrap();
        for (p, f) in per_frame.iter().zip(&frames) {
            let [r, g, _] = channel_means(f).map(|v| (v / 255.0 - 0.5) / 0.5);
            // softmax([2G, 2R])[1]
            let want = sigmoid(2.0 * r - 2.0 * g);
            assert!((f64::from(*p) - want).abs() < 1e-4, "{p} vs {want}");
        }
    }

    #[test]
    fn constant_model_is_undecided() {
        let mut det = load("constant");
        assert!((video_score(&mut det, "real_1.webm") - 0.5).abs() < 1e-6);
    }

    fn load_bytes(bytes: &[u8], output: &str) -> Result<Detector, DetectorError> {
        let (_, manifest) = detector_fixture("redblue");
        let manifest = Manifest {
            output: output.into(),
            ..manifest
        };
        Detector::load(&runtime(), bytes, manifest, &SessionOptions::default())
    }

    fn grey() -> RgbImage {
        RgbImage {
            width: 32,
            height: 32,
            data: vec![128; 32 * 32 * 3],
        }
    }

    #[test]
    fn non_finite_outputs_are_rejected() {
        // logits = (W . means) / 0
        let bytes = means_model(
            "logits",
            &[None, Some(1)],
            vec![
                node("MatMul", &["m", "W"], &["z"]),
                node("Div", &["z", "zero"], &["logits"]),
            ],
            vec![
                tensor_f32("W", &[3, 1], &[4.0, 0.0, -4.0]),
                tensor_f32("zero", &[1], &[0.0]),
            ],
        );
        let e = load_bytes(&bytes, "logits")
            .unwrap()
            .score_frames(&[grey()])
            .unwrap_err();
        assert_eq!(e.code(), "model_output_not_finite");
        assert!(e.is_client_error());
    }

    #[test]
    fn wrong_output_shapes_are_rejected() {
        let bytes = means_model("m", &[None, Some(3)], vec![], vec![]);
        let e = load_bytes(&bytes, "m")
            .unwrap()
            .score_frames(&[grey()])
            .unwrap_err();
        assert_eq!(e.code(), "model_output_shape");
    }

    #[test]
    fn models_onnxruntime_refuses_fail_to_load() {
        let bytes = means_model(
            "logits",
            &[None, Some(1)],
            vec![node("NoSuchOp", &["m"], &["logits"])],
            vec![],
        );
        let e = load_bytes(&bytes, "logits").err().unwrap();
        assert_eq!(e.code(), "model_load_failed");
        assert!(e.is_client_error());
    }

    #[test]
    fn two_wide_logits_use_softmax() {
        let p = per_frame_scores(&[2, 2], &[0.0, 1.0, 3.0, 1.0], 2, OutputKind::Logit, 1).unwrap();
        assert!((f64::from(p[0]) - sigmoid(1.0)).abs() < 1e-6);
        assert!((f64::from(p[1]) - sigmoid(-2.0)).abs() < 1e-6);
        let p = per_frame_scores(&[2], &[0.25, 0.75], 2, OutputKind::Probability, 1).unwrap();
        assert_eq!(p, vec![0.25, 0.75]);
        let e = per_frame_scores(&[3, 1], &[0.0; 3], 2, OutputKind::Logit, 1).unwrap_err();
        assert_eq!(e.code(), "model_output_shape");
    }

    #[test]
    fn aggregates_match_hand_computed_values() {
        let v = [0.1, 0.9, 0.4, 0.6];
        assert!((aggregate(Aggregate::Mean, &v) - 0.5).abs() < 1e-6);
        assert!((aggregate(Aggregate::Median, &v) - 0.5).abs() < 1e-6);
        assert!((aggregate(Aggregate::Median, &[0.3, 0.1, 0.2]) - 0.2).abs() < 1e-6);
        assert_eq!(aggregate(Aggregate::Max, &v), 0.9);
        assert_eq!(aggregate(Aggregate::Mean, &[]), 0.5);

        // Confident, n = 5: 3 frames > 0.8 and 3 > 5 / 2.5 = 2 -> mean(0.9, 0.95, 1.0) = 0.95.
        let c = aggregate(Aggregate::Confident, &[0.9, 0.95, 1.0, 0.1, 0.5]);
        assert!((c - 0.95).abs() < 1e-6, "{c}");
        // Two of five > 0.8 is not > 2; fewer than 90 % are < 0.2 -> plain mean 0.5.
        let c = aggregate(Aggregate::Confident, &[0.9, 0.9, 0.3, 0.2, 0.2]);
        assert!((c - 0.5).abs() < 1e-6, "{c}");
        // Ten frames, all < 0.2 (10 > 9) -> mean of those = 0.1.
        let c = aggregate(Aggregate::Confident, &[0.05, 0.15].repeat(5));
        assert!((c - 0.1).abs() < 1e-6, "{c}");
        // Nine of ten < 0.2 is not > 9 -> mean of all = (9 * 0.1 + 0.5) / 10 = 0.14.
        let mut v = vec![0.1; 9];
        v.push(0.5);
        assert!((aggregate(Aggregate::Confident, &v) - 0.14).abs() < 1e-6);
    }
}
