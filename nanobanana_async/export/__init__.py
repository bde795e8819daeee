"""The deck as a deliverable: a contact sheet, a PDF and a PPTX made from a deck's folder.

Each reads the images a run saved (in slide order, from the results file in
``output_dir``) and writes one file; none sends a request. :mod:`.contact_sheet` and
:mod:`.pdf` need only Pillow; :mod:`.pptx` needs the optional ``python-pptx``
(``pip install nanobanana-async[pptx]``).
"""

from __future__ import annotations

from .candidates import candidates_sheet_name, write_candidate_sheets
from .contact_sheet import CONTACT_SHEET_NAME, write_contact_sheet
from .deck import Deck, ExportError, ExportReport, Slide, read_deck
from .pdf import PDF_NAME, write_pdf
from .pptx import PPTX_NAME, PptxUnavailable, write_pptx

__all__ = [
    "CONTACT_SHEET_NAME",
    "PDF_NAME",
    "PPTX_NAME",
    "Deck",
    "ExportError",
    "ExportReport",
    "PptxUnavailable",
    "Slide",
    "candidates_sheet_name",
    "read_deck",
    "write_candidate_sheets",
    "write_contact_sheet",
    "write_pdf",
    "write_pptx",
]
