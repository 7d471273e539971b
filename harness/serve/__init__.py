"""``bench serve``: the workspace's competitions in a browser, scored on the host.

``app`` builds the ASGI application (Starlette) over a workspace; ``board`` is its one adapter to
``harness.scoring`` (the same reading and submitting functions the command line uses); ``tokens``
keeps participants' hashed tokens; ``client`` is ``bench submit --server``, standard library only.
Importing this package imports no web framework: ``bench --help`` stays fast.
"""
