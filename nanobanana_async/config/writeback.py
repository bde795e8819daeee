"""Change a deck's config file in place: the edit chain and the pick, as the commands write them.

``nanobanana edit`` appends a step, ``edit --undo`` drops the last, ``pick`` sets the
candidate; each is a small change to a file the user wrote and keeps editing, so the rest
of it must come back as it was: the keys in their order, the file's indent (detected:
spaces or a tab, or one line), its final newline and BOM, its mode and its group. Arrays
of plain values that fit stay on one line (``"region": [0.1, 0.05, 0.5, 0.2]``); other
whitespace inside the file is laid out anew.

The file is refused as the config reader refuses it (another user's, writable by anyone,
not a JSON object, too large: :func:`~.config_file.read_json`), and the changed config must
load (:func:`~.loading.load_config`): a 17th step or a pick past ``variants`` is refused in
the loader's own line, and the file is left as it was. The new content replaces the old in
one step (:func:`~..files.atomic.write_atomic`), and only if the file is still what was
read: changed in between (an editor's save), or since the caller's :func:`snapshot`, it is
refused with :class:`ConfigChanged`, not overwritten.

Slides are named by their ``number``, as the user counts them and the messages name them,
not by their place in the list.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from ..errors import ConfigError
from ..files.atomic import write_atomic
from ..service.edit_body import EditStep
from . import fields
from .config_file import read_json
from .loading import load_config

__all__ = [
    "ConfigChanged",
    "ConfigSnapshot",
    "append_edit",
    "drop_last_edit",
    "set_pick",
    "snapshot",
]

_BOM = b"\xef\xbb\xbf"
# The first line that starts indented: its whitespace is one level (a top-level key's).
_INDENT = re.compile(r"\n([ \t]+)\S")
_INLINE_CHARS = 72  # an array of plain values up to this long stays on one line
_T = TypeVar("_T")


class ConfigChanged(ConfigError):
    """The config file changed after it was read: the change is not written over it."""


@dataclass(frozen=True, slots=True)
class ConfigSnapshot:
    """What a config file was when read: compared before it is replaced.

    Attributes:
        path: the file (symlinks resolved).
        digest: SHA-256 of its bytes.
        inode: its inode, so a file replaced by an identical one still counts as read.
    """

    path: Path
    digest: bytes
    inode: int


def snapshot(path: str | os.PathLike[str]) -> ConfigSnapshot:
    """The config file as it is now, for a later change to check against (``since=``).

    Raises:
        ConfigError: it cannot be read, or the config reader would refuse it.
    """
    target = _target(path)
    data, info = _read(target)
    return ConfigSnapshot(target, hashlib.sha256(data).digest(), info.st_ino)


def append_edit(
    path: str | os.PathLike[str],
    slide: int,
    step: EditStep,
    *,
    since: ConfigSnapshot | None = None,
) -> None:
    """Append ``step`` to the ``edits`` of the slide numbered ``slide``.

    Raises:
        ConfigChanged: the file changed since ``since``, or while it was being changed.
        ConfigError: the file is refused, no slide has that number, or the config with the
            step would not load (the loader's line: too many steps, a model that cannot
            edit, a region outside the image).
    """

    def change(spec: dict[str, Any]) -> None:
        chain = spec.get("edits")
        spec["edits"] = [*(chain if isinstance(chain, list) else []), _step_json(step)]

    _rewrite(path, slide, since, change)


def drop_last_edit(
    path: str | os.PathLike[str], slide: int, *, since: ConfigSnapshot | None = None
) -> EditStep | None:
    """Drop the last step of the slide numbered ``slide``'s ``edits``, and return it.

    ``None``, and the file untouched, when the slide has no step. The field goes with its
    last step: a slide edited and undone reads as it did.

    Raises:
        ConfigChanged: the file changed since ``since``, or while it was being changed.
        ConfigError: the file is refused, no slide has that number, or the config would not
            load.
    """

    def change(spec: dict[str, Any]) -> EditStep | None:
        chain = spec.get("edits")
        if not isinstance(chain, list) or not chain:
            return None
        *kept, last = chain
        dropped = fields.edits([last], "edits")[0]
        if kept:
            spec["edits"] = kept
        else:
            del spec["edits"]
        return dropped

    return _rewrite(path, slide, since, change)


def set_pick(
    path: str | os.PathLike[str], slide: int, k: int, *, since: ConfigSnapshot | None = None
) -> None:
    """Set the slide numbered ``slide``'s ``pick`` to candidate ``k``.

    Raises:
        ConfigChanged: the file changed since ``since``, or while it was being changed.
        ConfigError: the file is refused, no slide has that number, or ``k`` is not one of
            its candidates (the loader's line: 1 to its ``variants``).
    """

    def change(spec: dict[str, Any]) -> None:
        spec["pick"] = k

    _rewrite(path, slide, since, change)


def _rewrite(
    path: str | os.PathLike[str],
    slide: int,
    since: ConfigSnapshot | None,
    change: Callable[[dict[str, Any]], _T],
) -> _T:
    """Read, check, change one slide, check the result loads, and replace the file."""
    target = _target(path)
    where = str(path)
    data, info = _read(target)
    if since is not None and not _same(since, target, data, info):
        raise ConfigChanged(where, "changed since it was read; run the command again")
    if hasattr(os, "geteuid") and info.st_uid != os.geteuid():
        # The reader trusts root's files; replacing one would make it this user's.
        raise ConfigError(
            where, f"is owned by uid {info.st_uid}; change it as that user, or copy it"
        )
    bom = data.startswith(_BOM)
    text = data.removeprefix(_BOM).decode("utf-8")
    tree = json.loads(text)
    spec = _slide(tree, slide, where)
    before = json.dumps(tree)
    result = change(spec)
    if json.dumps(tree) == before:
        return result  # nothing to write (an undo of no step)
    # Relative paths read from the config's folder as named, as load_config(path) reads them.
    load_config(tree, base_dir=Path(os.fspath(path)).absolute().parent)
    match = _INDENT.search(text)
    out = _dumps(tree, match.group(1) if match else None)
    new = (_BOM if bom else b"") + (out + ("\n" if text.endswith("\n") else "")).encode("utf-8")
    now, now_info = _read(target)
    if now != data or now_info.st_ino != info.st_ino:
        raise ConfigChanged(where, "changed while it was being changed; run the command again")
    write_atomic(target, new, mode=stat.S_IMODE(info.st_mode))
    if hasattr(os, "chown") and os.stat(target).st_gid != info.st_gid:
        with contextlib.suppress(OSError):  # a group its owner is no longer in: theirs now
            os.chown(target, -1, info.st_gid)
    return result


def _target(path: str | os.PathLike[str]) -> Path:
    """The file itself: a symlinked config is changed where it lives, the link kept."""
    return Path(os.fspath(path)).resolve()


def _read(target: Path) -> tuple[bytes, os.stat_result]:
    """The file's bytes and stat, once the config reader has accepted it."""
    read_json(target)  # refused as the reader refuses it, in its words
    try:
        with open(target, "rb") as handle:
            return handle.read(), os.fstat(handle.fileno())
    except OSError as exc:
        raise ConfigError(str(target), f"cannot read: {exc.strerror or exc}") from None


def _same(since: ConfigSnapshot, target: Path, data: bytes, info: os.stat_result) -> bool:
    return (
        since.path == target
        and since.inode == info.st_ino
        and since.digest == hashlib.sha256(data).digest()
    )


def _slide(tree: Any, number: int, where: str) -> dict[str, Any]:
    slides = tree.get("slides") if isinstance(tree, dict) else None
    numbers: list[str] = []
    for spec in slides if isinstance(slides, list) else []:
        if isinstance(spec, dict):
            value = spec.get("number")
            if isinstance(value, int | float) and not isinstance(value, bool):
                if value == number:
                    return spec
                numbers.append(f"{value:g}")
    known = f"; its slides are {', '.join(numbers[:10])}{', ...' if len(numbers) > 10 else ''}"
    raise ConfigError("slide", f"{number} is not a slide of {where}{known if numbers else ''}")


def _step_json(step: EditStep) -> str | dict[str, Any]:
    if step.region is None:
        return step.instruction
    return {"instruction": step.instruction, "region": list(step.region)}


def _dumps(value: Any, indent: str | None, depth: int = 0) -> str:
    """JSON laid out with ``indent`` a level (one line if ``None``), short flat arrays inline."""
    flat = json.dumps(value, ensure_ascii=False)
    if indent is None or not isinstance(value, dict | list) or not value:
        return flat
    short = isinstance(value, list) and len(flat) <= _INLINE_CHARS
    if short and not any(isinstance(item, dict | list) for item in value):
        return flat
    inner = indent * (depth + 1)
    if isinstance(value, dict):
        items = [
            f"{inner}{json.dumps(key, ensure_ascii=False)}: {_dumps(item, indent, depth + 1)}"
            for key, item in value.items()
        ]
        return "{\n" + ",\n".join(items) + "\n" + indent * depth + "}"
    items = [inner + _dumps(item, indent, depth + 1) for item in value]
    return "[\n" + ",\n".join(items) + "\n" + indent * depth + "]"
