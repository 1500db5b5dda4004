"""The harness is a script, not a test module: keep pytest's doctest collection off it."""

collect_ignore = ["run.py"]
