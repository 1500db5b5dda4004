"""Error codes of the run-length kernels (:mod:`rlemask._kernels`), without numba.

Kept apart from the kernels so that :mod:`rlemask.rle` can name them, and decode
a short string in pure Python, without importing numba (a CLI call on one short
string then never pays numba's start-up). The table of meanings is in the
docstring of :mod:`rlemask._kernels`.
"""

OK = 0
E_ODD = 1
E_TOKEN = 2
E_BIG = 3
E_START = 4
E_END = 5
E_ORDER = 6
E_NEG = 7
E_VALUE = 8
E_SPACE = 9

# a token whose value reaches this before one more digit is "too large": it keeps
# every start + length far below the int64 limit
BIG = 10**16
