"""t-SNE (van der Maaten & Hinton 2008) scatter of frozen features, coloured by label."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.manifold import TSNE


def tsne_plot(ax: plt.Axes, features: torch.Tensor, labels: torch.Tensor, title: str, seed: int = 0) -> None:
    f = features.detach().cpu().numpy().astype(np.float64)
    emb = TSNE(n_components=2, init="pca", perplexity=min(30.0, (len(f) - 1) / 3), random_state=seed).fit_transform(f)
    sc = ax.scatter(emb[:, 0], emb[:, 1], c=labels.cpu().numpy(), cmap="tab10", s=4)
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.legend(*sc.legend_elements(), fontsize=6, markerscale=0.6, title="class", title_fontsize=6,
              loc="upper left", bbox_to_anchor=(1.0, 1.0))  # beside the points, not over them
