"""Upstream Polos's ``polos.features`` path: ``from polos_nb.features import events``.

The same modules as ``polos_nb.events`` and ``polos_nb.schedules``; ``wait`` names the
engine's pause signal. See docs/coming-from-polos.md.
"""

from . import events, schedules, wait

__all__ = ["events", "schedules", "wait"]
