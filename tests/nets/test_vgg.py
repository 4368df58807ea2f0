"""Recognition nets for joint training: torchvision key layout, features, freezing."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from nightvid.errors import NightvidError
from nightvid.nets import param_count
from nightvid.nets.vgg import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    VGG16,
    HighLevelNet,
    TinyClassifier,
    VGG19Features,
    freeze,
    read_state_dict,
    tiny_classifier,
    vgg16,
    vgg19_features,
)

# torchvision.models.vgg16().state_dict(): (key, shape), in order.
_VGG16_CONVS = [
    (0, 64, 3), (2, 64, 64), (5, 128, 64), (7, 128, 128), (10, 256, 128), (12, 256, 256),
    (14, 256, 256), (17, 512, 256), (19, 512, 512), (21, 512, 512), (24, 512, 512),
    (26, 512, 512), (28, 512, 512),
]  # fmt: skip
TORCHVISION_VGG16 = [
    *[
        item
        for i, cout, cin in _VGG16_CONVS
        for item in ((f"features.{i}.weight", (cout, cin, 3, 3)), (f"features.{i}.bias", (cout,)))
    ],
    ("classifier.0.weight", (4096, 25088)),
    ("classifier.0.bias", (4096,)),
    ("classifier.3.weight", (4096, 4096)),
    ("classifier.3.bias", (4096,)),
    ("classifier.6.weight", (1000, 4096)),
    ("classifier.6.bias", (1000,)),
]
# torchvision.models.vgg19().features: conv indices.
TORCHVISION_VGG19_CONVS = [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34]


@pytest.fixture(scope="module")
def vgg() -> VGG16:
    torch.manual_seed(0)
    return VGG16().eval()


def test_vgg16_key_layout_is_torchvision(vgg: VGG16) -> None:
    assert [(k, tuple(v.shape)) for k, v in vgg.state_dict().items()] == TORCHVISION_VGG16
    assert param_count(vgg) == 138_357_544


def test_vgg19_features_key_layout() -> None:
    net = VGG19Features()
    keys = list(net.state_dict())
    assert keys == [f"features.{i}.{p}" for i in TORCHVISION_VGG19_CONVS for p in ("weight", "bias")]
    assert param_count(net) == 20_024_384


def test_vgg16_state_dict_round_trips_strictly(vgg: VGG16, tmp_path) -> None:
    path = tmp_path / "vgg16-torchvision.pth"
    torch.save(vgg.state_dict(), path)  # the format of torchvision's download
    loaded = vgg16(weights=path).eval()
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(loaded(x), vgg(x))


def test_vgg19_loads_a_full_torchvision_file(tmp_path) -> None:
    torch.manual_seed(0)
    net = VGG19Features()
    state = dict(net.state_dict())
    state["classifier.6.weight"] = torch.zeros(10, 4)  # stand-ins for the dropped head
    state["classifier.6.bias"] = torch.zeros(10)
    path = tmp_path / "vgg19.safetensors"
    save_file(state, str(path))
    loaded = vgg19_features(weights=path)
    for key, value in loaded.state_dict().items():
        assert torch.equal(value, state[key]), key


def test_mismatched_or_unreadable_weights_raise(tmp_path) -> None:
    path = tmp_path / "tiny.safetensors"
    save_file(TinyClassifier().state_dict(), str(path))
    assert set(tiny_classifier(weights=path).state_dict()) == set(read_state_dict(path))
    with pytest.raises(NightvidError, match="does not fit"):
        vgg19_features(weights=path)
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(NightvidError, match="cannot read"):
        read_state_dict(bad)


def test_classification_and_features(vgg: VGG16) -> None:
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        logits = vgg(x)
        maps = vgg.features_at(x, ["relu4_3", "relu1_2", "pool5"])
        mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
        std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
        manual = vgg.features[:4]((x - mean) / std)  # conv1_1 relu conv1_2 relu
    assert logits.shape == (2, 1000)
    assert list(maps) == ["relu4_3", "relu1_2", "pool5"]
    assert maps["relu1_2"].shape == (2, 64, 32, 32)
    assert maps["relu4_3"].shape == (2, 512, 4, 4)
    assert maps["pool5"].shape == (2, 512, 1, 1)
    torch.testing.assert_close(maps["relu1_2"], manual)
    with pytest.raises(NightvidError, match="available"):
        vgg.features_at(x, ["relu9_9"])


@pytest.mark.parametrize("make", [TinyClassifier, VGG19Features])
def test_share_the_interface(make) -> None:
    net = make().eval()
    assert isinstance(net, HighLevelNet)
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        first = net.layer_names[0]
        assert net.features_at(x, [first])[first].shape[-2:] == (32, 32)
        assert net(x).ndim in (2, 4)


def test_tiny_classifier_logits_and_training() -> None:
    net = TinyClassifier(num_classes=5)
    logits = net(torch.rand(4, 3, 24, 24))
    assert logits.shape == (4, 5)
    torch.nn.functional.cross_entropy(logits, torch.tensor([0, 1, 2, 3])).backward()
    assert all(p.grad is not None for p in net.parameters())


@pytest.mark.parametrize("which", ["tiny", "vgg16"])
def test_frozen_net_passes_gradients_to_input(which: str, vgg: VGG16) -> None:
    net = freeze(TinyClassifier() if which == "tiny" else vgg)
    assert not any(p.requires_grad for p in net.parameters())
    net.train()  # e.g. a parent module switched to training: a frozen net stays in eval
    assert not net.training and not any(m.training for m in net.modules())
    x = torch.rand(1, 3, 32, 32, requires_grad=True)
    net(x).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(p.grad is None for p in net.parameters())
