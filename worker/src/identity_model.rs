//! The organizers' face-embedding model (`[identity]` in the server config): its manifest and
//! the loaded session that turns face crops into vectors. [`crate::identity`] schedules it per job;
//! this module needs no worker context, so the slot's session cache can hold a model without the
//! two depending on each other.

use crate::crops::Crops;
use crate::detector::{DetectorError, OrtRuntime, SessionOptions, build_session, model_input};
use crate::manifest::{Aggregate, ColorOrder, CropMode, Layout, Manifest, OutputKind};
use crate::media::RgbImage;
use ort::session::Session;
use ort::value::TensorRef;
use serde::Deserialize;

/// `[identity] manifest`: the detector manifest's preprocessing keys (always face crops).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityManifest {
    pub name: String,
    pub input: String,
    pub output: String,
    /// `[H, W]`.
    pub size: [u32; 2],
    pub layout: Layout,
    pub color: ColorOrder,
    pub mean: [f32; 3],
    pub std: [f32; 3],
    #[serde(default = "default_margin")]
    pub margin: f32,
    #[serde(default)]
    pub align: bool,
    /// Crops embedded per video (evenly spaced among the cached ones).
    #[serde(default = "default_frames")]
    pub frames: u32,
    #[serde(default = "default_batch")]
    pub batch: u32,
}

fn default_margin() -> f32 {
    crate::manifest::DEFAULT_MARGIN
}

fn default_frames() -> u32 {
    8
}

fn default_batch() -> u32 {
    8
}

impl IdentityManifest {
    /// Parses the manifest and checks it as a detector manifest with the same preprocessing.
    pub fn parse(text: &str) -> Result<IdentityManifest, crate::ManifestError> {
        let m: IdentityManifest =
            toml::from_str(text).map_err(|e| crate::ManifestError(e.to_string()))?;
        Manifest::parse(&toml::to_string(&m.as_detector()).map_err(|e| {
            crate::ManifestError(format!("cannot check the identity manifest: {e}"))
        })?)?;
        Ok(m)
    }

    /// The same preprocessing as a detector manifest (output kind and aggregate unused).
    pub fn as_detector(&self) -> Manifest {
        Manifest {
            name: self.name.clone(),
            input: self.input.clone(),
            output: self.output.clone(),
            size: self.size,
            layout: self.layout,
            color: self.color,
            mean: self.mean,
            std: self.std,
            crop: CropMode::Face,
            margin: self.margin,
            align: self.align,
            output_kind: OutputKind::Logit,
            fake_index: None,
            frames: self.frames,
            aggregate: Aggregate::Mean,
            batch: self.batch,
        }
    }
}

/// A loaded face-embedding model.
pub struct IdentityModel {
    session: Session,
    manifest: Manifest,
}

impl IdentityModel {
    pub fn load(
        rt: &OrtRuntime,
        model_bytes: &[u8],
        manifest: &IdentityManifest,
        opts: &SessionOptions,
    ) -> Result<IdentityModel, DetectorError> {
        let (session, _) = build_session(rt, model_bytes, opts)?;
        Ok(IdentityModel {
            session,
            manifest: manifest.as_detector(),
        })
    }

    /// The embeddings of a video's cached face crops: `frames` of them, evenly spaced, cut with
    /// the manifest's margin and preprocessed as a detector's input.
    pub fn embed_crops(&mut self, crops: &Crops) -> Result<Vec<Vec<f32>>, DetectorError> {
        let images: Vec<RgbImage> = crops
            .for_detector(&self.manifest)
            .iter()
            .map(|c| crate::media::AsRgb::rgb(c).to_image())
            .collect();
        self.embed(&images)
    }

    /// One embedding per image, in order, run one at a time (a fixed batch of 1 works too).
    pub fn embed(&mut self, images: &[RgbImage]) -> Result<Vec<Vec<f32>>, DetectorError> {
        let m = &self.manifest;
        let (h, w) = (m.height() as usize, m.width() as usize);
        let mut out = Vec::with_capacity(images.len());
        for img in images {
            let input = model_input(m, std::slice::from_ref(img))?;
            let shape = match m.layout {
                Layout::Nchw => [1, 3, h, w],
                Layout::Nhwc => [1, h, w, 3],
            };
            let tensor = TensorRef::from_array_view((shape, &input[..]))
                .map_err(|e| DetectorError::Internal(e.to_string()))?;
            let outputs = self
                .session
                .run(ort::inputs![m.input.as_str() => tensor])
                .map_err(|e| DetectorError::Run(e.to_string()))?;
            let value = outputs
                .get(&m.output)
                .ok_or_else(|| DetectorError::OutputShape(format!("no output {:?}", m.output)))?;
            let (_, data) = value.try_extract_tensor::<f32>().map_err(|e| {
                DetectorError::OutputShape(format!("output is not a float32 tensor: {e}"))
            })?;
            if data.is_empty() || data.iter().any(|x| !x.is_finite()) {
                return Err(DetectorError::OutputShape(
                    "the embedding is empty or not finite".into(),
                ));
            }
            out.push(data.to_vec());
        }
        Ok(out)
    }
}
