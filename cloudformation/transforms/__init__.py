"""One module per concern; each exposes ``transform(template) -> template`` and never mutates its input."""
