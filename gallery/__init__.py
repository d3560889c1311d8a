"""Persistence for everything the studio makes. Knows nothing of torch or Gradio."""

from gallery.metadata import read_recipe
from gallery.store import Entry, Gallery, Limits, Query, Saved

__all__ = ["Entry", "Gallery", "Limits", "Query", "Saved", "read_recipe"]
