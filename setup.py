"""Build the optional native kernels; everything else is configured in pyproject.toml.

The extensions (the rasterizer and a batched small matrix product) are optional: without a C
compiler the install still succeeds and facefit uses its array-API code (same results,
slower). CI sets FACEFIT_REQUIRE_NATIVE=1 so that a build that failed silently there fails a
test instead.
"""

import sys

from setuptools import Extension, setup

# No fused multiply-add contraction: the kernel must round exactly like the array-API path.
if sys.platform == "win32":
    flags = ["/O2", "/fp:precise"]
else:
    flags = ["-O3", "-std=c99", "-ffp-contract=off"]

setup(ext_modules=[
    Extension("facefit.backends._raster", sources=["src/facefit/backends/_native/raster.c"],
              extra_compile_args=flags, optional=True),
    Extension("facefit.backends._batched", sources=["src/facefit/backends/_native/batched.c"],
              extra_compile_args=flags, optional=True),
])
