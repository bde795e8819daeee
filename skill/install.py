"""Install the nano-banana skill into a Claude skills folder without losing anything there.

``make install-skill`` runs this. The files the skill ships are updated; anything else in
the folder (the user's notes, another tool's files) is kept; a shipped file the user has
edited since the last install (or that was there before any install of ours) is moved to
a dated backup folder before its new version is written, and the line printed at the end
says so. A file an earlier version shipped and this one does not is removed (moved to the
backup if edited): a stale reference would mislead the agent. What was installed is
recorded in a manifest (file -> SHA-256), which is how an edited file is told from one of
ours. Standard library only: it runs before any install.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

SOURCE = Path(__file__).resolve().parent / "nano-banana"
MANIFEST = ".nanobanana-install.json"
LAUNCHER = Path("scripts") / "nanobanana"
ENGINE_MARK = "@NANOBANANA@"


def shipped(engine: str) -> dict[Path, bytes]:
    """The skill's files (relative path -> content), the launcher pointed at ``engine``."""
    files: dict[Path, bytes] = {}
    for path in sorted(SOURCE.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            relative = path.relative_to(SOURCE)
            content = path.read_bytes()
            if relative == LAUNCHER:
                content = content.replace(ENGINE_MARK.encode(), engine.encode())
            files[relative] = content
    return files


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _read_manifest(target: Path) -> dict[str, str]:
    try:
        data = json.loads((target / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    files = data.get("files") if isinstance(data, dict) else None
    return {str(k): str(v) for k, v in files.items()} if isinstance(files, dict) else {}


def _current(path: Path) -> bytes | None:
    """The file's bytes; ``None`` when there is none. A symlink or folder counts as edited."""
    if path.is_symlink() or (path.exists() and not path.is_file()):
        return b"\0not a regular file"
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def _write(path: Path, content: bytes, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(content)
        os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException:
        os.unlink(temp)
        raise


def install(target: Path, engine: str, now: datetime | None = None) -> str:
    """Install into ``target``; return the one line that says what was done."""
    files = shipped(engine)
    recorded = _read_manifest(target)
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    backup = target / f".backup-{stamp}"
    for n in range(2, 1000):  # never into an earlier backup: a second edit must not replace it
        if not backup.exists():
            break
        backup = target / f".backup-{stamp}-{n}"
    backed_up: list[str] = []
    updated = 0
    for relative, content in files.items():
        path = target / relative
        current = _current(path)
        if current == content:
            continue
        if current is not None and recorded.get(str(relative)) != _digest(current):
            # Not the file we installed last time: the user's edit, or someone else's file.
            (backup / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.move(path, backup / relative)
            backed_up.append(str(relative))
        elif path.is_symlink():
            path.unlink()
        mode = 0o755 if relative.parent == LAUNCHER.parent else 0o644
        _write(path, content, mode)
        updated += 1
    removed = 0
    for name, digest in sorted(recorded.items()):
        relative = Path(name)
        if relative in files or relative.is_absolute() or ".." in relative.parts:
            continue
        path = target / relative
        current = _current(path)
        if current is None:
            continue
        if _digest(current) == digest:
            path.unlink()  # ours, from an earlier version: its stale words would mislead
            removed += 1
        else:  # ours once, edited since: the user's now, kept aside as an edit is
            (backup / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.move(path, backup / relative)
            backed_up.append(name)
    manifest = {"files": {str(r): _digest(c) for r, c in files.items()}}
    _write(target / MANIFEST, json.dumps(manifest, indent=2).encode() + b"\n", 0o644)
    theirs = sorted(
        str(p.relative_to(target))
        for p in target.rglob("*")
        if (p.is_file() or p.is_symlink())
        and p.relative_to(target) not in files
        and p.name != MANIFEST
        and not p.relative_to(target).parts[0].startswith(".backup-")
    )
    line = f"installed the nano-banana skill in {target} ({updated} of {len(files)} files updated"
    if removed:
        line += f"; removed {removed} file{'s' if removed != 1 else ''} no longer shipped"
    if theirs:
        shown = ", ".join(theirs[:5]) + (f" and {len(theirs) - 5} more" if len(theirs) > 5 else "")
        line += f"; kept {len(theirs)} file{'s' if len(theirs) != 1 else ''} of yours: {shown}"
    if backed_up:
        line += f"; your edited {', '.join(backed_up)} moved to {backup}"
    return line + ")"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--into", type=Path, required=True, help="the skill folder to install to")
    parser.add_argument("--engine", required=True, help="path of the nanobanana command")
    args = parser.parse_args(argv)
    try:
        print(install(args.into.expanduser(), args.engine))
    except OSError as error:
        print(f"install-skill: error: {error.strerror or error}: {error.filename}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
