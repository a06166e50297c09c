"""Build every Cython extension under cython_ans/ and archiver/.

Each .pyx names its own C sources with a `# distutils: sources = ...` line. Every
extension is compiled with -ffp-contract=off so no fused multiply-add can change a
value that steers the entropy coder (DESIGN.md, invariant 2).
"""
from pathlib import Path

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, find_packages, setup

ROOT = Path(__file__).parent
# -g0: no debug sections in the shipped extensions (smaller wheel).
FLAGS = ["-O3", "-ffp-contract=off", "-fno-fast-math", "-std=c11", "-g0"]


def _extensions():
    exts = []
    for pyx in sorted(ROOT.glob("cython_ans/**/*.pyx")) + sorted(ROOT.glob("archiver/**/*.pyx")):
        rel = pyx.relative_to(ROOT).with_suffix("")
        exts.append(Extension(".".join(rel.parts), [str(pyx.relative_to(ROOT))],
                              include_dirs=[np.get_include(), str(pyx.parent)],
                              extra_compile_args=FLAGS))
    return exts


# The repository keeps weights/ at the top level; installed, it is the package data of
# archiver.weights, found with importlib.resources (archiver/models/weights.py).
PACKAGES = find_packages(include=["archiver*", "cython_ans*"]) + ["archiver.weights"]
# The C and Cython sources reach the sdist through MANIFEST.in; a built wheel carries only the
# compiled extensions (the sources were 1.5 MB of a 3.9 MB wheel).
setup(packages=PACKAGES,
      package_dir={"archiver.weights": "weights"},
      package_data={"": ["*.pyi"], "archiver.weights": ["*.npz", "SHA256SUMS", "README.md"]},
      include_package_data=False,
      ext_modules=cythonize(_extensions(), language_level=3,
                            compiler_directives={"boundscheck": False, "wraparound": False}))
