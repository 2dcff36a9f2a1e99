"""The demo's and the report's charts, as plotly figures: expert weights, WER vs beta, the expert x accent matrix."""

import pandas as pd
import plotly.graph_objects as go

COMPACT = {"t": 40, "b": 40, "l": 40, "r": 20}  # margins of a chart that sits in a page's column


def annotated_heatmap(values: pd.DataFrame, text, colorscale: str, **heatmap) -> go.Figure:
    """A heatmap of `values` (its rows down, read top to bottom as the table reads; its columns across)
    with `text` written in each cell; `heatmap` passes further go.Heatmap settings (zmin, colorbar, ...)."""
    figure = go.Figure(
        go.Heatmap(
            z=values.values,
            x=list(values.columns),
            y=list(values.index),
            colorscale=colorscale,
            text=text,
            texttemplate="%{text}",
            **heatmap,
        )
    )
    figure.update_layout(yaxis_autorange="reversed")
    return figure


def bar_figure(accents: list[str], values, title: str, color: str | None = None) -> go.Figure:
    """One bar per expert, its weight (or probability) written on it, on a 0-1 scale."""
    figure = go.Figure(
        go.Bar(x=accents, y=[float(v) for v in values], text=[f"{float(v):.2f}" for v in values], marker_color=color)
    )
    figure.update_layout(title=title, yaxis_range=[0, 1], height=260, margin=dict(t=40, b=20, l=20, r=20))
    return figure


def posterior_figure(accents: list[str], posterior: dict[str, float] | None) -> go.Figure | None:
    """The accent classifier's posterior over `accents`; None without a classifier."""
    if posterior is None:
        return None
    return bar_figure(accents, [posterior[a] for a in accents], "Accent posterior, from the audio", "#8d99ae")


def beta_figure(curve: pd.DataFrame, accent: str) -> go.Figure:
    """maslora.systems.compare.wer_vs_beta's curve, each point's transcript on hover."""
    figure = go.Figure(go.Scatter(x=curve.beta, y=curve.wer * 100, mode="lines+markers", hovertext=curve.text))
    figure.update_layout(
        title=f"MAS-LoRA WER on this clip vs beta (accent {accent})",
        xaxis_title="beta (1 = matched expert alone, N = uniform)",
        yaxis_title="WER (%)",
        height=320,
        margin=COMPACT,
    )
    return figure


def matrix_figure(matrix: pd.DataFrame) -> go.Figure:
    """An expert x accent WER matrix (experts down, accents across: the experts' own accents first, in the
    experts' order, so that the diagonal is each expert on its own accent) as a heatmap."""
    columns = [a for a in matrix.index if a in matrix.columns] + sorted(set(matrix.columns) - set(matrix.index))
    matrix = matrix[columns]
    figure = annotated_heatmap(matrix, [[f"{v:.1f}" for v in row] for row in matrix.values], "Viridis_r")
    figure.update_layout(
        title="WER (%) of each expert alone on each accent's held-out speakers",
        xaxis_title="accent of the speech",
        yaxis_title="expert",
        height=380,
        margin=COMPACT,
    )
    return figure
