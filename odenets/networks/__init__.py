"""The networks layer: residual fields, scheme blocks and stages, ``SolverNet``, presets,
noise models and the reversible backward. Imports :mod:`odenets.numerics`, never
:mod:`odenets.workflow`."""
