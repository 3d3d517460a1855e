"""nasforge.deploy: the stage after the search.

It compresses the winning architecture(s) with registered compressors, exports them with
registered exporters, checks numeric parity and benchmarks them with onnxruntime
(:mod:`nasforge.deploy.pipeline`, driven by a config's ``compress:``/``export:`` sections), and
provides ``nasforge compress`` (:mod:`nasforge.deploy.compress_cli`). What it needs to know about
the evaluator that trained a model comes from that evaluator's deploy adapter
(:mod:`nasforge.core.deployment`).
"""
