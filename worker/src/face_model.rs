//! BlazeFace at any input size: the bootstrap's model (`face_detection_front_128x128`, NHWC
//! 1×128×128×3) is fully convolutional except for three things fixed at 128 px, which this module
//! rewrites in the model's bytes before the session is built:
//!
//! - the input's height and width (become the symbolic `height`, `width`);
//! - the channel padding of its residual blocks, written as `Concat(x, ConstantOfShape([1, c, h,
//!   w]))` with a spatial size baked in (becomes `Pad(x, [0, 0, 0, 0, 0, c, 0, 0])`: the same
//!   zeros, at any size);
//! - the four output `Reshape`s to `[1, 512 or 384, 1 or 16]` (the anchor count becomes -1).
//!
//! At 128×128 the rewritten model computes the same numbers to the last bits of a few outputs
//! (checked in the tests; [`crate::faces::FaceDetector`] keeps the original for its 128-px runs,
//! so their boxes do not move); on a W×H input
//! (multiples of 16) it scores a (W/8)×(H/8) grid of 2 anchors then a (W/16)×(H/16) grid of 6
//! ([`crate::face_box::anchors_for`]), which is what the face search runs on a whole frame instead
//! of overlapping 128-px tiles ([`crate::face_search`]).
//!
//! The rewrite works on the protobuf wire format field by field and copies every field it does
//! not change byte for byte, so nothing of `onnx.proto` needs to be modelled here.

use std::collections::{HashMap, HashSet};

use prost::bytes::Buf;
use prost::encoding::{WireType, decode_key, decode_varint, encode_key, encode_varint};

/// The model input's name and the spatial dimensions made symbolic.
const INPUT: &str = "input:0";

/// One field of a protobuf message: its tag, its whole encoding (key included), and for a
/// length-delimited field its payload, for a varint its value.
struct Field<'a> {
    tag: u32,
    raw: &'a [u8],
    payload: &'a [u8],
    varint: u64,
}

fn fields(mut buf: &[u8]) -> Result<Vec<Field<'_>>, String> {
    let mut out = Vec::new();
    while !buf.is_empty() {
        let start = buf;
        let (tag, wire) = decode_key(&mut buf).map_err(|e| e.to_string())?;
        let (mut payload, mut varint): (&[u8], u64) = (&[], 0);
        match wire {
            WireType::Varint => varint = decode_varint(&mut buf).map_err(|e| e.to_string())?,
            WireType::SixtyFourBit | WireType::ThirtyTwoBit => {
                let n = if wire == WireType::SixtyFourBit { 8 } else { 4 };
                if buf.len() < n {
                    return Err("truncated fixed-width field".to_owned());
                }
                buf.advance(n);
            }
            WireType::LengthDelimited => {
                let n = usize::try_from(decode_varint(&mut buf).map_err(|e| e.to_string())?)
                    .map_err(|e| e.to_string())?;
                if buf.len() < n {
                    return Err("truncated length-delimited field".to_owned());
                }
                payload = &buf[..n];
                buf.advance(n);
            }
            WireType::StartGroup | WireType::EndGroup => {
                return Err("protobuf groups are not used by ONNX".to_owned());
            }
        }
        let raw = &start[..start.len() - buf.len()];
        out.push(Field {
            tag,
            raw,
            payload,
            varint,
        });
    }
    Ok(out)
}

fn put_bytes(out: &mut Vec<u8>, tag: u32, bytes: &[u8]) {
    encode_key(tag, WireType::LengthDelimited, out);
    encode_varint(bytes.len() as u64, out);
    out.extend_from_slice(bytes);
}

fn put_varint(out: &mut Vec<u8>, tag: u32, value: u64) {
    encode_key(tag, WireType::Varint, out);
    encode_varint(value, out);
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A node's op type, inputs and outputs (NodeProto fields 4, 1, 2).
struct Node {
    op: String,
    inputs: Vec<String>,
    outputs: Vec<String>,
}

fn node(payload: &[u8]) -> Result<Node, String> {
    let mut n = Node {
        op: String::new(),
        inputs: Vec::new(),
        outputs: Vec::new(),
    };
    for f in fields(payload)? {
        match f.tag {
            1 => n.inputs.push(text(f.payload)),
            2 => n.outputs.push(text(f.payload)),
            4 => n.op = text(f.payload),
            _ => {}
        }
    }
    Ok(n)
}

/// An int64 initializer's name and values (TensorProto: 8 name, 7 int64_data, 9 raw_data).
fn int64_tensor(payload: &[u8]) -> Result<(String, Vec<i64>), String> {
    let (mut name, mut values) = (String::new(), Vec::new());
    for f in fields(payload)? {
        match f.tag {
            8 => name = text(f.payload),
            // Packed int64_data.
            7 if !f.payload.is_empty() => {
                let mut p = f.payload;
                while !p.is_empty() {
                    values.push(decode_varint(&mut p).map_err(|e| e.to_string())? as i64);
                }
            }
            7 => values.push(f.varint as i64),
            9 => values.extend(
                f.payload
                    .chunks_exact(8)
                    .map(|c| i64::from_le_bytes(c.try_into().unwrap_or([0; 8]))),
            ),
            _ => {}
        }
    }
    Ok((name, values))
}

/// A 1-D int64 initializer (TensorProto: 1 dims, 2 data_type = 7, 8 name, 9 raw_data).
fn int64_initializer(name: &str, values: &[i64]) -> Vec<u8> {
    let mut t = Vec::new();
    put_varint(&mut t, 1, values.len() as u64);
    put_varint(&mut t, 2, 7);
    put_bytes(&mut t, 8, name.as_bytes());
    let raw: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    put_bytes(&mut t, 9, &raw);
    t
}

/// A float tensor's value info (ValueInfoProto: 1 name, 2 type → TypeProto 1 tensor_type →
/// 1 elem_type, 2 shape → repeated 1 dim → 1 dim_value | 2 dim_param); `dims` as given, none
/// for an unknown shape.
fn value_info(name: &str, dims: &[Result<u64, &str>]) -> Vec<u8> {
    let mut shape = Vec::new();
    for d in dims {
        let mut dim = Vec::new();
        match d {
            Ok(v) => put_varint(&mut dim, 1, *v),
            Err(p) => put_bytes(&mut dim, 2, p.as_bytes()),
        }
        put_bytes(&mut shape, 1, &dim);
    }
    let mut tensor = Vec::new();
    put_varint(&mut tensor, 1, 1); // FLOAT
    if !dims.is_empty() {
        put_bytes(&mut tensor, 2, &shape);
    }
    let mut ty = Vec::new();
    put_bytes(&mut ty, 1, &tensor);
    let mut info = Vec::new();
    put_bytes(&mut info, 1, name.as_bytes());
    put_bytes(&mut info, 2, &ty);
    info
}

/// A `Pad` node (constant mode, the default) from `x` and the `pads` initializer to `out`.
fn pad_node(x: &str, pads: &str, out: &str) -> Vec<u8> {
    let mut n = Vec::new();
    put_bytes(&mut n, 1, x.as_bytes());
    put_bytes(&mut n, 1, pads.as_bytes());
    put_bytes(&mut n, 2, out.as_bytes());
    put_bytes(&mut n, 3, format!("{out}__any_size_pad").as_bytes());
    put_bytes(&mut n, 4, b"Pad");
    n
}

/// The model's bytes with its input size made free (see the module docs); an error when the
/// bytes are not a model of that layout (no input named `input:0`).
pub fn any_size(model: &[u8]) -> Result<Vec<u8>, String> {
    let top = fields(model)?;
    let graph = top
        .iter()
        .find(|f| f.tag == 7)
        .ok_or("the model has no graph")?;
    let new_graph = rewrite_graph(graph.payload)?;
    let mut out = Vec::with_capacity(model.len() + 1024);
    for f in &top {
        if f.tag == 7 {
            put_bytes(&mut out, 7, &new_graph);
        } else {
            out.extend_from_slice(f.raw);
        }
    }
    Ok(out)
}

fn rewrite_graph(graph: &[u8]) -> Result<Vec<u8>, String> {
    let parts = fields(graph)?;
    let nodes: Vec<Node> = parts
        .iter()
        .filter(|f| f.tag == 1)
        .map(|f| node(f.payload))
        .collect::<Result<_, _>>()?;
    let mut initializers: HashMap<String, Vec<i64>> = HashMap::new();
    for f in parts.iter().filter(|f| f.tag == 5) {
        let (name, values) = int64_tensor(f.payload)?;
        initializers.insert(name, values);
    }
    // ConstantOfShape output → its shape initializer.
    let zeros: HashMap<&str, &str> = nodes
        .iter()
        .filter(|n| n.op == "ConstantOfShape" && n.inputs.len() == 1 && n.outputs.len() == 1)
        .map(|n| (n.outputs[0].as_str(), n.inputs[0].as_str()))
        .collect();
    let reshape_shapes: HashSet<&str> = nodes
        .iter()
        .filter(|n| n.op == "Reshape" && n.inputs.len() == 2)
        .map(|n| n.inputs[1].as_str())
        .collect();
    if !parts
        .iter()
        .any(|f| f.tag == 11 && value_name(f.payload).as_deref() == Some(INPUT))
    {
        return Err(format!("the model has no input {INPUT:?}"));
    }
    let mut out = Vec::with_capacity(graph.len() + 1024);
    let mut pads = Vec::new();
    let mut kept_inputs: HashSet<String> = HashSet::new();
    for (f, n) in parts
        .iter()
        .filter(|f| f.tag == 1)
        .zip(&nodes)
        .map(|(f, n)| (f.raw, n))
    {
        if n.op == "ConstantOfShape"
            && n.outputs
                .first()
                .is_some_and(|o| zeros.contains_key(o.as_str()))
        {
            continue;
        }
        let padded = (n.op == "Concat" && n.inputs.len() == 2 && n.outputs.len() == 1)
            .then(|| zeros.get(n.inputs[1].as_str()))
            .flatten();
        if let Some(shape) = padded {
            let channels = initializers
                .get(*shape)
                .and_then(|s| s.get(1).copied())
                .ok_or_else(|| format!("ConstantOfShape {shape:?} has no constant shape"))?;
            let name = format!("{}__any_size_pads", n.outputs[0]);
            pads.push(int64_initializer(&name, &[0, 0, 0, 0, 0, channels, 0, 0]));
            put_bytes(&mut out, 1, &pad_node(&n.inputs[0], &name, &n.outputs[0]));
            kept_inputs.insert(n.inputs[0].clone());
            continue;
        }
        kept_inputs.extend(n.inputs.iter().cloned());
        out.extend_from_slice(f);
    }
    for f in &parts {
        match f.tag {
            1 => {}
            5 => {
                let (name, values) = int64_tensor(f.payload)?;
                if !kept_inputs.contains(&name) {
                    continue; // ConstantOfShape's shapes, and what was unused before
                }
                if reshape_shapes.contains(name.as_str()) && values.len() == 3 {
                    let free = [values[0], -1, values[2]];
                    put_bytes(&mut out, 5, &int64_initializer(&name, &free));
                } else {
                    out.extend_from_slice(f.raw);
                }
            }
            11 if value_name(f.payload).as_deref() == Some(INPUT) => {
                let dims = [Ok(1), Err("height"), Err("width"), Ok(3)];
                put_bytes(&mut out, 11, &value_info(INPUT, &dims));
            }
            // Outputs: the anchor count is no longer 512 / 384; intermediate shapes are inferred.
            12 => {
                let name = value_name(f.payload).unwrap_or_default();
                put_bytes(&mut out, 12, &value_info(&name, &[]));
            }
            13 => {}
            _ => out.extend_from_slice(f.raw),
        }
    }
    for p in pads {
        put_bytes(&mut out, 5, &p);
    }
    Ok(out)
}

fn value_name(info: &[u8]) -> Option<String> {
    fields(info)
        .ok()?
        .into_iter()
        .find(|f| f.tag == 1)
        .map(|f| text(f.payload))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use ort::value::TensorRef;

    use super::*;
    use crate::detector::{SessionOptions, build_session};
    use crate::faces::model_path;
    use crate::test_support::runtime;

    const OUTPUTS: [&str; 4] = ["Identity:0", "Identity_1:0", "Identity_2:0", "Identity_3:0"];

    fn run(
        session: &mut ort::session::Session,
        input: &[f32],
        w: usize,
        h: usize,
    ) -> Vec<Vec<f32>> {
        let tensor = TensorRef::from_array_view(([1usize, h, w, 3], input)).unwrap();
        let out = session.run(ort::inputs!["input:0" => tensor]).unwrap();
        OUTPUTS
            .iter()
            .map(|n| out[*n].try_extract_tensor::<f32>().unwrap().1.to_vec())
            .collect()
    }

    #[test]
    fn the_rewritten_model_computes_the_same_at_128_px_and_runs_at_any_size() {
        let bytes = std::fs::read(model_path(None)).unwrap();
        let free = any_size(&bytes).unwrap();
        let rt = runtime();
        let opts = SessionOptions::default();
        let (mut fixed, _) = build_session(&rt, &bytes, &opts).unwrap();
        let (mut any, _) = build_session(&rt, &free, &opts).unwrap();
        let input = |n: usize| -> Vec<f32> {
            (0..n)
                .map(|i| ((i * 7919) % 255) as f32 / 127.5 - 1.0)
                .collect()
        };
        let x = input(128 * 128 * 3);
        // The same numbers at 128 px, but for the last bits of a few (onnxruntime runs the padding
        // as another kernel): the 128-px runs stay on the original model.
        let (a, b) = (run(&mut fixed, &x, 128, 128), run(&mut any, &x, 128, 128));
        for (a, b) in a.iter().zip(&b) {
            assert_eq!(a.len(), b.len());
            for (x, y) in a.iter().zip(b) {
                assert!((x - y).abs() <= 1e-4 * (1.0 + x.abs()), "{x} vs {y}");
            }
        }
        // The fixed model refuses another size; the rewritten one scores its anchor grids:
        // (W/8)×(H/8)×2 then (W/16)×(H/16)×6, 16 box values each.
        let (w, h) = (192, 96);
        let y = input(w * h * 3);
        let tensor = TensorRef::from_array_view(([1usize, h, w, 3], &y[..])).unwrap();
        assert!(fixed.run(ort::inputs!["input:0" => tensor]).is_err());
        let out = run(&mut any, &y, w, h);
        let (a8, a16) = ((w / 8) * (h / 8) * 2, (w / 16) * (h / 16) * 6);
        assert_eq!(
            out.iter().map(Vec::len).collect::<Vec<_>>(),
            vec![a8, a16, a8 * 16, a16 * 16]
        );
        assert_eq!(
            crate::face_box::anchors_for(w as u32, h as u32).len(),
            a8 + a16
        );
        // Not a model: a clear error, not a session.
        assert!(any_size(b"\x0a\x03abc").is_err());
    }
}
