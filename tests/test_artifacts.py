"""TensorBoard artefacts, read back from the event files with TensorBoard's own reader."""

import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2
from torch import nn
from torch.utils.tensorboard import SummaryWriter

from sslab.data.patches import patchify, unpatchify
from sslab.methods import build_method
from sslab.models import vit_config
from sslab.train import artifacts

VIT = vit_config("cpu-tiny", image_size=8, patch=2, channels=1)


def images(n: int = 8, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, 1, 8, 8, generator=torch.Generator().manual_seed(seed))


def accumulate(log_dir) -> EventAccumulator:
    ea = EventAccumulator(str(log_dir), size_guidance={"images": 0, "scalars": 0, "tensors": 0})
    ea.Reload()
    return ea


def test_reconstruction_rows_paste_visible_patches_and_grey_out_masked_ones():
    torch.manual_seed(0)
    mae = build_method("mae", VIT, mask_ratio=0.75)
    x = images()
    rows = artifacts.reconstruction_rows(mae, x, seed=3)
    assert rows.shape == (24, 1, 8, 8) and rows.min() >= 0 and rows.max() <= 1
    inp, masked, recon = rows[:8], rows[8:16], rows[16:]
    lo, hi = x.amin(dim=(1, 2, 3), keepdim=True), x.amax(dim=(1, 2, 3), keepdim=True)
    torch.testing.assert_close(inp, (x - lo) / (hi - lo))
    mask = mae(x, torch.Generator().manual_seed(3))["mask"].bool()  # the same mask (same seed)
    assert mask.float().mean() == 0.75
    p_in, p_masked, p_recon = (patchify(t, 2) for t in (inp, masked, recon))
    torch.testing.assert_close(p_recon[~mask], p_in[~mask])  # visible patches come from the input
    torch.testing.assert_close(p_masked[~mask], p_in[~mask])
    grey = ((x.mean() - lo) / (hi - lo)).view(8, 1, 1).expand(8, 16, 4)
    torch.testing.assert_close(p_masked[mask], grey[mask])
    assert not torch.allclose(p_recon[mask], p_in[mask])  # an untrained decoder does not copy the input
    assert mae.training, "the train mode is restored"


class _PerfectNormPix(nn.Module):
    """A pixel 'decoder' that returns the per-patch normalised target exactly (norm_pix_loss)."""

    vit, mask_ratio, norm_pix_loss = VIT, 0.5, True

    def __init__(self, x):
        super().__init__()
        self.x, self.w = x, nn.Parameter(torch.zeros(1))
        self.encoder = lambda x, ids_keep: x
        self.decoder = lambda x, ids_restore: self._normalised(x)

    @staticmethod
    def _normalised(x):
        t = patchify(x, 2)
        return (t - t.mean(-1, keepdim=True)) / (t.var(-1, keepdim=True) + 1e-6).sqrt()


def test_norm_pix_predictions_are_denormalised_with_the_target_patch_statistics():
    x = images()
    rows = artifacts.reconstruction_rows(_PerfectNormPix(x), x)
    torch.testing.assert_close(rows[16:], rows[:8], atol=1e-5, rtol=0)  # perfect prediction = the input


def test_image_grid_layout():
    tiles = torch.stack([torch.full((1, 2, 3), float(i)) for i in range(5)])
    grid = artifacts.image_grid(tiles, columns=3, pad=1)
    assert grid.shape == (1, 2 * 3 + 1, 3 * 4 + 1)
    assert grid[0, 1, 1] == 0 and grid[0, 1, 5] == 1 and grid[0, 4, 5] == 4 and grid[0, 4, 9] == 1  # pad
    torch.testing.assert_close(unpatchify(patchify(tiles, 1), 1, (1, 2, 3)), tiles)


def test_epoch_end_logs_grids_every_n_epochs_and_the_last_one(tmp_path):
    torch.manual_seed(0)
    mae = build_method("mae", VIT)
    with SummaryWriter(str(tmp_path)) as writer:
        logged = [e for e in range(1, 26) if artifacts.epoch_end(writer, mae, images(), e, 25, every=10)]
        assert not artifacts.epoch_end(writer, build_method("simclr", VIT), images(), 10, 25)
    assert logged == [10, 20, 25]
    ea = accumulate(tmp_path)
    events = ea.Images("reconstruction")
    assert [e.step for e in events] == [10, 20, 25]
    assert (events[0].width, events[0].height) == (8 * 9 + 1, 3 * 9 + 1)


def test_run_end_writes_hparams_and_projector(tmp_path):
    torch.manual_seed(0)
    mae = build_method("umae", VIT, uniformity_weight=1e-2)
    x, labels = images(40), torch.arange(40) % 4
    hparams = {"method": "umae", "lr": 1.5e-3, "epochs": 2, "vit": {"depth": 2}, "methods": [1, 2]}
    artifacts.run_end(tmp_path, hparams, {"linear": 0.5, "knn": 0.25, "method": "umae"}, mae.encoder, x, labels,
                      step=2, max_points=30)
    ea = accumulate(tmp_path)
    content = ea.PluginTagToContent("hparams")
    start = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"]).session_start_info
    assert start.hparams["lr"].number_value == 1.5e-3 and start.hparams["method"].string_value == "umae"
    assert start.hparams["vit.depth"].number_value == 2 and start.hparams["methods"].string_value == "[1, 2]"
    assert ea.Scalars("final/linear")[0].value == 0.5 and ea.Scalars("final/knn")[0].value == 0.25
    config = (tmp_path / "projector_config.pbtxt").read_text()
    assert "metadata_path" in config and "sprite" in config
    (tensors,) = tmp_path.rglob("tensors.tsv")
    step_dir = tensors.parent
    assert "tensor_path: \"00002/features/tensors.tsv\"" in config
    rows = (step_dir / "tensors.tsv").read_text().splitlines()
    assert len(rows) == 30 and len(rows[0].split("\t")) == VIT.dim
    kept = torch.randperm(40, generator=torch.Generator().manual_seed(0))[:30].sort().values
    assert (step_dir / "metadata.tsv").read_text().split() == [str(int(v)) for v in labels[kept]]
    with torch.no_grad():
        expected = mae.encoder.features(x[kept])
    first = torch.tensor([float(v) for v in rows[0].split("\t")])
    torch.testing.assert_close(first, expected[0], atol=1e-4, rtol=1e-4)
    assert (step_dir / "sprite.png").stat().st_size > 100


def test_the_training_loop_logs_the_grid_at_the_last_epoch(tmp_path):
    from sslab.train.loop import TrainConfig, train

    torch.manual_seed(0)
    mae = build_method("mae", VIT)
    train(mae, images(64), TrainConfig(epochs=2, batch_size=32, checkpoint_every=2), tmp_path, run_config={})
    events = accumulate(tmp_path / "tensorboard").Images("reconstruction")
    assert [e.step for e in events] == [2]
