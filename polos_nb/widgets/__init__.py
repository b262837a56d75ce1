"""Jupyter widgets (anywidget): the live run widget with inline approval forms.

Only this package and ``polos_nb.notebook`` import IPython / ipywidgets / anywidget.
The JavaScript is plain ESM in ``static/`` (no bundler, no CDN imports); the anywidget
wheel ships the frontend, so nothing needs building.
"""

from ._run_widget import RunWidget

__all__ = ["RunWidget"]
