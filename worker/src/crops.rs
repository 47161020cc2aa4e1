//! The crop cache format: a video's sampled uint8 RGB images (face crops, or whole frames),
//! stored once per video and versions and read by every detector.
//!
//! Layout (little-endian): `ARC2`, count u32, then per image: frame index u64, flags u8
//! (bit 0: a real face detection), width u32, height u32, `width * height * 3` bytes. `ARC1`
//! (no flags byte) is still read.

use crate::media::{AsRgb, RgbImage, RgbView};

const MAGIC_V1: &[u8; 4] = b"ARC1";
const MAGIC: &[u8; 4] = b"ARC2";
const FLAG_DETECTED: u8 = 1;

#[derive(Debug, thiserror::Error)]
#[error("corrupt crop cache: {0}")]
pub struct CropsError(&'static str);

/// Sampled crops of one video, with the frame index each came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Crops {
    pub indices: Vec<u64>,
    pub images: Vec<RgbImage>,
    /// Per image: cut around a real face detection (false for fallbacks and whole frames).
    pub detected: Vec<bool>,
}

impl Crops {
    /// Images cut around a real face detection.
    pub fn face_frames(&self) -> usize {
        self.detected.iter().filter(|&&d| d).count()
    }

    pub fn encode(&self) -> Vec<u8> {
        let size: usize = self.images.iter().map(|i| i.data.len() + 17).sum();
        let mut out = Vec::with_capacity(8 + size);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(
            &u32::try_from(self.images.len())
                .unwrap_or(u32::MAX)
                .to_le_bytes(),
        );
        for (i, (index, img)) in self.indices.iter().zip(&self.images).enumerate() {
            let detected = self.detected.get(i).copied().unwrap_or(false);
            out.extend_from_slice(&index.to_le_bytes());
            out.push(if detected { FLAG_DETECTED } else { 0 });
            out.extend_from_slice(&img.width.to_le_bytes());
            out.extend_from_slice(&img.height.to_le_bytes());
            out.extend_from_slice(&img.data);
        }
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Crops, CropsError> {
        let view = Crops::parse(bytes)?;
        Ok(Crops {
            indices: view.indices,
            images: view.images.iter().map(RgbView::to_image).collect(),
            detected: view.detected,
        })
    }

    /// The crops as a [`CropsView`] (borrowing the images).
    pub fn view(&self) -> CropsView<'_> {
        CropsView {
            indices: self.indices.clone(),
            images: self.images.iter().map(AsRgb::rgb).collect(),
            detected: self.detected.clone(),
        }
    }

    /// Reads the cache bytes without copying the images: they borrow from `bytes`.
    pub fn parse(bytes: &[u8]) -> Result<CropsView<'_>, CropsError> {
        let mut r = Reader { bytes, pos: 0 };
        let flags = match r.take(4)? {
            m if m == MAGIC => true,
            m if m == MAGIC_V1 => false,
            _ => return Err(CropsError("bad magic")),
        };
        let n = r.u32()? as usize;
        let mut crops = CropsView {
            indices: Vec::with_capacity(n.min(4096)),
            images: Vec::with_capacity(n.min(4096)),
            detected: Vec::with_capacity(n.min(4096)),
        };
        for _ in 0..n {
            let index = u64::from_le_bytes(r.take(8)?.try_into().map_err(|_| CropsError("index"))?);
            let detected = flags && r.take(1)?[0] & FLAG_DETECTED != 0;
            let (width, height) = (r.u32()?, r.u32()?);
            let len = (width as usize)
                .checked_mul(height as usize)
                .and_then(|p| p.checked_mul(3))
                .ok_or(CropsError("size"))?;
            let data = r.take(len)?;
            crops.indices.push(index);
            crops.detected.push(detected);
            crops.images.push(RgbView {
                width,
                height,
                data,
            });
        }
        Ok(crops)
    }

    /// `k` of the crops, evenly spaced (all of them when there are at most `k`).
    pub fn pick(&self, k: usize) -> Vec<RgbImage> {
        pick_positions(self.images.len(), k)
            .map(|at| self.images[at].clone())
            .collect()
    }
}

/// Crops read in place from the cache bytes ([`Crops::parse`]).
#[derive(Debug, Clone, PartialEq)]
pub struct CropsView<'a> {
    pub indices: Vec<u64>,
    pub images: Vec<RgbView<'a>>,
    pub detected: Vec<bool>,
}

impl<'a> CropsView<'a> {
    /// [`Crops::pick`], borrowing.
    pub fn pick(&self, k: usize) -> Vec<RgbView<'a>> {
        pick_positions(self.images.len(), k)
            .map(|at| self.images[at])
            .collect()
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
    }
}
