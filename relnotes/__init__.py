"""relnotes: relation networks from scratch.

One formula runs through the whole book,

    y_i = sum_j w(f_i, f_j, g_ij) * v(f_j)      (w normalised over j),

and every network here is an instance of it: self-attention, graph convolution, the object
relation module, the local relation layer, the non-local and global-context blocks.

Sub-packages (import them explicitly; nothing heavy is imported here):

- ``relnotes.ops``       functional ops (the relation formula, box geometry, local relation, ...)
- ``relnotes.nn``        one ``nn.Module`` per block, each a thin shell around an op
- ``relnotes.models``    networks built from the blocks
- ``relnotes.data``      synthetic data generators and adapters for real data
- ``relnotes.engine``    the small training / evaluation loop
- ``relnotes.analysis``  parameter and FLOP (multiply-accumulate) counting, attention statistics
- ``relnotes.repro``     profiles, artifacts and the notebook runner (``python -m relnotes.repro``)
"""

__version__ = "0.1.0"
