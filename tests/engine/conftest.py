"""Engine tests train with one torch thread (TrainConfig.num_threads=1, see helpers.tiny_config);
put the process-wide thread count back afterwards so other tests are unaffected."""
from __future__ import annotations

from typing import Iterator

import pytest
import torch


@pytest.fixture(autouse=True)
def _restore_torch_threads() -> Iterator[None]:
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)
