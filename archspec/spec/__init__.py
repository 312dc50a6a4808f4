"""The ResNet spec: its schema, composition (extends, width, depth), reading, dumping, hashing and presets.

No torch and no shape arithmetic: `archspec.arch.validate.load_spec` adds the shape check by lowering.
"""
