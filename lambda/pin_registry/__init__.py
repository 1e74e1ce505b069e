"""The pin registry: the image factory's record of which stacks pin which build.

Its own Lambda asset (``ImageFactory``), staged with the ``image_lookup``
modules it shares (pin reports, gateways, retries).
"""
