"""Attention metrics on hand-made maps, and the hook-recomputed probabilities of the ViT."""

import math

import pytest
import torch
import torch.nn.functional as F

from sslab.eval.attention import (
    attention_entropy,
    attention_maps,
    grid_distances,
    layer_metrics,
    mean_attention_distance,
    patch_rows,
    query_dependence,
)
from sslab.models.vit import ViTEncoder, vit_config

GRID = 4
L = GRID * GRID


def local_map() -> torch.Tensor:
    """Every query attends only to itself."""
    return torch.eye(L)


def global_map() -> torch.Tensor:
    """Every query attends uniformly to every patch."""
    return torch.full((L, L), 1.0 / L)


def neighbour_map() -> torch.Tensor:
    """Every query splits its attention equally between itself and its right neighbour
    (the last column attends to its left neighbour instead)."""
    a = torch.zeros(L, L)
    for i in range(L):
        r, c = divmod(i, GRID)
        j = r * GRID + (c + 1 if c + 1 < GRID else c - 1)
        a[i, i] = a[i, j] = 0.5
    return a


def test_local_map_metrics():
    a = local_map()
    assert mean_attention_distance(a, GRID).item() == pytest.approx(0.0)
    assert attention_entropy(a).item() == pytest.approx(0.0)
    assert query_dependence(a).item() == pytest.approx(1.0)  # disjoint rows: TV = 1 for every pair


def test_global_map_metrics():
    a = global_map()
    # hand computation on a 4×4 grid: mean over all ordered pairs (self included) of ‖p_i − p_j‖
    pos = [(r, c) for r in range(GRID) for c in range(GRID)]
    mean_d = sum(math.dist(p, q) for p in pos for q in pos) / L**2
    assert mean_attention_distance(a, GRID).item() == pytest.approx(mean_d)
    assert attention_entropy(a).item() == pytest.approx(math.log(L))
    assert query_dependence(a).item() == pytest.approx(0.0)


def test_neighbour_map_metrics():
    a = neighbour_map()
    assert mean_attention_distance(a, GRID).item() == pytest.approx(0.5)  # ½·0 + ½·1
    assert attention_entropy(a).item() == pytest.approx(math.log(2))
    # hand count of TV between rows: a row shares mass ½ with a row exactly when their supports
    # overlap in one patch: pairs (i, i+1) within a row, and the last two columns, which share both
    tv = torch.tensor([[0.5 * (a[i] - a[j]).abs().sum() for j in range(L)] for i in range(L)])
    assert query_dependence(a).item() == pytest.approx(tv.sum().item() / (L * (L - 1)))
    assert 0.0 < query_dependence(a).item() < 1.0


def test_local_is_more_local_and_query_dependent_than_global():
    loc, glob = local_map(), global_map()
    assert mean_attention_distance(loc, GRID) < mean_attention_distance(glob, GRID)
    assert query_dependence(loc) > query_dependence(glob)
    assert attention_entropy(loc) < attention_entropy(glob)


def test_patch_rows_drop_cls_and_renormalise():
    a = torch.zeros(1 + L, 1 + L)
    a[:, 0] = 0.5  # half of every row on [cls]
    a[1:, 1:] = 0.5 * torch.eye(L)
    a[0, 1:] = 0.5 / L
    rows = patch_rows(a)
    assert torch.allclose(rows, torch.eye(L))


def test_grid_distances_hand_values():
    d = grid_distances(2)
    assert torch.allclose(d, torch.tensor([[0, 1, 1, 2**0.5], [1, 0, 2**0.5, 1],
                                           [1, 2**0.5, 0, 1], [2**0.5, 1, 1, 0]], dtype=torch.float64))


def test_hooked_probabilities_reproduce_the_block_output():
    """The recomputed A, applied to v and projected, gives exactly what the block's attention returned."""
    torch.manual_seed(0)
    enc = ViTEncoder(vit_config("cpu-tiny", image_size=8, patch=2, channels=1))
    x = torch.randn(3, 1, 8, 8)
    outputs, inputs = [], []
    attn0 = enc.blocks[0].attn

    def record(_m, args, out) -> None:
        inputs.append(args[0])
        outputs.append(out)

    h = attn0.register_forward_hook(record)
    maps = attention_maps(enc, x)
    h.remove()
    assert len(maps) == len(enc.blocks)
    a = maps[0]
    b, n, d = inputs[0].shape
    assert a.shape == (3, attn0.heads, n, n)
    assert torch.allclose(a.sum(-1), torch.ones(3, attn0.heads, n), atol=1e-6)
    v = attn0.qkv(inputs[0]).reshape(b, n, 3, attn0.heads, d // attn0.heads).permute(2, 0, 3, 1, 4)[2]
    recomputed = attn0.proj((a @ v).transpose(1, 2).reshape(b, n, d))
    assert torch.allclose(recomputed, outputs[0], atol=1e-5)


def test_layer_metrics_shapes_and_ranges():
    torch.manual_seed(0)
    enc = ViTEncoder(vit_config("cpu-tiny", image_size=8, patch=2, channels=1))
    x = torch.randn(10, 1, 8, 8)
    m = layer_metrics(enc, x, batch_size=4)
    assert set(m) == {"distance", "entropy", "tv"}
    assert all(len(v) == len(enc.blocks) for v in m.values())
    assert all(0 <= t <= 1 for t in m["tv"]) and all(0 <= e <= math.log(16) + 1e-9 for e in m["entropy"])
    # averaging over batches of 4 (4 + 4 + 2 images) equals one pass over all 10 images
    m1 = layer_metrics(enc, x, batch_size=10)
    for key in m:
        assert m[key] == pytest.approx(m1[key], rel=1e-6)


def test_sdpa_scale_matches_the_softmax_formula():
    q, k, v = torch.randn(3, 2, 4, 5, 8).unbind(0)
    ref = F.scaled_dot_product_attention(q, k, v)
    a = (q @ k.transpose(-2, -1) / math.sqrt(8)).softmax(-1)
    assert torch.allclose(a @ v, ref, atol=1e-5)
