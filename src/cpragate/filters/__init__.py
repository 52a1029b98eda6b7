"""One package per capability (Kong-style): each holds ``filter.py`` and ``config.py``."""
