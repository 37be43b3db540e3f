"""moto without its O(table) transaction and query costs, for the usage tests and the benchmarks.

The patches live with every other patch of moto's internals, behind one version guard, in
``local_runtime/moto_patches.py`` (``fast_moto``): the transactions run moto's own code.
"""

from __future__ import annotations

from local_runtime.moto_patches import fast_moto

__all__ = ["fast_moto"]
