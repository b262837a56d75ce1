"""The kernel side of the JupyterLab extension outside JupyterLab: nothing needs it.

In a plain IPython shell (a terminal, a test), ``%load_ext polos_nb`` registers no comm
target and writes no hint: the magics work as before. In a kernel, the hint names the
kernel's journal and is removed by the process that wrote it only.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from IPython.core.interactiveshell import InteractiveShell

from polos_nb.notebook import _lab


def test_load_ext_outside_a_kernel_registers_nothing() -> None:
    ip = InteractiveShell.instance()
    try:
        assert _lab.register(ip) is False
        ip.extension_manager.load_extension("polos_nb")
        assert "polos" in ip.magics_manager.magics["line"]
    finally:
        InteractiveShell.clear_instance()


def test_the_hint_names_the_journal_and_only_its_writer_removes_it(tmp_path: Path) -> None:
    connection = tmp_path / "kernel-abc.json"
    _lab._write_hint(str(connection))
    hint = Path(_lab.hint_path(str(connection)))
    assert hint.name == "polos_nb-kernel-abc.json"
    info = json.loads(hint.read_text())
    assert info["pid"] == os.getpid() and info["protocol"] == _lab.PROTOCOL
    assert info["journal"].endswith(".duckdb")
    _lab._remove_hint(str(hint), os.getpid() + 1)  # another process (a restarted kernel)
    assert hint.exists()
    _lab._remove_hint(str(hint), os.getpid())
    assert not hint.exists()
