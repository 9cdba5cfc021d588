"""Starts the SSD desktop app."""
from ssd_gui.app import main

if __name__ == "__main__":
    raise SystemExit(main())
