"""Golden messages of the image coder (format_spec/codec-image.md §2-3): a generated image of
33x35 pixels (edge blocks on both sides) in RGB and grey, coded with Bit-Swap on one message
by the shipped weights. tests/test_image_codec.py decodes them and re-encodes byte for byte.

  PYTHONPATH=. .venv/bin/python format_spec/vectors/image/make_image_vectors.py
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
H, W = 33, 35


def image(channels: int) -> np.ndarray:
    """A fixed smooth pattern with structure in both directions, (channels, H, W) uint8."""
    y, x = np.mgrid[0:H, 0:W]
    rgb = np.stack([(3 * y + 5 * x) % 256, (7 * y * x // 9 + 40) % 256,
                    (128 + 60 * np.sin(y / 5.0) * np.cos(x / 7.0)).astype(np.int64)])
    return np.ascontiguousarray(rgb[:channels].astype(np.uint8))


def vectors() -> dict[str, bytes]:
    from archiver.codecs import image as image_codec
    from archiver.models.image import image_coder
    from cython_ans import Message
    out = {}
    for channels in (3, 1):
        msg = Message(seed=0)
        image_coder.encode_image(image_codec.runtime("image-l4.npz"), msg, image(channels))
        out[f"bitswap-{W}x{H}-c{channels}.msg"] = msg.to_bytes()
    return out


if __name__ == "__main__":
    from archiver.models import weights
    sha = weights.verified_path("image-l4.npz")[1]
    for name, data in vectors().items():
        (HERE / name).write_bytes(data)
    (HERE / "weights.json").write_text(json.dumps({"image-l4.npz": sha}, indent=1) + "\n")
    print("written for weights", sha)
