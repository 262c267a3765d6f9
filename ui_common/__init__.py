"""The Qt base the three screens share: start-up, translations, logging hooks, instruction art.

Not in the design's folder table: without it the XDB, AIOP and kiosk would each carry a
copy of the same start-up and translation code (see docs/architecture.md).

Stable API (the kiosk, XDB and AIOP build on it; add, do not change):

* ``app``: ``start_app``, ``install_hooks``, ``check_cjk_font``, ``font_family``,
  ``screen_font``, ``missing_glyphs``
* ``i18n``: ``Translations`` (catalogues, ``set_language``, ``text`` in any language),
  ``tr``, ``translate_noop``, ``UI_COMMON_CATALOGUE``
* ``languages``: ``Language``, ``ALL_LANGUAGES`` (plain, no Qt)
* ``lanewatch``: ``LaneWatch``, ``Shown``, ``FailReason``, ``SyncMark`` (plain, no Qt)
* ``qt_lanewatch``: ``BusBridge``, ``LaneWatchController``, ``connect_device``
* ``instruction``: words, colours and pictograms per instruction code
* ``textfit``: ``draw_fitted`` / ``DrawnText``; ``screenshot``: ``grab_png``, ``colour_share``
* ``linguist``: catalogue checks (``python -m ui_common.linguist update|check|compile PKG``)
"""
