"""How long PyTorch's idle OpenMP threads spin before they sleep: set before PyTorch loads libgomp.

PyTorch's CPU operations run on GNU OpenMP (libgomp). After each parallel operation its worker
threads keep spinning for ``GOMP_SPINCOUNT`` rounds (300,000 by default, about a millisecond) in
case another operation follows, and only then sleep. OpenVINO runs the network on its own threads
(TBB). On a two-core machine the two pools take turns on the same cores in every ``detect()``:
preprocessing in torch, the network in OpenVINO, the postprocess in torch. The spinning torch
workers then hold a core the network's threads need: on SSDlite320 the network took 12.4 ms right
after the preprocessing and 10.4 ms after it with 10,000 rounds (``benchmarks/bench_live.py`` row
18; Intel Xeon avx2/avx512f/avx512_vnni, 2 cores). The same spinning takes CPU from the GUI thread
while the model runs. PyTorch's own work keeps its speed at 10,000 rounds (SSDlite320's eager
``detect()`` and a training step within the noise of the default), where ``OMP_WAIT_POLICY=PASSIVE``
(sleep at once) made both about 1.6x slower.

libgomp reads the variable once, when it is loaded (``import torch``), so :func:`limit_openmp_spinning`
runs when ``core`` is imported: the CLI, the GUI (``ssd_gui`` imports ``core`` first) and the
benchmarks. A value the user set is kept, and nothing changes once torch is loaded.
"""
from __future__ import annotations

import os
import sys
from typing import MutableMapping

#: libgomp's spin rounds before an idle worker sleeps (its default is 300,000).
SPIN_ROUNDS = 10_000


def limit_openmp_spinning(environ: MutableMapping[str, str] = os.environ) -> bool:
    """Set ``GOMP_SPINCOUNT`` to :data:`SPIN_ROUNDS` unless the user chose an OpenMP wait setting or
    torch is already loaded (then it would not apply). Returns True when it set the variable."""
    if "torch" in sys.modules or "GOMP_SPINCOUNT" in environ or "OMP_WAIT_POLICY" in environ:
        return False
    environ["GOMP_SPINCOUNT"] = str(SPIN_ROUNDS)
    return True
