"""`python -m kobench`: what `bench/run` executes."""

import sys

from kobench.cli import main

sys.exit(main())
