"""Parts of :mod:`relnotes.ops.kernels.launch` that need neither a compiler nor a GPU."""

import pytest

from relnotes.ops.kernels import launch


@pytest.mark.parametrize("path", [launch.SOURCE, launch.SOURCE.with_name("cuda_emulation.h")],
                         ids=lambda p: p.name)
def test_kernel_source_is_ascii(path):
    """CuPy writes the source to a file in the locale's encoding before NVRTC reads it: any
    non-ASCII byte (a Greek letter in a comment) can fail there (issue 19, item 8)."""
    lines = [i for i, line in enumerate(path.read_bytes().splitlines(), 1)
             if not line.isascii()]
    assert lines == [], f"non-ASCII characters on lines {lines} of {path.name}"
