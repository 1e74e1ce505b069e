"""Deploy-time resolver for ``LatestImageBuild``: newest AVAILABLE Image Builder build.

The custom resource handler is ``image_lookup.handler.on_event``.
"""

__version__ = "0.2.0"
