"""Plotly figures of the studio: detected degradation, retrieval weights, stage changes, atlas."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import plotly.graph_objects as go

from core.degradations import CANONICAL

DISPLAY = {"noise_15": "Noise σ=15", "noise_25": "Noise σ=25", "noise_50": "Noise σ=50", "haze": "Haze",
           "rain": "Rain", "blur": "Blur", "low_light": "Low light"}
COLORS = {"noise_15": "#9ecae1", "noise_25": "#4292c6", "noise_50": "#08519c", "haze": "#969696",
          "rain": "#41ab5d", "blur": "#fd8d3c", "low_light": "#6a51a3"}
FONT = dict(family="Inter, system-ui, sans-serif", size=13)


def _layout(fig: go.Figure, height: int, **kw) -> go.Figure:
    kw.setdefault("margin", dict(l=10, r=10, t=50, b=10))
    fig.update_layout(height=height, font=FONT, template="plotly_white", **kw)
    return fig


def empty_figure(message: str, height: int = 300) -> go.Figure:
    """A blank figure that says why it is blank."""
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper",
                       font=dict(size=14, color="#666"))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return _layout(fig, height)


def percent(p: float) -> str:
    """A probability as the chart writes it: "<1 %" and ">99 %" rather than a rounded 0 or 100."""
    if p >= 0.995:
        return f"{p:.1%}" if p < 0.9995 else ">99.9 %"
    if p < 0.01:
        return "<1 %" if p >= 0.0005 else "<0.1 %"
    return f"{p:.0%}"


def degradation_bars(probabilities: dict[str, float], guidance: str = "", unsure_below: float = 0.8) -> go.Figure:
    """Horizontal bars of the seven detected-degradation probabilities as the encoder gives them
    (softmax of its class scores, uncalibrated), the top one coloured; a title that says "unsure"
    when the top class has less than ``unsure_below``, and a footnote saying what the numbers are."""
    if not probabilities:
        return empty_figure("No degradation encoder loaded: restored with uniform retrieval", 300)
    names = [n for n in CANONICAL if n in probabilities]
    values = [probabilities[n] for n in names]
    order = np.argsort(values)[::-1]
    top, second = names[order[0]], names[order[1]]
    unsure = probabilities[top] < unsure_below
    fig = go.Figure(go.Bar(
        x=values, y=[DISPLAY.get(n, n) for n in names], orientation="h",
        marker_color=[COLORS.get(n, "#888") if n == top or (unsure and n == second) else "#d9d9d9" for n in names],
        text=[percent(v) for v in values], textposition="outside", cliponaxis=False,
        hovertemplate="%{y}: %{x:.2%}<extra></extra>"))
    fig.update_xaxes(range=[0, 1.22], tickformat=".0%", showgrid=True)
    fig.update_yaxes(autorange="reversed")
    if unsure:
        title = f"Unsure: {DISPLAY.get(top, top)} {percent(probabilities[top])}<br>or {DISPLAY.get(second, second)}"
    else:
        title = f"Detected: {DISPLAY.get(top, top)} ({percent(probabilities[top])})"
    steered = guidance.split(":", 1)[-1] if guidance and guidance != "auto" else ""
    sub = f"steered by {DISPLAY.get(steered, steered[:24])}, not by this; " if steered else ""
    title += f"<br><sub>{sub}the encoder's own scores, not calibrated</sub>"
    lines = title.count("<br>") + 1   # the title's lines must not run into the top bar
    return _layout(fig, 300 + 20 * (lines - 2), title=dict(text=title, font=dict(size=14)),
                   margin=dict(l=10, r=10, t=24 + 20 * lines, b=10))


def weights_heatmap(weights: np.ndarray, stage_labels: Sequence[str], selected: int | None = None,
                    key_names: Sequence[str] | None = None) -> go.Figure:
    """Stages x keys heatmap of the retrieval weights (8 x de_dim), the selected stage outlined; each
    key named by the class that retrieves it most (``key_names``, see :func:`app.views.key_roles`)."""
    n_keys = weights.shape[1]
    columns = [f"key {i + 1}" + (f"<br>{key_names[i]}" if key_names and i < len(key_names) else "") for i in range(n_keys)]
    fig = go.Figure(go.Heatmap(
        z=weights, x=columns, y=list(stage_labels), colorscale="Viridis",
        zmin=0, zmax=max(float(weights.max()), 1e-6), texttemplate="%{z:.2f}", textfont=dict(size=11),
        hovertemplate="%{y} · %{x}: %{z:.3f}<extra></extra>", colorbar=dict(title="weight", thickness=12)))
    if selected is not None:
        fig.add_shape(type="rect", x0=-0.5, x1=n_keys - 0.5, y0=selected - 0.5, y1=selected + 0.5,
                      line=dict(color="#e6550d", width=3))
    fig.update_yaxes(autorange="reversed")
    title = "Retrieval weights over the degradation key database"
    if key_names:
        title += "<br><sub>each key named by the class whose prompt retrieves it most</sub>"
    return _layout(fig, 360, title=dict(text=title, font=dict(size=14)), margin=dict(l=10, r=10, t=64, b=10))


def stage_changes(labels: Sequence[str], gradient: Sequence[float], proximal: Sequence[float],
                  steps: Sequence[float], selected: int | None = None) -> go.Figure:
    """How much each stage changes its estimate: gradient-step and proximal-step parts, stacked."""
    widths = [3 if i == selected else 0 for i in range(len(labels))]
    fig = go.Figure([
        go.Bar(name="gradient step ‖r·Φᵀ(Φx−y)‖", x=list(labels), y=list(gradient), marker_color="#3182bd",
               marker_line=dict(width=widths, color="#e6550d"), customdata=list(steps),
               hovertemplate="%{x}<br>gradient step: %{y:.3f}<br>r = %{customdata:.4g}<extra></extra>"),
        go.Bar(name="proximal step ‖x−z‖", x=list(labels), y=list(proximal), marker_color="#fd8d3c",
               marker_line=dict(width=widths, color="#e6550d"),
               hovertemplate="%{x}<br>proximal step: %{y:.3f}<extra></extra>")])
    fig.update_layout(barmode="stack", legend=dict(orientation="h", y=1.02, x=0, yanchor="bottom"))
    fig.update_yaxes(title="relative change of the estimate")
    return _layout(fig, 340, title=dict(text="Change of the estimate per stage", font=dict(size=14), y=0.98))


def _photo(row_id: str) -> str:
    """"val/<package>__<photo>/<degradation>/<n>" -> "<photo>" (other ids unchanged)."""
    parts = str(row_id).split("/")
    return parts[1].split("__")[-1] if len(parts) >= 3 else str(row_id)


def atlas_scatter(points, title: str, user: tuple[float, float] | None = None) -> go.Figure:
    """UMAP scatter: ``points`` is a DataFrame with x, y, kind, degradation, split, text, id, predicted."""
    fig = go.Figure()
    images = points[points["kind"] == "image"]
    prompts = points[points["kind"] == "prompt"]
    for name in CANONICAL:
        rows = images[images["degradation"] == name].sort_values("split", key=lambda s: s != "val")
        if len(rows):  # validation rows first: the legend shows the first marker (filled)
            fig.add_trace(go.Scatter(
                x=rows["x"], y=rows["y"], mode="markers", name=DISPLAY[name], legendgroup=name,
                marker=dict(color=COLORS[name], size=7, opacity=0.85,
                            symbol=["circle" if s == "val" else "circle-open" for s in rows["split"]]),
                customdata=np.stack([[_photo(i) for i in rows["id"]], rows["split"], rows["predicted"]], axis=1),
                hovertemplate=f"<b>{DISPLAY[name]}</b><br>%{{customdata[0]}}<br>split %{{customdata[1]}}"
                              "<br>predicted %{customdata[2]}<extra></extra>"))
    if len(prompts):
        fig.add_trace(go.Scatter(
            x=prompts["x"], y=prompts["y"], mode="markers", name="class prompts (text)",
            marker=dict(symbol="diamond", size=10, color=[COLORS.get(d, "#888") for d in prompts["degradation"]],
                        line=dict(color="black", width=1)),
            customdata=np.stack([prompts["text"], [DISPLAY.get(d, d) for d in prompts["degradation"]],
                                 prompts["split"]], axis=1),
            hovertemplate="prompt <b>“%{customdata[0]}”</b><br>%{customdata[1]}<extra></extra>"))
        for name, rows in prompts.groupby("degradation"):   # one label per class, at its prompts' centre
            fig.add_annotation(x=float(rows["x"].mean()), y=float(rows["y"].mean()), text=f"“{DISPLAY.get(name, name)}”",
                               showarrow=True, arrowhead=0, ax=0, ay=-18, font=dict(size=10, color="#333"),
                               bgcolor="rgba(255,255,255,0.75)")
    if user is not None:   # black and gold: no class uses either; drawn open so a small cluster stays visible
        fig.add_trace(go.Scatter(
            x=[user[0]], y=[user[1]], mode="markers+text", name="your image", text=["your image"],
            textposition="top center", textfont=dict(color="black", size=12),
            marker=dict(symbol="star", size=22, color="rgba(255,215,0,0.55)", line=dict(color="black", width=2)),
            hovertemplate="your image<extra></extra>"))
    fig.update_xaxes(showticklabels=False, title=None, zeroline=False)
    fig.update_yaxes(showticklabels=False, title=None, zeroline=False, scaleanchor="x")
    return _layout(fig, 520, title=dict(text=title, font=dict(size=15)),
                   legend=dict(orientation="h", y=-0.02, x=0, yanchor="top"))
