"""Pixel helpers shared by curation, preprocessing, evaluation and generation.

NumPy and Pillow only at import (the served model loads this module).
"""

from __future__ import annotations

import io
import os
import warnings
from functools import lru_cache

import numpy as np
from PIL import Image, ImageOps

_HIGH_DEPTH = ("I;16", "I;16B", "I;16L", "I;16N", "I", "F")


def to_8bit(image: Image.Image) -> Image.Image:
    """16-bit, 32-bit and float greyscale scaled to 8-bit "L" (others as they are).

    Pillow's own conversion clips these modes at 255, so a 16-bit scan would
    come out white: 16-bit values are divided by 257, floats in [0, 1] scaled
    by 255, 32-bit integers by their own range.
    """
    if image.mode not in _HIGH_DEPTH:
        return image
    pixels = np.asarray(image, dtype=np.float64)
    top = float(pixels.max()) if pixels.size else 0.0
    if image.mode == "F":
        scale = 255.0 if top <= 1.0 else 1.0
    elif image.mode.startswith("I;16") or top <= 65535:
        scale = 1 / 257 if top > 255 or image.mode.startswith("I;16") else 1.0
    else:
        scale = 255.0 / top
    return Image.fromarray(np.clip(np.round(pixels * scale), 0, 255).astype(np.uint8))


def on_white(image: Image.Image) -> Image.Image:
    """Alpha (or a transparent colour) composited on white; opaque images as they are."""
    if "A" in image.getbands() or "transparency" in image.info:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba)
    return image


def to_model_input(image: Image.Image, size: int, channels: int) -> np.ndarray:
    """Composite alpha on white, pad to a square, resize; uint8 array (size, size, c).

    Only pixels are kept: EXIF, XMP and every other chunk stay behind.
    """
    image = to_8bit(image)
    if image.mode in ("P", "PA"):
        image = image.convert("RGBA")
    image = on_white(image).convert("L" if channels == 1 else "RGB")
    width, height = image.size
    if width != height:
        side = max(width, height)
        fill = 255 if channels == 1 else (255, 255, 255)
        image = ImageOps.pad(image, (side, side), color=fill)
    if image.size != (size, size):
        image = image.resize((size, size), Image.Resampling.LANCZOS)
    array = np.asarray(image, dtype=np.uint8)
    if channels == 1:
        array = array[..., None]
    return array


def to_model_range(pixels: np.ndarray) -> np.ndarray:
    """uint8 [0, 255] -> float32 [-1, 1]."""
    return pixels.astype(np.float32) / 127.5 - 1.0


def to_uint8(images: np.ndarray) -> np.ndarray:
    """float [-1, 1] -> uint8 [0, 255], clipping anything outside the range.

    A diverged generator can emit NaN: written as black rather than undefined.
    """
    finite = np.nan_to_num(np.asarray(images), nan=-1.0)
    return np.clip(np.round((finite + 1.0) * 127.5), 0, 255).astype(np.uint8)


@lru_cache(maxsize=1)
def register_image_plugins() -> None:
    """HEIF/HEIC through pillow-heif (AVIF is Pillow's own since 11.3)."""
    try:
        import pillow_heif
    except ImportError:  # an install without it: HEIF stays unidentified
        return
    pillow_heif.register_heif_opener()


def open_image(path, max_pixels: int, svg_side: int = 256) -> Image.Image:
    """Open and decode the first frame of an image, refusing anything over max_pixels.

    An SVG/SVGZ is rendered with its longest side `svg_side`, as curation did.
    """
    from imagegen.vector import render_svg, svg_document

    register_image_plugins()
    # A path, or an open binary file (a work on object storage).
    with open(path, "rb") if isinstance(path, str | os.PathLike) else path as fh:
        data = fh.read()
    svg = svg_document(data)
    if svg is not None:  # rendered as curation rendered it
        return render_svg(svg[0], max_pixels, svg_side)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        image = Image.open(io.BytesIO(data))
        if image.size[0] * image.size[1] > max_pixels:
            image.close()
            raise ValueError(f"{image.size[0]}x{image.size[1]} is over the pixel limit")
        image.load()
    return image
