"""Render one diagram per architecture of deeprnn.models to docs/img/models/<name>.png.

One time step of each model, after Pascanu et al. (2014), figure 2: circles are vectors, arrows are an
affine map followed by the layer's nonlinearity (arrows into the same node are summed first). Arrows from
the left come from step t-1. Green nodes are the recurrent state, blue ones the core's intermediate layers;
grey parts belong to the task head (the read-out), not to the core; dashed arrows are optional.

    .venv/bin/python scripts/render_model_diagrams.py [output_dir]
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

OUTPUT_DIR = Path(__file__).resolve().parents[1] / "docs" / "img" / "models"
CORE, HEAD, STATE, INPUT = "#1f77b4", "#8c8c8c", "#2ca02c", "black"


def node(x, y, label, color=CORE, radius=0.3):
    return dict(x=x, y=y, label=label, color=color, radius=radius)


def draw(name, title, nodes, edges, size=(6.0, 4.2)):
    """nodes: name -> node(); edges: edge() tuples."""
    fig, ax = plt.subplots(figsize=size)
    for n in nodes.values():
        shape = plt.Circle((n["x"], n["y"]), n["radius"], facecolor="white", edgecolor=n["color"],
                           linewidth=2, zorder=2)
        ax.add_patch(shape)
        ax.text(n["x"], n["y"], n["label"], ha="center", va="center", fontsize=11, zorder=3)
    for source, target, label, curvature, color, style in edges:
        a, b = nodes[source], nodes[target]
        ax.annotate("", xy=(b["x"], b["y"]), xytext=(a["x"], a["y"]), zorder=1,
                    arrowprops=dict(arrowstyle="-|>", color=color, lw=1.6, linestyle=style,
                                    shrinkA=a["radius"] * 57, shrinkB=b["radius"] * 57,
                                    connectionstyle=f"arc3,rad={curvature}"))
        # label near the arc's midpoint (offset sideways for curved arcs)
        mid_x, mid_y = (a["x"] + b["x"]) / 2, (a["y"] + b["y"]) / 2
        dx, dy = b["x"] - a["x"], b["y"] - a["y"]
        mid_x, mid_y = mid_x + curvature * dy * 0.5, mid_y - curvature * dx * 0.5
        ax.text(mid_x, mid_y, label, fontsize=9, color=color, ha="center", va="center",
                bbox=dict(facecolor="white", edgecolor="none", pad=0.5), zorder=4)
    xs = [n["x"] for n in nodes.values()]
    ys = [n["y"] for n in nodes.values()]
    ax.set_xlim(min(xs) - 0.7, max(xs) + 0.7)
    ax.set_ylim(min(ys) - 0.6, max(ys) + 0.8)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(title, fontsize=12)
    fig.tight_layout()
    path = OUTPUT_DIR / f"{name}.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def edge(source, target, label, curvature=0.0, color=CORE, style="-"):
    return (source, target, label, curvature, color, style)


def readout_edges(top):
    return [edge(top, "y", "V", color=HEAD)]


def deep_transition(shortcut, deep_output):
    """DT-RNN and variants, drawn with transition depth L = 3."""
    nodes = {
        "h_prev": node(0, 1, "$h_{t-1}$", STATE), "z1": node(1.5, 1, "$z^1$"), "z2": node(3, 1, "$z^2$"),
        "h": node(4.5, 1, "$h_t$", STATE), "x": node(1.5, -0.4, "$x_t$", INPUT),
    }
    edges = [edge("h_prev", "z1", "$W_1$"), edge("x", "z1", "$U$"), edge("z1", "z2", "$W_2$"),
             edge("z2", "h", "$W_3$")]
    if shortcut:
        edges += [edge("h_prev", "z2", "$S_2$", -0.45), edge("h_prev", "h", "$S_3$", -0.5)]
    if deep_output:
        nodes["o"] = node(6.0, 2.0, "$o^1_t$", HEAD)
        nodes["y"] = node(6.0, 3.4, "$y_t$", HEAD)
        edges += [edge("h", "o", "$V_1$", color=HEAD), edge("o", "y", "$V_{out}$", color=HEAD),
                  edge("x", "o", "output_from_input", 0.45, HEAD, "--")]
    else:
        nodes["y"] = node(4.5, 2.6, "$y_t$", HEAD)
        edges += readout_edges("h")
    return nodes, edges


def main(output_dir=OUTPUT_DIR):
    global OUTPUT_DIR
    OUTPUT_DIR = Path(output_dir)
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    paths = []

    nodes = {"h_prev": node(0, 1, "$h_{t-1}$", STATE), "h": node(1.8, 1, "$h_t$", STATE),
             "x": node(1.8, -0.4, "$x_t$", INPUT), "y": node(1.8, 2.4, "$y_t$", HEAD)}
    edges = [edge("h_prev", "h", "$W$"), edge("x", "h", "$U$")] + readout_edges("h")
    paths.append(draw("rnn", "RNN: $h_t = \\tanh(W h_{t-1} + U x_t + b)$", nodes, edges, (4.5, 4.2)))

    titles = {
        "dt-rnn": "DT-RNN (L = 3)", "dts-rnn": "DT(S)-RNN (L = 3): shortcuts $S_l$ from $h_{t-1}$",
        "dot-rnn": "DOT-RNN: DT-RNN + deep output", "dots-rnn": "DOT(S)-RNN: DT(S)-RNN + deep output",
    }
    for name, title in titles.items():
        nodes, edges = deep_transition(shortcut="s-" in name, deep_output=name.startswith("dot"))
        paths.append(draw(name, title, nodes, edges, (8.0, 5.0) if name.startswith("dot") else (7.0, 4.2)))

    nodes = {"h1_prev": node(0, 1, "$h^1_{t-1}$", STATE), "h1": node(1.8, 1, "$h^1_t$", STATE),
             "h2_prev": node(0, 2.4, "$h^2_{t-1}$", STATE), "h2": node(1.8, 2.4, "$h^2_t$", STATE),
             "x": node(1.8, -0.4, "$x_t$", INPUT), "y": node(1.8, 3.8, "$y_t$", HEAD)}
    edges = [edge("h1_prev", "h1", "$W^1_{hh}$"), edge("x", "h1", "$W^1_{ih}$"),
             edge("h2_prev", "h2", "$W^2_{hh}$"), edge("h1", "h2", "$W^2_{ih}$")] + readout_edges("h2")
    paths.append(draw("srnn", "sRNN (2 layers)", nodes, edges, (4.5, 5.4)))

    for name, previous, current in (("lstm", "$h_{t-1}$\n$c_{t-1}$", "$h_t$\n$c_t$"),
                                    ("gru", "$h_{t-1}$", "$h_t$")):
        nodes = {"h_prev": node(0, 1, previous, STATE, 0.45), "cell": node(2.0, 1, name.upper(), CORE, 0.45),
                 "h": node(4.0, 1, current, STATE, 0.45), "x": node(2.0, -0.6, "$x_t$", INPUT),
                 "y": node(4.0, 2.6, "$y_t$", HEAD)}
        edges = [edge("h_prev", "cell", ""), edge("x", "cell", ""), edge("cell", "h", "")]
        edges += [edge("h", "y", "V", color=HEAD)]
        paths.append(draw(name, f"{name.upper()} (torch.nn.{name.upper()})", nodes, edges, (5.5, 4.4)))
    return paths


if __name__ == "__main__":
    for path in main(*sys.argv[1:]):
        print(path)
