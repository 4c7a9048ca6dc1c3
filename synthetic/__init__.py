"""The synthetic linked multi-agency population (there is no real data here, ever).

- :mod:`synthetic.generate` — ``generate`` and ``write_dataset``
- :mod:`synthetic.config` — the generator's settings and recording biases
- :mod:`synthetic.calibration`, :mod:`synthetic.targets` — the check against published rates

Only ``vru`` (and tests, benchmarks) import this package; it uses the data contract's
vocabulary (:mod:`features.vocabulary`) and nothing else of the pipeline.
"""
