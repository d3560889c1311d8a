"""The page, one module per tab (gan, conditional with its DiT section, vae, text) plus the gallery
panel. Each tab module holds its layout, its handlers and its restore table (how a recipe of its
engines maps back onto its controls); app.py only puts them together. No torch here."""
