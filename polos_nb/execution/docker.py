"""Upstream's module path for the Docker execution environment.

The implementation lives in :mod:`polos_nb.sandbox` (it needs the ``docker`` SDK:
``pip install 'polos_nb[sandbox]'``). Importing this module imports that SDK; import
:mod:`polos_nb.execution` instead to defer it until ``DockerEnvironment`` is used.
"""

from polos_nb.sandbox._docker import DEFAULT_CONTAINER_WORKDIR, DockerEnvironment
from polos_nb.sandbox._environment import DEFAULT_TIMEOUT_SECONDS
from polos_nb.sandbox._output import DEFAULT_MAX_CHARS as DEFAULT_MAX_OUTPUT_CHARS

__all__ = [
    "DEFAULT_CONTAINER_WORKDIR",
    "DEFAULT_MAX_OUTPUT_CHARS",
    "DEFAULT_TIMEOUT_SECONDS",
    "DockerEnvironment",
]
