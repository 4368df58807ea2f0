"""``python -m nightvid`` runs the CLI."""

from nightvid.cli import app

app(prog_name="nightvid")
