"""Proxy training and evaluation on CPU: learning, determinism and per-sample outputs."""

from __future__ import annotations

import pytest
import torch

from augsearch.bases import random_crop_flip
from augsearch.data import ImageSet, load_dataset
from augsearch.errors import AugsearchError, ConfigError
from augsearch.models import build_model
from augsearch.trainer import eval_batch_size, evaluate, to_float, train_proxy


@pytest.fixture(scope="module")
def digits_val() -> ImageSet:
    return load_dataset("digits", split="val")


def _tiny(n: int = 64, seed: int = 0) -> ImageSet:
    generator = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, 3, 16, 16), dtype=torch.uint8, generator=generator)
    return ImageSet(images, torch.arange(n) % 3, ["a", "b", "c"], "tiny")


def test_small_cnn_learns_digits(digits_val):
    # Measured: 0.94-0.955 val accuracy over seeds 0-3, about 2 s on two CPU cores.
    train = load_dataset("digits", subset=600, seed=0)
    model = build_model("small-cnn", num_classes=10, image_size=32, seed=0)
    seen = []
    history = train_proxy(model, train, epochs=4, batch_size=32, seed=0, on_epoch=seen.append)
    assert seen == history and [h["epoch"] for h in history] == [1, 2, 3, 4]
    assert set(history[0]) == {"epoch", "loss", "train_acc", "lr", "seconds"}
    assert history[-1]["loss"] < history[0]["loss"]
    assert history[-1]["lr"] < history[0]["lr"] <= 0.1
    assert evaluate(model, digits_val.images, digits_val.labels)["accuracy"] > 0.8


def test_training_is_deterministic_for_a_seed_and_leaves_global_rng_alone():
    def run(seed: int) -> tuple[list[float], dict]:
        model = build_model("small-cnn", num_classes=3, image_size=16, seed=0)
        history = train_proxy(model, _tiny(), epochs=2, batch_size=16, seed=seed,
                              augment=random_crop_flip(padding=2))
        return [h["loss"] for h in history], model.state_dict()

    state = torch.get_rng_state()
    losses, weights = run(seed=7)
    assert torch.equal(torch.get_rng_state(), state)
    again_losses, again_weights = run(seed=7)
    assert losses == again_losses
    assert all(torch.equal(weights[k], again_weights[k]) for k in weights)
    assert run(seed=8)[0] != losses


def test_evaluate_returns_per_sample_results():
    data = _tiny(n=37)
    model = build_model("small-cnn", num_classes=3, image_size=16, seed=0)
    model.train()
    result = evaluate(model, data.images, data.labels, batch_size=16)
    assert model.training  # mode restored
    assert result["per_sample_correct"].shape == (37,)
    assert result["per_sample_correct"].dtype == torch.bool
    assert result["per_sample_loss"].shape == (37,)
    assert result["per_sample_loss"].dtype == torch.float32
    assert result["accuracy"] == pytest.approx(result["per_sample_correct"].float().mean().item())
    assert result["loss"] == pytest.approx(result["per_sample_loss"].mean().item())
    whole = evaluate(model, data.images, data.labels, batch_size=512)
    assert torch.allclose(whole["per_sample_loss"], result["per_sample_loss"], atol=1e-5)


def test_evaluate_rejects_float_images_and_mismatched_labels():
    model = build_model("small-cnn", num_classes=3, image_size=16)
    with pytest.raises(ConfigError, match="uint8"):
        evaluate(model, torch.rand(2, 3, 16, 16), torch.zeros(2, dtype=torch.long))
    with pytest.raises(ConfigError, match="one label per image"):
        evaluate(model, _tiny(4).images, torch.zeros(3, dtype=torch.long))


def test_bad_hyperparameters_and_divergence_are_reported():
    model = build_model("small-cnn", num_classes=3, image_size=16, seed=0)
    with pytest.raises(ConfigError, match="epochs"):
        train_proxy(model, _tiny(), epochs=0)
    with pytest.raises(ConfigError, match="momentum"):
        train_proxy(model, _tiny(), epochs=1, momentum=1.5)
    with pytest.raises(AugsearchError, match="diverged"):
        train_proxy(model, _tiny(), epochs=1, batch_size=16, lr=1e30)


def test_to_float_scales_uint8_to_unit_range():
    images = torch.tensor([0, 51, 255], dtype=torch.uint8).view(1, 3, 1, 1)
    assert to_float(images).flatten().tolist() == pytest.approx([0.0, 0.2, 1.0])


def test_random_crop_flip_crops_the_padded_batch():
    images = torch.randint(1, 256, (8, 3, 6, 6), dtype=torch.uint8)
    assert torch.equal(random_crop_flip(padding=0, flip=False)(images), images)
    out = random_crop_flip(padding=2, flip=False)(images)
    assert out.shape == images.shape and out.dtype == torch.uint8
    padded = torch.nn.functional.pad(images, (2, 2, 2, 2))
    for i in range(8):
        crops = [padded[i, :, y:y + 6, x:x + 6] for y in range(5) for x in range(5)]
        assert any(torch.equal(out[i], crop) for crop in crops)
    flipped = random_crop_flip(padding=0, flip=True)(images)
    for i in range(8):
        assert torch.equal(flipped[i], images[i]) or torch.equal(flipped[i], images[i].flip(2))
    with pytest.raises(ConfigError, match="padding"):
        random_crop_flip(padding=-1)


def test_inference_batches_suit_the_device():
    assert eval_batch_size(torch.device("cpu"), (32, 32)) == 512
    assert eval_batch_size(torch.device("cuda"), (32, 32)) == 4096  # small proxies: launch overhead dominates
    assert eval_batch_size(torch.device("cuda"), (8, 8)) == 8192
    assert eval_batch_size(torch.device("cuda"), (224, 224)) == 512


def test_evaluate_gives_the_same_scores_at_any_batch_size():
    data = load_dataset("digits")
    model = build_model("small-cnn", num_classes=10, image_size=data.images.shape[-1], seed=0)
    whole = evaluate(model, data.images[:300], data.labels[:300])
    small = evaluate(model, data.images[:300], data.labels[:300], batch_size=7)
    assert torch.equal(whole["per_sample_correct"], small["per_sample_correct"])
    assert torch.allclose(whole["per_sample_loss"], small["per_sample_loss"], atol=1e-5)


def test_a_compiled_model_trains_like_the_eager_one_and_keeps_its_state_dict():
    from augsearch.trainer import Recipe, fit

    def run(compile: bool) -> tuple[list[float], dict, float]:
        model = build_model("small-cnn", num_classes=3, image_size=16, seed=0)
        recipe = Recipe(2, batch_size=16, lr=0.05, ema_decay=0.9, compile=compile)
        done = fit(model, _tiny(), recipe, seed=3, evaluate_on=_tiny(n=20, seed=1))
        return [h["loss"] for h in done.history], model.state_dict(), done.history[-1]["ema_test_acc"]

    eager, compiled = run(False), run(True)
    assert list(compiled[1]) == list(eager[1])  # compiled in place: no "_orig_mod." keys
    assert compiled[0] == pytest.approx(eager[0], rel=1e-3)
    assert compiled[2] == pytest.approx(eager[2], abs=0.1)
