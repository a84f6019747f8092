"""Proxy classifiers for policy search and evaluation.

Contract: every model takes float images in [0, 1], shape (N, C, H, W), and returns
logits (N, num_classes). Input normalisation is the model's first layer, so callers
only divide uint8 pixels by 255 (see :func:`augsearch.trainer.to_float`).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from augsearch.errors import ConfigError
from augsearch.registry import Registry

ModelBuilder = Callable[..., nn.Module]
MODELS: Registry[ModelBuilder] = Registry("model")
"""Builders ``(argument, *, num_classes, image_size, in_channels)``; ``timm:NAME`` passes NAME."""


class Normalize(nn.Module):
    """Per-channel (x - mean) / std, with the statistics stored as buffers."""

    def __init__(self, *, mean: tuple[float, ...], std: tuple[float, ...]) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


def build_model(
    name: str, *, num_classes: int, image_size: int, in_channels: int = 3, seed: int | None = None
) -> nn.Module:
    """Build a freshly initialised classifier by name (a name in :data:`MODELS`).

    ``seed`` makes the initial weights reproducible without touching the caller's global
    RNG state; without it, weights come from torch's global generator as usual.
    """
    for option, value in (("num_classes", num_classes), ("image_size", image_size),
                          ("in_channels", in_channels)):
        if value < 1:
            raise ConfigError(f"{option} must be a positive integer, got {value}")
    if seed is None:
        return _build(name, num_classes=num_classes, image_size=image_size, in_channels=in_channels)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return _build(name, num_classes=num_classes, image_size=image_size, in_channels=in_channels)


def _build(name: str, *, num_classes: int, image_size: int, in_channels: int) -> nn.Module:
    builder, argument = MODELS.resolve(name)
    net = builder(argument, num_classes=num_classes, image_size=image_size, in_channels=in_channels)
    half = (0.5,) * in_channels
    return nn.Sequential(Normalize(mean=half, std=half), net)


@MODELS.register("small-cnn")
def _small_cnn(argument: str | None, *, num_classes: int, image_size: int, in_channels: int) -> nn.Module:
    return SmallCNN(in_channels=in_channels, num_classes=num_classes)


@MODELS.register("wrn40_2")
def _wrn40_2(argument: str | None, *, num_classes: int, image_size: int, in_channels: int) -> nn.Module:
    return WideResNet(depth=40, widen=2, in_channels=in_channels, num_classes=num_classes)


@MODELS.register("resnet20")
def _resnet20(argument: str | None, *, num_classes: int, image_size: int, in_channels: int) -> nn.Module:
    return ResNet(stem=16, widths=(16, 32, 64), depths=(3, 3, 3), in_channels=in_channels, num_classes=num_classes)


@MODELS.register("resnet18")
def _resnet18(argument: str | None, *, num_classes: int, image_size: int, in_channels: int) -> nn.Module:
    return ResNet(stem=64, widths=(64, 128, 256, 512), depths=(2, 2, 2, 2), in_channels=in_channels,
                  num_classes=num_classes)


def _conv_bn_relu(c_in: int, c_out: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True)]


class SmallCNN(nn.Sequential):
    """Three conv blocks (32/64/128 channels) and a linear head; trains in seconds on a CPU.

    The first two blocks max-pool straight after the convolution, so batch norm and ReLU
    run on a quarter of the activations (pooling is cheap to move; the maps are large).
    """

    def __init__(self, *, in_channels: int, num_classes: int) -> None:
        def pooled_block(c_in: int, c_out: int) -> list[nn.Module]:
            return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.MaxPool2d(2),
                    nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]

        super().__init__(
            *pooled_block(in_channels, 32), *pooled_block(32, 64), *_conv_bn_relu(64, 128),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, num_classes),
        )


class _PreActBlock(nn.Module):
    """Wide-ResNet block: BN-ReLU-conv twice, 1x1 projection when the shape changes."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = (
            nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False)
            if stride != 1 or c_in != c_out else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pre = self.relu(self.bn1(x))
        skip = x if self.shortcut is None else self.shortcut(pre)
        out = self.conv2(self.relu(self.bn2(self.conv1(pre))))
        return out + skip


class WideResNet(nn.Module):
    """WRN-depth-widen for 32x32-ish inputs (Zagoruyko & Komodakis), pre-activation, no dropout."""

    def __init__(self, *, depth: int, widen: int, in_channels: int, num_classes: int) -> None:
        super().__init__()
        if (depth - 4) % 6:
            raise ConfigError(f"Wide-ResNet depth must be 6n+4, got {depth}")
        blocks_per_stage = (depth - 4) // 6
        widths = (16 * widen, 32 * widen, 64 * widen)
        layers: list[nn.Module] = [nn.Conv2d(in_channels, 16, 3, padding=1, bias=False)]
        c_in = 16
        for stage, width in enumerate(widths):
            for block in range(blocks_per_stage):
                stride = 2 if stage > 0 and block == 0 else 1
                layers.append(_PreActBlock(c_in, width, stride))
                c_in = width
        layers += [nn.BatchNorm2d(c_in), nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d(1),
                   nn.Flatten(), nn.Linear(c_in, num_classes)]
        self.layers = nn.Sequential(*layers)
        _init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class _BasicBlock(nn.Module):
    """ResNet basic block: conv-BN-ReLU-conv-BN plus shortcut, then ReLU."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True),
            nn.Conv2d(c_out, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out),
        )
        self.shortcut = (
            nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False),
                          nn.BatchNorm2d(c_out))
            if stride != 1 or c_in != c_out else nn.Identity()
        )
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.body(x) + self.shortcut(x))


class ResNet(nn.Module):
    """ResNet for small images: 3x3 stride-1 stem, no max-pool, stride 2 at each later stage.

    ``resnet20`` is He et al.'s CIFAR net (16/32/64, 3 blocks each, projection shortcuts);
    ``resnet18`` is the ImageNet layout (64..512, 2 blocks each) with the small-image stem.
    """

    def __init__(self, *, stem: int, widths: tuple[int, ...], depths: tuple[int, ...],
                 in_channels: int, num_classes: int) -> None:
        super().__init__()
        layers: list[nn.Module] = _conv_bn_relu(in_channels, stem)
        c_in = stem
        for stage, (width, depth) in enumerate(zip(widths, depths)):
            for block in range(depth):
                layers.append(_BasicBlock(c_in, width, 2 if stage > 0 and block == 0 else 1))
                c_in = width
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c_in, num_classes)]
        self.layers = nn.Sequential(*layers)
        _init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


def _init_weights(module: nn.Module) -> None:
    """He-normal convolutions (fan-out) and unit BN, the usual choice for these ResNets."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


@MODELS.register("timm:NAME")
def _timm_model(name: str, *, num_classes: int, image_size: int, in_channels: int) -> nn.Module:
    """A randomly initialised timm model; fixed-size ones (ViTs) get ``img_size=image_size``."""
    import timm

    if not timm.is_model(name):
        raise ConfigError(f"unknown timm model {name!r}; list them with timm.list_models()")
    options = {"pretrained": False, "num_classes": num_classes, "in_chans": in_channels}
    model = timm.create_model(name, **options)
    if _accepts(model, in_channels=in_channels, image_size=image_size):
        return model
    try:
        model = timm.create_model(name, img_size=image_size, **options)
    except TypeError as exc:
        raise ConfigError(
            f"timm model {name!r} cannot take {image_size}x{image_size} inputs ({exc})"
        ) from exc
    if not _accepts(model, in_channels=in_channels, image_size=image_size):
        raise ConfigError(f"timm model {name!r} cannot take {image_size}x{image_size} inputs")
    return model


def _accepts(model: nn.Module, *, in_channels: int, image_size: int) -> bool:
    """Whether a forward pass at this input size works (tried once, in eval mode)."""
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            model(torch.zeros(1, in_channels, image_size, image_size))
    except (RuntimeError, ValueError, AssertionError):
        return False
    finally:
        model.train(was_training)
    return True
