"""The demo data set (`murmur demo seed`) and the scripted demo run (`murmur demo`).

`people` generates contacts and the CSV export they come in, `content` holds the templates,
segments and campaigns, `seed` writes them all through the platform's own code paths (the
contact importer's COPY path, the domain functions), `summary` reads a campaign back from the
marts and `run` strings the steps of `make demo` together.
"""
