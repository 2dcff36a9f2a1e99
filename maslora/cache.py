"""Where maslora keeps what it derives once and reuses: converted models, the generated embedded corpus."""

import os
from pathlib import Path


def cache_dir() -> Path:
    """$MASLORA_CACHE, else $XDG_CACHE_HOME/maslora, else ~/.cache/maslora."""
    if "MASLORA_CACHE" in os.environ:
        return Path(os.environ["MASLORA_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "maslora"
