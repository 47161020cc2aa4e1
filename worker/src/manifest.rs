//! The detector manifest (`manifest.toml` beside `model.onnx`): parsing and validation.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    Nchw,
    Nhwc,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColorOrder {
    Rgb,
    Bgr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CropMode {
    #[default]
    Face,
    Frame,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputKind {
    Logit,
    Probability,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Aggregate {
    #[default]
    Mean,
    Median,
    Max,
    Confident,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub name: String,
    pub input: String,
    pub output: String,
    /// Model input size as `[H, W]`.
    pub size: [u32; 2],
    pub layout: Layout,
    pub color: ColorOrder,
    pub mean: [f32; 3],
    pub std: [f32; 3],
    #[serde(default)]
    pub crop: CropMode,
    /// Face crops: the crop's side over the face box's longer side, within
    /// [[`MIN_MARGIN`], [`MAX_MARGIN`]].
    #[serde(default = "default_margin")]
    pub margin: f32,
    /// Face crops: rotate each crop so the eyes are level (BlazeFace's eye keypoints).
    #[serde(default)]
    pub align: bool,
    pub output_kind: OutputKind,
    /// Index of the fake class when the output is two-wide (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fake_index: Option<usize>,
    #[serde(default = "default_frames")]
    pub frames: u32,
    #[serde(default)]
    pub aggregate: Aggregate,
    #[serde(default = "default_batch")]
    pub batch: u32,
}

/// The crop margin of a manifest without `margin` (the DFGC baseline's, and the DFDC winners').
pub const DEFAULT_MARGIN: f32 = 1.3;
/// Smallest `margin`: the face box itself.
pub const MIN_MARGIN: f32 = 1.0;
/// Largest `margin`; the crop cache keeps this much context around each face.
pub const MAX_MARGIN: f32 = 2.5;

fn default_margin() -> f32 {
    DEFAULT_MARGIN
}

fn default_frames() -> u32 {
    32
}

fn default_batch() -> u32 {
    8
}

#[derive(Debug, thiserror::Error)]
#[error("invalid manifest: {0}")]
pub struct ManifestError(pub String);

impl ManifestError {
    pub fn code(&self) -> &'static str {
        "invalid_manifest"
    }

    pub fn is_client_error(&self) -> bool {
        true
    }
}

impl Manifest {
    /// Parses and validates a manifest; the error names the offending field.
    pub fn parse(text: &str) -> Result<Manifest, ManifestError> {
        let m: Manifest = toml::from_str(text).map_err(|e| ManifestError(e.to_string()))?;
        m.validate()?;
        Ok(m)
    }

    /// The output column holding the fake class when the output is two-wide.
    pub fn fake_class(&self) -> usize {
        self.fake_index.unwrap_or(1)
    }

    pub fn height(&self) -> u32 {
        self.size[0]
    }

    pub fn width(&self) -> u32 {
        self.size[1]
    }

    fn validate(&self) -> Result<(), ManifestError> {
        let bad = |msg: String| Err(ManifestError(msg));
        if self.name.trim().is_empty() || self.name.chars().count() > 64 {
            return bad("`name` must be 1 to 64 characters".into());
        }
        if self.input.is_empty() || self.output.is_empty() {
            return bad("`input` and `output` must name tensors".into());
        }
        if self.size.iter().any(|s| !(32..=1024).contains(s)) {
            return bad(format!("`size` {:?} must be within [32, 1024]", self.size));
        }
        if self.mean.iter().any(|v| !v.is_finite()) {
            return bad("`mean` values must be finite".into());
        }
        if self.std.iter().any(|v| !v.is_finite() || *v <= 0.0) {
            return bad("`std` values must be finite and > 0".into());
        }
        if self.fake_index.is_some_and(|i| i > 1) {
            return bad("`fake_index` must be 0 or 1".into());
        }
        if !self.margin.is_finite() || !(MIN_MARGIN..=MAX_MARGIN).contains(&self.margin) {
            return bad(format!(
                "`margin` {} must be within [{MIN_MARGIN}, {MAX_MARGIN}]",
                self.margin
            ));
        }
        if !(1..=256).contains(&self.frames) {
            return bad(format!("`frames` {} must be within [1, 256]", self.frames));
        }
        if !(1..=256).contains(&self.batch) {
            return bad(format!("`batch` {} must be within [1, 256]", self.batch));
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    const BASE: &str = r#"
name = "xception-c23"
input = "input"
output = "logits"
size = [299, 299]
layout = "nchw"
color = "rgb"
mean = [0.5, 0.5, 0.5]
std  = [0.5, 0.5, 0.5]
output_kind = "logit"
"#;

    fn err(text: &str) -> String {
        let e = Manifest::parse(text).unwrap_err();
        assert_eq!(e.code(), "invalid_manifest");
        assert!(e.is_client_error());
        e.to_string()
    }

    #[test]
    fn defaults_apply() {
        let m = Manifest::parse(BASE).unwrap();
        assert_eq!(m.crop, CropMode::Face);
        assert_eq!((m.margin, m.align), (1.3, false));
        assert_eq!(m.aggregate, Aggregate::Mean);
        assert_eq!((m.frames, m.batch, m.fake_class()), (32, 8, 1));
        assert_eq!((m.height(), m.width()), (299, 299));
    }

    #[test]
    fn design_example_parses() {
        let text = format!(
            "{BASE}crop = \"face\"\nframes = 32\naggregate = \"confident\"\nbatch = 8\nfake_index = 0\n"
        );
        let m = Manifest::parse(&text).unwrap();
        assert_eq!(m.aggregate, Aggregate::Confident);
        assert_eq!(m.fake_class(), 0);
    }

    #[test]
    fn unknown_key_is_named() {
        assert!(err(&format!("{BASE}thresold = 0.5\n")).contains("thresold"));
    }

    #[test]
    fn bad_values_name_their_field() {
        assert!(err(&BASE.replace("[299, 299]", "[16, 16]")).contains("size"));
        assert!(err(&BASE.replace("[299, 299]", "[299, 2048]")).contains("size"));
        assert!(
            err(&BASE.replace("std  = [0.5, 0.5, 0.5]", "std = [0.5, 0.0, 0.5]")).contains("std")
        );
        assert!(err(&BASE.replace("\"nchw\"", "\"chw\"")).contains("chw"));
        assert!(err(&format!("{BASE}frames = 0\n")).contains("frames"));
        assert!(err(&format!("{BASE}batch = 1000\n")).contains("batch"));
        assert!(err(&BASE.replace("\"xception-c23\"", "\"\"")).contains("name"));
        assert!(err(&BASE.replace("output = \"logits\"\n", "")).contains("output"));
    }

    #[test]
    fn margin_and_align_are_checked() {
        let m = Manifest::parse(&format!("{BASE}margin = 2.5\nalign = true\n")).unwrap();
        assert_eq!((m.margin, m.align), (2.5, true));
        // An integer is a float to TOML's reader too.
        assert_eq!(
            Manifest::parse(&format!("{BASE}margin = 1\n"))
                .unwrap()
                .margin,
            1.0
        );
        for bad in ["0.99", "2.51", "-1.3", "nan", "inf", "\"1.3\"", "[1.3]"] {
            let e = err(&format!("{BASE}margin = {bad}\n"));
            assert!(e.contains("margin"), "{bad}: {e}");
        }
        for bad in ["1", "\"yes\"", "\"true\""] {
            let e = err(&format!("{BASE}align = {bad}\n"));
            assert!(e.contains("align"), "{bad}: {e}");
        }
        // Manifests stored before these keys existed read back with the defaults.
        let mut old = serde_json::to_value(Manifest::parse(BASE).unwrap()).unwrap();
        let obj = old.as_object_mut().unwrap();
        obj.remove("margin");
        obj.remove("align");
        let back: Manifest = serde_json::from_value(old).unwrap();
        assert_eq!((back.margin, back.align), (1.3, false));
    }
}
