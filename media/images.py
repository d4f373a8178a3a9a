"""Still images: a product photo read as RGB, fitted to a video frame, and compared with one.

One crop rule for everyone: the image-conditioned models (``model/conditioning.py``), the SVD
backend and the first-frame fidelity measure all fit a photo to the frame with
:func:`fit_image`, so the measure compares a frame with exactly what the model was given.

    load_image(path)                   RGB ``PIL.Image`` (EXIF rotation applied)
    fit_image(image, width, height)    resize (LANCZOS, scale = max of the two ratios), centre-crop
    frame_fidelity(frame, reference)   PSNR (dB) and SSIM of a frame against the fitted photo
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from common.errors import MediaError

PSNR_CAP_DB = 100.0  # identical images: a finite number the run's metrics can store as JSON


def load_image(source: str | Path | Image.Image | np.ndarray) -> Image.Image:
    """A photo as an RGB image: a file path, a PIL image or a ``uint8 [H, W, 3]`` array.

    EXIF orientation is applied, so a phone photo stands the way it was shot.
    """
    if isinstance(source, Image.Image):
        return source.convert("RGB")
    if isinstance(source, np.ndarray):
        if source.dtype != np.uint8 or source.ndim != 3 or source.shape[2] != 3:
            raise MediaError(f"an image array must be uint8 [H, W, 3], got {source.dtype} "
                             f"{list(source.shape)}")
        return Image.fromarray(source, "RGB")
    path = Path(source)
    try:
        with Image.open(path) as image:
            return ImageOps.exif_transpose(image).convert("RGB")
    except FileNotFoundError:
        raise MediaError(f"image file {path} does not exist") from None
    except (UnidentifiedImageError, OSError) as exc:
        raise MediaError(f"image file {path} cannot be read as an image ({exc})") from None


def fit_image(source: str | Path | Image.Image | np.ndarray, width: int, height: int
              ) -> np.ndarray:
    """The photo filling a ``width`` x ``height`` frame: ``uint8 [height, width, 3]``.

    As Wan2.2's image-to-video preprocessing does (``wan/textimage2video.py``, the ``i2v``
    path; docs/reference/wan22-image-models.md): resize with LANCZOS by the larger of the two
    scale ratios, so the photo covers the frame, then cut the centre out.
    """
    image = load_image(source)
    iw, ih = image.size
    scale = max(width / iw, height / ih)
    size = (round(iw * scale), round(ih * scale))
    if size != image.size:
        image = image.resize(size, Image.LANCZOS)
    x, y = (image.width - width) // 2, (image.height - height) // 2
    return np.asarray(image.crop((x, y, x + width, y + height)))


@dataclass(frozen=True)
class Fidelity:
    """How close a frame is to a reference image."""

    psnr: float  # dB, capped at PSNR_CAP_DB
    ssim: float  # mean structural similarity, 1.0 = identical

    def to_dict(self) -> dict[str, float]:
        return {"psnr": round(self.psnr, 3), "ssim": round(self.ssim, 4)}


def frame_fidelity(frame: np.ndarray, reference: np.ndarray) -> Fidelity:
    """PSNR and SSIM (scikit-image, over RGB, 7x7 windows) of two ``uint8`` images of one size."""
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    if frame.shape != reference.shape:
        raise MediaError(f"frame {list(frame.shape)} and reference {list(reference.shape)} "
                         "differ in size")
    if np.array_equal(frame, reference):
        return Fidelity(PSNR_CAP_DB, 1.0)
    psnr = float(peak_signal_noise_ratio(reference, frame, data_range=255))
    ssim = float(structural_similarity(reference, frame, channel_axis=2, data_range=255))
    return Fidelity(min(PSNR_CAP_DB, psnr) if math.isfinite(psnr) else PSNR_CAP_DB, ssim)
