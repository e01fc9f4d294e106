"""The printable PDF sheet of setup cards: six cards per page, each with a name, a QR code and
instructions, cut lines between them.

Framework-free. QR codes are drawn as vector squares (from the same encoder as the PNGs), so
they print sharp at any size.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from reportlab.lib.pagesizes import A4, LETTER
from reportlab.lib.units import mm
from reportlab.lib.utils import simpleSplit
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

from sessioncloud.codes.qr import BORDER, qr_modules

PAPER = {"A4": A4, "letter": LETTER}
COLUMNS, ROWS = 2, 3
CARDS_PER_PAGE = COLUMNS * ROWS
MARGIN = 12 * mm
PADDING = 5 * mm
QR_SIDE = 52 * mm  # about 1 mm per module for a dense code: scans easily from paper
# The standard PDF fonts cover Western European text only; a Unicode font, where the system
# has one, also prints names in other scripts.
UNICODE_FONTS = (
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
    Path("/usr/share/fonts/dejavu/DejaVuSans.ttf"),
)


@dataclass(frozen=True)
class Card:
    title: str  # the person's name
    subtitle: str  # e.g. the external id
    code: str  # the text the QR code carries
    instructions: str


def render_sheet(
    cards: Sequence[Card], *, title: str, paper: str = "A4", on_card: Callable[[], None] | None = None
) -> bytes:
    """The PDF, one page per CARDS_PER_PAGE cards (a blank page when there are none)."""
    width, height = PAPER[paper]
    regular, bold = _fonts()
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=(width, height), pageCompression=1)
    canvas.setTitle(title)
    card_width = (width - 2 * MARGIN) / COLUMNS
    card_height = (height - 2 * MARGIN) / ROWS
    pages = max(1, -(-len(cards) // CARDS_PER_PAGE))
    for page in range(pages):
        on_page = cards[page * CARDS_PER_PAGE : (page + 1) * CARDS_PER_PAGE]
        _cut_lines(canvas, width, height, card_width, card_height)
        for index, card in enumerate(on_page):
            column, row = index % COLUMNS, index // COLUMNS
            x = MARGIN + column * card_width
            y = height - MARGIN - (row + 1) * card_height
            _card(canvas, card, x, y, card_width, card_height, regular, bold)
            if on_card:
                on_card()
        canvas.setFont(regular, 7)
        canvas.setFillGray(0.45)
        canvas.drawCentredString(width / 2, MARGIN / 2, f"{title} · page {page + 1} of {pages}")
        canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def _fonts() -> tuple[str, str]:
    for path in UNICODE_FONTS:
        bold_path = path.with_name("DejaVuSans-Bold.ttf")
        if path.exists() and bold_path.exists():
            if "SheetSans" not in pdfmetrics.getRegisteredFontNames():
                pdfmetrics.registerFont(TTFont("SheetSans", str(path)))
                pdfmetrics.registerFont(TTFont("SheetSans-Bold", str(bold_path)))
            return "SheetSans", "SheetSans-Bold"
    return "Helvetica", "Helvetica-Bold"


def _cut_lines(canvas: Canvas, width: float, height: float, card_width: float, card_height: float) -> None:
    canvas.saveState()
    canvas.setStrokeGray(0.75)
    canvas.setLineWidth(0.4)
    canvas.setDash(3, 3)
    for column in range(1, COLUMNS):
        canvas.line(MARGIN + column * card_width, MARGIN, MARGIN + column * card_width, height - MARGIN)
    for row in range(1, ROWS):
        canvas.line(MARGIN, MARGIN + row * card_height, width - MARGIN, MARGIN + row * card_height)
    canvas.restoreState()


def _card(
    canvas: Canvas, card: Card, x: float, y: float, width: float, height: float, regular: str, bold: str
) -> None:
    inner = width - 2 * PADDING
    top = y + height - PADDING
    canvas.setFillGray(0)
    canvas.setFont(bold, 12)
    canvas.drawString(x + PADDING, top - 12, _fit(card.title, bold, 12, inner))
    canvas.setFont(regular, 8)
    canvas.setFillGray(0.35)
    canvas.drawString(x + PADDING, top - 23, _fit(card.subtitle, regular, 8, inner))
    qr_top = top - 28
    _qr(canvas, card.code, x + (width - QR_SIDE) / 2, qr_top - QR_SIDE, QR_SIDE)
    canvas.setFillGray(0)
    canvas.setFont(regular, 8)
    line_y = qr_top - QR_SIDE - 10
    for line in simpleSplit(card.instructions, regular, 8, inner):
        if line_y < y + PADDING:
            break
        canvas.drawString(x + PADDING, line_y, line)
        line_y -= 10


def _qr(canvas: Canvas, code: str, x: float, y: float, side: float) -> None:
    modules = qr_modules(code)
    span = len(modules) + 2 * BORDER
    scale = side / span
    # One filled path of module-sized rectangles (a run of dark modules per rectangle), in
    # module units: written as raw operators, as reportlab's path API costs ~50x more per square.
    operators = [f"q 0 g {scale:.5f} 0 0 {scale:.5f} {x:.3f} {y:.3f} cm"]
    for row_index, row in enumerate(modules):
        row_y = span - BORDER - row_index - 1
        column = 0
        while column < len(row):
            if not row[column]:
                column += 1
                continue
            run = column
            while run < len(row) and row[run]:
                run += 1
            operators.append(f"{BORDER + column} {row_y} {run - column} 1 re")
            column = run
    operators.append("f Q")
    canvas.addLiteral("\n".join(operators))


def _fit(text: str, font: str, size: float, width: float) -> str:
    if pdfmetrics.stringWidth(text, font, size) <= width:
        return text
    while text and pdfmetrics.stringWidth(text + "…", font, size) > width:
        text = text[:-1]
    return text + "…"
