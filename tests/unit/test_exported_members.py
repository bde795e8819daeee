"""The public API: what ``__all__`` lists exists, is sorted, and is what type checkers see."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest

import nanobanana_async

PACKAGE = Path(nanobanana_async.__file__).parent


def test_the_package_exports_resolve_and_are_sorted() -> None:
    names = nanobanana_async.__all__
    assert names == sorted(names)
    for name in names:
        assert getattr(nanobanana_async, name) is not None, name
    assert "RunLockedError" in names  # generate_deck documents raising it


def test_type_checkers_see_every_lazy_name() -> None:
    """``__all__``, the lazy table and the ``TYPE_CHECKING`` imports name the same things."""
    tree = ast.parse((PACKAGE / "__init__.py").read_text())
    guarded: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING":
            for statement in node.body:
                assert isinstance(statement, ast.ImportFrom)
                guarded |= {alias.asname or alias.name for alias in statement.names}
    public = set(nanobanana_async.__all__) - {"__version__"}
    assert guarded == public
    assert set(nanobanana_async._HOMES) | set(nanobanana_async._SEED_NAMES) == public


def test_the_seed_design_s_names_are_the_deck_s() -> None:
    # "batch" names Google's Batch API only; the seed's spellings still work, as the same objects.
    assert nanobanana_async.generate_batch is nanobanana_async.generate_deck
    assert nanobanana_async.BatchConfig is nanobanana_async.DeckConfig
    assert nanobanana_async.BatchResult is nanobanana_async.DeckResult


def _modules() -> list[str]:
    return sorted(
        info.name
        for info in pkgutil.walk_packages([str(PACKAGE)], prefix="nanobanana_async.")
        if not info.name.endswith("__main__")
    )


@pytest.mark.parametrize("name", _modules())
def test_every_module_exports_what_exists(name: str) -> None:
    """(The order within each module's ``__all__`` is ruff's, RUF022.)"""
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    if exported is None:
        return
    assert len(set(exported)) == len(exported), name
    for member in exported:
        assert hasattr(module, member), f"{name}.{member}"
