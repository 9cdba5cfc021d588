"""Qt-free state of each tab (see the note in ssd_gui/__init__.py)."""
