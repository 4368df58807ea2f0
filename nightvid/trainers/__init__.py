"""Trainers: data, degradations, losses, metrics and the loops that produce weights.

- ``loop``: the shared, resumable training loop, checkpoints, weight/model-card export;
- ``noiser``: the NoiSER recipe (Gaussian noise only), ``train_noiser``;
- ``kind``, ``lednet``, ``denoiser``: the KinD (three stages), LEDNet and Liu et al.
  denoiser (MSE, then joint with a frozen recogniser) recipes, ``train_*``;
- ``recipes``: recipes by name, presets (``paper``/``cpu``) and option overrides;
- ``evaluate``: PSNR/SSIM of a model beside input/gamma/global-gain baselines;
- ``perceptual``: the VGG-19 perceptual loss; ``common``: splits, export, shipping;
- ``data``: paired folders (low/high, LOL, LOL-Blur), synthetic and noise pairs;
- ``degrade``: sRGB/linear, exposure, sensor noise, motion blur, JPEG;
- ``losses`` and ``metrics``: L1/TV/MSE, PSNR/SSIM.

Submodules are imported where they are used (``from nightvid.trainers.noiser import
train_noiser``), so importing this package stays cheap.
"""
