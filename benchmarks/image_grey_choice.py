"""How the image codec codes grey photos, measured: one plane (R only, the model sees R = G = B;
what the codec does) against three equal planes, zstd -19, cwebp -lossless -z 9, cjxl -d 0 -e 7
and PNG, on luma crops of held-out photos, in bits per grey pixel (initial bits included).

  PYTHONPATH=. .venv/bin/python benchmarks/image_grey_choice.py [VAL_DIR]
"""
import os
import subprocess
import sys
import tempfile

import numpy as np
import zstandard
from PIL import Image

from archiver.codecs import image as icd
from archiver.models.image import image_coder as ic
from cython_ans import Message
from needs_data import MAKE_IMAGE, require

val = (sys.argv[1] if len(sys.argv) > 1 else "data/image/pixels/val") + "/"
require(val, MAKE_IMAGE)
rt = icd.runtime()
CROPS = [("e-Red-Maple@2", (100, 900, 320, 400)), ("p-cincinnati-bridge@2", (0, 0, 320, 400)),
         ("k-Autumn@2", (200, 300, 320, 400))]


def bits(path: str, g: np.ndarray) -> float:
    return os.path.getsize(path) * 8 / g.size


for stem, (y, x, h, w) in CROPS:
    rgb = np.load(val + stem + ".npy")[y:y + h, x:x + w]
    g = ((rgb.astype(np.int64) @ np.array([299, 587, 114]) + 500) // 1000).astype(np.uint8)
    res = {}
    for name, planes in (("one plane", g[None]), ("three equal planes", np.repeat(g[None], 3, 0))):
        m = Message(seed=0)
        ic.encode_image(rt, m, np.ascontiguousarray(planes))
        res[name] = len(m.to_bytes()) * 8 / g.size
    res["zstd -19"] = len(zstandard.ZstdCompressor(level=19).compress(g.tobytes())) * 8 / g.size
    d = tempfile.mkdtemp()
    Image.fromarray(g).save(d + "/g.png")
    subprocess.run(["cwebp", "-quiet", "-lossless", "-z", "9", d + "/g.png", "-o", d + "/g.webp"],
                   check=True)
    subprocess.run(["cjxl", "--quiet", "-d", "0", "-e", "7", d + "/g.png", d + "/g.jxl"],
                   check=True, capture_output=True)
    res["cwebp -z9"], res["cjxl -e7"] = bits(d + "/g.webp", g), bits(d + "/g.jxl", g)
    res["PNG"] = bits(d + "/g.png", g)
    print(f"{stem} {w}x{h} bits per grey pixel:", {k: round(v, 4) for k, v in res.items()})
