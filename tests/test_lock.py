"""The committed lock (uv.lock) matches pyproject.toml: installs are reproducible.

``pyproject.toml`` keeps version ranges for people who ``pip install polos_nb``; uv.lock
pins the exact versions ``scripts/bootstrap.sh`` installs. After any change to the
dependencies, ``bash scripts/lock.sh`` refreshes the lock; this test fails until then.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
FIX = "run `bash scripts/lock.sh` and commit uv.lock"


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _lock() -> dict:
    return tomllib.loads((ROOT / "uv.lock").read_text())


def _declared() -> set[tuple[str, str, str]]:
    """(name, specifier, extra) for every requirement pyproject.toml declares."""
    project = _pyproject()["project"]
    out = set()
    groups = {"": project["dependencies"], **project["optional-dependencies"]}
    for extra, reqs in groups.items():
        for text in reqs:
            req = Requirement(text)
            out.add((canonicalize_name(req.name), str(req.specifier), extra))
    return out


def _locked_root() -> dict:
    name = canonicalize_name(_pyproject()["project"]["name"])
    roots = [p for p in _lock()["package"] if p["name"] == name]
    assert len(roots) == 1, f"uv.lock has no entry for {name}: {FIX}"
    return roots[0]


def test_lock_records_exactly_the_declared_requirements() -> None:
    metadata = _locked_root()["metadata"]
    locked = set()
    for item in metadata["requires-dist"]:
        marker = item.get("marker", "")
        extra = marker.split("==")[1].strip(" '\"") if marker.startswith("extra ==") else ""
        specifier = str(Requirement(f"x{item.get('specifier', '')}").specifier)
        locked.add((canonicalize_name(item["name"]), specifier, extra))
    declared = _declared()
    assert declared == locked, (
        f"pyproject.toml and uv.lock disagree ({FIX}).\n"
        f"only in pyproject.toml: {sorted(declared - locked)}\n"
        f"only in uv.lock: {sorted(locked - declared)}"
    )
    extras = set(_pyproject()["project"]["optional-dependencies"])
    assert set(metadata["provides-extras"]) == extras, FIX


def test_every_locked_version_satisfies_the_declared_range() -> None:
    versions: dict[str, list[Version]] = {}
    for package in _lock()["package"]:
        if "version" in package:
            versions.setdefault(package["name"], []).append(Version(package["version"]))
    for name, specifier, extra in sorted(_declared()):
        assert name in versions, f"{name} ({extra or 'core'}) is not in uv.lock: {FIX}"
        for version in versions[name]:
            assert version in Requirement(f"x{specifier}").specifier, (
                f"uv.lock pins {name}=={version}, outside pyproject.toml's {specifier!r}: {FIX}"
            )


def test_every_locked_artifact_carries_a_hash() -> None:
    for package in _lock()["package"]:
        for artifact in [package.get("sdist"), *package.get("wheels", [])]:
            if artifact:
                assert artifact.get("hash", "").startswith("sha256:"), package["name"]


def test_the_installed_packages_carry_their_bytecode() -> None:
    """scripts/bootstrap.sh compiles the environment once, at install.

    Without the .pyc files every kernel and every subprocess compiles litellm's thousands of
    modules again when Python may not write its cache (``PYTHONDONTWRITEBYTECODE``, as CI
    machines often set), which adds seconds to each first model call.
    """
    import importlib.util

    spec = importlib.util.find_spec("litellm")
    assert spec is not None and spec.origin is not None
    package = Path(spec.origin).parent
    sources = [f for d in (package, package / "types") for f in d.glob("*.py")]
    missing = [
        str(p.relative_to(package))
        for p in sources
        if not Path(importlib.util.cache_from_source(str(p))).exists()
    ]
    assert sources and not missing, (
        f"{len(missing)} of litellm's modules have no compiled bytecode (e.g. {missing[:3]}): "
        "install with `bash scripts/bootstrap.sh`, which passes uv --compile-bytecode"
    )
