"""Frozen recognition nets: the high-level side of the denoiser's joint training.

Liu et al. (IJCAI 2018) train their denoiser through a fixed classification or
segmentation net so that denoised images stay recognisable. This module provides that
net's interface, ``HighLevelNet``, and three implementations:

- ``VGG16``: torchvision's key layout exactly (``features.0.weight`` ...
  ``classifier.6.bias``, 138,357,544 parameters for 1000 classes), so a torchvision
  VGG-16 weights file loads strictly (``vgg16(weights=path)``);
- ``VGG19Features``: the convolutional part of torchvision's VGG-19 (``features.*``,
  20,024,384 parameters), for perceptual losses; a full torchvision VGG-19 file loads
  into it (its ``classifier.*`` keys are dropped);
- ``TinyClassifier``: three conv layers and a linear head, small enough to train
  offline on the project's own data.

All take RGB in [0, 1] and apply ImageNet normalisation inside. None is an enhancer, so
none is in the net registry.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol, TypeVar, runtime_checkable

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import Tensor, nn

from nightvid.errors import NightvidError
from nightvid.nets.checks import check_image_batch

__all__ = [
    "HighLevelNet",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "TinyClassifier",
    "VGG16",
    "VGG19Features",
    "freeze",
    "read_state_dict",
    "tiny_classifier",
    "vgg16",
    "vgg19_features",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# Feature stacks as torchvision writes them: channels of each 3x3 conv, "M" = 2x2 max-pool.
VGG16_LAYERS = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")
VGG19_LAYERS = (
    64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",
    512, 512, 512, 512, "M", 512, 512, 512, 512, "M",
)  # fmt: skip
TINY_LAYERS = (32, "M", 64, "M", 128)

_N = TypeVar("_N", bound=nn.Module)


@runtime_checkable
class HighLevelNet(Protocol):
    """What the joint trainer needs from a recognition net.

    ``forward(x01)`` maps ``(B, 3, H, W)`` RGB in [0, 1] to class logits ``(B, classes)``;
    ``features_at(x01, layers)`` returns the named intermediate maps (for a
    segmentation-style head or a feature loss); ``layer_names`` lists the valid names.
    """

    layer_names: tuple[str, ...]

    def forward(self, x01: Tensor) -> Tensor: ...

    def features_at(self, x01: Tensor, layers: Sequence[str]) -> dict[str, Tensor]: ...


def _make_features(spec: Sequence[int | str]) -> tuple[nn.Sequential, dict[str, int]]:
    """Conv3x3+ReLU / MaxPool stack with torchvision's indices, and a name -> index map.

    Names follow the usual VGG convention: ``conv{block}_{i}``, ``relu{block}_{i}``,
    ``pool{block}``. ReLUs are not in-place so that a returned conv output stays intact.
    """
    layers: list[nn.Module] = []
    names: dict[str, int] = {}
    block, index, cin = 1, 0, 3
    for item in spec:
        if item == "M":
            names[f"pool{block}"] = len(layers)
            layers.append(nn.MaxPool2d(2, 2))
            block, index = block + 1, 0
        else:
            index += 1
            names[f"conv{block}_{index}"] = len(layers)
            layers.append(nn.Conv2d(cin, int(item), 3, padding=1))
            names[f"relu{block}_{index}"] = len(layers)
            layers.append(nn.ReLU())
            cin = int(item)
    return nn.Sequential(*layers), names


class _Recogniser(nn.Module):
    """Shared plumbing: ImageNet normalisation, named features, a freeze that sticks."""

    features: nn.Sequential

    def __init__(self, spec: Sequence[int | str]) -> None:
        super().__init__()
        self.features, self._index = _make_features(spec)
        self.layer_names = tuple(self._index)
        self.frozen = False

    def normalize(self, x01: Tensor) -> Tensor:
        """[0, 1] RGB -> ImageNet-normalised input (constants built on the input's device,
        not buffers: the state dict keeps torchvision's keys exactly)."""
        check_image_batch(x01)
        mean = x01.new_tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
        std = x01.new_tensor(IMAGENET_STD).view(1, 3, 1, 1)
        return (x01 - mean) / std

    def features_at(self, x01: Tensor, layers: Sequence[str]) -> dict[str, Tensor]:
        """The outputs of the named layers, in the order asked; stops at the deepest one.

        Example:
            >>> net = TinyClassifier()
            >>> maps = net.features_at(torch.rand(1, 3, 32, 32), ["relu1_1", "relu3_1"])
            >>> [tuple(m.shape) for m in maps.values()]
            [(1, 32, 32, 32), (1, 128, 8, 8)]
        """
        unknown = [name for name in layers if name not in self._index]
        if unknown:
            raise NightvidError(
                f"unknown layer(s) {', '.join(map(repr, unknown))}; available: {', '.join(self.layer_names)}"
            )
        wanted = {self._index[name]: name for name in layers}
        found: dict[str, Tensor] = {}
        x = self.normalize(x01)
        for i, layer in enumerate(self.features):
            if i > max(wanted, default=-1):
                break
            x = layer(x)
            if i in wanted:
                found[wanted[i]] = x
        return {name: found[name] for name in layers}

    def train(self, mode: bool = True) -> _Recogniser:
        """Like ``nn.Module.train``, except that a frozen net stays in eval mode."""
        return super().train(mode and not self.frozen)


def freeze(net: _N) -> _N:
    """Fix ``net``: no parameter gradients, eval mode (kept by our nets even under
    ``.train()``). Gradients still flow through it to its input.

    Example:
        >>> net = freeze(TinyClassifier())
        >>> any(p.requires_grad for p in net.parameters()), net.train().training
        (False, False)
    """
    net.requires_grad_(False)
    if isinstance(net, _Recogniser):
        net.frozen = True
    return net.eval()


class VGG16(_Recogniser):
    """VGG-16 (configuration D) with torchvision's module and key layout.

    ``features`` holds convs at indices 0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28
    (ReLU after each, max-pools at 4, 9, 16, 23, 30); ``classifier`` holds linears at 0,
    3 and 6 with ReLU and dropout between.

    Args:
        num_classes: outputs of the last linear layer.
        dropout: dropout probability in the classifier (training only).

    Shape:
        input ``(B, 3, H, W)`` RGB in [0, 1], H and W >= 32; output ``(B, num_classes)``.
    """

    def __init__(self, num_classes: int = 1000, dropout: float = 0.5) -> None:
        super().__init__(VGG16_LAYERS)
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(4096, 4096),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(4096, num_classes),
        )
        for module in self.modules():  # torchvision's initialisation
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, 0.0, 0.01)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    def forward(self, x01: Tensor) -> Tensor:
        x = self.avgpool(self.features(self.normalize(x01)))
        return self.classifier(torch.flatten(x, 1))


class VGG19Features(_Recogniser):
    """The convolutional part of VGG-19 (configuration E), keys ``features.*`` as in
    torchvision. ``forward`` returns the last max-pool's output; use ``features_at`` for
    the usual perceptual-loss layers (``relu1_2``, ``relu2_2``, ``relu3_4``, ...).

    Shape:
        input ``(B, 3, H, W)`` RGB in [0, 1]; output ``(B, 512, H // 32, W // 32)``.
    """

    def __init__(self) -> None:
        super().__init__(VGG19_LAYERS)

    def forward(self, x01: Tensor) -> Tensor:
        return self.features(self.normalize(x01))


class TinyClassifier(_Recogniser):
    """Three 3x3 conv + ReLU layers (32, 64, 128; max-pool between), global average
    pooling and a linear head: a recogniser the trainer can fit offline in minutes.

    Args:
        num_classes: number of classes (10).

    Shape:
        input ``(B, 3, H, W)`` RGB in [0, 1], H and W >= 4; output ``(B, num_classes)``.
    """

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__(TINY_LAYERS)
        self.head = nn.Linear(TINY_LAYERS[-1], num_classes)

    def forward(self, x01: Tensor) -> Tensor:
        x = self.features(self.normalize(x01))
        return self.head(x.mean(dim=(-2, -1)))


def read_state_dict(path: Path | str) -> dict[str, Tensor]:
    """Tensors of a weights file: safetensors, or a ``torch.save``d state dict (read with
    ``weights_only=True``, as torchvision's ``.pth`` files are)."""
    path = Path(path)
    if not path.is_file():
        raise NightvidError(f"weights file not found: {path}")
    try:
        if path.suffix == ".safetensors":
            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except (SafetensorError, OSError, RuntimeError, ValueError, pickle.UnpicklingError) as err:
        raise NightvidError(f"cannot read weights file {path} ({err})") from None
    if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
        raise NightvidError(f"weights file {path} does not hold a flat state dict of tensors")
    return state


def _build(make: Callable[[], _N], weights: Path | str | None, *, drop_prefix: str | None = None) -> _N:
    """``make()`` randomly initialised, or built without initialisation (meta device)
    and filled strictly from ``weights``: a 138M-parameter random init is not free."""
    if weights is None:
        return make()
    state = read_state_dict(weights)
    if drop_prefix is not None:
        state = {k: v for k, v in state.items() if not k.startswith(drop_prefix)}
    with torch.device("meta"):
        net = make()
    try:
        net.load_state_dict(state, strict=True, assign=True)
    except RuntimeError as err:
        raise NightvidError(f"weights file {weights} does not fit {type(net).__name__}: {err}") from None
    return net.float()


def vgg16(*, weights: Path | str | None = None, num_classes: int = 1000) -> VGG16:
    """VGG-16, loading a torchvision-layout state dict strictly when ``weights`` is given.

    For a torchvision file (e.g. ``vgg16-397923af.pth``) leave ``num_classes`` at 1000.
    """
    return _build(lambda: VGG16(num_classes=num_classes), weights)


def vgg19_features(*, weights: Path | str | None = None) -> VGG19Features:
    """VGG-19 features; ``weights`` may be a full torchvision VGG-19 file (its
    ``classifier.*`` keys are dropped, every ``features.*`` key must fit)."""
    return _build(VGG19Features, weights, drop_prefix="classifier.")


def tiny_classifier(*, weights: Path | str | None = None, num_classes: int = 10) -> TinyClassifier:
    """The small offline-trainable recogniser, optionally with weights."""
    return _build(lambda: TinyClassifier(num_classes=num_classes), weights)
