"""Pure networks, one file per family, and the registry that names them.

Importing this package registers every net (explicit imports, no filesystem scan).
"""

from nightvid.nets import denoiser as _denoiser  # noqa: F401  (registers "denoiser")
from nightvid.nets import kind as _kind  # noqa: F401  (registers "kind")
from nightvid.nets import lednet as _lednet  # noqa: F401  (registers "lednet")
from nightvid.nets import noiser as _noiser  # noqa: F401  (registers "noiser")
from nightvid.nets.enhancer import Chain, Enhancer, as_shipped, build_enhancer
from nightvid.nets.exposure import (
    AUTO,
    AUTO_EXPOSURE,
    DEFAULT,
    LIT,
    LIT_SCENE,
    auto_exposure_target,
    check_exposure,
    exposure_curve,
    hold_lamp_lit,
    lamp_lit_share,
    parse_exposure,
)
from nightvid.nets.registry import (
    CHAIN,
    SICE_BRIGHTEST_INPUT,
    NetContract,
    NetInfo,
    build,
    chain_parts,
    get_info,
    list_nets,
    net_contract,
    param_count,
)
from nightvid.nets.weights import flush_denormals, load_weights, read_model_card, shipped_weights

__all__ = [
    "AUTO",
    "DEFAULT",
    "AUTO_EXPOSURE",
    "SICE_BRIGHTEST_INPUT",
    "LIT",
    "LIT_SCENE",
    "auto_exposure_target",
    "parse_exposure",
    "CHAIN",
    "Chain",
    "Enhancer",
    "NetContract",
    "NetInfo",
    "build",
    "as_shipped",
    "build_enhancer",
    "chain_parts",
    "check_exposure",
    "exposure_curve",
    "flush_denormals",
    "get_info",
    "hold_lamp_lit",
    "lamp_lit_share",
    "list_nets",
    "load_weights",
    "net_contract",
    "param_count",
    "read_model_card",
    "shipped_weights",
]
