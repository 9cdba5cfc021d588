"""`python -m core.cli` runs the `ssd` command line."""
from core.cli import main

if __name__ == "__main__":  # importing the module (the no-Qt test imports every core module) runs nothing
    raise SystemExit(main())
