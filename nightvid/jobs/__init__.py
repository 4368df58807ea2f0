"""What each command does, as library calls: the room between the CLI and the machinery.

A job names things (a model, a backend, a clip) and puts engines, the streamer and the
trainers together; it is the only place besides the CLI that builds an engine by name.
The CLI parses flags into a job and prints its result; Python users (and
``enhance-many``'s workers) run the same jobs without the CLI.

- ``enhance``: one video through one engine (``EnhanceJob``).
- ``bench``: frames per second of each stage, per engine.
- ``models``: the model table.
- ``compare``: contact sheets and no-reference figures of models and baselines.
- ``many`` (``enhance-many``): many videos through one ``EnhanceJob`` each, on a local
  process pool or Ray actors (``pools``, ``local_pool``, ``ray_pool``), resumable through
  a manifest (``manifest``), long videos cut at keyframes, enhanced in pieces and joined
  (``streamer.segments``, ``parts``, ``streamer.join``); ``inputs`` expands folders, globs
  and lists; ``tasks`` is what a worker runs.
"""
