"""What datasets sslab knows (``sslab data list``) and a grid of samples (``sslab data show``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch

from sslab.data.dataset import ImageDataset
from sslab.data.packaged import PACKAGED
from sslab.io import atomic_write_bytes

_USER_DATA = [
    {"name": "digits", "size": 1797, "resolution": "8×8×1", "classes": 10,
     "source": "scikit-learn's bundled handwritten digits (UCI optdigits)", "licence": "CC BY 4.0",
     "needs": "nothing (bundled; the unit tests' smoke data)"},
    {"name": "cifar10", "size": 60000, "resolution": "32×32×3", "classes": 10,
     "source": "CIFAR-10 python batches (Krizhevsky 2009)", "licence": "see the dataset's site",
     "needs": "--data-dir with cifar-10-batches-py/"},
    {"name": "cifar100", "size": 60000, "resolution": "32×32×3", "classes": 100,
     "source": "CIFAR-100 python batches (Krizhevsky 2009)", "licence": "see the dataset's site",
     "needs": "--data-dir with cifar-100-python/"},
    {"name": "stl10", "size": 13000, "resolution": "96×96×3", "classes": 10,
     "source": "STL-10 binaries (Coates, Lee, Ng 2011)", "licence": "see the dataset's site",
     "needs": "--data-dir with stl10_binary/"},
    {"name": "imagefolder", "size": None, "resolution": "any (resized)", "classes": None,
     "source": "<class>/<image> folders, ImageNet-100 layout", "licence": "the user's",
     "needs": "--data-dir with one folder per class"},
]


def dataset_catalog() -> list[dict[str, Any]]:
    """One record per dataset: name, size, resolution, classes, source, licence, what it needs."""
    rows = [_USER_DATA[0]]
    for spec in PACKAGED.values():
        rows.append({
            "name": spec.name, "size": spec.size, "resolution": "28×28×1", "classes": len(spec.classes),
            "source": spec.source, "licence": spec.licence, "needs": spec.install,
        })
    for name, fg in (("textured", "mnist-5k"), ("textured-animal", "animal-mnist")):
        rows.append({
            "name": name, "size": PACKAGED[fg].size, "resolution": "28×28×1", "classes": 10,
            "source": f"{fg} foregrounds alpha-composited over scikit-image's bundled photographs "
                      "(background contrast γ = 1; disjoint source photos per split)",
            "licence": f"{PACKAGED[fg].licence}; scikit-image data: see its licence file",
            "needs": f"{PACKAGED[fg].install} and scikit-image",
        })
    return rows + _USER_DATA[1:]


def sample_grid_figure(ds: ImageDataset, per_class: int = 8, max_classes: int = 10) -> plt.Figure:
    """The first ``per_class`` images of each of the first ``max_classes`` classes, one row per class."""
    classes = list(range(min(ds.num_classes, max_classes)))
    fig, axes = plt.subplots(
        len(classes), per_class, figsize=(per_class * 0.9, len(classes) * 0.95), squeeze=False, layout="constrained"
    )
    for r, c in enumerate(classes):
        idx = torch.nonzero(ds.labels == c).flatten()[:per_class]
        for j in range(per_class):
            ax = axes[r][j]
            ax.set_axis_off()
            if j < len(idx):
                img = ds.images[idx[j]]
                lo, hi = float(img.min()), float(img.max())
                img = (img - lo) / (hi - lo) if hi > lo else img * 0
                if img.shape[0] == 1:
                    ax.imshow(img[0].numpy(), cmap="gray", vmin=0, vmax=1)
                else:
                    ax.imshow(img[:3].permute(1, 2, 0).numpy())
        axes[r][0].set_title(ds.classes[c], fontsize=7, loc="left")
    fig.suptitle(f"{ds.name}: {len(ds)} images at {'×'.join(map(str, ds.image_shape[1:]))}", fontsize=9)
    return fig


def save_sample_grid(ds: ImageDataset, path: str | Path, per_class: int = 8) -> Path:
    """Write the sample grid of ``ds`` as a PNG at ``path`` (atomically)."""
    import io

    fig = sample_grid_figure(ds, per_class)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    path = Path(path)
    atomic_write_bytes(path, buf.getvalue())
    return path
