"""The run's CSV log and the plotly HTML of its curves, both beside the checkpoints."""
from __future__ import annotations

import csv
from pathlib import Path

COLUMNS = ("step", "epoch", "loss", "lr", "grad_norm", "step_time_s", "patches_per_s", "elapsed_s",
           "val_psnr", "val_psnr_input", "val_ssim")


class CsvLog:
    """Append-only CSV of training rows; on resume rows after the resumed step are dropped."""

    def __init__(self, path: Path, resume_step: int | None = None):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        rows = []
        if resume_step is not None and path.is_file():
            with open(path, newline="") as fh:
                rows = [r for r in csv.DictReader(fh) if int(r["step"]) <= resume_step]
        with open(path, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=COLUMNS)
            writer.writeheader()
            writer.writerows(rows)

    def write(self, **row) -> None:
        with open(self.path, "a", newline="") as fh:
            csv.DictWriter(fh, fieldnames=COLUMNS).writerow({k: row.get(k, "") for k in COLUMNS})


def write_curves(csv_path: Path, html_path: Path, title: str) -> Path | None:
    """Loss (log scale) and validation PSNR against step, as a self-contained plotly HTML."""
    import pandas as pd
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    frame = pd.read_csv(csv_path)
    if frame.empty:
        return None
    fig = make_subplots(rows=1, cols=2, subplot_titles=("L1 loss", "validation PSNR (dB)"))
    fig.add_trace(go.Scatter(x=frame["step"], y=frame["loss"], name="loss", mode="lines", opacity=0.35), 1, 1)
    smooth = frame["loss"].rolling(25, min_periods=1).mean()
    fig.add_trace(go.Scatter(x=frame["step"], y=smooth, name="loss (mean of 25)", mode="lines"), 1, 1)
    val = frame.dropna(subset=["val_psnr"])
    if not val.empty:
        fig.add_trace(go.Scatter(x=val["step"], y=val["val_psnr"], name="restored", mode="lines+markers"), 1, 2)
        fig.add_trace(go.Scatter(x=val["step"], y=val["val_psnr_input"], name="degraded input",
                                 mode="lines", line=dict(dash="dot")), 1, 2)
    fig.update_yaxes(type="log", row=1, col=1)
    fig.update_xaxes(title_text="step")
    fig.update_layout(title=title, template="plotly_white")
    fig.write_html(html_path, include_plotlyjs=True)
    return html_path
