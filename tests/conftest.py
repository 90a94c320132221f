"""Test-wide settings."""
from __future__ import annotations

import torch

# The models under test are small: one intra-op thread is as fast here and avoids
# oversubscribing the 2-core CI machine when pytest and the subprocess tests overlap.
torch.set_num_threads(1)
