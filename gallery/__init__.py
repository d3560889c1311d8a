"""Persistence for everything the studio makes. Knows nothing of torch or Gradio."""

from gallery.metadata import read_recipe
from gallery.store import Entry, Gallery

__all__ = ["Entry", "Gallery", "read_recipe"]
