"""The numerics layer: coefficient records, the family and scheme registries, one step
function per family, fixed-grid ``odeint`` / ``sdeint`` and fixed-point solves. Imports
nothing from :mod:`odenets.networks`, :mod:`odenets.unfold` or :mod:`odenets.workflow`.

Importing it registers every built-in family and scheme (:mod:`odenets.numerics.steps`).
"""

from . import steps  # noqa: F401  (registers the built-in families and schemes)
