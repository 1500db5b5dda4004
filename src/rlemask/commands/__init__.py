"""Sub-commands of the ``rlemask`` command line.

Each module exposes ``register(subparsers)``, which adds its sub-commands and
sets ``func`` on each parser. ``func(args) -> int`` returns the exit code:
0 success, 1 some rows/items failed (named on stderr), 2 usage error.
Heavy imports (pandas, torch) happen inside ``func``, never at import time.
"""
