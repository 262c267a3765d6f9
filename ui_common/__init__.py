"""The Qt base the three screens share: start-up, translations, logging hooks, instruction art.

Not in the design's folder table: without it the XDB, AIOP and kiosk would each carry a
copy of the same start-up and translation code (see docs/architecture.md).
"""
