"""Model construction by name and the [0, 1]-input forward contract."""

from __future__ import annotations

import pytest
import torch

from augsearch.errors import ConfigError
from augsearch.models import MODELS, build_model


@pytest.mark.parametrize("name", ["small-cnn", "wrn40_2", "resnet20", "resnet18", "timm:resnet18"])
def test_named_models_map_images_to_logits(name):
    model = build_model(name, num_classes=7, image_size=32)
    assert model(torch.rand(2, 3, 32, 32)).shape == (2, 7)
    model.eval()
    with torch.inference_mode():
        assert model(torch.rand(1, 3, 32, 32)).shape == (1, 7)


def test_parameter_counts_match_the_published_architectures():
    def count(name):
        return sum(p.numel() for p in build_model(name, num_classes=10, image_size=32).parameters())

    assert 2.2e6 < count("wrn40_2") < 2.3e6  # WRN-40-2: 2.2M
    assert 0.26e6 < count("resnet20") < 0.28e6  # ResNet-20: 0.27M
    assert 11.1e6 < count("resnet18") < 11.2e6


def test_small_cnn_takes_other_sizes_and_channels():
    model = build_model("small-cnn", num_classes=3, image_size=8, in_channels=1)
    assert model(torch.rand(4, 1, 8, 8)).shape == (4, 3)


def test_fixed_size_timm_models_are_rebuilt_for_small_images():
    model = build_model("timm:vit_tiny_patch16_224", num_classes=4, image_size=32)
    assert model(torch.rand(2, 3, 32, 32)).shape == (2, 4)


def test_seed_makes_weights_reproducible_without_touching_global_rng():
    state = torch.get_rng_state()
    first = build_model("resnet20", num_classes=10, image_size=32, seed=3).state_dict()
    second = build_model("resnet20", num_classes=10, image_size=32, seed=3).state_dict()
    assert torch.equal(torch.get_rng_state(), state)
    assert all(torch.equal(first[k], second[k]) for k in first)
    other = build_model("resnet20", num_classes=10, image_size=32, seed=4).state_dict()
    assert not all(torch.equal(first[k], other[k]) for k in first)


def test_unknown_names_are_config_errors_listing_choices():
    with pytest.raises(ConfigError, match="small-cnn.*wrn40_2.*resnet20.*resnet18.*timm:"):
        build_model("vgg16", num_classes=10, image_size=32)
    with pytest.raises(ConfigError, match="unknown timm model 'no_such_net'"):
        build_model("timm:no_such_net", num_classes=10, image_size=32)
    with pytest.raises(ConfigError, match="num_classes"):
        build_model("small-cnn", num_classes=0, image_size=32)
    assert "small-cnn" in MODELS.names()
