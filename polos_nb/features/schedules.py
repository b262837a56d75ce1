"""``polos.features.schedules`` under its upstream path: the same as ``polos_nb.schedules``."""

from polos_nb.engine.schedules import (
    ScheduleInfo,
    SchedulePayload,
    activate,
    create,
    list,
    pause,
    remove,
)

__all__ = ["ScheduleInfo", "SchedulePayload", "activate", "create", "list", "pause", "remove"]
