"""Research runs built on the library, driven by the ``eigennas`` command line (``eigennas ablate``);
not part of the library's API. Their committed results are in ``experiments/results/``."""
