"""Tetra serverless worker: remote execution of Python functions.

``worker.handler`` is the queue worker (GPU and CPU images), ``worker.lb`` the HTTP
load-balancer worker. Both run one job format::

    {"id": "...", "input": {"function_code": "def f(x):\\n  return x*2",
                            "function_name": "f", "args": [21], "kwargs": {}}}

The package deliberately imports nothing here: ``python -m worker.handler`` must not find
``worker.handler`` already imported (runpy warns about that), and the submodule
``worker.handler`` shares its name with the function ``worker.handler.handler``.
"""
