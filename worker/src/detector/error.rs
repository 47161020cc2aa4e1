//! The error every detector step returns, with its stable `code`.

use crate::onnx_model::ModelError;

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
