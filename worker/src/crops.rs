//! The crop cache format: a video's sampled uint8 RGB images (face contexts, or whole frames),
//! stored once per video and versions and read by every detector; each detector's face crop is
//! cut from a face context per its manifest ([`crate::face_crop`]).
//!
//! Layout (little-endian): `ARC3`, count u32, then per image: frame index u64, flags u8 (bit 0: a
//! real face detection; bit 1: a face context follows), when bit 1 is set the context (frame
//! width u32, frame height u32, context square x u32, y u32, side u32, face box x0, y0, x1, y1,
//! score f32, eyes right x, right y, left x, left y f32, NaN when unknown), then width u32, height
//! u32, `width * height * 3` bytes. `ARC2` (no context) and `ARC1` (no flags byte) are still
//! read: their images are used as they are.

use crate::face_crop::{CropPolicy, Cut, FaceContext, cut_for};
use crate::faces::{CropRect, FaceBox};
use crate::manifest::{CropMode, Manifest};
use crate::media::{AsRgb, RgbImage, RgbView};

const MAGIC_V1: &[u8; 4] = b"ARC1";
const MAGIC_V2: &[u8; 4] = b"ARC2";
const MAGIC: &[u8; 4] = b"ARC3";
const FLAG_DETECTED: u8 = 1;
const FLAG_CONTEXT: u8 = 2;
/// Bytes of one encoded [`FaceContext`].
const CONTEXT_BYTES: usize = 5 * 4 + 5 * 4 + 4 * 4;

#[derive(Debug, thiserror::Error)]
#[error("corrupt crop cache: {0}")]
pub struct CropsError(&'static str);

/// Sampled images of one video, with the frame index each came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Crops {
    pub indices: Vec<u64>,
    pub images: Vec<RgbImage>,
    /// Per image: cut around a real face detection (false for fallbacks and whole frames).
    pub detected: Vec<bool>,
    /// Per image: the face context it is (crops are cut from it), or `None` (whole frames, the
    /// centre square of a video without a face, caches made before contexts).
    pub contexts: Vec<Option<FaceContext>>,
}

impl Crops {
    /// No images.
    pub fn empty() -> Crops {
        Crops {
            indices: Vec::new(),
            images: Vec::new(),
            detected: Vec::new(),
            contexts: Vec::new(),
        }
    }

    /// Images cut around a real face detection.
    pub fn face_frames(&self) -> usize {
        self.detected.iter().filter(|&&d| d).count()
    }

    pub fn encode(&self) -> Vec<u8> {
        let size: usize = self
            .images
            .iter()
            .map(|i| i.data.len() + 17 + CONTEXT_BYTES)
            .sum();
        let mut out = Vec::with_capacity(8 + size);
        self.write_to(&mut out)
            .unwrap_or_else(|e| unreachable!("writing to a Vec cannot fail: {e}"));
        out
    }

    /// Writes [`Crops::encode`]'s bytes to `out` piece by piece, without building them in
    /// memory first, each image as [`CropsFileWriter`] writes it (how a decode child and the
    /// in-process path write their caches, image by image as they are made), and no piece
    /// longer than [`arena::storage::WRITE_PIECE`] (an image of 512x512 is 786 KB, one of a
    /// larger `max_side` several MB: one `write` each would cost far more system CPU on some
    /// machines, see `WRITE_PIECE`).
    pub fn write_to(&self, out: &mut impl std::io::Write) -> std::io::Result<()> {
        out.write_all(MAGIC)?;
        out.write_all(
            &u32::try_from(self.images.len())
                .unwrap_or(u32::MAX)
                .to_le_bytes(),
        )?;
        let mut head = Vec::with_capacity(17 + CONTEXT_BYTES);
        for (i, (index, img)) in self.indices.iter().zip(&self.images).enumerate() {
            let detected = self.detected.get(i).copied().unwrap_or(false);
            let context = self.contexts.get(i).copied().flatten();
            write_image(out, &mut head, *index, detected, context, img)?;
        }
        Ok(())
    }

    pub fn decode(bytes: &[u8]) -> Result<Crops, CropsError> {
        let view = Crops::parse(bytes)?;
        Ok(Crops {
            indices: view.indices,
            images: view.images.iter().map(RgbView::to_image).collect(),
            detected: view.detected,
            contexts: view.contexts,
        })
    }

    /// The crops as a [`CropsView`] (borrowing the images).
    pub fn view(&self) -> CropsView<'_> {
        CropsView {
            indices: self.indices.clone(),
            images: self.images.iter().map(AsRgb::rgb).collect(),
            detected: self.detected.clone(),
            contexts: self.contexts.clone(),
        }
    }

    /// Reads the cache bytes without copying the images: they borrow from `bytes`.
    pub fn parse(bytes: &[u8]) -> Result<CropsView<'_>, CropsError> {
        Crops::parse_counted(bytes).map(|(view, _)| view)
    }

    /// [`Crops::parse`] for bytes that are to be stored as they are (an evaluation child's
    /// files): only the current format, and nothing after the last image, as
    /// [`Crops::encode`] writes it.
    pub fn parse_current(bytes: &[u8]) -> Result<CropsView<'_>, CropsError> {
        if bytes.get(..4) != Some(MAGIC.as_slice()) {
            return Err(CropsError("not the current format"));
        }
        let (view, used) = Crops::parse_counted(bytes)?;
        if used != bytes.len() {
            return Err(CropsError("bytes after the last image"));
        }
        Ok(view)
    }

    /// The view and how many bytes it took.
    fn parse_counted(bytes: &[u8]) -> Result<(CropsView<'_>, usize), CropsError> {
        let mut r = Reader { bytes, pos: 0 };
        let version = match r.take(4)? {
            m if m == MAGIC => 3,
            m if m == MAGIC_V2 => 2,
            m if m == MAGIC_V1 => 1,
            _ => return Err(CropsError("bad magic")),
        };
        let n = r.u32()? as usize;
        let mut crops = CropsView {
            indices: Vec::with_capacity(n.min(4096)),
            images: Vec::with_capacity(n.min(4096)),
            detected: Vec::with_capacity(n.min(4096)),
            contexts: Vec::with_capacity(n.min(4096)),
        };
        for _ in 0..n {
            let index = u64::from_le_bytes(r.take(8)?.try_into().map_err(|_| CropsError("index"))?);
            let flags = if version >= 2 { r.take(1)?[0] } else { 0 };
            let context = if version >= 3 && flags & FLAG_CONTEXT != 0 {
                Some(decode_context(&mut r)?)
            } else {
                None
            };
            let (width, height) = (r.u32()?, r.u32()?);
            let len = (width as usize)
                .checked_mul(height as usize)
                .and_then(|p| p.checked_mul(3))
                .ok_or(CropsError("size"))?;
            let data = r.take(len)?;
            crops.indices.push(index);
            crops.detected.push(flags & FLAG_DETECTED != 0);
            crops.contexts.push(context);
            crops.images.push(RgbView {
                width,
                height,
                data,
            });
        }
        Ok((crops, r.pos))
    }

    /// `k` of the cached images, evenly spaced (all of them when there are at most `k`), as they
    /// are (face contexts, not a detector's crops: see [`Crops::for_detector`]).
    pub fn pick(&self, k: usize) -> Vec<RgbImage> {
        pick_positions(self.images.len(), k)
            .map(|at| self.images[at].clone())
            .collect()
    }

    /// What a detector with `manifest` reads: [`CropsView::for_detector`].
    pub fn for_detector(&self, manifest: &Manifest) -> Vec<Cut<'_>> {
        self.view().for_detector(manifest)
    }
}

/// One image of the cache (its head, then its pixels in [`arena::storage::WRITE_PIECE`]s), as
/// [`Crops::write_to`] and [`CropsFileWriter`] write it. `head`: a buffer to reuse.
fn write_image(
    out: &mut impl std::io::Write,
    head: &mut Vec<u8>,
    index: u64,
    detected: bool,
    context: Option<FaceContext>,
    img: &RgbImage,
) -> std::io::Result<()> {
    head.clear();
    head.extend_from_slice(&index.to_le_bytes());
    let flags =
        if detected { FLAG_DETECTED } else { 0 } | if context.is_some() { FLAG_CONTEXT } else { 0 };
    head.push(flags);
    if let Some(c) = context {
        encode_context(&c, head);
    }
    head.extend_from_slice(&img.width.to_le_bytes());
    head.extend_from_slice(&img.height.to_le_bytes());
    out.write_all(head)?;
    arena::storage::write_in_pieces(out, &img.data)
}

/// A cache file written image by image as the images are made, so that they need not all be
/// held until the video is done: the count in the file's head is written last
/// ([`CropsFileWriter::finish`]). The file's bytes equal [`Crops::encode`]'s for the same
/// images. (A decode child and the in-process path write both caches so since 2026-12-05:
/// docs/BENCHMARKS.md "Images written as they are made".)
pub struct CropsFileWriter {
    file: std::fs::File,
    head: Vec<u8>,
    count: u32,
}

impl CropsFileWriter {
    /// A new file at `path` (replacing one there), holding no image yet.
    pub fn create(path: &std::path::Path) -> std::io::Result<CropsFileWriter> {
        use std::io::Write;
        let mut file = std::fs::File::create(path)?;
        file.write_all(MAGIC)?;
        file.write_all(&0u32.to_le_bytes())?;
        Ok(CropsFileWriter {
            file,
            head: Vec::with_capacity(17 + CONTEXT_BYTES),
            count: 0,
        })
    }

    /// Appends one image.
    pub fn push(
        &mut self,
        index: u64,
        detected: bool,
        context: Option<FaceContext>,
        img: &RgbImage,
    ) -> std::io::Result<()> {
        self.count = self
            .count
            .checked_add(1)
            .ok_or_else(|| std::io::Error::other("more than u32::MAX images"))?;
        write_image(
            &mut self.file,
            &mut self.head,
            index,
            detected,
            context,
            img,
        )
    }

    /// Images appended so far.
    pub fn count(&self) -> u32 {
        self.count
    }

    /// Writes the count into the file's head; the file is then complete.
    pub fn finish(self) -> std::io::Result<()> {
        use std::os::unix::fs::FileExt;
        self.file
            .write_all_at(&self.count.to_le_bytes(), MAGIC.len() as u64)
    }
}

fn encode_context(c: &FaceContext, out: &mut Vec<u8>) {
    for v in [
        c.frame_width,
        c.frame_height,
        c.rect.x,
        c.rect.y,
        c.rect.side,
    ] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    let f = &c.face;
    let eyes = f.eyes.unwrap_or([f32::NAN; 4]);
    for v in [f.x0, f.y0, f.x1, f.y1, f.score].iter().chain(&eyes) {
        out.extend_from_slice(&v.to_le_bytes());
    }
}

fn decode_context(r: &mut Reader<'_>) -> Result<FaceContext, CropsError> {
    let (frame_width, frame_height) = (r.u32()?, r.u32()?);
    let rect = CropRect {
        x: r.u32()?,
        y: r.u32()?,
        side: r.u32()?,
    };
    let mut f = [0f32; 9];
    for v in &mut f {
        *v = f32::from_bits(r.u32()?);
    }
    let eyes = [f[5], f[6], f[7], f[8]];
    Ok(FaceContext {
        frame_width,
        frame_height,
        rect,
        face: FaceBox {
            x0: f[0],
            y0: f[1],
            x1: f[2],
            y1: f[3],
            score: f[4],
            eyes: eyes.iter().all(|v| v.is_finite()).then_some(eyes),
        },
    })
}

/// Crops read in place from the cache bytes ([`Crops::parse`]).
#[derive(Debug, Clone, PartialEq)]
pub struct CropsView<'a> {
    pub indices: Vec<u64>,
    pub images: Vec<RgbView<'a>>,
    pub detected: Vec<bool>,
    pub contexts: Vec<Option<FaceContext>>,
}

impl<'a> CropsView<'a> {
    /// [`Crops::pick`], borrowing.
    pub fn pick(&self, k: usize) -> Vec<RgbView<'a>> {
        pick_positions(self.images.len(), k)
            .map(|at| self.images[at])
            .collect()
    }

    /// The images a detector with `manifest` scores: its `frames` of them, evenly spaced, each
    /// cut per its `crop`, `margin` and `align` ([`crate::face_crop::cut_for`]). The one rule of
    /// the `score` job, `arena eval` and the training exports.
    pub fn for_detector(&self, manifest: &Manifest) -> Vec<Cut<'a>> {
        pick_positions(self.images.len(), manifest.frames as usize)
            .map(|at| self.cut_at(at, manifest.crop, CropPolicy::of(manifest)))
            .collect()
    }

    /// Every image, cut per `manifest` (the upload checks' probes).
    pub fn cut_all(&self, manifest: &Manifest) -> Vec<Cut<'a>> {
        (0..self.images.len())
            .map(|at| self.cut_at(at, manifest.crop, CropPolicy::of(manifest)))
            .collect()
    }

    fn cut_at(&self, at: usize, crop: CropMode, policy: CropPolicy) -> Cut<'a> {
        let context = self.contexts.get(at).and_then(Option::as_ref);
        cut_for(self.images[at], context, crop, policy)
    }
}

/// Positions of `k` of `n` images, evenly spaced (`round(linspace(0, n - 1, k))`; all of them
/// when `n <= k`).
fn pick_positions(n: usize, k: usize) -> impl Iterator<Item = usize> {
    let count = if k == 0 || n == 0 { 0 } else { k.min(n) };
    (0..count).map(move |i| {
        if n <= k {
            i
        } else {
            let at = (i as f64 * (n - 1) as f64 / (k - 1).max(1) as f64).round() as usize;
            at.min(n - 1)
        }
    })
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], CropsError> {
        let end = self.pos.checked_add(n).ok_or(CropsError("length"))?;
        let slice = self
            .bytes
            .get(self.pos..end)
            .ok_or(CropsError("truncated"))?;
        self.pos = end;
        Ok(slice)
    }

    fn u32(&mut self) -> Result<u32, CropsError> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().map_err(|_| CropsError("u32"))?,
        ))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// A writer that keeps the bytes and the length of each `write`.
    #[derive(Default)]
    struct Writes {
        bytes: Vec<u8>,
        lengths: Vec<usize>,
    }

    impl std::io::Write for Writes {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.bytes.extend_from_slice(buf);
            self.lengths.push(buf.len());
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_large_image_is_written_in_pieces() {
        // 1024x1024 RGB: 3 MB, which one `write` would hand the kernel whole.
        let side = 1024;
        let crops = Crops {
            indices: vec![7],
            images: vec![RgbImage {
                width: side,
                height: side,
                data: (0..side * side * 3).map(|i| (i % 251) as u8).collect(),
            }],
            detected: vec![true],
            contexts: vec![None],
        };
        let mut out = Writes::default();
        crops.write_to(&mut out).unwrap();
        assert_eq!(out.bytes, crops.encode());
        let longest = out.lengths.iter().copied().max().unwrap();
        assert_eq!(longest, arena::storage::WRITE_PIECE);
        assert_eq!(
            out.lengths.iter().filter(|&&n| n == longest).count(),
            (side * side * 3) as usize / arena::storage::WRITE_PIECE
        );
    }

    #[test]
    fn round_trip_and_pick() {
        let img = |v: u8| RgbImage {
            width: 2,
            height: 1,
            data: vec![v; 6],
        };
        let crops = Crops {
            indices: vec![0, 3, 6, 9],
            images: vec![img(0), img(1), img(2), img(3)],
            detected: vec![true, false, true, true],
            contexts: vec![None; 4],
        };
        let back = Crops::decode(&crops.encode()).unwrap();
        assert_eq!(back, crops);
        assert_eq!(back.face_frames(), 3);
        assert_eq!(back.images[2].data, vec![2; 6]);
        let picked: Vec<u8> = back.pick(2).iter().map(|i| i.data[0]).collect();
        assert_eq!(picked, vec![0, 3]);
        let bytes = crops.encode();
        let view = Crops::parse(&bytes).unwrap();
        assert_eq!(view.indices, crops.indices);
        assert_eq!(view.detected, crops.detected);
        let viewed: Vec<u8> = view.pick(2).iter().map(|i| i.data[0]).collect();
        assert_eq!(viewed, vec![0, 3]);
        assert_eq!(view.pick(9).len(), 4);
        assert_eq!(view.images[1].to_image(), crops.images[1]);
        assert!(Crops::decode(&crops.encode()[..20]).is_err());
    }

    #[test]
    fn contexts_round_trip_and_cut_per_manifest() {
        // A 6x6 context of a 20x20 frame, around a 2x2 face at (9, 9) with eyes, pixel value =
        // its index in the context.
        let face = FaceBox {
            x0: 8.0,
            y0: 8.0,
            x1: 10.4,
            y1: 10.4,
            score: 0.75,
            eyes: Some([8.5, 8.9, 9.9, 9.1]),
        };
        let ctx = FaceContext::around(face, 20, 20);
        assert_eq!(
            ctx.rect,
            CropRect {
                x: 6,
                y: 6,
                side: 6
            }
        );
        let context_image = RgbImage {
            width: 6,
            height: 6,
            data: (0..108).map(|v| (v / 3) as u8).collect(),
        };
        let frame = RgbImage {
            width: 4,
            height: 2,
            data: vec![7; 24],
        };
        let mut no_eyes = ctx;
        no_eyes.face.eyes = None;
        let crops = Crops {
            indices: vec![0, 5, 9],
            images: vec![context_image.clone(), frame.clone(), context_image],
            detected: vec![true, false, false],
            contexts: vec![Some(ctx), None, Some(no_eyes)],
        };
        let bytes = crops.encode();
        let back = Crops::decode(&bytes).unwrap();
        assert_eq!(back, crops);
        let view = Crops::parse(&bytes).unwrap();
        assert_eq!(view.contexts, crops.contexts);

        let manifest = |extra: &str| {
            Manifest::parse(&format!(
                "name = \"t\"\ninput = \"i\"\noutput = \"o\"\nsize = [32, 32]\n\
                 layout = \"nchw\"\ncolor = \"rgb\"\nmean = [0.0, 0.0, 0.0]\n\
                 std = [1.0, 1.0, 1.0]\noutput_kind = \"logit\"\n{extra}"
            ))
            .unwrap()
        };
        // margin 1.3 of a 2.4 box: a 3x3 square at (8, 8) in the frame = (2, 2) in the context.
        let cut = crops.for_detector(&manifest("frames = 3\n"));
        assert_eq!(cut.len(), 3);
        let first = cut[0].rgb();
        assert_eq!((first.width, first.height), (3, 3));
        let firsts: Vec<u8> = first.data.chunks(3).map(|p| p[0]).collect();
        assert_eq!(firsts, vec![14, 15, 16, 20, 21, 22, 26, 27, 28]);
        // The whole frame (no context) as cached.
        assert_eq!(cut[1], Cut::Cached(crops.images[1].rgb()));
        // margin 2.5: the whole context; `crop = "frame"` manifests never cut.
        let wide = crops.for_detector(&manifest("margin = 2.5\nframes = 1\n"));
        assert_eq!(wide[0].rgb(), crops.images[0].rgb());
        let whole = view.for_detector(&manifest("crop = \"frame\"\nframes = 2\n"));
        assert_eq!(
            whole,
            vec![Cut::Cached(view.images[0]), Cut::Cached(view.images[2])]
        );
        assert_eq!(view.cut_all(&manifest("")).len(), 3);
        // A context cut short is corrupt, not a panic.
        assert!(Crops::decode(&bytes[..30]).is_err());
    }

    #[test]
    fn reads_the_first_format() {
        // ARC1, one 1x1 image of frame 7 with pixel (1, 2, 3).
        let mut v1 = b"ARC1".to_vec();
        v1.extend_from_slice(&1u32.to_le_bytes());
        v1.extend_from_slice(&7u64.to_le_bytes());
        v1.extend_from_slice(&1u32.to_le_bytes());
        v1.extend_from_slice(&1u32.to_le_bytes());
        v1.extend_from_slice(&[1, 2, 3]);
        let back = Crops::decode(&v1).unwrap();
        assert_eq!(back.indices, vec![7]);
        assert_eq!(back.detected, vec![false]);
        assert_eq!(back.images[0].data, vec![1, 2, 3]);
        // Stored as they are, a child's files must be what `encode` writes.
        assert!(Crops::parse_current(&v1).is_err());
    }

    #[test]
    fn only_the_exact_current_encoding_is_stored_as_it_is() {
        let crops = Crops {
            indices: vec![2, 5],
            images: vec![
                RgbImage {
                    width: 1,
                    height: 1,
                    data: vec![9, 8, 7],
                };
                2
            ],
            detected: vec![true, false],
            contexts: vec![None; 2],
        };
        let bytes = crops.encode();
        let view = Crops::parse_current(&bytes).unwrap();
        assert_eq!(view, Crops::parse(&bytes).unwrap());
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(Crops::parse(&longer).is_ok());
        assert!(Crops::parse_current(&longer).is_err());
        assert!(Crops::parse_current(&bytes[..bytes.len() - 1]).is_err());
    }
}
