//! The onnxruntime library and environment ([`OrtRuntime`]) and how sessions are built
//! ([`SessionOptions`], CPU or CUDA with its fallback).

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use ort::environment::Environment;
use ort::session::Session;

use super::error::DetectorError;

/// The process-wide onnxruntime environment; cheap to clone.
#[derive(Clone)]
pub struct OrtRuntime {
    env: Environment,
    /// The library it was loaded from (its folder holds the CUDA provider, if any).
    lib: PathBuf,
}

pub(super) static ORT_ENV: Mutex<Option<(Environment, PathBuf)>> = Mutex::new(None);

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
pub(super) const GPU_LIB: &str = ".cache/onnxruntime-gpu/lib/libonnxruntime.so";

/// `rel` under the current directory or an ancestor, else beside the workspace this crate was
/// built in.
pub(super) fn find_in_cache(rel: &Path) -> Option<PathBuf> {
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
pub(super) fn load_error_text(e: &ort::LoadDynamicError) -> String {
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

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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

pub(super) static CUDA_WARNED: AtomicBool = AtomicBool::new(false);
pub(super) static CUDA_FALLBACK: Mutex<Option<String>> = Mutex::new(None);

pub(super) fn warn_cuda_fallback(reason: &str) {
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
pub(super) fn cuda_session(
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
pub(super) fn error_chain(e: &dyn std::error::Error) -> String {
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
pub(super) const CUDA_PROVIDER_LIB: &str = "libonnxruntime_providers_cuda.so";

pub(super) static CUDA_PRELOADED: std::sync::Once = std::sync::Once::new();

/// Loads the CUDA, cuBLAS, cuDNN… libraries found in `dir` (the flat folder of
/// `scripts/bootstrap --gpu`), once per process. The CUDA provider names them by soname
/// (`libcudart.so.13`; cuDNN's sub-libraries are opened by name at run time), and a process
/// cannot change its own loader path after it started: a library already loaded under that
/// soname is what the loader then uses. Evaluation children also get the folder in
/// `LD_LIBRARY_PATH`. Passes repeat until nothing more loads, so the order needs no table; a
/// library that never loads (e.g. one needing a newer driver) is left to the provider's error.
pub(super) fn preload_cuda_libraries(dir: &Path) {
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
