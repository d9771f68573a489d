//! What the emulated workforce draws on an image, the same on every vendor's emulator: each
//! renders it in its own wire format, so the same work labeled on all four reads back as equal
//! neutral annotations (labelmux's cross-vendor annotation test relies on it). The shapes depend
//! only on the image reference, never on creation order (Scale creates tasks concurrently).

/// One image's drawing, in pixels, origin top-left. Integers, so every vendor format (Sama
/// corner lists, Scale `left/top/width/height`, Labelbox `top/left/height/width`, Segments point
/// pairs) carries them exactly.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Drawing {
    /// Bounding box: left, top, width, height.
    pub left: i64,
    pub top: i64,
    pub width: i64,
    pub height: i64,
}

impl Drawing {
    /// The drawing of the image `reference` (its URL, or any stable text of the task).
    pub(crate) fn of(reference: &str) -> Drawing {
        // FNV-1a: stable across runs and platforms, unlike the std hasher.
        let h = reference.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        Drawing {
            left: 10 + (h % 200) as i64,
            top: 10 + ((h >> 16) % 150) as i64,
            width: 40 + ((h >> 32) % 40) as i64,
            height: 30 + ((h >> 48) % 40) as i64,
        }
    }
    /// Right edge.
    pub(crate) fn right(&self) -> i64 {
        self.left + self.width
    }
    /// Bottom edge.
    pub(crate) fn bottom(&self) -> i64 {
        self.top + self.height
    }
    /// A triangle inside the box: top-left, top-right, bottom-right.
    pub(crate) fn polygon(&self) -> [(i64, i64); 3] {
        [
            (self.left, self.top),
            (self.right(), self.top),
            (self.right(), self.bottom()),
        ]
    }
    /// A line from the box's top-left to its bottom-right corner.
    pub(crate) fn line(&self) -> [(i64, i64); 2] {
        [(self.left, self.top), (self.right(), self.bottom())]
    }
    /// A point at the box's centre (rounded down).
    pub(crate) fn point(&self) -> (i64, i64) {
        (self.left + self.width / 2, self.top + self.height / 2)
    }
}

/// The classes the workforce uses where the project does not name its own: the box is a
/// `cat`, the polygon a `road`, the point an `eye`.
pub(crate) const BOX_CLASS: &str = "cat";
/// See [`BOX_CLASS`].
pub(crate) const POLYGON_CLASS: &str = "road";
/// See [`BOX_CLASS`].
pub(crate) const POINT_CLASS: &str = "eye";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_drawing_depends_on_the_image_only_and_stays_in_a_640x480_image() {
        let a = Drawing::of("https://example.com/0.jpg");
        assert_eq!(a, Drawing::of("https://example.com/0.jpg"));
        assert_ne!(a, Drawing::of("https://example.com/1.jpg"));
        for i in 0..1000 {
            let d = Drawing::of(&format!("img-{i}"));
            assert!(d.left >= 10 && d.right() < 640 && d.top >= 10 && d.bottom() < 480);
            let (x, y) = d.point();
            assert!(x > d.left && x < d.right() && y > d.top && y < d.bottom());
        }
    }
}
