"""The numerics layer: coefficient records, the scheme registry, one step function per family,
fixed-grid ``odeint`` / ``sdeint`` and fixed-point solves. Imports nothing from
:mod:`odenets.networks`, :mod:`odenets.unfold` or :mod:`odenets.workflow`."""
