"""Developer tools that are not part of the app (not packaged): ``python -m tools.size_report``."""
