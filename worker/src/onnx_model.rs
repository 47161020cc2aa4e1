//! Static checks of an uploaded ONNX model: hand-written protobuf subset, external data, op domains,
//! and the declared input against the manifest.

use prost::Message;
use serde::{Deserialize, Serialize};

use crate::manifest::{Layout, Manifest};

/// The subset of `onnx.proto` the arena inspects (field numbers as in onnx 1.x).
pub mod proto {
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ModelProto {
        #[prost(int64, tag = "1")]
        pub ir_version: i64,
        #[prost(message, repeated, tag = "8")]
        pub opset_import: Vec<OperatorSetIdProto>,
        #[prost(message, optional, tag = "7")]
        pub graph: Option<GraphProto>,
        #[prost(message, repeated, tag = "20")]
        pub training_info: Vec<TrainingInfoProto>,
        #[prost(message, repeated, tag = "25")]
        pub functions: Vec<FunctionProto>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct OperatorSetIdProto {
        #[prost(string, tag = "1")]
        pub domain: String,
        #[prost(int64, tag = "2")]
        pub version: i64,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TrainingInfoProto {
        #[prost(message, optional, tag = "1")]
        pub initialization: Option<GraphProto>,
        #[prost(message, optional, tag = "2")]
        pub algorithm: Option<GraphProto>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct GraphProto {
        #[prost(message, repeated, tag = "1")]
        pub node: Vec<NodeProto>,
        #[prost(string, tag = "2")]
        pub name: String,
        #[prost(message, repeated, tag = "5")]
        pub initializer: Vec<TensorProto>,
        #[prost(message, repeated, tag = "11")]
        pub input: Vec<ValueInfoProto>,
        #[prost(message, repeated, tag = "12")]
        pub output: Vec<ValueInfoProto>,
        #[prost(message, repeated, tag = "13")]
        pub value_info: Vec<ValueInfoProto>,
        #[prost(message, repeated, tag = "15")]
        pub sparse_initializer: Vec<SparseTensorProto>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct NodeProto {
        #[prost(string, repeated, tag = "1")]
        pub input: Vec<String>,
        #[prost(string, repeated, tag = "2")]
        pub output: Vec<String>,
        #[prost(string, tag = "3")]
        pub name: String,
        #[prost(string, tag = "4")]
        pub op_type: String,
        #[prost(message, repeated, tag = "5")]
        pub attribute: Vec<AttributeProto>,
        #[prost(string, tag = "7")]
        pub domain: String,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct AttributeProto {
        #[prost(string, tag = "1")]
        pub name: String,
        #[prost(message, optional, tag = "5")]
        pub t: Option<TensorProto>,
        #[prost(message, optional, tag = "6")]
        pub g: Option<GraphProto>,
        #[prost(message, repeated, tag = "10")]
        pub tensors: Vec<TensorProto>,
        #[prost(message, repeated, tag = "11")]
        pub graphs: Vec<GraphProto>,
        #[prost(int32, tag = "20")]
        pub r#type: i32,
        #[prost(message, optional, tag = "22")]
        pub sparse_tensor: Option<SparseTensorProto>,
        #[prost(message, repeated, tag = "23")]
        pub sparse_tensors: Vec<SparseTensorProto>,
        #[prost(int64, tag = "3")]
        pub i: i64,
        #[prost(int64, repeated, tag = "8")]
        pub ints: Vec<i64>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TensorProto {
        #[prost(int64, repeated, tag = "1")]
        pub dims: Vec<i64>,
        #[prost(int32, tag = "2")]
        pub data_type: i32,
        #[prost(float, repeated, tag = "4")]
        pub float_data: Vec<f32>,
        #[prost(int32, repeated, tag = "5")]
        pub int32_data: Vec<i32>,
        #[prost(bytes = "vec", repeated, tag = "6")]
        pub string_data: Vec<Vec<u8>>,
        #[prost(int64, repeated, tag = "7")]
        pub int64_data: Vec<i64>,
        #[prost(double, repeated, tag = "10")]
        pub double_data: Vec<f64>,
        #[prost(uint64, repeated, tag = "11")]
        pub uint64_data: Vec<u64>,
        #[prost(string, tag = "8")]
        pub name: String,
        #[prost(bytes = "vec", tag = "9")]
        pub raw_data: Vec<u8>,
        #[prost(message, repeated, tag = "13")]
        pub external_data: Vec<StringStringEntryProto>,
        #[prost(int32, tag = "14")]
        pub data_location: i32,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct StringStringEntryProto {
        #[prost(string, tag = "1")]
        pub key: String,
        #[prost(string, tag = "2")]
        pub value: String,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct SparseTensorProto {
        #[prost(message, optional, tag = "1")]
        pub values: Option<TensorProto>,
        #[prost(message, optional, tag = "2")]
        pub indices: Option<TensorProto>,
        #[prost(int64, repeated, tag = "3")]
        pub dims: Vec<i64>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ValueInfoProto {
        #[prost(string, tag = "1")]
        pub name: String,
        #[prost(message, optional, tag = "2")]
        pub r#type: Option<TypeProto>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TypeProto {
        #[prost(oneof = "type_proto::Value", tags = "1")]
        pub value: Option<type_proto::Value>,
    }

    pub mod type_proto {
        #[derive(Clone, PartialEq, prost::Oneof)]
        pub enum Value {
            #[prost(message, tag = "1")]
            TensorType(Tensor),
        }

        #[derive(Clone, PartialEq, prost::Message)]
        pub struct Tensor {
            #[prost(int32, tag = "1")]
            pub elem_type: i32,
            #[prost(message, optional, tag = "2")]
            pub shape: Option<super::TensorShapeProto>,
        }
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TensorShapeProto {
        #[prost(message, repeated, tag = "1")]
        pub dim: Vec<tensor_shape_proto::Dimension>,
    }

    pub mod tensor_shape_proto {
        #[derive(Clone, PartialEq, prost::Message)]
        pub struct Dimension {
            #[prost(oneof = "dimension::Value", tags = "1, 2")]
            pub value: Option<dimension::Value>,
        }

        pub mod dimension {
            #[derive(Clone, PartialEq, prost::Oneof)]
            pub enum Value {
                #[prost(int64, tag = "1")]
                DimValue(i64),
                #[prost(string, tag = "2")]
                DimParam(String),
            }
        }
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct FunctionProto {
        #[prost(string, tag = "1")]
        pub name: String,
        #[prost(message, repeated, tag = "7")]
        pub node: Vec<NodeProto>,
        #[prost(message, repeated, tag = "9")]
        pub opset_import: Vec<OperatorSetIdProto>,
        #[prost(string, tag = "10")]
        pub domain: String,
    }
}

use proto::tensor_shape_proto::dimension;
use proto::{GraphProto, NodeProto, SparseTensorProto, TensorProto, ValueInfoProto};

/// ONNX `TensorProto.DataType.FLOAT`.
pub const ELEM_FLOAT: i32 = 1;
/// ONNX `TensorProto.DataLocation.EXTERNAL`.
const DATA_LOCATION_EXTERNAL: i32 = 1;
/// Op domains any model may use.
const ALLOWED_DOMAINS: [&str; 2] = ["", "ai.onnx"];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TensorInfo {
    pub name: String,
    /// ONNX element type (1 = float32); 0 when not a tensor or undeclared.
    pub elem_type: i32,
    /// `None` for a symbolic or unknown dimension.
    pub dims: Vec<Option<i64>>,
}

/// The facts an inspection finds: all the server needs to check a manifest against the model
/// (sent over the pipe by an `arena-sandbox` child that inspected an upload).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// Graph inputs that are not initializers.
    pub inputs: Vec<TensorInfo>,
    pub outputs: Vec<TensorInfo>,
    pub opsets: Vec<(String, i64)>,
}

/// How the model's batch dimension may be fed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputBatch {
    Dynamic,
    FixedOne,
}

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("model is {size} bytes, over the {max}-byte limit")]
    TooLarge { size: usize, max: usize },
    #[error("not a valid ONNX model: {0}")]
    Invalid(String),
    #[error("model references external data ({0}); embed all weights in the .onnx file")]
    ExternalData(String),
    #[error("op domain {0:?} is not allowed (only the default ONNX domain)")]
    OpDomain(String),
    #[error("model does not match the manifest: {0}")]
    ManifestMismatch(String),
}

impl ModelError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::TooLarge { .. } => "model_too_large",
            Self::Invalid(_) => "invalid_model",
            Self::ExternalData(_) => "model_external_data",
            Self::OpDomain(_) => "model_op_domain",
            Self::ManifestMismatch(_) => "model_manifest_mismatch",
        }
    }

    pub fn is_client_error(&self) -> bool {
        true
    }
}

/// Parses `bytes` as an ONNX model and rejects what the arena never runs: oversize files, external
/// data anywhere (graphs, subgraphs, functions), and op domains outside the default one.
pub fn inspect_model(bytes: &[u8], max_bytes: usize) -> Result<ModelInfo, ModelError> {
    inspect_model_with_domains(bytes, max_bytes, &[])
}

/// [`inspect_model`] with extra allowed op domains (e.g. `com.microsoft` when configured).
pub fn inspect_model_with_domains(
    bytes: &[u8],
    max_bytes: usize,
    extra_domains: &[&str],
) -> Result<ModelInfo, ModelError> {
    if bytes.len() > max_bytes {
        return Err(ModelError::TooLarge {
            size: bytes.len(),
            max: max_bytes,
        });
    }
    let model = proto::ModelProto::decode(bytes).map_err(|e| ModelError::Invalid(e.to_string()))?;
    let graph = model
        .graph
        .as_ref()
        .ok_or_else(|| ModelError::Invalid("the model has no graph".into()))?;
    let walker = Walker { extra_domains };
    for opset in &model.opset_import {
        walker.check_domain(&opset.domain)?;
    }
    walker.graph(graph)?;
    for info in &model.training_info {
        for g in info.initialization.iter().chain(&info.algorithm) {
            walker.graph(g)?;
        }
    }
    for f in &model.functions {
        for opset in &f.opset_import {
            walker.check_domain(&opset.domain)?;
        }
        walker.nodes(&f.node)?;
    }
    let initializers: std::collections::HashSet<&str> = graph
        .initializer
        .iter()
        .map(|t| t.name.as_str())
        .chain(
            graph
                .sparse_initializer
                .iter()
                .filter_map(|s| s.values.as_ref().map(|v| v.name.as_str())),
        )
        .collect();
    Ok(ModelInfo {
        inputs: graph
            .input
            .iter()
            .filter(|v| !initializers.contains(v.name.as_str()))
            .map(tensor_info)
            .collect(),
        outputs: graph.output.iter().map(tensor_info).collect(),
        opsets: model
            .opset_import
            .iter()
            .map(|o| (o.domain.clone(), o.version))
            .collect(),
    })
}

fn tensor_info(v: &ValueInfoProto) -> TensorInfo {
    let tensor = v
        .r#type
        .as_ref()
        .and_then(|t| t.value.as_ref())
        .map(|proto::type_proto::Value::TensorType(t)| t);
    let dims = tensor
        .and_then(|t| t.shape.as_ref())
        .map(|s| {
            s.dim
                .iter()
                .map(|d| match d.value {
                    Some(dimension::Value::DimValue(v)) if v > 0 => Some(v),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    TensorInfo {
        name: v.name.clone(),
        elem_type: tensor.map_or(0, |t| t.elem_type),
        dims,
    }
}

/// Recursive checks over graphs, nodes, attributes and tensors.
struct Walker<'a> {
    extra_domains: &'a [&'a str],
}

impl Walker<'_> {
    fn check_domain(&self, domain: &str) -> Result<(), ModelError> {
        if ALLOWED_DOMAINS.contains(&domain) || self.extra_domains.contains(&domain) {
            Ok(())
        } else {
            Err(ModelError::OpDomain(domain.to_owned()))
        }
    }

    fn graph(&self, g: &GraphProto) -> Result<(), ModelError> {
        for t in &g.initializer {
            tensor(t, "initializer")?;
        }
        for s in &g.sparse_initializer {
            sparse(s, "sparse initializer")?;
        }
        self.nodes(&g.node)
    }

    fn nodes(&self, nodes: &[NodeProto]) -> Result<(), ModelError> {
        for n in nodes {
            self.check_domain(&n.domain)?;
            for a in &n.attribute {
                let place = format!(
                    "attribute {:?} of node {:?} ({})",
                    a.name, n.name, n.op_type
                );
                for t in a.t.iter().chain(&a.tensors) {
                    tensor(t, &place)?;
                }
                for s in a.sparse_tensor.iter().chain(&a.sparse_tensors) {
                    sparse(s, &place)?;
                }
                for g in a.g.iter().chain(&a.graphs) {
                    self.graph(g)?;
                }
            }
        }
        Ok(())
    }
}

fn tensor(t: &TensorProto, place: &str) -> Result<(), ModelError> {
    if t.data_location == DATA_LOCATION_EXTERNAL || !t.external_data.is_empty() {
        return Err(ModelError::ExternalData(format!(
            "tensor {:?} in {place}",
            t.name
        )));
    }
    tensor_size(t, place)
}

/// Bytes per element of an ONNX data type stored in `raw_data` (`None` for strings and packed or
/// unknown types, which are not size-checked).
fn element_bytes(data_type: i32) -> Option<u64> {
    match data_type {
        2 | 3 | 9 | 17..=20 => Some(1),
        4 | 5 | 10 | 16 => Some(2),
        1 | 6 | 12 => Some(4),
        7 | 11 | 13 | 14 => Some(8),
        15 => Some(16),
        _ => None,
    }
}

/// A tensor carries the data its dims declare: a header claiming 2^40 elements over a few bytes
/// would only make onnxruntime allocate or fail later, with a vaguer message.
fn tensor_size(t: &TensorProto, place: &str) -> Result<(), ModelError> {
    let bad = |what: String| {
        Err(ModelError::Invalid(format!(
            "tensor {:?} in {place} {what}",
            t.name
        )))
    };
    let mut elements = 1u64;
    for &d in &t.dims {
        let Some(n) = u64::try_from(d).ok().and_then(|d| elements.checked_mul(d)) else {
            return bad(format!("has impossible dims {:?}", t.dims));
        };
        elements = n;
    }
    if !t.raw_data.is_empty() {
        let Some(size) = element_bytes(t.data_type) else {
            return Ok(());
        };
        let want = elements.checked_mul(size);
        if want != Some(t.raw_data.len() as u64) {
            return bad(format!(
                "declares {elements} elements ({:?}) but carries {} bytes",
                t.dims,
                t.raw_data.len()
            ));
        }
        return Ok(());
    }
    let typed = t.float_data.len()
        + t.int32_data.len()
        + t.string_data.len()
        + t.int64_data.len()
        + t.double_data.len()
        + t.uint64_data.len();
    if elements > 0 && typed == 0 {
        return bad(format!(
            "declares {elements} elements ({:?}) but carries no data",
            t.dims
        ));
    }
    Ok(())
}

fn sparse(s: &SparseTensorProto, place: &str) -> Result<(), ModelError> {
    for t in s.values.iter().chain(&s.indices) {
        tensor(t, place)?;
    }
    Ok(())
}

/// Checks the manifest's input and output against the model's declared graph interface.
pub fn check_manifest_against_model(
    m: &Manifest,
    info: &ModelInfo,
) -> Result<InputBatch, ModelError> {
    let mismatch = |msg: String| Err(ModelError::ManifestMismatch(msg));
    let names = |ts: &[TensorInfo]| {
        ts.iter()
            .map(|t| t.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let Some(input) = info.inputs.iter().find(|t| t.name == m.input) else {
        return mismatch(format!(
            "no input {:?}; the model's inputs: [{}]",
            m.input,
            names(&info.inputs)
        ));
    };
    if info.inputs.len() > 1 {
        return mismatch(format!(
            "the model needs several inputs: [{}]",
            names(&info.inputs)
        ));
    }
    if input.elem_type != ELEM_FLOAT {
        return mismatch(format!(
            "input {:?} is not float32 (type {})",
            input.name, input.elem_type
        ));
    }
    if input.dims.len() != 4 {
        return mismatch(format!(
            "input {:?} has rank {}, expected 4",
            input.name,
            input.dims.len()
        ));
    }
    let (c, h, w) = match m.layout {
        Layout::Nchw => (input.dims[1], input.dims[2], input.dims[3]),
        Layout::Nhwc => (input.dims[3], input.dims[1], input.dims[2]),
    };
    if c != Some(3) {
        return mismatch(format!(
            "input {:?} has {} channels where layout {:?} puts them, expected 3",
            input.name,
            c.map_or("dynamic".to_owned(), |c| c.to_string()),
            m.layout
        ));
    }
    for (what, dim, want) in [("height", h, m.height()), ("width", w, m.width())] {
        if dim.is_some_and(|d| d != i64::from(want)) {
            return mismatch(format!(
                "input {what} is {dim:?} but the manifest size says {want}"
            ));
        }
    }
    let batch = match input.dims[0] {
        None => InputBatch::Dynamic,
        Some(1) => InputBatch::FixedOne,
        Some(n) => {
            return mismatch(format!(
                "input batch dimension is fixed to {n}; use 1 or a dynamic one"
            ));
        }
    };
    let Some(output) = info.outputs.iter().find(|t| t.name == m.output) else {
        return mismatch(format!(
            "no output {:?}; the model's outputs: [{}]",
            m.output,
            names(&info.outputs)
        ));
    };
    if output.elem_type != 0 && output.elem_type != ELEM_FLOAT {
        return mismatch(format!(
            "output {:?} is not float32 (type {})",
            output.name, output.elem_type
        ));
    }
    Ok(batch)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::proto::{AttributeProto, ModelProto, OperatorSetIdProto, StringStringEntryProto};
    use super::*;
    use crate::test_support::{detector_fixture, node, tensor_f32};

    fn base() -> ModelProto {
        let (bytes, _) = detector_fixture("redblue");
        ModelProto::decode(bytes.as_slice()).unwrap()
    }

    fn inspect(m: &ModelProto) -> Result<ModelInfo, ModelError> {
        inspect_model(&m.encode_to_vec(), 1 << 20)
    }

    fn external(name: &str) -> TensorProto {
        let mut t = tensor_f32(name, &[3, 1], &[]);
        t.data_location = DATA_LOCATION_EXTERNAL;
        t.external_data = vec![StringStringEntryProto {
            key: "location".into(),
            value: "/etc/passwd".into(),
        }];
        t
    }

    #[test]
    fn fixtures_are_described() {
        let (bytes, _) = detector_fixture("redblue");
        let info = inspect_model(&bytes, bytes.len()).unwrap();
        assert_eq!(info.inputs.len(), 1, "initializers W and b are not inputs");
        assert_eq!(info.inputs[0].name, "input");
        assert_eq!(info.inputs[0].elem_type, ELEM_FLOAT);
        assert_eq!(info.inputs[0].dims, vec![None, Some(3), Some(32), Some(32)]);
        assert_eq!(info.outputs[0].name, "logits");
        assert_eq!(info.outputs[0].dims, vec![None, Some(1)]);
        assert_eq!(info.opsets, vec![(String::new(), 13)]);
        let (bytes, _) = detector_fixture("greenish");
        let info = inspect_model(&bytes, 1 << 20).unwrap();
        assert_eq!(
            info.inputs[0].dims,
            vec![Some(1), Some(32), Some(32), Some(3)]
        );
    }

    #[test]
    fn size_cap_and_garbage() {
        let (bytes, _) = detector_fixture("constant");
        assert_eq!(
            inspect_model(&bytes, 10).unwrap_err().code(),
            "model_too_large"
        );
        let e = inspect_model(b"\xff\xff\xff\xff definitely not protobuf", 1 << 20).unwrap_err();
        assert_eq!(e.code(), "invalid_model");
        let no_graph = ModelProto {
            ir_version: 8,
            ..Default::default()
        };
        assert_eq!(inspect(&no_graph).unwrap_err().code(), "invalid_model");
    }

    #[test]
    fn external_data_is_rejected_everywhere() {
        let mut m = base();
        m.graph.as_mut().unwrap().initializer[0] = external("W");
        assert_eq!(inspect(&m).unwrap_err().code(), "model_external_data");

        // Only the external_data entries, no data_location flag.
        let mut m = base();
        let mut t = external("W");
        t.data_location = 0;
        m.graph.as_mut().unwrap().initializer[0] = t;
        assert_eq!(inspect(&m).unwrap_err().code(), "model_external_data");

        // A Constant node's value attribute.
        let mut m = base();
        let mut constant = node("Constant", &[], &["c"]);
        constant.attribute = vec![AttributeProto {
            name: "value".into(),
            r#type: 4,
            t: Some(external("c")),
            ..Default::default()
        }];
        m.graph.as_mut().unwrap().node.push(constant);
        assert_eq!(inspect(&m).unwrap_err().code(), "model_external_data");

        // A sparse initializer's values.
        let mut m = base();
        m.graph
            .as_mut()
            .unwrap()
            .sparse_initializer
            .push(SparseTensorProto {
                values: Some(external("s")),
                indices: None,
                dims: vec![3],
            });
        assert_eq!(inspect(&m).unwrap_err().code(), "model_external_data");

        // An initializer inside an If branch nested in a Loop body.
        let inner = GraphProto {
            initializer: vec![external("deep")],
            ..Default::default()
        };
        let mut iff = node("If", &["cond"], &["y"]);
        iff.attribute = vec![AttributeProto {
            name: "then_branch".into(),
            r#type: 5,
            g: Some(inner),
            ..Default::default()
        }];
        let body = GraphProto {
            node: vec![iff],
            ..Default::default()
        };
        let mut lp = node("Loop", &["n", "cond"], &["out"]);
        lp.attribute = vec![AttributeProto {
            name: "body".into(),
            r#type: 5,
            g: Some(body),
            ..Default::default()
        }];
        let mut m = base();
        m.graph.as_mut().unwrap().node.push(lp);
        assert_eq!(inspect(&m).unwrap_err().code(), "model_external_data");

        // A model-local function's Constant.
        let mut m = base();
        let mut constant = node("Constant", &[], &["c"]);
        constant.attribute = vec![AttributeProto {
            name: "value".into(),
            r#type: 4,
            t: Some(external("fc")),
            ..Default::default()
        }];
        m.functions.push(super::proto::FunctionProto {
            name: "f".into(),
            node: vec![constant],
            ..Default::default()
        });
        assert_eq!(inspect(&m).unwrap_err().code(), "model_external_data");
    }

    #[test]
    fn tensors_must_carry_the_data_their_dims_declare() {
        // 2^40 floats declared, none carried.
        let mut m = base();
        m.graph.as_mut().unwrap().initializer[0] = TensorProto {
            name: "W".into(),
            data_type: ELEM_FLOAT,
            dims: vec![1 << 20, 1 << 20],
            ..Default::default()
        };
        let e = inspect(&m).unwrap_err();
        assert_eq!(e.code(), "invalid_model");
        assert!(e.to_string().contains("1099511627776 elements"), "{e}");

        // raw_data shorter than the dims say; dims whose product overflows.
        let mut m = base();
        m.graph.as_mut().unwrap().initializer[0] = TensorProto {
            name: "W".into(),
            data_type: ELEM_FLOAT,
            dims: vec![3, 1],
            raw_data: vec![0; 8],
            ..Default::default()
        };
        assert_eq!(inspect(&m).unwrap_err().code(), "invalid_model");
        let mut m = base();
        m.graph.as_mut().unwrap().initializer[0].dims = vec![i64::MAX, 4];
        assert_eq!(inspect(&m).unwrap_err().code(), "invalid_model");

        // Honest tensors in raw and typed form pass, and so does a scalar.
        let mut m = base();
        m.graph.as_mut().unwrap().initializer.push(TensorProto {
            name: "k".into(),
            data_type: 7,
            dims: vec![2],
            raw_data: vec![0; 16],
            ..Default::default()
        });
        m.graph.as_mut().unwrap().initializer.push(TensorProto {
            name: "s".into(),
            data_type: 7,
            int64_data: vec![5],
            ..Default::default()
        });
        assert!(inspect(&m).is_ok());
    }

    #[test]
    fn foreign_op_domains_are_rejected() {
        let mut m = base();
        let mut evil = node("Exfiltrate", &["input"], &["z2"]);
        evil.domain = "evil.domain".into();
        m.graph.as_mut().unwrap().node.push(evil.clone());
        let e = inspect(&m).unwrap_err();
        assert_eq!(e.code(), "model_op_domain");
        assert!(e.to_string().contains("evil.domain"));

        let mut m = base();
        m.opset_import.push(OperatorSetIdProto {
            domain: "evil.domain".into(),
            version: 1,
        });
        assert_eq!(inspect(&m).unwrap_err().code(), "model_op_domain");

        // Hidden in a subgraph.
        let mut iff = node("If", &["cond"], &["y"]);
        iff.attribute = vec![AttributeProto {
            name: "else_branch".into(),
            r#type: 5,
            g: Some(GraphProto {
                node: vec![evil],
                ..Default::default()
            }),
            ..Default::default()
        }];
        let mut m = base();
        m.graph.as_mut().unwrap().node.push(iff);
        assert_eq!(inspect(&m).unwrap_err().code(), "model_op_domain");

        // Explicit "ai.onnx" is the default domain; com.microsoft only when allowed.
        let mut m = base();
        m.graph.as_mut().unwrap().node[0].domain = "ai.onnx".into();
        assert!(inspect(&m).is_ok());
        m.graph.as_mut().unwrap().node[0].domain = "com.microsoft".into();
        assert_eq!(inspect(&m).unwrap_err().code(), "model_op_domain");
        let bytes = m.encode_to_vec();
        assert!(inspect_model_with_domains(&bytes, 1 << 20, &["com.microsoft"]).is_ok());
    }

    fn manifest(name: &str) -> Manifest {
        detector_fixture(name).1
    }

    fn info(name: &str) -> ModelInfo {
        let (bytes, _) = detector_fixture(name);
        inspect_model(&bytes, 1 << 20).unwrap()
    }

    fn mismatch(m: &Manifest, i: &ModelInfo) -> String {
        let e = check_manifest_against_model(m, i).unwrap_err();
        assert_eq!(e.code(), "model_manifest_mismatch");
        e.to_string()
    }

    #[test]
    fn manifest_matches_fixtures() {
        for (name, batch) in [
            ("redblue", InputBatch::Dynamic),
            ("greenish", InputBatch::FixedOne),
            ("constant", InputBatch::Dynamic),
        ] {
            assert_eq!(
                check_manifest_against_model(&manifest(name), &info(name)).unwrap(),
                batch
            );
        }
    }

    #[test]
    fn manifest_mismatches_are_explained() {
        let redblue = info("redblue");
        let m = Manifest {
            input: "image".into(),
            ..manifest("redblue")
        };
        let msg = mismatch(&m, &redblue);
        assert!(msg.contains("image") && msg.contains("input"), "{msg}");

        let m = Manifest {
            layout: Layout::Nhwc,
            ..manifest("redblue")
        };
        assert!(mismatch(&m, &redblue).contains("channels"));

        let m = Manifest {
            size: [64, 32],
            ..manifest("redblue")
        };
        assert!(mismatch(&m, &redblue).contains("height"));

        let m = Manifest {
            output: "prob".into(),
            ..manifest("redblue")
        };
        assert!(mismatch(&m, &redblue).contains("logits"));

        // Greenish is NHWC: read as NCHW its channel axis is 32.
        let m = Manifest {
            layout: Layout::Nchw,
            ..manifest("greenish")
        };
        mismatch(&m, &info("greenish"));

        let fixed4 = ModelInfo {
            inputs: vec![TensorInfo {
                name: "input".into(),
                elem_type: ELEM_FLOAT,
                dims: vec![Some(4), Some(3), Some(32), Some(32)],
            }],
            ..redblue.clone()
        };
        assert!(mismatch(&manifest("redblue"), &fixed4).contains("batch"));

        let float16 = ModelInfo {
            inputs: vec![TensorInfo {
                elem_type: 10,
                ..redblue.inputs[0].clone()
            }],
            ..redblue.clone()
        };
        assert!(mismatch(&manifest("redblue"), &float16).contains("float32"));

        let rank3 = ModelInfo {
            inputs: vec![TensorInfo {
                dims: vec![None, Some(3), Some(32)],
                ..redblue.inputs[0].clone()
            }],
            ..redblue.clone()
        };
        assert!(mismatch(&manifest("redblue"), &rank3).contains("rank"));

        // Dynamic spatial dims accept any manifest size.
        let dynamic = ModelInfo {
            inputs: vec![TensorInfo {
                dims: vec![None, Some(3), None, None],
                ..redblue.inputs[0].clone()
            }],
            ..redblue
        };
        let m = Manifest {
            size: [224, 224],
            ..manifest("redblue")
        };
        assert_eq!(
            check_manifest_against_model(&m, &dynamic).unwrap(),
            InputBatch::Dynamic
        );
    }
}
