"""The deck as a PDF: one page per slide, in order, each page the shape of its image.

A page's longer side is :data:`PAGE_LONG_SIDE` (960 pt, 13 1/3 in: a widescreen slide's
width), its shorter side in the image's own proportion, so a 16:9 slide is a 13.33 x 7.5
in page whatever its resolution, and a portrait slide a portrait page. The image fills
its page at its full resolution: no pixel is resampled.

What goes in the file, by source:

- a JPEG (RGB or grey) is embedded as it is, byte for byte (``DCTDecode``); it is decoded
  once at 1/8 scale first, which reads all of it, so a corrupt file is skipped rather than
  shown broken;
- a PNG of 8-bit RGB or grey, not interlaced, without transparency (what the service and
  Pillow write) keeps its compressed pixel data as it is (``FlateDecode`` with the PNG
  predictors); it is decoded once to check it;
- any other PNG, and a lossless WebP, are decoded and compressed again losslessly the
  same way (transparency laid on white);
- a lossy WebP (the default format) and any other JPEG are decoded and encoded as JPEG at
  quality 95 without chroma subsampling (visually lossless; a lossless copy of a lossy
  image would be several times its size).

Colour profiles are not carried: the pages are device RGB, as sRGB images show anyway.

Why not Pillow's own PDF writer (``Image.save(..., "PDF", save_all=True,
append_images=...)``): it takes any iterable of images but makes a list of them before
writing the first page, and each image it writes stays decoded in that list to the end,
so a deck of fifty 4K slides would hold fifty decoded images (about 2.5 GB); it also
re-encodes every image, a JPEG too, as JPEG at quality 75. Here the file is assembled
with Pillow's PDF object writer (:mod:`PIL.PdfParser`, what its PDF plugin uses), one
slide at a time: a slide's image is read, turned into its page and dropped before the next
is read. The finished PDF (compressed, about the size of the images' files) is held in
memory once and written atomically, 0644 under the umask as the images are.
"""

from __future__ import annotations

import contextlib
import struct
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

from PIL import PdfParser

from ..files.atomic import write_atomic
from ..files.foreign import keep_foreign
from ..files.images import image_mode
from .deck import (
    Deck,
    ExportError,
    ExportReport,
    UnreadableImage,
    opaque,
    open_image,
    read_image_file,
)

__all__ = [
    "PAGE_LONG_SIDE",
    "PDF_NAME",
    "is_deck_pdf",
    "lossless_webp",
    "page_size",
    "write_pdf",
]

PDF_NAME = "deck.pdf"
# The comment after the header that says this module wrote the file: a deck.pdf without it
# (the user's own, in a folder of theirs) is kept in .versions/ before it is replaced.
_MARK = b"nanobanana-async: one page per slide"
_MARK_BYTES = 64
PAGE_LONG_SIDE = 960.0
"""A page's longer side in points (1/72 in): 13 1/3 in, a widescreen slide's width."""

_JPEG_QUALITY = 95
_PNG_COMPRESS_LEVEL = 6
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_COLOURS = {0: 1, 2: 3}  # PNG colour type -> components: grey, RGB
_IMAGE_NAME = "Im0"


@dataclass(frozen=True, slots=True)
class _PageImage:
    """An image XObject: its stream and what a reader needs to decode it."""

    data: bytes
    width: int
    height: int
    colours: int  # 1 grey, 3 RGB
    png_predicted: bool  # FlateDecode with PNG predictors; else DCTDecode (JPEG)


def page_size(width: int, height: int) -> tuple[float, float]:
    """The page of an image of ``width`` x ``height`` pixels, in points: its longer side
    :data:`PAGE_LONG_SIDE`, its shape the image's."""
    longer = max(width, height)
    return PAGE_LONG_SIDE * width / longer, PAGE_LONG_SIDE * height / longer


def write_pdf(deck: Deck, dest: Path | None = None) -> ExportReport:
    """Write ``deck`` as a PDF: one page per slide with an image, in slide order.

    Blocking (reads every image, writes with ``fsync``): call it from a worker thread when
    on an event loop.

    Args:
        deck: the deck, as :func:`~nanobanana_async.export.deck.read_deck` read it.
        dest: the file to write (replaced atomically); by default ``deck.pdf`` in the
            deck's folder.

    Returns:
        The path, the slides in it and the slides skipped (no image, or one that does not
        read), with why; :attr:`~.deck.ExportReport.note` says it in one line.

    Raises:
        ExportError: no slide has an image that reads, or ``dest`` could not be written
            (it is then unchanged).
    """
    dest = deck.output_dir / PDF_NAME if dest is None else dest
    buffer = BytesIO()
    pdf = PdfParser.PdfParser(f=buffer, mode="w+b")
    pdf.start_writing()
    pdf.write_header()
    pdf.write_comment(_MARK.decode())
    catalog = pdf.next_object_id(0)  # placeholders: written last, once the pages are known
    pages = pdf.next_object_id(0)
    kids: list[PdfParser.IndirectReference] = []
    made: list[int] = []
    skipped: list[tuple[int, str]] = []
    for slide in deck.slides:
        if slide.path is None:
            skipped.append((slide.number, slide.reason or slide.state))
            continue
        try:
            image = _page_image(slide.path)
        except UnreadableImage as exc:
            skipped.append((slide.number, str(exc)))
            continue
        kids.append(_write_page(pdf, pages, image))
        made.append(slide.number)
        del image  # the next slide's image is read only once this one is gone
    if not made:
        raise ExportError(f"no slide of {deck.output_dir} has an image to put in a PDF")
    pdf.write_obj(pages, Type=PdfParser.PdfName("Pages"), Count=len(kids), Kids=kids)
    pdf.write_obj(catalog, Type=PdfParser.PdfName("Catalog"), Pages=pages)
    pdf.root_ref = catalog
    pdf.write_xref_and_trailer()
    try:
        kept = keep_foreign(dest, is_deck_pdf, _MARK_BYTES, head=True)  # a PDF not ours is kept
        write_atomic(dest, buffer.getvalue(), mode=image_mode())
    except OSError as exc:
        raise ExportError(f"cannot write {dest}: {exc.strerror or exc}") from None
    return ExportReport(path=dest, slides=tuple(made), skipped=tuple(skipped), previous=kept)


def is_deck_pdf(data: bytes) -> bool:
    """Whether ``data`` (a file's first bytes) starts a PDF this module wrote: its comment
    after the header is the mark."""
    return data.startswith(b"%PDF-") and _MARK in data[:_MARK_BYTES]


def _write_page(
    pdf: PdfParser.PdfParser, parent: PdfParser.IndirectReference, image: _PageImage
) -> PdfParser.IndirectReference:
    name = PdfParser.PdfName
    xobject: dict[str, object] = {
        "Type": name("XObject"),
        "Subtype": name("Image"),
        "Width": image.width,
        "Height": image.height,
        "ColorSpace": name("DeviceRGB" if image.colours == 3 else "DeviceGray"),
        "BitsPerComponent": 8,
    }
    if image.png_predicted:
        xobject["Filter"] = name("FlateDecode")
        xobject["DecodeParms"] = PdfParser.PdfDict(
            Predictor=15, Colors=image.colours, BitsPerComponent=8, Columns=image.width
        )
    else:
        xobject["Filter"] = name("DCTDecode")
    image_ref = pdf.write_obj(None, stream=image.data, **xobject)
    width, height = page_size(image.width, image.height)
    contents = pdf.write_obj(
        None, stream=b"q %.4f 0 0 %.4f 0 0 cm /%s Do Q\n" % (width, height, _IMAGE_NAME.encode())
    )
    return pdf.write_obj(
        None,
        Type=name("Page"),
        Parent=parent,
        MediaBox=[0, 0, round(width, 4), round(height, 4)],
        Resources=PdfParser.PdfDict(
            ProcSet=[name("PDF"), name("ImageC" if image.colours == 3 else "ImageB")],
            XObject=PdfParser.PdfDict({_IMAGE_NAME: image_ref}),
        ),
        Contents=contents,
    )


# -- one slide's image ---------------------------------------------------------------------


def _page_image(path: Path) -> _PageImage:
    """The image of ``path`` as a PDF image stream (see the module docstring for which)."""
    data = read_image_file(path)
    # closing(), not the image's own ``with``: that closes its file, this frees its pixels.
    with contextlib.closing(open_image(data, path.name)) as image:
        width, height = image.size
        source, mode = image.format, image.mode
        try:
            if source == "JPEG" and mode in ("RGB", "L"):
                image.draft(mode, (max(1, width // 8), max(1, height // 8)))
                image.load()  # every byte read: a corrupt file fails here, not in a reader
                return _PageImage(data, width, height, 1 if mode == "L" else 3, False)
            image.load()
            if source == "PNG" and (passed := _png_as_is(data)) is not None:
                colours, idat = passed
                return _PageImage(idat, width, height, colours, True)
            pixels = opaque(image, keep_grey=True)
            colours = 1 if pixels.mode == "L" else 3
            encoded = BytesIO()
            if source == "PNG" or (source == "WEBP" and lossless_webp(data)):
                pixels.save(encoded, format="PNG", compress_level=_PNG_COMPRESS_LEVEL)
                passed = _png_as_is(encoded.getvalue())
                if passed is None:  # pragma: no cover - Pillow writes exactly that shape
                    raise ValueError("the re-encoded PNG has an unexpected shape")
                return _PageImage(passed[1], width, height, colours, True)
            pixels.save(encoded, format="JPEG", quality=_JPEG_QUALITY, subsampling=0)
            return _PageImage(encoded.getvalue(), width, height, colours, False)
        except (OSError, SyntaxError, ValueError) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise UnreadableImage(f"{path.name} does not decode: {reason}") from None


def _png_as_is(data: bytes) -> tuple[int, bytes] | None:
    """``(components, IDAT data)`` of a PNG a PDF can take as it is, else ``None``.

    That is 8 bits a sample, grey or RGB, not interlaced, with no ``tRNS`` (a transparent
    colour would need a mask): its IDAT chunks, joined, are one zlib stream of PNG-filtered
    rows, which is what ``FlateDecode`` with ``Predictor 15`` reads.
    """
    if not data.startswith(_PNG_SIGNATURE):
        return None
    at = len(_PNG_SIGNATURE)
    colours: int | None = None
    idat: list[bytes] = []
    while at + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[at : at + 8])
        body = data[at + 8 : at + 8 + length]
        if len(body) != length:
            return None
        if kind == b"IHDR":
            if length != 13:
                return None
            depth, colour_type, _, _, interlace = body[8:13]
            if depth != 8 or interlace or colour_type not in _PNG_COLOURS:
                return None
            colours = _PNG_COLOURS[colour_type]
        elif kind == b"tRNS":
            return None
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            return (colours, b"".join(idat)) if colours is not None and idat else None
        at += 12 + length
    return None


def lossless_webp(data: bytes) -> bool:
    """Whether a WebP file's image is lossless (a ``VP8L`` chunk), not lossy (``VP8 ``)."""
    at = 12  # after "RIFF", the size, "WEBP"
    while at + 8 <= len(data):
        kind = data[at : at + 4]
        if kind == b"VP8L":
            return True
        if kind == b"VP8 ":
            return False
        (length,) = struct.unpack("<I", data[at + 4 : at + 8])
        at += 8 + length + (length & 1)  # chunks are padded to an even size
    return False
