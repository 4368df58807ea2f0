"""Trainers: data, degradations, losses, metrics and the loops that produce weights.

- ``loop``: the shared, resumable training loop, checkpoints, weight/model-card export;
- ``noiser``: the NoiSER recipe (Gaussian noise only), ``train_noiser``;
- ``data``: paired folders (low/high, LOL, LOL-Blur), synthetic and noise pairs;
- ``degrade``: sRGB/linear, exposure, sensor noise, motion blur, JPEG;
- ``losses`` and ``metrics``: L1/TV, PSNR/SSIM.

Submodules are imported where they are used (``from nightvid.trainers.noiser import
train_noiser``), so importing this package stays cheap.
"""
