"""Random draws for policies, from one explicit stream.

Every random choice a policy makes goes through :class:`Draws`, which reads a
``torch.Generator`` when one is given and torch's default generator otherwise. The default
generator is what ``torch.utils.data.DataLoader`` seeds differently in each worker, so
workers draw different augmentations and ``torch.manual_seed`` makes a run reproducible.

An image's draws read one chunk of :data:`CHUNK` values, so a batch's draws are one block of
``n`` chunks (:class:`BatchDraws`): the same values, read by all images at once.
"""

from __future__ import annotations

import math

import numpy as np
import torch

CHUNK = 256  # values an image's draws read (one chunk, from its end)
# Beta and Dirichlet concentrations: far above this a draw is its mean every time, and inf draws NaN
MAX_ALPHA = 1000.0


class Draws:
    """Uniform, integer, normal, Beta and Dirichlet draws from a torch generator, buffered."""

    def __init__(self, generator: torch.Generator | None = None) -> None:
        self.generator = generator
        self._buffer = np.empty(0)
        self._left = 0  # values of the buffer not used yet; they are used from its end

    def uniform(self, low: float = 0.0, high: float = 1.0) -> float:
        if not self._left:
            # a numpy view, read a value at a time: a plan uses a handful of the chunk's values,
            # and converting all of them to Python floats cost more than drawing them
            device = "cpu" if self.generator is None else self.generator.device
            self._buffer = torch.rand(CHUNK, generator=self.generator, dtype=torch.float64, device=device).cpu().numpy()
            self._left = CHUNK
        self._left -= 1
        return low + (high - low) * float(self._buffer[self._left])

    def randint(self, n: int) -> int:
        """An integer in ``0..n-1``."""
        return min(int(self.uniform() * n), n - 1)

    def normal(self, mean: float, std: float) -> float:
        u1, u2 = 1.0 - self.uniform(), self.uniform()
        return mean + std * math.sqrt(-2.0 * math.log(u1)) * math.cos(2 * math.pi * u2)

    def numpy(self) -> np.random.Generator:
        """A numpy generator seeded from this stream, for Beta and Dirichlet draws."""
        return np.random.default_rng(int(self.uniform() * 2**53))

    def beta(self, a: float, b: float) -> float:
        return float(self.numpy().beta(a, b))

    def dirichlet(self, alpha: float, k: int) -> list[float]:
        return self.numpy().dirichlet([alpha] * k).tolist()


class BatchDraws:
    """The draws of ``n`` images at once: row ``i`` holds the chunk :class:`Draws` would read for image
    ``i`` (``torch.rand(n * CHUNK)`` is ``n`` chunks drawn one after another), read from its end.

    A draw reads the next value of every row; rows outside ``where`` do not move on (their value is
    not used). Callers check that no image reads past its chunk (:data:`CHUNK` values)."""

    def __init__(self, n: int, *, generator: torch.Generator | None = None,
                 device: torch.device | str = "cpu") -> None:
        device = generator.device if generator is not None else torch.device(device)
        self._values = torch.rand(n, CHUNK, generator=generator, dtype=torch.float64, device=device)
        self._left = torch.full((n, 1), CHUNK, dtype=torch.int64, device=device)

    @property
    def device(self) -> torch.device:
        return self._values.device

    def uniform(self, where: torch.Tensor | None = None, low: float = 0.0, high: float = 1.0) -> torch.Tensor:
        value = self._values.gather(1, (self._left - 1).clamp_(min=0))[:, 0]
        self._left -= 1 if where is None else where.view(-1, 1).long()
        return low + (high - low) * value

    def randint(self, n: int, where: torch.Tensor | None = None) -> torch.Tensor:
        """An integer in ``0..n-1`` per row."""
        return (self.uniform(where) * n).long().clamp_(max=n - 1)
