"""``stablecore <command>``: one module per command; each exposes ``add_parser`` and ``run``."""
