"""The ``latest-image-build`` command line: resolve, check and lock.

It reads CloudFormation and cloud assemblies, so it lives apart from the Lambda
asset (``image_lookup``), which it depends on and which never depends on it.
"""
