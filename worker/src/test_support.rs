//! Shared test helpers: committed fixtures, the real onnxruntime, and hand-built ONNX models.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};

use prost::Message;

use crate::detector::OrtRuntime;
use crate::manifest::Manifest;
use crate::media::{MediaError, SampledFrames, sample_frames};
use crate::onnx_model::proto::{self, tensor_shape_proto::dimension};

pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../datasets/fixtures")
}

pub fn video(name: &str) -> PathBuf {
    fixtures().join("videos").join(name)
}

/// A committed detector: its model bytes and parsed manifest.
pub fn detector_fixture(name: &str) -> (Vec<u8>, Manifest) {
    let dir = fixtures().join("models");
    let bytes = std::fs::read(dir.join(format!("{name}.onnx"))).unwrap();
    let text = std::fs::read_to_string(dir.join(format!("{name}.toml"))).unwrap();
    (bytes, Manifest::parse(&text).unwrap())
}

pub fn runtime() -> OrtRuntime {
    OrtRuntime::init(&OrtRuntime::default_lib_path()).unwrap()
}

static DECODE_LOCK: Mutex<()> = Mutex::new(());

/// Serializes decodes so a test can count them exactly.
pub fn decode_lock() -> MutexGuard<'static, ()> {
    DECODE_LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

pub fn sample(name: &str, k: usize, max_side: u32) -> Result<SampledFrames, MediaError> {
    let _guard = decode_lock();
    sample_frames(&video(name), k, max_side)
}

/// Mean of each RGB channel over an image, in 0..=255.
pub fn channel_means(img: &crate::media::RgbImage) -> [f64; 3] {
    let mut sum = [0f64; 3];
    for px in img.data.chunks(3) {
        for c in 0..3 {
            sum[c] += f64::from(px[c]);
        }
    }
    let n = (img.data.len() / 3) as f64;
    sum.map(|s| s / n)
}

pub fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

// --- hand-built ONNX models -------------------------------------------------------------------

pub fn tensor_f32(name: &str, dims: &[i64], values: &[f32]) -> proto::TensorProto {
    proto::TensorProto {
        dims: dims.to_vec(),
        data_type: 1,
        float_data: values.to_vec(),
        name: name.into(),
        ..Default::default()
    }
}

/// A float32 value info; `None` dims are symbolic (`batch`).
pub fn value_info(name: &str, dims: &[Option<i64>]) -> proto::ValueInfoProto {
    let dim = dims
        .iter()
        .map(|d| proto::tensor_shape_proto::Dimension {
            value: Some(match d {
                Some(v) => dimension::Value::DimValue(*v),
                None => dimension::Value::DimParam("batch".into()),
            }),
        })
        .collect();
    proto::ValueInfoProto {
        name: name.into(),
        r#type: Some(proto::TypeProto {
            value: Some(proto::type_proto::Value::TensorType(
                proto::type_proto::Tensor {
                    elem_type: 1,
                    shape: Some(proto::TensorShapeProto { dim }),
                },
            )),
        }),
    }
}

pub fn node(op: &str, inputs: &[&str], outputs: &[&str]) -> proto::NodeProto {
    proto::NodeProto {
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: outputs.iter().map(|s| s.to_string()).collect(),
        name: format!("{op}_{}", outputs.first().copied().unwrap_or("")),
        op_type: op.into(),
        ..Default::default()
    }
}

pub fn ints_attr(name: &str, ints: &[i64]) -> proto::AttributeProto {
    proto::AttributeProto {
        name: name.into(),
        r#type: 7,
        ints: ints.to_vec(),
        ..Default::default()
    }
}

pub fn int_attr(name: &str, i: i64) -> proto::AttributeProto {
    proto::AttributeProto {
        name: name.into(),
        r#type: 2,
        i,
        ..Default::default()
    }
}

pub fn model(graph: proto::GraphProto) -> proto::ModelProto {
    proto::ModelProto {
        ir_version: 8,
        opset_import: vec![proto::OperatorSetIdProto {
            domain: String::new(),
            version: 13,
        }],
        graph: Some(graph),
        ..Default::default()
    }
}

/// NCHW `input` [N,3,32,32] -> per-channel means `m` [N,3] -> `tail` nodes producing `output`.
pub fn means_model(
    output: &str,
    output_dims: &[Option<i64>],
    tail: Vec<proto::NodeProto>,
    initializers: Vec<proto::TensorProto>,
) -> Vec<u8> {
    let mut reduce = node("ReduceMean", &["input"], &["m"]);
    reduce.attribute = vec![ints_attr("axes", &[2, 3]), int_attr("keepdims", 0)];
    let mut nodes = vec![reduce];
    nodes.extend(tail);
    let graph = proto::GraphProto {
        node: nodes,
        name: "test".into(),
        initializer: initializers,
        input: vec![value_info("input", &[None, Some(3), Some(32), Some(32)])],
        output: vec![value_info(output, output_dims)],
        ..Default::default()
    };
    model(graph).encode_to_vec()
}
