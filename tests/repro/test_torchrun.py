"""``run --launcher torchrun``: a notebook's code as a script in N processes, every fit() with
DDP. On CPU with gloo: two processes give the one-process (papermill) run's numbers within float
rounding, rank 0 writes the artifact, and the CLI refuses what it cannot do."""

import functools

import nbformat
import pytest

from relnotes.repro import Artifact
from relnotes.repro.__main__ import main
from relnotes.repro.runner import NotebookError, run_notebook
from relnotes.repro.torchrun import notebook_script, run_notebook_torchrun

# A notebook as the book's are: parameters, a fit() of a small network (48 examples, a global
# batch of 8, 2 epochs), an artifact with the final loss and a checksum of the weights, a figure.
TRAIN = '''
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import TensorDataset
from relnotes.engine import fit, seed_everything
from relnotes.repro import Artifact, Column

seed_everything(0, threads=1)
model = nn.Sequential(nn.Linear(6, 32), nn.Tanh(), nn.Linear(32, 3))
g = torch.Generator().manual_seed(1)
data = TensorDataset(torch.randn(48, 6, generator=g), torch.randint(0, 3, (48,), generator=g))
loss_fn = lambda m, b: F.cross_entropy(m(b[0]), b[1])
opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
history = fit(model, data, loss_fn, opt, epochs=2, batch_size=8, seed=3, progress=False)
'''
WRITE = '''
import matplotlib.pyplot as plt
world = torch.distributed.get_world_size() if torch.distributed.is_initialized() else 1
art = Artifact("ddp_nb", "DDP", profile=profile,
               columns=[Column("loss", "loss"), Column("w", "w"), Column("world", "world")])
art.add_row("run", loss=history.step_losses[-1],
            w=float(sum(p.double().abs().sum() for p in model.parameters())), world=world)
art.write(artifact_dir)
fig, ax = plt.subplots()
ax.plot(history.step_losses)
fig.savefig(f"{artifact_dir}/ddp_nb.png")
'''


PARAMETERS = 'profile = "smoke"\nartifact_dir = "a"\nnote = None'
INSTALL = "install_cell_ran = True"     # stands for relnotes' install cell: never run here


@pytest.fixture
def write_nb(write_nb):
    """conftest's toy notebooks, with an install cell and one more parameter (``note``)."""
    return functools.partial(write_nb, parameters=PARAMETERS, install=INSTALL)


def test_the_script_is_the_notebook_with_the_runners_lines_in_place(write_nb, tmp_path):
    nb = write_nb(tmp_path / "nb" / "x.ipynb", "y = 2 * len(note)")
    text = notebook_script(nb, {"profile": "cpu", "artifact_dir": "/out", "note": "hi"},
                           probe=tmp_path / "probe")
    compile(text, "x.py", "exec")
    assert "install_cell_ran" not in text
    order = [text.index(s) for s in ("_relnotes_init_from_env()", 'profile = "smoke"',
                                     'profile = "cpu"', 'note = "hi"', "rank{_relnotes_dist.rank}",
                                     "y = 2 * len(note)", "_relnotes_cleanup()")]
    assert order == sorted(order)
    bare = tmp_path / "bare.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1")]), bare)
    with pytest.raises(NotebookError, match="no cell tagged 'parameters'"):
        notebook_script(bare, {"profile": "cpu"})


def test_two_processes_train_like_one_and_rank_0_writes(write_nb, tmp_path):
    nb = write_nb(tmp_path / "notebooks" / "ch" / "ddp_nb.ipynb", TRAIN, WRITE)
    one = run_notebook(nb, "smoke", tmp_path / "one", notebooks_root=tmp_path / "notebooks")
    assert one.error is None, one.error
    two = run_notebook_torchrun(nb, "smoke", tmp_path / "two", nproc=2,
                                notebooks_root=tmp_path / "notebooks", parameters={"note": "x"})
    assert two.error is None, two.error
    assert two.output == tmp_path / "two" / "smoke" / "torchrun" / "ddp_nb.py"
    [a1], [a2] = (Artifact.read(p) for p in one.artifacts), (Artifact.read(p) for p in two.artifacts)
    r1, r2 = a1.rows[0].values, a2.rows[0].values
    assert (r1["world"]["ours"], r2["world"]["ours"]) == (1, 2)
    assert r2["w"]["ours"] == pytest.approx(r1["w"]["ours"], rel=1e-5)
    assert r2["loss"]["ours"] == pytest.approx(r1["loss"]["ours"], rel=1e-5)
    assert a2.environment["launcher"] == {"torchrun": 2}
    assert a2.environment["time"]["wall_s"] > 0 and a2.environment["time"]["cpu_s"] > 0
    assert a2.environment["time"]["host_peak_mib"] > 50  # per process, the larger rank's
    # rank 1 wrote its own copy aside; the runner collected rank 0's only
    assert (two.artifact_dir / "ddp_nb.png").is_file()
    assert (two.artifact_dir / "rank1" / "ddp_nb.json").is_file()
    assert [p.name for p in two.artifacts] == ["ddp_nb.json"]


def test_a_failing_rank_is_reported_not_raised(write_nb, tmp_path):
    nb = write_nb(tmp_path / "nb" / "bad.ipynb", "raise ValueError('no luck')")
    result = run_notebook_torchrun(nb, "smoke", tmp_path / "b", nproc=1)
    assert result.error and "failed under torchrun (1 processes, exit status 1)" in result.error
    assert result.artifacts == []


def test_the_command_line_checks_its_options(write_nb, tmp_path, capsys):
    nb = write_nb(tmp_path / "nb" / "x.ipynb", "1")
    assert main(["run", "--launcher", "torchrun", "--nproc", "2", "--update-references",
                 str(nb)]) == 2
    assert "--update-references takes a one-process run" in capsys.readouterr().err
    assert main(["run", "--nproc", "2", str(nb)]) == 2
    assert "--nproc goes with --launcher torchrun" in capsys.readouterr().err
    assert main(["run", "--launcher", "torchrun", "--nproc", "0", str(nb)]) == 2
    with pytest.raises(ValueError, match="nproc must be an int >= 1; got 0"):
        run_notebook_torchrun(nb, "smoke", tmp_path / "b", nproc=0)
    with pytest.raises(NotebookError, match=r"no parameter\(s\) \['nope'\]"):
        run_notebook_torchrun(nb, "smoke", tmp_path / "b", nproc=1, parameters={"nope": 1})
