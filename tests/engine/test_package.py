"""The package docstring of relnotes.engine names every module of the package, and only those."""
import re
from pathlib import Path

import relnotes.engine as engine


def test_docstring_names_exactly_the_modules_of_the_package():
    folder = Path(engine.__file__).parent
    modules = {p.stem for p in folder.glob("*.py") if p.stem != "__init__"}
    modules |= {p.name for p in folder.iterdir() if (p / "__init__.py").exists()}
    named = set(re.findall(r"relnotes\.engine\.(\w+)", engine.__doc__))
    assert named == modules
