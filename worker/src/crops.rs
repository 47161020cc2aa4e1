//! The crop cache format: a video's sampled uint8 RGB images, stored once per
//! (video sha256, sampler version, face-detector version) and read by every detector.

use crate::media::RgbImage;

const MAGIC: &[u8; 4] = b"ARC1";

#[derive(Debug, thiserror::Error)]
#[error("corrupt crop cache: {0}")]
pub struct CropsError(&'static str);

/// Sampled crops of one video, with the frame index each came from.
#[derive(Debug, Clone)]
pub struct Crops {
    pub indices: Vec<u64>,
    pub images: Vec<RgbImage>,
}

impl Crops {
    pub fn encode(&self) -> Vec<u8> {
        let size: usize = self.images.iter().map(|i| i.data.len() + 16).sum();
        let mut out = Vec::with_capacity(8 + size);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(
            &u32::try_from(self.images.len())
                .unwrap_or(u32::MAX)
                .to_le_bytes(),
        );
        for (index, img) in self.indices.iter().zip(&self.images) {
            out.extend_from_slice(&index.to_le_bytes());
            out.extend_from_slice(&img.width.to_le_bytes());
            out.extend_from_slice(&img.height.to_le_bytes());
            out.extend_from_slice(&img.data);
        }
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Crops, CropsError> {
        let mut r = Reader { bytes, pos: 0 };
        if r.take(4)? != MAGIC {
            return Err(CropsError("bad magic"));
        }
        let n = r.u32()? as usize;
        let mut crops = Crops {
            indices: Vec::with_capacity(n.min(4096)),
            images: Vec::with_capacity(n.min(4096)),
        };
        for _ in 0..n {
            let index = u64::from_le_bytes(r.take(8)?.try_into().map_err(|_| CropsError("index"))?);
            let (width, height) = (r.u32()?, r.u32()?);
            let len = (width as usize)
                .checked_mul(height as usize)
                .and_then(|p| p.checked_mul(3))
                .ok_or(CropsError("size"))?;
            let data = r.take(len)?.to_vec();
            crops.indices.push(index);
            crops.images.push(RgbImage {
                width,
                height,
                data,
            });
        }
        Ok(crops)
    }

    /// `k` of the crops, evenly spaced (all of them when there are at most `k`).
    pub fn pick(&self, k: usize) -> Vec<RgbImage> {
        let n = self.images.len();
        if k == 0 || n == 0 {
            return Vec::new();
        }
        if n <= k {
            return self.images.clone();
        }
        (0..k)
            .map(|i| {
                let at = (i as f64 * (n - 1) as f64 / (k - 1).max(1) as f64).round() as usize;
                self.images[at.min(n - 1)].clone()
            })
            .collect()
    }
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
        };
        let back = Crops::decode(&crops.encode()).unwrap();
        assert_eq!(back.indices, vec![0, 3, 6, 9]);
        assert_eq!(back.images[2].data, vec![2; 6]);
        let picked: Vec<u8> = back.pick(2).iter().map(|i| i.data[0]).collect();
        assert_eq!(picked, vec![0, 3]);
        assert!(Crops::decode(&crops.encode()[..20]).is_err());
    }
}
