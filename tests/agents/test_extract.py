"""Text extraction from each supported type, and a clear reason when it cannot be done."""

from __future__ import annotations

import pytest

from agents.ingestion.extract import ExtractionError, extract_text, ocr_available
from tests.support.documents import CORRUPT_PDF, make_pdf, make_png


def test_pdf_text_layer() -> None:
    pdf = make_pdf(["The Zorblat reactor was commissioned in 1987.", "It runs on (molten) salt."])
    text = extract_text(pdf, "application/pdf")
    assert "The Zorblat reactor was commissioned in 1987." in text
    assert "It runs on (molten) salt." in text


def test_corrupt_pdf_has_a_reason() -> None:
    with pytest.raises(ExtractionError, match="not a readable PDF"):
        extract_text(CORRUPT_PDF, "application/pdf")


def test_pdf_without_text_says_so() -> None:
    with pytest.raises(ExtractionError, match="no text layer"):
        extract_text(make_pdf([]), "application/pdf")


def test_png_through_ocr() -> None:
    assert ocr_available(), "tesseract is missing: `make ocr` installs it"
    png = make_png(["The Quillfeather bridge is painted", "cobalt green every ninth spring."])
    text = " ".join(extract_text(png, "image/png").split())
    assert "Quillfeather bridge is painted cobalt green every ninth spring" in text


def test_jpeg_through_ocr() -> None:
    import io

    from PIL import Image

    png = make_png(["Ferry tickets cost eleven crowns."])
    out = io.BytesIO()
    Image.open(io.BytesIO(png)).convert("RGB").save(out, format="JPEG", quality=95)
    assert "eleven crowns" in extract_text(out.getvalue(), "image/jpeg")


def test_images_without_tesseract_fail_with_a_clear_reason(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    assert not ocr_available()
    with pytest.raises(ExtractionError, match="needs the tesseract OCR program"):
        extract_text(make_png(["hello"]), "image/png")


def test_an_image_that_is_not_one_has_a_reason() -> None:
    with pytest.raises(ExtractionError, match="tesseract could not read the image"):
        extract_text(b"\x89PNG\r\n\x1a\nnot really", "image/png")


def test_html_keeps_the_text_and_drops_the_rest() -> None:
    html = b"""<html><head><title>T</title><style>p {color: red}</style></head>
    <body><h1>Opening hours</h1><p>Open&nbsp;from <b>9</b> to 5.</p>
    <script>alert('no')</script><ul><li>Closed on Sundays</li></ul></body></html>"""
    text = extract_text(html, "text/html")
    assert text.split("\n\n") == ["Opening hours", "Open from 9 to 5.", "Closed on Sundays"]


def test_markdown_loses_its_markup() -> None:
    md = (b"# The **Quillfeather** bridge\n\nSee [the map](http://x/map) and "
          b"![a photo](p.png).\n\n- painted `cobalt` green\n- every _ninth_ spring\n")
    assert extract_text(md, "text/markdown") == (
        "The Quillfeather bridge\n\nSee the map and a photo.\n\npainted cobalt green\n"
        "every ninth spring")


def test_plain_text_in_utf8_or_windows_1252() -> None:
    assert extract_text("Tromsø ✓".encode(), "text/plain") == "Tromsø ✓"
    assert extract_text("café".encode("cp1252"), "text/plain") == "café"
    with pytest.raises(ExtractionError, match="binary"):
        extract_text(b"\x00\x01\x02", "text/plain")


def test_a_hostile_markdown_line_is_read_in_linear_time() -> None:
    """One 5 MB line (the upload limit) of marks that never close: each used to make the
    old patterns rescan the rest of the line, hours in all; now one pass each."""
    unit = "[![a]( *a _x <b `c # "
    line = unit * (5 * 1024 * 1024 // len(unit))
    text = extract_text(("# " + line).encode(), "text/markdown")
    assert text == line.removesuffix(" # ").strip()  # nothing closes: nothing removed


def test_a_large_markdown_document_keeps_its_text() -> None:
    unit = "See [the map](m.png) and ![x](y) *now* or `later` <br> "
    text = extract_text((unit * 20_000).encode(), "text/markdown")
    assert text == ("See the map and x now or later  " * 20_000).strip()


@pytest.mark.parametrize(("markdown", "text"), [
    ("## Title ##", "Title"),
    ("# C#", "C#"),
    ("> quoted *word*", "quoted word"),
    ("* * *", ""),
    ("2) second", "second"),
    ("a <b>bold</b> <", "a bold <"),
    ("tag <a\nb> <i>c</i>", "tag <a\nb> c"),
    ("5 * 3 * 2", "5 * 3 * 2"),
    ("[a] [b](c) [[d](e)", "[a] b [d"),
    ("[](x) ![](y)", "[](x)"),
])
def test_markdown_marks(markdown: str, text: str) -> None:
    assert extract_text(markdown.encode(), "text/markdown") == text


def test_a_pdf_keeps_its_pages_apart() -> None:
    from agents.ingestion.extract import extract_text
    from agents.ingestion.split import PAGE_BREAK, split_pages
    from tests.support.documents import make_paged_pdf

    pdf = make_paged_pdf([["The first page."], [], ["The third page says hello."]])
    text = extract_text(pdf, "application/pdf")
    assert text.count(PAGE_BREAK) == 2  # the empty page still counts
    assert [(t, p) for t, p in split_pages(text, max_tokens=8, overlap_tokens=0)] == [
        ("The first page.", 1), ("The third page says hello.", 3)]
