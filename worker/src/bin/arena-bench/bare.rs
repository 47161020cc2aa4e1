//! The bare onnxruntime baseline: a second process of the bench holding a plain ort `Session`
//! (onnxruntime allows one environment per process, and the worker's is private to it), fed
//! pre-built tensors of the frames the worker scores, built here with the worker's own rules.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Instant;

use anyhow::{Result, anyhow, bail};
use arena_worker::detector::{ExecutionProvider, OrtRuntime};
use arena_worker::manifest::{ColorOrder, CropMode, Layout, Manifest, OutputKind};
use arena_worker::media::RgbImage;
use ort::session::Session;
use ort::value::TensorRef;
use serde::{Deserialize, Serialize};

use crate::{Flags, ms_since};

/// The bare child, seen from the bench: it runs its tensors when told to while the bench waits,
/// so the two never compete for a core.
pub struct BareChild {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    dir: PathBuf,
}

#[derive(Serialize, Deserialize)]
struct BareRun {
    ms: f64,
    outputs: Vec<(Vec<i64>, Vec<f32>)>,
}

impl BareChild {
    pub fn spawn(
        model: &Path,
        m: &Manifest,
        frames: &[RgbImage],
        batch: usize,
        threads: usize,
        provider: ExecutionProvider,
    ) -> Result<BareChild> {
        let dir =
            std::env::temp_dir().join(format!("arena-bench-{}-{}", std::process::id(), m.name));
        std::fs::create_dir_all(&dir)?;
        let mut shapes = Vec::new();
        for (i, chunk) in frames.chunks(batch.max(1)).enumerate() {
            let (shape, data) = model_input(m, chunk);
            let raw: Vec<u8> = data.iter().flat_map(|v| v.to_le_bytes()).collect();
            std::fs::write(dir.join(format!("{i}.f32")), raw)?;
            shapes.push(shape);
        }
        std::fs::write(dir.join("shapes.json"), serde_json::to_vec(&shapes)?)?;
        let mut child = Command::new(std::env::current_exe()?)
            .args(["bare-child", "--model"])
            .arg(model)
            .args(["--input", &m.input, "--output", &m.output, "--tensors"])
            .arg(&dir)
            .args(["--threads", &threads.to_string()])
            .args(["--provider", provider.as_str()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        let stdin = child.stdin.take().ok_or_else(|| anyhow!("no stdin"))?;
        let stdout = BufReader::new(child.stdout.take().ok_or_else(|| anyhow!("no stdout"))?);
        let mut me = BareChild {
            child,
            stdin,
            stdout,
            dir,
        };
        if me.line()? != "ready" {
            bail!("the bare onnxruntime child did not start");
        }
        Ok(me)
    }

    fn line(&mut self) -> Result<String> {
        let mut s = String::new();
        self.stdout.read_line(&mut s)?;
        Ok(s.trim().to_owned())
    }

    /// One timed pass over every tensor; the frames' P(fake) from its outputs.
    pub fn run(&mut self, m: &Manifest) -> Result<(f64, Vec<f32>)> {
        writeln!(self.stdin, "run")?;
        self.stdin.flush()?;
        let run: BareRun = serde_json::from_str(&self.line()?)?;
        let mut scores = Vec::new();
        for (shape, data) in &run.outputs {
            scores.extend(frame_scores(m, shape, data)?);
        }
        Ok((run.ms, scores))
    }

    pub fn quit(mut self) {
        let _ = writeln!(self.stdin, "quit");
        let _ = self.stdin.flush();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `bare-child`: loads the model, reads the tensors, then answers each `run` line with one timed
/// pass as a JSON line, until stdin closes or says `quit`.
pub fn child_main(flags: &Flags) -> Result<()> {
    let provider = ExecutionProvider::parse(flags.get("provider").unwrap_or("cpu"))
        .ok_or_else(|| anyhow!("--provider must be cpu or cuda"))?;
    let env = ort::init_from(OrtRuntime::lib_path_for(provider))
        .map_err(|e| anyhow!("{e}"))?
        .with_name("bare")
        .build()
        .map_err(|e| anyhow!("{e}"))?;
    let model = std::fs::read(flags.path("model", ""))?;
    let threads = flags.number("threads", 1)?;
    // On CUDA: onnxruntime's provider with its defaults on device 0, registration failing loudly
    // (a bare run that silently fell back to the CPU would be no limit at all). The CUDA
    // libraries come from LD_LIBRARY_PATH, which scripts/gpu-check sets.
    let eps = match provider {
        ExecutionProvider::Cpu => Vec::new(),
        ExecutionProvider::Cuda => vec![ort::ep::CUDA::default().build().error_on_failure()],
    };
    let mut session = Session::builder(&env)
        .and_then(|b| b.with_intra_threads(threads).map_err(Into::into))
        .and_then(|b| b.with_execution_providers(eps).map_err(Into::into))
        .and_then(|mut b| b.commit_from_memory(&model))
        .map_err(|e| anyhow!("{e}"))?;
    let dir = flags.path("tensors", "");
    let shapes: Vec<[usize; 4]> = serde_json::from_slice(&std::fs::read(dir.join("shapes.json"))?)?;
    let mut tensors = Vec::new();
    for (i, shape) in shapes.iter().enumerate() {
        let raw = std::fs::read(dir.join(format!("{i}.f32")))?;
        let data: Vec<f32> = raw
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        tensors.push((*shape, data));
    }
    let (input, output) = (
        flags.get("input").unwrap_or("input"),
        flags.get("output").unwrap_or("logits"),
    );
    let pass = |session: &mut Session| -> Result<BareRun> {
        let t = Instant::now();
        let mut outputs = Vec::new();
        for (shape, data) in &tensors {
            let tensor = TensorRef::from_array_view((*shape, &data[..]))?;
            let out = session.run(ort::inputs![input => tensor])?;
            let value = out
                .get(output)
                .ok_or_else(|| anyhow!("no output {output}"))?;
            let (shape, data) = value.try_extract_tensor::<f32>()?;
            outputs.push((shape.to_vec(), data.to_vec()));
        }
        Ok(BareRun {
            ms: ms_since(t),
            outputs,
        })
    };
    pass(&mut session)?;
    println!("ready");
    for line in std::io::stdin().lock().lines() {
        if line?.trim() != "run" {
            break;
        }
        println!("{}", serde_json::to_string(&pass(&mut session)?)?);
    }
    Ok(())
}

/// The model input the worker builds for `frames` (worker/src/detector.rs, rebuilt here because
/// the bare run must not call the platform): bilinear resize with half-pixel centres, letterbox
/// for whole frames, `(v / 255 - mean) / std` in the manifest's colour order and layout.
fn model_input(m: &Manifest, frames: &[RgbImage]) -> ([usize; 4], Vec<f32>) {
    let (h, w) = (m.height() as usize, m.width() as usize);
    let scale: [f32; 3] = [0, 1, 2].map(|c| 1.0 / (255.0 * m.std[c]));
    let offset: [f32; 3] = [0, 1, 2].map(|c| -m.mean[c] / m.std[c]);
    let source = match m.color {
        ColorOrder::Rgb => [0, 1, 2],
        ColorOrder::Bgr => [2, 1, 0],
    };
    let plane = h * w;
    let mut out = vec![0f32; frames.len() * 3 * plane];
    for (i, f) in frames.iter().enumerate() {
        let img = &mut out[i * 3 * plane..(i + 1) * 3 * plane];
        let (fw, fh) = (f.width as usize, f.height as usize);
        let (rx, ry, rw, rh) = match m.crop {
            CropMode::Face => (0, 0, w, h),
            CropMode::Frame => {
                let s = (w as f64 / fw as f64).min(h as f64 / fh as f64);
                let rw = ((fw as f64 * s).round() as usize).clamp(1, w);
                let rh = ((fh as f64 * s).round() as usize).clamp(1, h);
                ((w - rw) / 2, (h - rh) / 2, rw, rh)
            }
        };
        let index = |c: usize, y: usize, x: usize| match m.layout {
            Layout::Nchw => c * plane + y * w + x,
            Layout::Nhwc => (y * w + x) * 3 + c,
        };
        for y in 0..h {
            for x in 0..w {
                for c in 0..3 {
                    img[index(c, y, x)] = offset[c];
                }
            }
        }
        let (xs, ys) = (bilinear_taps(fw, rw), bilinear_taps(fh, rh));
        for (oy, &(y0, y1, wy)) in ys.iter().enumerate() {
            for (ox, &(x0, x1, wx)) in xs.iter().enumerate() {
                let mut px = [0f32; 3];
                for (ch, v) in px.iter_mut().enumerate() {
                    let at = |y: usize, x: usize| f32::from(f.data[(y * fw + x) * 3 + ch]);
                    let top = at(y0, x0) + (at(y0, x1) - at(y0, x0)) * wx;
                    let bottom = at(y1, x0) + (at(y1, x1) - at(y1, x0)) * wx;
                    *v = top + (bottom - top) * wy;
                }
                for c in 0..3 {
                    img[index(c, ry + oy, rx + ox)] = px[source[c]] * scale[c] + offset[c];
                }
            }
        }
    }
    let n = frames.len();
    let shape = match m.layout {
        Layout::Nchw => [n, 3, h, w],
        Layout::Nhwc => [n, h, w, 3],
    };
    (shape, out)
}

fn bilinear_taps(src: usize, dst: usize) -> Vec<(usize, usize, f32)> {
    let scale = src as f64 / dst as f64;
    (0..dst)
        .map(|d| {
            let pos = ((d as f64 + 0.5) * scale - 0.5).clamp(0.0, (src - 1) as f64);
            let i0 = pos.floor() as usize;
            (i0, (i0 + 1).min(src - 1), (pos - i0 as f64) as f32)
        })
        .collect()
}

/// P(fake) per frame from a raw output, as the worker reads it.
fn frame_scores(m: &Manifest, shape: &[i64], data: &[f32]) -> Result<Vec<f32>> {
    let width = match shape {
        [_] | [_, 1] => 1,
        [_, 2] => 2,
        _ => bail!("output shape {shape:?}"),
    };
    let fake = m.fake_class();
    let sigmoid = |x: f64| 1.0 / (1.0 + (-x).exp());
    Ok(data
        .chunks(width)
        .map(|row| {
            let p = match (width, m.output_kind) {
                (1, OutputKind::Logit) => sigmoid(f64::from(row[0])),
                (_, OutputKind::Logit) => sigmoid(f64::from(row[fake]) - f64::from(row[1 - fake])),
                (1, OutputKind::Probability) => f64::from(row[0]),
                (_, OutputKind::Probability) => f64::from(row[fake]),
            };
            p.clamp(0.0, 1.0) as f32
        })
        .collect())
}
