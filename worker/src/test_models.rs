//! Hand-built ONNX models for tests and the hostile-upload corpus: a small builder kit, and models
//! that misbehave on purpose (a loop that never ends, gigabytes allocated at run time), all on a
//! `[N, 3, 32, 32]` float input named `input` with logits `[N, 1]` named `logits`.

use prost::Message;

use crate::onnx_model::proto::{self, tensor_shape_proto::dimension};

/// A manifest for the models here: 32×32 whole frames (letterboxed), RGB in 0..1, logits.
pub const FRAME_MANIFEST: &str = r#"name = "hostile"
input = "input"
output = "logits"
size = [32, 32]
layout = "nchw"
color = "rgb"
mean = [0.0, 0.0, 0.0]
std = [1.0, 1.0, 1.0]
crop = "frame"
output_kind = "logit"
frames = 8
aggregate = "mean"
batch = 4
"#;

const FLOAT: i32 = 1;
const INT64: i32 = 7;
const BOOL: i32 = 9;

pub fn tensor_f32(name: &str, dims: &[i64], values: &[f32]) -> proto::TensorProto {
    proto::TensorProto {
        dims: dims.to_vec(),
        data_type: FLOAT,
        float_data: values.to_vec(),
        name: name.into(),
        ..Default::default()
    }
}

pub fn tensor_i64(name: &str, dims: &[i64], values: &[i64]) -> proto::TensorProto {
    proto::TensorProto {
        dims: dims.to_vec(),
        data_type: INT64,
        raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
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
    typed_info(name, FLOAT, proto::TensorShapeProto { dim })
}

/// A scalar value info of ONNX element type `elem_type`.
pub fn scalar_info(name: &str, elem_type: i32) -> proto::ValueInfoProto {
    typed_info(name, elem_type, proto::TensorShapeProto { dim: vec![] })
}

fn typed_info(name: &str, elem_type: i32, shape: proto::TensorShapeProto) -> proto::ValueInfoProto {
    proto::ValueInfoProto {
        name: name.into(),
        r#type: Some(proto::TypeProto {
            value: Some(proto::type_proto::Value::TensorType(
                proto::type_proto::Tensor {
                    elem_type,
                    shape: Some(shape),
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

/// `Loop(trips, true) { v + 1 }` over the means `m`, giving `v`.
fn add_one_loop(trips: &str) -> proto::NodeProto {
    let body = proto::GraphProto {
        name: "body".into(),
        node: vec![
            node("Identity", &["cond_in"], &["cond_out"]),
            node("Add", &["v_in", "one"], &["v_out"]),
        ],
        initializer: vec![tensor_f32("one", &[1], &[1.0])],
        input: vec![
            scalar_info("iter", INT64),
            scalar_info("cond_in", BOOL),
            value_info("v_in", &[None, Some(3)]),
        ],
        output: vec![
            scalar_info("cond_out", BOOL),
            value_info("v_out", &[None, Some(3)]),
        ],
        ..Default::default()
    };
    let mut looped = node("Loop", &[trips, "keep_going", "m"], &["v"]);
    looped.attribute = vec![proto::AttributeProto {
        name: "body".into(),
        r#type: 5,
        g: Some(body),
        ..Default::default()
    }];
    looped
}

fn keep_going() -> proto::TensorProto {
    proto::TensorProto {
        dims: vec![],
        data_type: BOOL,
        raw_data: vec![1],
        name: "keep_going".into(),
        ..Default::default()
    }
}

/// A model that never finishes: a loop of 2^62 trips on every input.
pub fn runaway_loop_model() -> Vec<u8> {
    means_model(
        "logits",
        &[None, Some(1)],
        vec![
            add_one_loop("trips"),
            node("MatMul", &["v", "W"], &["logits"]),
        ],
        vec![
            tensor_i64("trips", &[], &[1 << 62]),
            keep_going(),
            tensor_f32("W", &[3, 1], &[1.0, 0.0, -1.0]),
        ],
    )
}

/// A model that passes the upload checks but never finishes on a letterboxed frame: the loop runs
/// `1e12 · relu(0.01 − max |top row|)` times, none for the (square, textured) probe frames and
/// about 10^12 when the top row is black padding (a 4:3 video under `crop = "frame"`).
pub fn letterbox_runaway_model() -> Vec<u8> {
    let top = node("Slice", &["input", "starts", "ends", "axes"], &["top"]);
    let mut peak = node("ReduceMax", &["top_abs"], &["peak"]);
    peak.attribute = vec![int_attr("keepdims", 0)];
    let mut cast = node("Cast", &["gate_big"], &["trips"]);
    cast.attribute = vec![int_attr("to", i64::from(INT64))];
    means_model(
        "logits",
        &[None, Some(1)],
        vec![
            top,
            node("Abs", &["top"], &["top_abs"]),
            peak,
            node("Sub", &["threshold", "peak"], &["gap"]),
            node("Relu", &["gap"], &["gate"]),
            node("Mul", &["gate", "huge"], &["gate_big"]),
            cast,
            add_one_loop("trips"),
            node("MatMul", &["v", "W"], &["logits"]),
        ],
        vec![
            tensor_i64("starts", &[1], &[0]),
            tensor_i64("ends", &[1], &[1]),
            tensor_i64("axes", &[1], &[2]),
            tensor_f32("threshold", &[], &[0.01]),
            tensor_f32("huge", &[], &[1e12]),
            keep_going(),
            tensor_f32("W", &[3, 1], &[4.0, 0.0, -4.0]),
        ],
    )
}

/// A model that allocates `4 · 3 · copies · N` bytes at run time (the means broadcast to
/// `[copies, N, 3]`), then scores like a plain means model.
pub fn memory_hog_model(copies: i64) -> Vec<u8> {
    let mut total = node("ReduceSum", &["wide"], &["total"]);
    total.attribute = vec![int_attr("keepdims", 0)];
    means_model(
        "logits",
        &[None, Some(1)],
        vec![
            node("Expand", &["m", "shape"], &["wide"]),
            total,
            node("Mul", &["total", "zero"], &["nothing"]),
            node("MatMul", &["m", "W"], &["z"]),
            node("Add", &["z", "nothing"], &["logits"]),
        ],
        vec![
            tensor_i64("shape", &[3], &[copies, 1, 3]),
            tensor_f32("zero", &[], &[0.0]),
            tensor_f32("W", &[3, 1], &[4.0, 0.0, -4.0]),
        ],
    )
}
