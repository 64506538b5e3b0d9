"""Awkward and hostile uploads sent to the launched studio's ``/restore`` endpoint (gradio_client).

Every file is made here from PIL or raw bytes. Each one is either restored as a user expects
(checked against the restorer called directly on the equivalent picture) or refused with a
one-line message that reaches the client; after each, the server still restores a good photo.
"""
from __future__ import annotations

import io
import struct
import time
import zlib

import numpy as np
import pytest
import torch
from PIL import Image, ImageFile, ImageOps

from app import build_demo, handlers, launch_kwargs, uploads
from app.config import AppConfig
from app.testing import tiny_restorer

gradio_client = pytest.importorskip("gradio_client")


def noise(w: int, h: int, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray((rng.random((h, w, 3)) * 255).astype(np.uint8))


def encode(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def png_chunks(width: int, height: int, depth: int, colour: int, rows: bytes) -> bytes:
    """A PNG written by hand: the header can claim any size, the data can be anything."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    header = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
            + chunk(b"IEND", b""))


def claims(width: int, height: int) -> bytes:
    """A 300-byte PNG whose header claims width x height RGB pixels (a decompression bomb if big)."""
    return png_chunks(width, height, 8, 2, b"\x00" * 64)


def gray16() -> tuple[bytes, Image.Image]:
    """16-bit grayscale PNG whose values are v * 257, and the 8-bit picture it stands for (v)."""
    v = np.asarray(noise(30, 20).convert("L"), dtype=np.uint16)
    return encode(Image.fromarray(v * 257), "PNG"), Image.fromarray(v.astype(np.uint8), "L")


def rgb48() -> tuple[bytes, Image.Image]:
    """16-bit-per-channel RGB PNG (PIL reads its high bytes), and the 8-bit picture it stands for."""
    v = np.asarray(noise(26, 18, seed=3), dtype=np.uint16)
    rows = b"".join(b"\x00" + (row * 257).astype(">u2").tobytes() for row in v)
    return png_chunks(26, 18, 16, 2, rows), Image.fromarray(v.astype(np.uint8), "RGB")


def animated() -> tuple[bytes, Image.Image]:
    frames = [Image.new("RGB", (24, 20), c) for c in ((200, 30, 30), (30, 200, 30), (30, 30, 200))]
    frames[0].paste((250, 250, 0), (4, 4, 12, 12))
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return data, Image.open(io.BytesIO(data)).convert("RGB")  # the first frame, as decoded


def rgba() -> tuple[bytes, Image.Image]:
    img = noise(33, 21).convert("RGBA")
    alpha = np.zeros((21, 33), np.uint8)
    alpha[:, 10:] = 255
    alpha[5:9, 20:25] = 128
    img.putalpha(Image.fromarray(alpha))
    return encode(img, "PNG"), img


def exif_rotated() -> tuple[bytes, Image.Image]:
    exif = Image.Exif()
    exif[0x0112] = 6  # shown rotated 90 degrees clockwise
    data = encode(noise(40, 24), "JPEG", exif=exif, quality=95)
    return data, ImageOps.exif_transpose(Image.open(io.BytesIO(data)))


def as_decoded(data: bytes, mode: str) -> Image.Image:
    return Image.open(io.BytesIO(data)).convert(mode)


# name -> file bytes and the one-line message the client must see
REFUSED = {
    "empty.png": (b"", r"^the file is empty \(0 bytes\)"),
    "notes.png": (b"my shopping list, renamed to .png\n", r"^this file is not an image the studio can read"),
    "random.jpg": (np.random.default_rng(1).bytes(3000), r"^this file is not an image the studio can read"),
    "truncated.png": (encode(noise(64, 48), "PNG")[:400], r"^the PNG file is damaged or truncated"),
    "truncated.jpg": (encode(noise(64, 48), "JPEG", quality=95)[:700], r"^the JPEG file is damaged or truncated"),
    "drawing.svg": (b'<svg xmlns="http://www.w3.org/2000/svg" width="40" height="30"><rect width="40" height="30"/>'
                    b"</svg>", r"^SVG is a vector drawing, not a photo"),
    "svg-named.png": (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>', r"^SVG is a vector drawing"),
    "strip.png": (encode(noise(20000, 1), "PNG"), r"^the image is 20000×1 pixels, its long side 20000 times its short"),
    "tower.png": (encode(noise(1, 20000), "PNG"), r"^the image is 1×20000 pixels.*up to 32:1"),
    "bomb.png": (claims(60000, 60000), r"^the image header claims more than 179 megapixels: refused without decoding"),
    "25mp-header.png": (claims(5000, 5000), r"^the image is 5000×5000 = 25\.0 megapixels; this studio restores up to 8 MP"),
}

# name -> file bytes, the picture it stands for (what the restorer is given directly), output mode
RESTORED = {
    "one-pixel.png": (encode(noise(1, 1), "PNG"), noise(1, 1), "RGB"),
    "two-by-three.png": (encode(noise(2, 3), "PNG"), noise(2, 3), "RGB"),
    "palette.png": ((p := encode(noise(30, 20).quantize(16), "PNG")), as_decoded(p, "RGB"), "RGB"),
    "cmyk.jpg": ((c := encode(noise(30, 20).convert("CMYK"), "JPEG", quality=95)), as_decoded(c, "RGB"), "RGB"),
    "gray16.png": (*gray16(), "L"),
    "rgb48.png": (*rgb48(), "RGB"),
    "animated.gif": (*animated(), "RGB"),
    "rgba.png": (*rgba(), "RGBA"),
    "exif-rotated.jpg": (*exif_rotated(), "RGB"),
}


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    config = AppConfig(cache_dir=str(tmp_path_factory.mktemp("cache")))
    restorer, note = tiny_restorer()
    demo = build_demo(config, restorer_factory=lambda cfg: (restorer, note))
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True, **launch_kwargs(config))
    good = tmp_path_factory.mktemp("good") / "good.png"
    noise(19, 13, seed=7).save(good)
    expected = np.asarray(restorer.restore(good).image)
    yield gradio_client.Client(url, verbose=False), restorer, (str(good), expected)
    demo.close()
    torch.set_num_threads(threads)


def restore(client, path):
    return client.predict(gradio_client.handle_file(str(path)), "auto", "", "auto", api_name="/restore")


def still_serves(client, good) -> None:
    path, expected = good
    png, *_ = restore(client, path)
    assert np.array_equal(np.asarray(Image.open(png)), expected)


@pytest.mark.parametrize("name", list(REFUSED))
def test_bad_upload_gets_a_one_line_message_and_the_server_carries_on(studio, tmp_path, name):
    client, _, good = studio
    data, message = REFUSED[name]
    path = tmp_path / name
    path.write_bytes(data)
    start = time.perf_counter()
    with pytest.raises(gradio_client.exceptions.AppError, match=message) as err:
        restore(client, path)
    assert "\n" not in str(err.value) and str(tmp_path) not in str(err.value)  # no server paths in messages
    assert time.perf_counter() - start < 10
    still_serves(client, good)


@pytest.mark.parametrize("name", list(RESTORED))
def test_awkward_upload_is_restored_like_the_picture_it_holds(studio, tmp_path, name):
    client, restorer, good = studio
    data, picture, mode = RESTORED[name]
    path = tmp_path / name
    path.write_bytes(data)
    png, details, summary = restore(client, path)
    out = Image.open(png)
    expected = restorer.restore(picture).image
    assert out.mode == mode and out.size == picture.size
    assert summary.startswith(f"**Restored {picture.width}×{picture.height}**")
    diff = np.abs(np.asarray(out, np.int16) - np.asarray(expected, np.int16))
    assert diff.max() <= (1 if name == "gray16.png" else 0)  # v*257/65535 and v/255 differ in the last float bit
    if mode == "RGBA":  # the alpha channel is carried over untouched
        assert np.array_equal(np.asarray(out)[..., 3], np.asarray(picture)[..., 3])
    if name in ("exif-rotated.jpg", "animated.gif", "cmyk.jpg", "gray16.png", "rgb48.png"):
        from app.state import ModelHolder
        holder = ModelHolder(AppConfig(), lambda cfg: (restorer, "the studio's restorer"))
        shown = Image.open(handlers.restore(holder, str(path)).before)  # a PNG of what the network was given
        assert shown.format == "PNG" and shown.size == picture.size
        assert np.array_equal(np.asarray(shown.convert("RGB")), np.asarray(picture.convert("RGB")))
    if name == "animated.gif":
        assert "animated GIF: its first frame was restored" in summary
    still_serves(client, good)


def test_a_bomb_is_refused_from_its_header_without_decoding(tmp_path, monkeypatch):
    path = tmp_path / "bomb.png"
    path.write_bytes(claims(60000, 60000))

    def decode(*_):
        raise AssertionError("pixels were decoded")
    monkeypatch.setattr(ImageFile.ImageFile, "load", decode)
    for claimed in (claims(60000, 60000), claims(5000, 5000), claims(20000, 2)):
        path.write_bytes(claimed)
        with pytest.raises(uploads.UploadError, match="megapixels|long side"):
            uploads.check_upload(str(path), AppConfig())
