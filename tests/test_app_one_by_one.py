"""The studio's one-by-one mode: a restore by the specialist for the image's degradation type (or the
all-in-one network), the contact sheet's one-by-one entry, the specialists the studio loads (the Mode
control's choices)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import core
from app import handlers, plots, views
from app.config import AppConfig
from app.jobs import Cancelled, Job
from app.state import ModelHolder, default_factory
from app.steering import contact_sheet
from app.testing import TINY_NET, tiny_restorer
from app.views import key_roles
from core.degradations import CANONICAL
from core.one_by_one import specialist_type

pytestmark = pytest.mark.usefixtures("one_thread_module")  # tiny images: one thread is faster on a shared CPU


@pytest.fixture(scope="module")
def specialist_holder() -> ModelHolder:
    """The same all-in-one network and encoder as ``holder``'s, with noise and blur specialists."""
    restorer, note = tiny_restorer(specialists=("noise", "blur"))
    return ModelHolder(AppConfig(), lambda cfg: (restorer, note))


def test_one_by_one_restores_with_the_specialist_and_says_which_network_ran(holder, specialist_holder, tmp_path,
                                                                          make_photo, caplog):
    path = make_photo(tmp_path / "scene.png")
    restorer = specialist_holder.get()
    noise_alone = core.Restorer(restorer.specialists["noise"], restorer.encoder)
    out = handlers.restore(specialist_holder, path, "noise_25", "", "off", mode="one-by-one")
    assert np.array_equal(np.asarray(out.after), np.asarray(noise_alone.restore(path, degradation="noise_25").image))
    assert out.summary.endswith("· restored by the noise specialist (one-by-one)")
    assert out.details["mode"] == "one-by-one" and out.details["network"] == "noise specialist"
    # auto-detection chooses the type (when sure of it); otherwise, or a type without a specialist:
    # the all-in-one network
    auto = handlers.restore(specialist_holder, path, "auto", "", "off", mode="one-by-one")
    kind = specialist_type(auto.details["probabilities"])
    alone = core.Restorer(restorer.specialists.get(kind, restorer.network), restorer.encoder)
    assert np.array_equal(np.asarray(auto.after), np.asarray(alone.restore(path).image))
    assert auto.details["network"] == (f"{kind} specialist" if kind in restorer.specialists else "all-in-one")
    haze = handlers.restore(specialist_holder, path, "haze", "", "off", mode="one-by-one")
    assert haze.details["network"] == "all-in-one" and "(one-by-one: no haze specialist)" in haze.summary
    assert np.array_equal(np.asarray(haze.after), np.asarray(restorer.restore(path, degradation="haze").image))
    # the default mode: one-by-one for a model with specialists, all-in-one (and no note) for one without
    plain = handlers.restore(holder, path, "auto", "", "off")
    default = handlers.restore(specialist_holder, path, "auto", "", "off")
    assert np.array_equal(np.asarray(default.after), np.asarray(auto.after))
    assert default.details["mode"] == "one-by-one" and default.details["network"] == auto.details["network"]
    assert np.array_equal(np.asarray(plain.after), np.asarray(holder.get().restore(path).image))
    assert "· restored by" not in plain.summary and plain.details["mode"] == plain.details["network"] == "all-in-one"
    chosen = handlers.restore(specialist_holder, path, "auto", "", "off", mode="all-in-one")
    assert chosen.summary.endswith("· restored by the all-in-one network") and chosen.details["network"] == "all-in-one"
    assert np.array_equal(np.asarray(chosen.after), np.asarray(restorer.restore(path, mode="all-in-one").image))
    # the Unfolding view traces the network that restored it
    stages = views.record_stages(specialist_holder, out.session)
    direct = noise_alone.restore(path, degradation="noise_25", tile=0, trace=True)
    for view, record in zip(stages, direct.stages, strict=True):
        assert np.allclose(view.weights, record.weights[0].numpy(), atol=1e-6)
    assert out.session.key_names == key_roles(noise_alone)[0] and "by the noise specialist" in out.session.trace_note
    # Cancel stops the specialist at its next stage; the log line has the mode
    job, ran = Job(), []
    hooks = [s.register_forward_pre_hook(lambda m, i: ran.append(m) or (job.cancel("cancelled by you")
                                                                       if len(ran) == 3 else None))
             for s in restorer.specialists["noise"].stages]
    try:
        with pytest.raises(Cancelled, match="cancelled by you"):
            handlers.restore(specialist_holder, path, "noise_25", "", "off", None, None, job, "one-by-one")
    finally:
        for h in hooks:
            h.remove()
    assert len(ran) == 3
    with caplog.at_level("INFO", logger="app.requests"):
        outcome = list(handlers.restore_steps(specialist_holder, path, "noise_25", "", "off", poll=0.01,
                                              mode="one-by-one"))[-1]
        with pytest.raises(handlers.UploadError, match="mode must be one of"):
            next(handlers.restore_steps(specialist_holder, path, mode="specialists"))
    assert outcome.details["network"] == "noise specialist"
    ok, refused = [r.getMessage() for r in caplog.records if r.name == "app.requests"]
    assert "mode=one-by-one" in ok and "outcome=ok" in ok and "mode=- " in refused and "outcome=refused" in refused


def test_the_contact_sheet_shows_the_one_by_one_restore_beside_auto(holder, specialist_holder, tmp_path, make_photo):
    image = Image.open(make_photo(tmp_path / "scene.png"))
    plain = contact_sheet(holder.get(), image)
    assert [c for _, c in plain][2:] == ["Uniform (no d_I)"] + [plots.DISPLAY[n] for n in CANONICAL]
    assert plain[1][1].startswith("Auto-detected (")
    restorer = specialist_holder.get()
    sheet = contact_sheet(restorer, image)
    captions = [c for _, c in sheet]
    assert len(sheet) == len(plain) + 1 and captions[3:] == [c for _, c in plain][2:]
    assert captions[1].startswith("Auto-detected, all-in-one (")
    assert np.array_equal(np.asarray(sheet[1][0]), np.asarray(plain[1][0]))   # the all-in-one result is unchanged
    one = restorer.restore(image, tile=0, mode="one-by-one")
    assert captions[2].startswith("One-by-one: ") and one.network in captions[2]
    assert np.array_equal(np.asarray(sheet[2][0]), np.asarray(one.image.convert("RGB")))


def test_the_studio_loads_the_registered_specialists(tmp_path, monkeypatch):
    torch.manual_seed(0)
    for name in ("main", "noise"):
        core.save_model(core.VLUNet(**TINY_NET).eval(), tmp_path / f"{name}.safetensors")
    main = str(tmp_path / "main.safetensors")
    monkeypatch.setitem(core.pretrained.SPECIALISTS, main, {"blur": str(tmp_path / "missing.safetensors"),
                                                            "noise": str(tmp_path / "noise.safetensors")})
    config = AppConfig(model=main, encoder=str(tmp_path / "no-encoder.safetensors"))
    restorer, note = default_factory(config)
    assert set(restorer.specialists) == {"noise"} and "one-by-one specialists: noise" in note
    assert "specialists left out: blur (no weights named" in note   # the all-in-one model stays usable
    assert ModelHolder(config).specialist_types() == []   # no encoder to choose a specialist: no Mode control
    assert ModelHolder(AppConfig(), lambda cfg: tiny_restorer(specialists=("blur", "noise"))).specialist_types() == \
        ["noise", "blur"]
