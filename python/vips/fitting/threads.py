"""Torch's thread count while fitting."""

from __future__ import annotations

import torch


class single_thread:
    """Run torch on one thread inside the block: the batches here are small, and on a busy machine torch's
    thread pool spends more time waiting than working (measured 10x slower with 2 threads under load)."""

    def __enter__(self) -> None:
        self.before = torch.get_num_threads()
        torch.set_num_threads(1)

    def __exit__(self, *exc: object) -> None:
        torch.set_num_threads(self.before)
