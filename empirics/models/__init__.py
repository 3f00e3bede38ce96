"""Finite torch networks of the search space: ``nats_net`` (the NATS-Bench cell network), ``nats_free``
(its BatchNorm-free NTK-parametrized twin, the finite network of ``theory.nats``), ``fc_model``
(the dense DAG networks), ``build`` (``build_model``: one entry for both) and ``batchnorm`` (the
BatchNorm modes of an empirical NTK)."""
