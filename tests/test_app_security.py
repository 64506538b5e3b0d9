"""Security of the studio: nothing unpickled, no share link, no repository file served, uploads
and results kept in the temp folder whatever the upload is called, the upload size limit enforced."""
from __future__ import annotations

import ast
import os
import re
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from app import build_demo, handlers, launch_kwargs
from app.config import ROOT, AppConfig
from app.testing import tiny_restorer

gradio_client = pytest.importorskip("gradio_client")
httpx = pytest.importorskip("httpx")

UNPICKLERS = {"pickle", "_pickle", "cPickle", "dill", "cloudpickle", "joblib", "shelve", "marshal"}


def unsafe_loads(source: str) -> list[str]:
    """Every way ``source`` could unpickle: imports of pickling modules, ``torch.load`` without
    ``weights_only=True``, ``np.load(allow_pickle=True)``, pandas' pickles, ``yaml.load``/``unsafe_load``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [f"import {a.name}" for a in node.names if a.name.split(".")[0] in UNPICKLERS]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in UNPICKLERS:
            found.append(f"from {node.module} import ...")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = ast.unparse(node.func.value)
            kwargs = {k.arg: k.value for k in node.keywords}

            def is_true(name: str) -> bool:
                return isinstance(kwargs.get(name), ast.Constant) and kwargs[name].value is True
            call = f"{owner}.{node.func.attr}"
            if node.func.attr == "load" and owner in ("torch", "torch.serialization") and not is_true("weights_only"):
                found.append(f"{call} without weights_only=True (line {node.lineno})")
            elif node.func.attr == "load" and owner in ("np", "numpy") and not (
                    "allow_pickle" not in kwargs or isinstance(kwargs["allow_pickle"], ast.Constant)
                    and kwargs["allow_pickle"].value is False):
                found.append(f"{call} with allow_pickle (line {node.lineno})")
            elif node.func.attr in ("read_pickle", "to_pickle", "unsafe_load", "full_load"):
                found.append(f"{call} (line {node.lineno})")
            elif node.func.attr == "load" and owner == "yaml":
                found.append(f"{call} (use yaml.safe_load; line {node.lineno})")
    return found


def test_the_unpickling_check_finds_what_it_looks_for():
    bad = ("import pickle\nfrom joblib import load\nimport torch, numpy as np, pandas as pd, yaml\n"
           "torch.load('w.pt')\ntorch.load('w.pt', weights_only=False)\nnp.load('a.npy', allow_pickle=True)\n"
           "pd.read_pickle('t.pkl')\nyaml.load(open('c.yaml'))\n")
    assert len(unsafe_loads(bad)) == 7
    good = ("import torch, numpy as np, yaml\ntorch.load('w.pt', map_location='cpu', weights_only=True)\n"
            "np.load('a.npz')\nnp.load('a.npz', allow_pickle=False)\nyaml.safe_load('a: 1')\n")
    assert unsafe_loads(good) == []


# The one exception: the command that converts an authors' checkpoint refused by weights_only=True,
# which unpickles only when the user passes --trust-pickle (the library, the studio and training never do).
CONVERTER = "core/official/__main__.py"


def test_no_module_of_the_project_can_unpickle():
    files = [ROOT / "app.py"] + [p for folder in ("core", "app", "training") for p in (ROOT / folder).rglob("*.py")]
    assert len(files) > 30
    found = {str(p.relative_to(ROOT)): hits for p in files if (hits := unsafe_loads(p.read_text()))}
    converter = found.pop(CONVERTER)
    assert found == {}
    assert len(converter) == 1   # one torch.load, behind the flag:
    source = (ROOT / CONVERTER).read_text()
    assert "if not trust_pickle:\n            raise" in source and source.count("weights_only=False") == 1


def test_launch_settings_share_nothing_and_limit_uploads():
    config = AppConfig(max_file_mb=3, cache_dir="/somewhere/cache")
    kwargs = launch_kwargs(config)
    assert kwargs["share"] is False and kwargs["allowed_paths"] == []
    assert kwargs["max_file_size"] == 3 * 2**20
    blocked = {Path(p) for p in kwargs["blocked_paths"]}
    for sensitive in (ROOT / "data", ROOT / "runs", ROOT / "assets" / "models", ROOT / ".git", Path("/somewhere/cache")):
        assert sensitive.resolve() in blocked
    assert launch_kwargs(AppConfig(max_file_mb=0.05))["max_file_size"] == 52428  # fractions of a MB launch too


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    config = AppConfig(cache_dir=str(tmp_path_factory.mktemp("cache")), max_file_mb=0.05)
    restorer, note = tiny_restorer()
    demo = build_demo(config, restorer_factory=lambda cfg: (restorer, note))
    with pytest.MonkeyPatch.context() as env:
        env.setenv("GRADIO_SHARE", "True")  # an environment asking for a share link does not get one
        _, url, share_url = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True,
                                        **launch_kwargs(config))
    assert share_url is None and demo.share is False
    with httpx.Client(base_url=url, timeout=30) as http:
        yield gradio_client.Client(url, verbose=False), http, config
    demo.close()
    torch.set_num_threads(threads)


@pytest.fixture
def good(tmp_path) -> Path:
    path = tmp_path / "good.png"
    Image.fromarray((np.random.default_rng(0).random((16, 20, 3)) * 255).astype(np.uint8)).save(path)
    return path


def restore(client, path):
    return client.predict(gradio_client.handle_file(str(path)), "auto", "", "auto", api_name="/restore")


def test_repository_and_system_files_are_not_served(studio):
    _, http, config = studio
    weights = sorted((ROOT / "assets" / "models").glob("*.safetensors"))
    for path in [ROOT / "app.py", "README.md", ROOT / "app" / "config.py", ROOT / ".git" / "config",
                 config.cache_dir, "/etc/passwd", f"{tempfile.gettempdir()}/../etc/passwd", *weights[:1]]:
        response = http.get(f"/gradio_api/file={path}")
        assert response.status_code == 403, path
        assert "root:" not in response.text and "def " not in response.text


def test_the_restored_png_is_served(studio, good):
    client, http, _ = studio
    job = http.post("/gradio_api/call/restore", json={"data": [upload(http, good), "auto", "", "auto", "vlunet-tiny",
                                                                  "all-in-one", "none"]})
    stream = http.get(f"/gradio_api/call/restore/{job.json()['event_id']}").text
    assert "event: complete" in stream
    url = re.search(r'"url":\s*"([^"]+-restored\.png)"', stream).group(1)
    assert http.get(url).status_code == 200


def upload(http, path: Path, name: str | None = None) -> dict:
    """Upload through gradio's route like a browser does (any file name) -> FileData for a call."""
    response = http.post("/gradio_api/upload", files={"files": (name or path.name, path.read_bytes(), "image/png")})
    assert response.status_code == 200, response.text
    stored = response.json()[0]
    return {"path": stored, "orig_name": name or path.name, "meta": {"_type": "gradio.FileData"}}


def test_a_path_that_was_not_uploaded_is_refused(studio):
    _, http, _ = studio
    for path in ("/etc/passwd", str(ROOT / "README.md")):
        file = {"path": path, "meta": {"_type": "gradio.FileData"}}
        job = http.post("/gradio_api/call/restore", json={"data": [file, "auto", "", "auto", "vlunet-tiny"]})
        stream = http.get(f"/gradio_api/call/restore/{job.json()['event_id']}").text
        assert "event: error" in stream and "root:" not in stream and "VLU-Net" not in stream


def test_an_upload_name_cannot_place_files_outside_the_upload_folder(studio, good):
    client, http, _ = studio
    tmp = Path(tempfile.gettempdir()).resolve()
    for name in ("../../../../escaped.png", "..\\..\\escaped.png", "/etc/cron.d/escaped.png"):
        stored = Path(upload(http, good, name)["path"]).resolve()
        assert stored.is_relative_to(tmp) and stored.name.endswith("escaped.png") and ".." not in stored.parts
    assert not (tmp.parent / "escaped.png").exists() and not Path("/etc/cron.d/escaped.png").exists()
    weird = good.with_name("..;<b>x<b> $(id) é.png")
    weird.write_bytes(good.read_bytes())
    png, *_ = restore(client, weird)
    assert re.fullmatch(r"[A-Za-z0-9_-]+-restored\.png", Path(png).name), png


def test_an_upload_over_the_size_limit_is_refused(studio, tmp_path):
    client, http, config = studio
    big = tmp_path / "big.png"
    big.write_bytes(os.urandom(config.max_file_bytes + 1000))
    response = http.post("/gradio_api/upload", files={"files": ("big.png", big.read_bytes(), "image/png")})
    assert response.status_code == 413 and "exceeded maximum allowed size of 52428 bytes" in response.text
    with pytest.raises(ValueError, match="exceeds the maximum file size"):
        restore(client, big)


@pytest.mark.parametrize("name", ["../../etc/x.png", "/etc/passwd", "..", "a/../../b.png", "<script>alert(1)</script>.png",
                                  "-rf .png", "C:\\Windows\\x.png", "x" * 300 + ".png", "é漢字.png", "", None])
def test_the_result_is_written_in_the_temp_folder_whatever_the_upload_is_called(name):
    path = Path(handlers._save_png(Image.new("RGB", (3, 2)), name)).resolve()
    assert path.is_relative_to(handlers.OUTPUT_DIR.resolve()) and path.is_relative_to(Path(tempfile.gettempdir()).resolve())
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,60}-restored\.png", path.name) and Image.open(path).size == (3, 2)


def test_a_restore_writes_nothing_beside_the_upload(tmp_path, one_thread):
    from app.state import ModelHolder
    holder = ModelHolder(AppConfig(), lambda cfg: tiny_restorer(encoder=False))
    source = tmp_path / "..;$(id).png"
    Image.new("RGB", (12, 9), (90, 60, 30)).save(source, format="PNG")
    out = handlers.restore(holder, str(source), "auto", "", "auto")
    assert sorted(p.name for p in tmp_path.iterdir()) == [source.name]
    assert Path(out.png_path).resolve().is_relative_to(handlers.OUTPUT_DIR.resolve())
    assert Path(out.png_path).name == "id-restored.png"


def test_the_restore_event_takes_only_an_uploaded_file_path():
    import gradio as gr

    from app.wiring import upload_path
    assert upload_path(None) is None
    assert upload_path({"path": "/tmp/gradio/abc/photo.png", "url": None, "orig_name": "photo.png"}) == \
        "/tmp/gradio/abc/photo.png"
    with pytest.raises(gr.Error, match="not as a data: URL"):  # never decoded by gradio on the way in
        upload_path({"path": None, "url": "data:image/png;base64,iVBORw0KGgo="})
