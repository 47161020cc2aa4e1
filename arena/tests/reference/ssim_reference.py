"""Reference SSIM for arena/tests/reference.rs: scikit-image's structural_similarity.

Usage: ssim_reference.py MANIFEST. Each line of MANIFEST is `kind width height a_path b_path` with
kind `gray` (raw width*height bytes) or `rgb` (raw packed width*height*3 bytes; compared on BT.601
luma Y = 0.299 R + 0.587 G + 0.114 B in float64, unrounded). Prints one SSIM per line (repr).
"""
import sys

import numpy as np
from skimage.metrics import structural_similarity


def load(path, kind, width, height):
    data = np.fromfile(path, dtype=np.uint8)
    if kind == "gray":
        return data.reshape(height, width)
    rgb = data.reshape(height, width, 3).astype(np.float64)
    return 0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]


def main(path):
    with open(path) as f:
        for line in f:
            if not line.strip():
                continue
            kind, width, height, a_path, b_path = line.split()
            width, height = int(width), int(height)
            a = load(a_path, kind, width, height)
            b = load(b_path, kind, width, height)
            value = structural_similarity(
                a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255
            )
            print(repr(float(value)))


if __name__ == "__main__":
    main(sys.argv[1])
