"""Unique names for joints, clips and identifiers, in time linear in their number.

Files name thousands of joints alike ("joint", "Bone", unnamed nodes); finding the next free suffix by counting
up from 1 for each would be quadratic, so each base remembers where its count stopped.
"""

from __future__ import annotations

from typing import Iterable


class UniqueNames:
    """Hands out names not handed out before: ``base``, else ``base + sep + n`` with the lowest free n >= 1.

    Args:
        used: names already taken (copied; a dict gives its keys).
        sep: what goes between a base and its number ("_" gives ``hand_1``).
    """

    def __init__(self, used: Iterable[str] = (), sep: str = "_") -> None:
        self.used = set(used)
        self.sep = sep
        self._next: dict[str, int] = {}

    def __call__(self, base: str) -> str:
        name = base
        if name in self.used:
            # Every lower number was taken when the count passed it, and names are never given back.
            n = self._next.get(base, 1)
            while f"{base}{self.sep}{n}" in self.used:
                n += 1
            name, self._next[base] = f"{base}{self.sep}{n}", n + 1
        self.used.add(name)
        return name
