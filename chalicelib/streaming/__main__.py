"""``python -m chalicelib.streaming``: the streaming function's entrypoint (the image's ENTRYPOINT)."""

from chalicelib.streaming import runtime

raise SystemExit(runtime.main())
