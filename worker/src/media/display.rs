//! Frames as a viewer sees them: the stream's display matrix (quarter-turn rotations and flips)
//! and its sample aspect ratio, applied the way FFmpeg's own CLI autorotates.
//!
//! The display matrix (FFmpeg's `AV_PKT_DATA_DISPLAYMATRIX`, MP4's `tkhd` matrix) maps a stored
//! pixel (p, q) to the displayed pixel (a·p + c·q + x, b·p + d·q + y) with `[a b u c d v x y w]`
//! in 16.16 fixed point. Phones write quarter turns, editors flips; both are signed permutations
//! of the axes, applied here exactly (no resampling). Other angles are rare and left as stored.

use ffmpeg_next as ff;

use super::error::MediaError;
use super::image::RgbImage;

/// Sample aspect ratios outside [1/4, 4] are refused: no real camera or codec writes them, and
/// they would make one stored pixel into dozens of displayed ones.
const MAX_SAR: f64 = 4.0;

/// A signed permutation of the image axes: where a stored pixel (p, q) lands when displayed,
/// `p' = a·p + c·q`, `q' = b·p + d·q` (then shifted so the image starts at 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Orientation {
    pub a: i8,
    pub b: i8,
    pub c: i8,
    pub d: i8,
}

impl Orientation {
    pub const UPRIGHT: Orientation = Orientation {
        a: 1,
        b: 0,
        c: 0,
        d: 1,
    };

    /// The orientation a display matrix asks for; `None` for angles that are not quarter turns.
    pub fn from_matrix(m: &[i32; 9]) -> Option<Orientation> {
        // Entries are 16.16 fixed point; a quarter turn or flip has each at -1, 0 or +1.
        let unit = |v: i32| -> i8 {
            if v >= 1 << 15 {
                1
            } else if v <= -(1 << 15) {
                -1
            } else {
                0
            }
        };
        let o = Orientation {
            a: unit(m[0]),
            b: unit(m[1]),
            c: unit(m[3]),
            d: unit(m[4]),
        };
        let straight = o.a != 0 && o.d != 0 && o.b == 0 && o.c == 0;
        let turned = o.a == 0 && o.d == 0 && o.b != 0 && o.c != 0;
        (straight || turned).then_some(o)
    }

    /// Whether width and height trade places (a quarter turn).
    pub fn swaps_axes(&self) -> bool {
        self.a == 0
    }

    /// The displayed size of a `width`×`height` image.
    pub fn size(&self, width: u32, height: u32) -> (u32, u32) {
        if self.swaps_axes() {
            (height, width)
        } else {
            (width, height)
        }
    }

    /// Where the stored +x axis points when displayed, in clockwise degrees (0, 90, 180, 270):
    /// the rotation FFmpeg's CLI applies, for a transform without a flip.
    pub fn rotation(&self) -> u32 {
        // The image of the +x axis, (a, b), says where "right" went.
        match (self.a, self.b) {
            (0, 1) => 90,
            (-1, 0) => 180,
            (0, -1) => 270,
            _ => 0,
        }
    }

    /// Whether the transform mirrors the image (negative determinant).
    pub fn mirrored(&self) -> bool {
        i32::from(self.a) * i32::from(self.d) - i32::from(self.b) * i32::from(self.c) < 0
    }

    /// `img` as displayed: itself when upright (nearly every video), else a turned or flipped
    /// copy. (Until 2026-12-05 it took `&RgbImage` and cloned an upright image: a copy of every
    /// sampled frame at both sizes, ~48 MB per video, which a fresh decode child paid for in page
    /// faults; docs/BENCHMARKS.md "No copy of upright frames".)
    pub fn apply(&self, img: RgbImage) -> RgbImage {
        if *self == Orientation::UPRIGHT {
            return img;
        }
        let (w, h) = (img.width as i64, img.height as i64);
        let (a, b, c, d) = (
            i64::from(self.a),
            i64::from(self.b),
            i64::from(self.c),
            i64::from(self.d),
        );
        // Shift so the smallest displayed coordinate is 0.
        let off_x = -((a * (w - 1)).min(0) + (c * (h - 1)).min(0));
        let off_y = -((b * (w - 1)).min(0) + (d * (h - 1)).min(0));
        let (dw, dh) = self.size(img.width, img.height);
        let mut data = vec![0u8; img.data.len()];
        for (q, row) in img.data.chunks_exact(img.width as usize * 3).enumerate() {
            let q = q as i64;
            for (p, px) in row.chunks_exact(3).enumerate() {
                let p = p as i64;
                let x = (a * p + c * q + off_x) as usize;
                let y = (b * p + d * q + off_y) as usize;
                let at = (y * dw as usize + x) * 3;
                data[at..at + 3].copy_from_slice(px);
            }
        }
        RgbImage {
            width: dw,
            height: dh,
            data,
        }
    }
}

/// How a stream's stored frames become displayed ones.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DisplayGeometry {
    /// Stored (coded) size.
    pub width: u32,
    pub height: u32,
    /// Sample (pixel) aspect ratio, width over height; 1 for square pixels.
    pub sar: f64,
    pub orientation: Orientation,
}

impl DisplayGeometry {
    /// The geometry of `stream` decoded by `decoder`: its display-matrix side data and the
    /// sample aspect ratio in `decoder`'s parameters (the bitstream's, as the stream information
    /// or a first decoded frame leaves it, even where a container's box says otherwise).
    pub fn of(
        stream: &ff::Stream,
        decoder: &ff::decoder::Video,
    ) -> Result<DisplayGeometry, MediaError> {
        let sar = rational_to_f64(decoder.aspect_ratio()).unwrap_or(1.0);
        if !(1.0 / MAX_SAR..=MAX_SAR).contains(&sar) {
            return Err(MediaError::InvalidVideo(format!(
                "sample aspect ratio {sar:.3} is outside 1:4..4:1"
            )));
        }
        let orientation = stream
            .side_data()
            .find(|sd| sd.kind() == ff::codec::packet::side_data::Type::DisplayMatrix)
            .and_then(|sd| parse_matrix(sd.data()))
            .map_or(Orientation::UPRIGHT, |m| {
                Orientation::from_matrix(&m).unwrap_or_else(|| {
                    tracing::debug!(?m, "display matrix is not a quarter turn; kept as stored");
                    Orientation::UPRIGHT
                })
            });
        Ok(DisplayGeometry {
            width: decoder.width(),
            height: decoder.height(),
            sar,
            orientation,
        })
    }

    /// The size before rotation with square pixels: the stored size stretched along one axis
    /// (width when pixels are wide, height when tall), never shrunk.
    pub fn unrotated_size(&self) -> (u32, u32) {
        let stretch = |v: u32, by: f64| ((f64::from(v) * by).round() as u32).max(1);
        if (self.sar - 1.0).abs() < 1e-9 {
            (self.width, self.height)
        } else if self.sar > 1.0 {
            (stretch(self.width, self.sar), self.height)
        } else {
            (self.width, stretch(self.height, 1.0 / self.sar))
        }
    }

    /// The size a viewer sees.
    pub fn display_size(&self) -> (u32, u32) {
        let (w, h) = self.unrotated_size();
        self.orientation.size(w, h)
    }
}

/// The nine native-endian int32 values of a display matrix side-data blob.
fn parse_matrix(data: &[u8]) -> Option<[i32; 9]> {
    if data.len() < 36 {
        return None;
    }
    let mut m = [0i32; 9];
    for (v, chunk) in m.iter_mut().zip(data.chunks_exact(4)) {
        *v = i32::from_ne_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
    }
    Some(m)
}

/// `num/den` as a float; `None` unless both parts are positive (FFmpeg writes 0/1 or 0/0 for unknown).
pub(crate) fn rational_to_f64(r: ff::Rational) -> Option<f64> {
    (r.numerator() > 0 && r.denominator() > 0)
        .then(|| f64::from(r.numerator()) / f64::from(r.denominator()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const ONE: i32 = 1 << 16;

    fn matrix(a: i32, b: i32, c: i32, d: i32) -> [i32; 9] {
        [a * ONE, b * ONE, 0, c * ONE, d * ONE, 0, 0, 0, 1 << 30]
    }

    /// A 3x2 image whose pixels hold their own (x, y).
    fn numbered() -> RgbImage {
        let mut data = Vec::new();
        for y in 0..2u8 {
            for x in 0..3u8 {
                data.extend_from_slice(&[x, y, 0]);
            }
        }
        RgbImage {
            width: 3,
            height: 2,
            data,
        }
    }

    fn xy(img: &RgbImage, x: u32, y: u32) -> (u8, u8) {
        let p = img.pixel(x, y).unwrap();
        (p[0], p[1])
    }

    #[test]
    fn quarter_turns_match_ffmpegs_transpose() {
        // MP4 "rotate=90" (a phone held upright): tkhd [0 1; -1 0]; FFmpeg's CLI inserts
        // transpose=clock, so the stored top-left pixel ends top-right.
        let cw = Orientation::from_matrix(&matrix(0, 1, -1, 0)).unwrap();
        assert_eq!((cw.rotation(), cw.mirrored()), (90, false));
        let out = cw.apply(numbered());
        assert_eq!((out.width, out.height), (2, 3));
        assert_eq!(xy(&out, 1, 0), (0, 0));
        assert_eq!(xy(&out, 0, 0), (0, 1));
        assert_eq!(xy(&out, 1, 2), (2, 0));
        // [0 -1; 1 0]: transpose=cclock, top-left ends bottom-left.
        let ccw = Orientation::from_matrix(&matrix(0, -1, 1, 0)).unwrap();
        assert_eq!(ccw.rotation(), 270);
        assert_eq!(xy(&ccw.apply(numbered()), 0, 2), (0, 0));
        // 180: top-left ends bottom-right.
        let half = Orientation::from_matrix(&matrix(-1, 0, 0, -1)).unwrap();
        assert_eq!((half.rotation(), half.mirrored()), (180, false));
        assert_eq!(xy(&half.apply(numbered()), 2, 1), (0, 0));
    }

    #[test]
    fn an_upright_image_is_handed_back_without_a_copy() {
        let img = numbered();
        let pixels = img.data.as_ptr();
        let out = Orientation::UPRIGHT.apply(img);
        assert_eq!(out, numbered());
        assert_eq!(out.data.as_ptr(), pixels, "the same buffer, not a copy");
    }

    #[test]
    fn flips_mirror_the_image() {
        let h = Orientation::from_matrix(&matrix(-1, 0, 0, 1)).unwrap();
        assert!(h.mirrored());
        let out = h.apply(numbered());
        assert_eq!(xy(&out, 2, 0), (0, 0));
        assert_eq!(xy(&out, 0, 1), (2, 1));
        // [0 1; 1 0]: transpose=cclock_flip, the main diagonal stays put.
        let t = Orientation::from_matrix(&matrix(0, 1, 1, 0)).unwrap();
        assert!(t.mirrored());
        let out = t.apply(numbered());
        assert_eq!(xy(&out, 0, 0), (0, 0));
        assert_eq!(xy(&out, 1, 2), (2, 1));
        // Applying a flip twice gives the original back.
        assert_eq!(h.apply(h.apply(numbered())), numbered());
    }

    #[test]
    fn other_angles_are_left_alone() {
        // 45 degrees: cos = sin = 0.707 (46341 in 16.16).
        let m = [46341, 46341, 0, -46341, 46341, 0, 0, 0, 1 << 30];
        assert_eq!(Orientation::from_matrix(&m), None);
        assert_eq!(
            Orientation::from_matrix(&matrix(1, 0, 0, 1)),
            Some(Orientation::UPRIGHT)
        );
    }

    #[test]
    fn anamorphic_sizes_stretch_and_never_shrink() {
        let g = |w, h, sar, orientation| DisplayGeometry {
            width: w,
            height: h,
            sar,
            orientation,
        };
        let up = Orientation::UPRIGHT;
        assert_eq!(g(384, 512, 4.0 / 3.0, up).display_size(), (512, 512));
        assert_eq!(g(720, 576, 16.0 / 15.0, up).display_size(), (768, 576));
        assert_eq!(g(512, 384, 0.75, up).display_size(), (512, 512));
        let cw = Orientation::from_matrix(&matrix(0, 1, -1, 0)).unwrap();
        assert_eq!(g(384, 256, 4.0 / 3.0, cw).display_size(), (256, 512));
    }
}
