//! Packed RGB24 images, owned and borrowed, and the trait that reads either.

/// A packed RGB24 image (no row padding): `data.len() == width * height * 3`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RgbImage {
    pub width: u32,
    pub height: u32,
    pub data: Vec<u8>,
}

impl RgbImage {
    /// The RGB triple at (x, y); `None` outside the image.
    pub fn pixel(&self, x: u32, y: u32) -> Option<[u8; 3]> {
        if x >= self.width || y >= self.height {
            return None;
        }
        let i = (y as usize * self.width as usize + x as usize) * 3;
        self.data.get(i..i + 3).map(|p| [p[0], p[1], p[2]])
    }
}

/// A borrowed packed RGB24 image, e.g. straight out of the crop cache's bytes (no copy).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RgbView<'a> {
    pub width: u32,
    pub height: u32,
    pub data: &'a [u8],
}

/// Anything that can be read as a packed RGB24 image: [`RgbImage`], [`RgbView`], references.
pub trait AsRgb {
    fn rgb(&self) -> RgbView<'_>;
}

impl AsRgb for RgbImage {
    fn rgb(&self) -> RgbView<'_> {
        RgbView {
            width: self.width,
            height: self.height,
            data: &self.data,
        }
    }
}

impl AsRgb for RgbView<'_> {
    fn rgb(&self) -> RgbView<'_> {
        *self
    }
}

impl<T: AsRgb + ?Sized> AsRgb for &T {
    fn rgb(&self) -> RgbView<'_> {
        (**self).rgb()
    }
}

impl RgbView<'_> {
    pub fn to_image(&self) -> RgbImage {
        RgbImage {
            width: self.width,
            height: self.height,
            data: self.data.to_vec(),
        }
    }
}
