"""Documents made on the fly for the tests: a minimal PDF written by hand (one page,
Helvetica text, a correct cross-reference table) and a PNG of text drawn with Pillow."""

from __future__ import annotations

import io
from pathlib import Path

__all__ = ("CORRUPT_PDF", "make_paged_pdf", "make_pdf", "make_pdf_bomb", "make_png")

# Says it is a PDF and starts like one; nothing after the header can be parsed.
CORRUPT_PDF = b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog /Pages 9 0 R\nthis is not a pdf body\n"


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def make_pdf(lines: list[str], *, title: str | None = None) -> bytes:
    """A one-page PDF showing ``lines`` (ASCII) in 12 pt Helvetica, a line each."""
    return make_paged_pdf([lines], title=title)


def make_paged_pdf(pages: list[list[str]], *, title: str | None = None) -> bytes:
    """A PDF of ``len(pages)`` pages, each showing its lines as :func:`make_pdf` does."""
    n = len(pages)
    # Objects: 1 catalog, 2 pages, 3 font, 4 info, then each page and its content.
    kids = " ".join(f"{5 + 2 * i} 0 R" for i in range(n))
    info = f"<< /Title ({_escape(title)}) >>".encode() if title else b"<< >>"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {n} >>".encode(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        info,
    ]
    for i, lines in enumerate(pages):
        ops = ["BT", "/F1 12 Tf", "14 TL", "72 740 Td"]
        for line in lines:
            ops += [f"({_escape(line)}) Tj", "T*"]
        ops.append("ET")
        stream = "\n".join(ops).encode("latin-1")
        objects.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents "
                       f"{6 + 2 * i} 0 R /Resources << /Font << /F1 3 0 R >> >> >>".encode())
        objects.append(b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream
                       + b"\nendstream")
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(f"{number} 0 obj\n".encode() + body + b"\nendobj\n")
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    for offset in offsets:
        out.write(f"{offset:010d} 00000 n \n".encode())
    out.write(f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R /Info 4 0 R >>\n"
              f"startxref\n{xref}\n%%EOF\n".encode())
    return out.getvalue()


def make_pdf_bomb(inflated_mb: int, *, operation: bytes = b"(x) Tj ") -> bytes:
    """A small PDF whose one page's content stream inflates (Flate) to ``inflated_mb``
    MB of ``operation`` repeated: cheap to upload, costly in CPU and memory to read."""
    import zlib

    packer = zlib.compressobj(9)
    block = operation * (1024 * 1024 // len(operation))
    body = [packer.compress(b"BT /F1 12 Tf 72 740 Td ")]
    body += [packer.compress(block) for _ in range(inflated_mb)]
    body.append(packer.compress(b" ET") + packer.flush())
    stream = b"".join(body)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" /Filter /FlateDecode >>\nstream\n"
        + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, obj in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(f"{number} 0 obj\n".encode() + obj + b"\nendobj\n")
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    for offset in offsets:
        out.write(f"{offset:010d} 00000 n \n".encode())
    out.write(f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\n"
              f"startxref\n{xref}\n%%EOF\n".encode())
    return out.getvalue()


def _font_path() -> Path:
    # matplotlib (a dev dependency) ships DejaVu Sans: no system font package needed.
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"


def make_png(lines: list[str], *, size: int = 36) -> bytes:
    """Black text on white, large and clear, as a scan of a typed page would be."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype(str(_font_path()), size)
    width = max(int(font.getlength(line)) for line in lines) + 2 * size
    height = (len(lines) + 2) * int(size * 1.5)
    image = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(image)
    for i, line in enumerate(lines):
        draw.text((size, size + i * int(size * 1.5)), line, fill=0, font=font)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()
