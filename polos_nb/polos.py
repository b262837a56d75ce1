"""``polos.polos`` under its upstream path: the ``Polos`` class."""

from polos_nb.engine import Polos

__all__ = ["Polos"]
