"""The host array library: NumPy, the format of files and of arrays handed to users.

File readers and writers (``facefit.io``, the model loaders) parse bytes into host arrays and
back; they import NumPy from here so that this package stays the only place naming an array
library. Computation goes through the active backend instead.
"""

import numpy as np

__all__ = ["np"]
