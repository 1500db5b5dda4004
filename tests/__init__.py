"""The test suite (a package, so that a top-level ``tests`` package installed by another distribution, such as iterative-stratification, cannot shadow it)."""
