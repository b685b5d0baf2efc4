"""The networks layer: residual fields, scheme blocks and stages, ``SolverNet``, presets,
noise models and the reversible backward. Imports :mod:`odenets.numerics`, never
:mod:`odenets.workflow`."""

from . import presets  # noqa: F401  (registers the built-in presets)
