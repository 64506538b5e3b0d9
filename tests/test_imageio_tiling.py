"""Image reading in every mode, padding and tiling."""
from __future__ import annotations

import io

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from core.imageio import ImageReadError, read_image, to_pil
from core.tiling import apply_padded, apply_tiled, pad_to_multiple


def _png(img: Image.Image, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


@pytest.fixture
def photo(rng) -> Image.Image:
    arr = (torch.rand(29, 37, 3, generator=rng) * 255).to(torch.uint8).numpy()
    return Image.fromarray(arr, "RGB")


@pytest.mark.parametrize("mode", ["1", "L", "LA", "P", "RGB", "RGBA", "CMYK", "I;16", "I", "F"])
def test_every_mode_reads_as_rgb_in_unit_range(photo, mode):
    gray = np.asarray(photo.convert("L"))
    if mode in ("I;16", "I"):  # a real 16-bit image spans 0..65535
        img = Image.fromarray(gray.astype(np.uint16) * 257).convert(mode)
    elif mode == "F":
        img = Image.fromarray(gray.astype(np.float32) / 255.0, "F")
    else:
        img = photo.convert(mode)
    fmt = "JPEG" if mode == "CMYK" else "TIFF" if mode in ("I", "F") else "PNG"
    rgb, meta = read_image(_png(img, fmt))
    assert rgb.shape == (3, 29, 37) and rgb.dtype == torch.float32
    assert 0.0 <= rgb.min() and rgb.max() <= 1.0 and rgb.max() > 0.2
    assert meta.grayscale == (mode in ("1", "L", "LA", "I;16", "I", "F"))
    assert (meta.alpha is not None) == (mode in ("LA", "RGBA"))
    out = to_pil(rgb, meta)
    assert out.size == (37, 29)
    assert out.mode == {"LA": "LA", "RGBA": "RGBA"}.get(mode, "L" if meta.grayscale else "RGB")


def test_sixteen_bit_values_are_scaled_not_clipped():
    arr = np.full((8, 8), 32768, dtype=np.uint16)
    rgb, _ = read_image(_png(Image.fromarray(arr)))
    assert rgb.mean().item() == pytest.approx(0.5, abs=0.01)


def test_exif_orientation_is_honoured(photo):
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    rgb, meta = read_image(_png(photo, "JPEG", exif=exif))
    assert rgb.shape == (3, 37, 29) and meta.size == (29, 37)


def test_arrays_and_tensors(rng):
    t = torch.rand(3, 10, 12, generator=rng)
    assert torch.equal(read_image(t)[0], t)
    assert read_image(t[None])[0].shape == (3, 10, 12)
    u8 = (t.permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    assert torch.allclose(read_image(u8)[0], t, atol=1 / 255)
    assert read_image(u8[..., 0])[1].grayscale


@pytest.mark.parametrize("bad, message", [
    (b"", "not a readable image"),
    (b"hello, I am text renamed to .png", "not a readable image"),
    (np.zeros((0, 5, 3)), "empty"),
    (np.zeros((5, 5, 2)), "array"),
    (torch.zeros(4, 8, 8), "3 x H x W"),
])
def test_bad_inputs_get_one_line_errors(bad, message):
    with pytest.raises(ImageReadError, match=message) as err:
        read_image(bad)
    assert "\n" not in str(err.value)


def test_truncated_png_and_pixel_cap(photo, tmp_path):
    data = _png(photo)
    with pytest.raises(ImageReadError):
        read_image(data[: len(data) // 2])
    with pytest.raises(ImageReadError, match="limit"):
        read_image(data, max_pixels=100)
    with pytest.raises(FileNotFoundError):
        read_image(tmp_path / "absent.png")


def test_padding_reflects_and_crops_back(rng):
    x = torch.rand(1, 3, 37, 29, generator=rng)
    padded = pad_to_multiple(x, 8)
    assert padded.shape[-2:] == (40, 32)
    assert torch.equal(padded[..., 37, :29], x[..., 35, :])  # reflection, not zeros
    assert pad_to_multiple(torch.rand(1, 3, 1, 1), 8).shape[-2:] == (8, 8)  # too small to reflect
    seen = []
    out = apply_padded(lambda t: seen.append(t.shape) or t * 2, x, 8)
    assert seen == [(1, 3, 40, 32)] and torch.equal(out, x * 2)


def test_tile_blending_is_exact_for_a_pointwise_map(rng):
    x = torch.rand(1, 3, 100, 75, generator=rng)
    calls = []
    out = apply_tiled(lambda t: t.square(), x, tile=32, overlap=8, multiple=8,
                      on_tile=lambda done, total: calls.append((done, total)))
    assert torch.allclose(out, x.square(), atol=1e-6)
    assert calls[-1][0] == calls[-1][1] > 1
    with pytest.raises(ValueError, match="multiple of 8"):
        apply_tiled(lambda t: t, x, tile=30, overlap=8, multiple=8)


def test_tiled_network_matches_untiled_on_average(tiny_net, rng):
    smooth = F.interpolate(torch.rand(1, 3, 16, 16, generator=rng), size=(256, 256), mode="bicubic").clamp(0, 1)
    d = torch.randn(1, 512, generator=rng)
    with torch.no_grad():
        whole = apply_padded(lambda t: tiny_net(t, d), smooth, 8)
        tiled = apply_tiled(lambda t: tiny_net(t, d), smooth, tile=128, overlap=32, multiple=8)
    assert (whole - tiled).abs().mean().item() < 1 / 255


def test_probe_reads_the_header_only_and_refuses_bombs(photo, monkeypatch):
    from PIL import ImageFile

    from core.imageio import ImageTooLargeError, open_image, probe_image
    frames = [photo, photo.transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
    gif = _png(frames[0], "GIF", save_all=True, append_images=frames[1:])
    png = _png(photo)
    huge = _png(Image.new("L", (3000, 3000)))
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda *_: pytest.fail("probe_image decoded pixels"))
    info = probe_image(gif)
    assert info.size == (37, 29) and info.format == "GIF" and info.animated
    assert not probe_image(png).animated and probe_image(png).mode == "RGB"
    with pytest.raises(ImageTooLargeError, match="3000 x 3000 = 9,000,000 pixels") as err:
        probe_image(huge, max_pixels=1_000_000)
    assert (err.value.width, err.value.height) == (3000, 3000)
    with pytest.raises(ImageTooLargeError, match="decompression bomb") as err:
        probe_image(_bomb_header(60000, 60000))
    assert err.value.width is None
    with pytest.raises(ImageTooLargeError):  # open_image checks the header before decoding
        open_image(huge, max_pixels=1_000_000)
    monkeypatch.undo()
    first = open_image(gif)
    assert first.size == (37, 29) and getattr(first, "fp", None) is None  # file closed, first frame kept
    with pytest.raises(ImageReadError, match="damaged or truncated") as err:
        open_image(png[: len(png) // 2])
    assert err.value.reason.startswith("damaged or truncated image data")


def _bomb_header(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height pixels, with next to no data."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
