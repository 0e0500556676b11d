"""The sample machine data and its generator (make_sample.py), importable from tests as
`sample_data.make_sample` from the repository root."""
