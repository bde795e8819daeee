"""The candidates sheet: a slide's variants side by side, to choose one with ``nanobanana pick``.

For each slide of several candidates (``variants``), ``candidates-NN.png`` in the deck's
folder (NN its number, two digits at least) shows them in order, labelled ``3.1 3.2 3.3``,
the picked one framed. It is drawn as the deck's sheet is (:func:`.contact_sheet.draw_sheet`:
the same layout, the same mark), so a file of that name that is not ours is kept, never
overwritten. The deck's own sheet and the exports show each slide's current image only.
"""

from __future__ import annotations

from pathlib import Path

from .contact_sheet import draw_sheet
from .deck import Deck, Slide

__all__ = ["candidates_sheet_name", "write_candidate_sheets"]


def candidates_sheet_name(number: int) -> str:
    """``candidates-03.png``: the sheet of slide ``number``'s candidates."""
    return f"candidates-{number:02d}.png"


def write_candidate_sheets(deck: Deck) -> list[Path]:
    """Draw the candidates sheet of every slide of ``deck`` that has several; the paths.

    Blocking (decodes every candidate): call it from a worker thread on an event loop.

    Raises:
        ExportError: a sheet could not be written (it is then unchanged).
    """
    written: list[Path] = []
    for slide in deck.slides:
        if len(slide.candidates) < 2:
            continue
        tiles = [
            Slide(k, path) if path is not None else Slide(k, None, "missing")
            for k, path in enumerate(slide.candidates, start=1)
        ]
        labels = [f"{slide.number}.{k}" for k in range(1, len(tiles) + 1)]
        framed = None if slide.picked is None else slide.picked - 1
        dest = deck.output_dir / candidates_sheet_name(slide.number)
        written.append(draw_sheet(tiles, dest, labels=labels, framed=framed, one_row=True))
    return written
