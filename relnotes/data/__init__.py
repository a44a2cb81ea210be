"""See the package docstring of relnotes."""
