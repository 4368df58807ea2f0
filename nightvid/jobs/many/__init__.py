"""``nightvid enhance-many``: many videos through workers that each keep their engine.

- ``scheduler``: ``ManyJob`` (re-exported here), which finds the videos, skips the
  finished ones and hands the rest to a pool, retrying what may succeed again;
- ``inputs``: folders, globs and lists expanded to videos, and the outputs mirroring them;
- ``manifest``: the record in the output folder of what finished, so a rerun skips it;
- ``pools``: what the scheduler needs from a pool; ``local_pool`` (processes on this
  machine) and ``ray_pool`` (actors on a Ray cluster) provide it;
- ``tasks``: what a worker runs, and how its failures are classified;
- ``parts``: one piece of a long video enhanced into a part file, for ``streamer.join``.

Example:
    >>> from pathlib import Path
    >>> from nightvid.jobs.many import ManyJob
    >>> summary = ManyJob(("clips/",), Path("out")).run()  # doctest: +SKIP
    >>> summary.count("done")  # doctest: +SKIP
"""

from __future__ import annotations

from nightvid.jobs.many.scheduler import PARTS_DIR, ManyJob, ManyProgress, ManySummary, VideoResult, output_options

__all__ = ["PARTS_DIR", "ManyJob", "ManyProgress", "ManySummary", "VideoResult", "output_options"]
