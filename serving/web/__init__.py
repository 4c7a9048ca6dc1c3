"""The practitioners' web page (Jinja2 templates, one stylesheet, no build step)."""
