"""``polos.features.wait``: upstream's ``WaitException`` is polos_nb's ``Park`` signal.

A workflow that waits (a suspension, a sleep, an event, a child) unwinds with it; it
derives from ``BaseException`` so ``except Exception`` in user code cannot swallow it.
"""

from polos_nb.engine import Park

WaitException = Park

__all__ = ["WaitException"]
