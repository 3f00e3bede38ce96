"""Train-free NAS on NATS-Bench: ``benchmark`` (the accuracy tables), ``images`` (image batches),
``cache`` (the score cache), ``scores`` (the score registry), ``scorer`` (the caching scorer of cells:
scalar values and cached spectra), ``search`` (sampling protocols and rank
correlation) and ``strategies`` (pruning, evolution, supernets). The data folder is found by
``theory.data_dir``."""
