"""The workflow layer: datasets, training, checkpoints, distributed runs, comparisons, scheme
transfer, plots and the command line. May import every layer below it."""
