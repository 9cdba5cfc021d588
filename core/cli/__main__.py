"""`python -m core.cli` runs the `ssd` command line."""
from core.cli import main

raise SystemExit(main())
