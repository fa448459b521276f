"""Public pages: health, transparency (generated from live settings), the root redirect."""
