"""Dataset loading, subsetting and splitting, including every malformed-folder case."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageFile

from augsearch.data import ImageSet, load_dataset, stratified_splits
from augsearch.errors import AugsearchError, ConfigError, DataError

# --- digits -----------------------------------------------------------------------------


def test_digits_train_and_val_are_a_stratified_partition():
    train = load_dataset("digits")
    val = load_dataset("digits", split="val")
    assert train.images.shape == (1438, 3, 16, 16) and train.images.dtype == torch.uint8
    assert val.images.shape == (359, 3, 16, 16)
    assert load_dataset("digits", image_size=32).images.shape[-1] == 32
    assert train.labels.dtype == torch.int64 and train.classes == [str(c) for c in range(10)]
    assert set(train.labels.tolist()) == set(range(10)) == set(val.labels.tolist())
    total = torch.bincount(train.labels) + torch.bincount(val.labels)
    assert total.sum() == 1797
    assert (torch.bincount(val.labels) - total * 0.2).abs().max() <= 1
    assert torch.equal(train.images[:, 0], train.images[:, 2])  # grey replicated to RGB
    assert int(train.images.max()) > 200  # 0..16 scaled to the full 0..255 range


def test_digits_image_size_and_unknown_split():
    assert load_dataset("digits", image_size=8).images.shape[-2:] == (8, 8)
    assert load_dataset("digits", image_size=20).images.shape[-2:] == (20, 20)
    with pytest.raises(DataError, match="digits"):
        load_dataset("digits", split="extra")
    assert torch.equal(load_dataset("digits", split="test").labels, load_dataset("digits", split="val").labels)
    with pytest.raises(ConfigError, match="image_size"):
        load_dataset("digits", image_size=0)


def test_subset_is_stratified_seeded_and_bounded():
    full = load_dataset("digits")
    small = load_dataset("digits", subset=300, seed=1)
    assert len(small) == 300
    expected = torch.bincount(full.labels).double() * 300 / len(full)
    assert (torch.bincount(small.labels) - expected).abs().max() < 1
    again = load_dataset("digits", subset=300, seed=1)
    other = load_dataset("digits", subset=300, seed=2)
    assert torch.equal(small.images, again.images) and torch.equal(small.labels, again.labels)
    assert not torch.equal(small.images, other.images)
    with pytest.raises(DataError, match="subset=5000"):
        load_dataset("digits", subset=5000)


def test_unknown_dataset_lists_known_names():
    with pytest.raises(DataError, match="digits.*cifar10.*folder:PATH"):
        load_dataset("mnist")


def test_imageset_validates_and_subsets():
    data = ImageSet(torch.zeros(4, 3, 2, 2, dtype=torch.uint8), torch.arange(4), ["a"] * 4, "x")
    part = data.subset([3, 1])
    assert len(part) == 2 and part.labels.tolist() == [3, 1] and part.name == "x"
    with pytest.raises(DataError, match="uint8"):
        ImageSet(torch.zeros(4, 3, 2, 2), torch.arange(4), ["a"], "x")
    with pytest.raises(DataError, match="labels"):
        ImageSet(torch.zeros(4, 3, 2, 2, dtype=torch.uint8), torch.arange(3), ["a"], "x")


# --- stratified splits ------------------------------------------------------------------


def test_stratified_splits_are_disjoint_covering_and_balanced():
    labels = torch.tensor([0] * 50 + [1] * 30 + [2] * 20)
    splits = stratified_splits(labels, n_splits=3, train_fraction=0.6, seed=0)
    assert len(splits) == 3
    for model_part, aug_part in splits:
        assert len(model_part) == 60 and len(aug_part) == 40
        assert set(model_part.tolist()).isdisjoint(aug_part.tolist())
        assert sorted(torch.cat([model_part, aug_part]).tolist()) == list(range(100))
        assert torch.bincount(labels[model_part]).tolist() == [30, 18, 12]
    assert not torch.equal(splits[0][0], splits[1][0])
    repeat = stratified_splits(labels, n_splits=3, train_fraction=0.6, seed=0)
    assert all(torch.equal(a[0], b[0]) for a, b in zip(splits, repeat))


def test_stratified_splits_rounding_keeps_ratios_close():
    labels = load_dataset("digits").labels
    model_part, aug_part = stratified_splits(labels, n_splits=1, seed=5)[0]
    assert len(model_part) == round(0.6 * len(labels))
    share = torch.bincount(labels[model_part]).double() / torch.bincount(labels).double()
    assert (share - 0.6).abs().max() < 0.02


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n_splits": 0}, ConfigError, "n_splits"),
        ({"n_splits": 2, "train_fraction": 1.0}, ConfigError, "train_fraction"),
        ({"n_splits": 2, "train_fraction": 0.0}, ConfigError, "train_fraction"),
    ],
)
def test_stratified_splits_rejects_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        stratified_splits(torch.arange(10) % 2, **kwargs)


def test_stratified_splits_rejects_too_few_samples():
    with pytest.raises(DataError, match="cannot split 1 samples"):
        stratified_splits(torch.tensor([0]), n_splits=1)


# --- image folders ----------------------------------------------------------------------


def _save(path: Path, image: Image.Image) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return path


def _good_tree(root: Path) -> Path:
    """Two classes with one image in each awkward mode; pixel values are checked below."""
    rng = np.random.default_rng(0)
    photo = Image.fromarray(rng.integers(0, 256, (40, 60, 3), dtype=np.uint8))
    _save(root / "cat" / "photo.jpg", photo)
    _save(root / "cat" / "grey.png", Image.new("L", (20, 20), 77))
    _save(root / "cat" / "rgba.png", Image.new("RGBA", (20, 20), (200, 100, 50, 128)))
    sixteen = Image.fromarray(np.full((20, 20), 128 * 257, dtype=np.uint16))
    _save(root / "dog" / "grey16.png", sixteen)
    palette = Image.new("P", (20, 20), 1)
    palette.putpalette([0, 0, 0, 10, 220, 30] + [0] * (254 * 3))
    _save(root / "dog" / "palette.gif", palette)
    (root / "dog" / "notes.txt").write_text("not an image")
    return root


def test_folder_loads_every_mode_as_rgb(tmp_path):
    data = load_dataset(f"folder:{_good_tree(tmp_path / 'tree')}", image_size=16)
    assert data.classes == ["cat", "dog"]
    assert data.images.shape == (5, 3, 16, 16) and data.images.dtype == torch.uint8
    assert data.labels.tolist() == [0, 0, 0, 1, 1]  # sorted: grey, photo, rgba | grey16, palette
    pixel = {i: data.images[i, :, 8, 8].tolist() for i in range(5)}
    assert pixel[0] == [77, 77, 77]
    assert all(abs(a - b) <= 1 for a, b in zip(pixel[2], [100, 50, 25]))  # over black
    assert pixel[3] == [128, 128, 128]  # 16-bit scaled, not clipped to 255
    assert pixel[4] == [10, 220, 30]
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_folder_keeps_aspect_ratio_by_centre_crop(tmp_path):
    wide = np.zeros((10, 30, 3), dtype=np.uint8)
    wide[:, 10:20] = 255  # only the centre third is white
    _save(tmp_path / "a" / "wide.png", Image.fromarray(wide))
    data = load_dataset(f"folder:{tmp_path}", image_size=10)
    assert int(data.images.min()) == 255


def test_missing_folder_names_path(tmp_path):
    with pytest.raises(DataError, match=str(tmp_path / "nope")):
        load_dataset(f"folder:{tmp_path / 'nope'}")


def test_folder_without_class_subfolders(tmp_path):
    _save(tmp_path / "loose.png", Image.new("RGB", (4, 4)))
    with pytest.raises(DataError, match="no class subfolders"):
        load_dataset(f"folder:{tmp_path}")


def test_empty_class_folder_is_named(tmp_path):
    _save(tmp_path / "full" / "a.png", Image.new("RGB", (4, 4)))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=f"{tmp_path / 'empty'} contains no image files"):
        load_dataset(f"folder:{tmp_path}")


def test_folder_has_a_single_split(tmp_path):
    with pytest.raises(DataError, match="single split"):
        load_dataset(f"folder:{tmp_path}", split="val")


def _tree_with_bad_files(root: Path) -> Path:
    for i in range(3):
        _save(root / "ok" / f"{i}.png", Image.new("RGB", (8, 8), (i, i, i)))
    photo = Image.fromarray(np.random.default_rng(1).integers(0, 256, (64, 64, 3), np.uint8))
    full = _save(root / "ok" / "whole.jpg", photo).read_bytes()
    (root / "ok" / "truncated.jpg").write_bytes(full[: len(full) // 2])
    (root / "ok" / "garbage.png").write_bytes(b"definitely not a png")
    return root


def test_unreadable_image_is_named(tmp_path):
    root = _tree_with_bad_files(tmp_path)
    with pytest.raises(DataError, match="cannot read image .*garbage.png") as info:
        load_dataset(f"folder:{root}")
    assert "\n" not in str(info.value)
    (root / "ok" / "garbage.png").unlink()
    with pytest.raises(DataError, match="truncated.jpg"):
        load_dataset(f"folder:{root}")


def test_skip_bad_warns_with_count(tmp_path):
    root = _tree_with_bad_files(tmp_path)
    with pytest.warns(UserWarning, match="skipped 2 unreadable"):
        data = load_dataset(f"folder:{root}", skip_bad=True, image_size=8)
    assert len(data) == 4
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_class_with_only_bad_files_fails_even_when_skipping(tmp_path):
    _save(tmp_path / "good" / "a.png", Image.new("RGB", (4, 4)))
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "x.jpg").write_bytes(b"\xff\xd8broken")
    with pytest.warns(UserWarning), pytest.raises(DataError, match="no readable images"):
        load_dataset(f"folder:{tmp_path}", skip_bad=True)


# --- torchvision datasets ---------------------------------------------------------------


def _offline(monkeypatch):
    """Make every download fail the way it does without a network, and never go online."""
    import torchvision.datasets.cifar as cifar
    import torchvision.datasets.svhn as svhn

    def refuse(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(cifar, "download_and_extract_archive", refuse)
    monkeypatch.setattr(svhn, "download_url", refuse)
    monkeypatch.setattr(urllib.request, "urlopen", refuse)


def test_cifar10_offline_and_absent_is_one_actionable_line(tmp_path, monkeypatch):
    _offline(monkeypatch)
    with pytest.raises(DataError) as info:
        load_dataset("cifar10", data_root=tmp_path)
    message = str(info.value)
    assert "\n" not in message
    assert f"not found in {tmp_path / 'cifar-10-batches-py'}" in message
    assert "cifar-10-python.tar.gz" in message and "name resolution" in message
    assert isinstance(info.value, AugsearchError)


def test_svhn_offline_and_absent_names_the_files(tmp_path, monkeypatch):
    _offline(monkeypatch)
    with pytest.raises(DataError, match=f"SVHN not found in {tmp_path}.*test_32x32.mat"):
        load_dataset("svhn", data_root=tmp_path, split="val")


def test_cifar_arrays_become_nchw_uint8(monkeypatch):
    import torchvision.datasets

    class FakeCIFAR10:
        def __init__(self, root, *, train, download):
            self.data = np.zeros((4, 32, 32, 3), dtype=np.uint8)
            self.data[:, :, :, 0] = 255 if train else 7  # red channel marks the split
            self.targets = [0, 1, 2, 1]
            self.classes = ["a", "b", "c"]

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", FakeCIFAR10)
    train = load_dataset("cifar10", subset=3)
    assert train.images.shape == (3, 3, 32, 32) and train.classes == ["a", "b", "c"]
    assert int(train.images[:, 0].min()) == 255 and int(train.images[:, 1:].max()) == 0
    val = load_dataset("cifar10", split="val", image_size=16)
    assert val.images.shape == (4, 3, 16, 16) and int(val.images[:, 0].max()) == 7


def test_folder_prefix_needs_a_path():
    with pytest.raises(DataError, match="needs a path"):
        load_dataset("folder:")
