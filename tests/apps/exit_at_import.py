"""A module that ends the process while it is imported (tests/test_bad_input.py)."""

import sys

sys.exit(3)
