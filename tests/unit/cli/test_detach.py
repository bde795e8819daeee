"""How ``run --detach`` names the command to follow the run with: as it was invoked."""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

from nanobanana_async.cli.detach import invoked_as


def _executable(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return path


def test_the_skills_launcher_is_named_by_its_path(tmp_path: Path) -> None:
    launcher = _executable(tmp_path / "skills" / "nano banana" / "scripts" / "nanobanana")
    env = {"NANOBANANA_LAUNCHER": str(launcher), "PATH": ""}
    said = invoked_as(env, "/venv/bin/nanobanana")
    assert shlex.split(said) == [str(launcher)]


def test_python_dash_m_is_given_back_as_such() -> None:
    said = invoked_as({"PATH": ""}, "/src/nanobanana_async/__main__.py")
    assert shlex.split(said) == [sys.executable, "-m", "nanobanana_async"]


def test_a_command_on_path_is_its_bare_name(tmp_path: Path) -> None:
    command = _executable(tmp_path / "bin" / "nanobanana")
    assert invoked_as({"PATH": str(command.parent)}, str(command)) == "nanobanana"


def test_a_command_not_on_path_is_its_absolute_path(tmp_path: Path) -> None:
    command = _executable(tmp_path / "venv" / "bin" / "nanobanana")
    other = _executable(tmp_path / "elsewhere" / "nanobanana")
    env = {"PATH": str(other.parent)}
    relative = os.path.relpath(command)
    assert invoked_as(env, relative) == shlex.quote(str(command))


def test_a_launcher_that_is_gone_is_not_named(tmp_path: Path) -> None:
    env = {"NANOBANANA_LAUNCHER": str(tmp_path / "missing"), "PATH": ""}
    assert "missing" not in invoked_as(env, "/src/nanobanana_async/__main__.py")
