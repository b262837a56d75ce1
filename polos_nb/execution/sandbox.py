"""Upstream's module path for a managed sandbox (one environment, its workspace, its life).

The implementation lives in :mod:`polos_nb.sandbox`; ``ManagedSandbox`` is the same class.
Upstream's ``Sandbox`` protocol is not offered: polos_nb's ``ManagedSandbox`` has a
smaller surface (see docs/coming-from-polos.md).

``DEFAULT_WORKSPACES_DIR`` is where workspaces go when ``$POLOS_WORKSPACES_DIR``
(``WORKSPACES_DIR_ENV``) is unset; :func:`polos_nb.sandbox.workspaces_dir` gives the
directory in use.
"""

import os

from polos_nb.sandbox import ManagedSandbox, SandboxScope
from polos_nb.sandbox._sandbox import WORKSPACES_DIR_ENV

DEFAULT_WORKSPACES_DIR = os.path.join(os.path.expanduser("~"), ".polos", "workspaces")

__all__ = ["DEFAULT_WORKSPACES_DIR", "WORKSPACES_DIR_ENV", "ManagedSandbox", "SandboxScope"]
