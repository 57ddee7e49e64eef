"""`python -m hil.cli`: the `hil` command."""
import sys

from . import main

sys.exit(main())
