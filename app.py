"""VLU-Net Studio: ``python app.py`` (also the Hugging Face Space entry point).

Offline by default (GRADIO_ANALYTICS_ENABLED=False, HF_HUB_OFFLINE=1); the model loads on the
first request. Settings: VLUNET_MODEL (a shipped name, a checkpoint, or the authors'
pretrained_ckpt/3task_vlunet.ckpt), VLUNET_OFFICIAL (the authors' folder: its checkpoints in the
model list), VLUNET_ENCODER, VLUNET_MAX_PIXELS, ... (see app/config.py and docs/official.md).
"""
import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")  # huge pages for big feature maps (see core/__init__.py)

from app import build_demo, launch_kwargs  # noqa: E402

if __name__ == "__main__":
    import logging
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")   # one line per restore
    build_demo().launch(**launch_kwargs())
