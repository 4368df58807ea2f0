"""Trainers: data, degradations, losses, metrics and the loops that produce weights.

- ``recipes``: the registry, one row per trainable model (``noiser``, ``lednet``,
  ``kind``, ``denoiser``): recipe class, ``paper``/``cpu`` presets, train function,
  whether it needs data, progress counting; and ``--set`` overrides;
- ``loop``: the shared, resumable training loop and its checkpoints;
- ``distributed``: the same loop on several devices (torchrun, DDP; rank 0 writes);
- ``common``: what every recipe shares: the seeded net, held-out splits,
  ``fit_and_finish`` (fit, then ``best.safetensors``, ``final.safetensors`` and
  ``model_card.json``), shipping weights into the package;
- ``noiser``: the NoiSER recipe (Gaussian noise only, no data), ``train_noiser``;
- ``kind``, ``lednet``, ``denoiser``: the KinD (three stages), LEDNet and Liu et al.
  denoiser (MSE, then joint with a frozen recogniser) recipes, ``train_*``;
- ``evaluate``: PSNR/SSIM of a model beside input/gamma/global-gain baselines;
- ``perceptual``: the VGG-19 perceptual loss;
- ``data``: paired folders (low/high, LOL, LOL-Blur), synthetic and noise pairs;
- ``degrade``: sRGB/linear, exposure, sensor noise, motion blur, JPEG;
- ``losses`` and ``metrics``: L1/TV/MSE, PSNR/SSIM.

Files are written through :mod:`nightvid.files` (atomic, fsynced). Submodules are
imported where they are used (``from nightvid.trainers.recipes import trainer``), so
importing this package stays cheap.
"""
