"""The kiosk window: top bar (languages, back, finish), the notice, the screens, the idle warning.

HTTP calls run on a QThreadPool; their outcome comes back to the GUI thread through the
``CallBridge`` signal and only then touches the model (and so the widgets).
"""

from __future__ import annotations

import logging
import threading
import time
from functools import partial
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QEvent,
    QObject,
    QRunnable,
    QSize,
    Qt,
    QThreadPool,
    QTimer,
    Signal,
    Slot,
)
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QApplication,
    QFrame,
    QHBoxLayout,
    QPushButton,
    QSizePolicy,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from kiosk.flows import Call, Kiosk, Screen, run_work
from kiosk.qt_receipt import write_receipt
from kiosk.qt_screens import RESULT_CLASSES, SCREEN_CLASSES, KioskScreen
from kiosk.qt_text import message
from kiosk.qt_widgets import STYLE, button, label, restyle
from kiosk.session import KioskError, Level, Notice
from rocars.errors import RocarsError
from ui_common.app import font_family
from ui_common.i18n import Translations, tr
from ui_common.languages import ALL_LANGUAGES, Language

logger = logging.getLogger(__name__)

CATALOGUE = ("kiosk", Path(__file__).resolve().parent / "i18n")
KIOSK_SIZE = (1920, 1080)
#: A call may wait up to ``KIOSK_ANSWER_TIMEOUT_S`` (over two minutes) for its answer;
#: "Please wait…" standing that long looks like a kiosk that hung. After this long it also
#: says the kiosk is still working and how long it has waited, updated every
#: ``BUSY_HINT_EVERY_MS``.
BUSY_HINT_AFTER_S = 15.0
BUSY_HINT_EVERY_MS = 1000
#: The USB stick's calls out at once; one more is refused (``media_not_answering``): with
#: this many hung, another would hang too.
STICK_THREADS = 2


class CallBridge(QObject):
    """Hands a finished call from a pool thread to the GUI thread.

    Signals:
        finished(object, object, object): the call, its result, its error (or None).
    """

    finished = Signal(object, object, object)


class _Task(QRunnable):
    def __init__(self, call: Call, bridge: CallBridge) -> None:
        super().__init__()
        self.call = call
        self.bridge = bridge

    def run(self) -> None:
        # run_work turns anything the work raises into an error: a bug or a failing stick
        # must not take the kiosk down, nor leave it waiting
        result, error = run_work(self.call)
        self.bridge.finished.emit(self.call, result, error)


class StickThreads:
    """The USB stick's calls, each on a daemon thread of its own, at most ``limit`` at once.

    Not a ``QThreadPool``: a stick that hangs in the kernel may never give its thread
    back, and a pool waits for its threads when it is destroyed, so closing the kiosk
    (stopping its service) would wait for the stick as long. A daemon thread is left
    behind instead. Its answer goes to the window through the bridge while the window is
    there (``detach`` under the same lock: nothing is emitted from a bridge being
    destroyed) and is dropped after.
    """

    def __init__(self, bridge: CallBridge, limit: int) -> None:
        self.limit = limit
        self._bridge: CallBridge | None = bridge
        self._lock = threading.Lock()
        self._running = 0

    def start(self, call: Call) -> bool:
        """Start ``call``; False (and nothing started) when ``limit`` calls are out, or
        after ``detach``."""
        with self._lock:
            if self._running >= self.limit or self._bridge is None:
                return False
            self._running += 1
        try:
            threading.Thread(
                target=self._run, args=(call,), name="kiosk-stick", daemon=True
            ).start()
        except RuntimeError as err:  # no thread to be had (the process at its limit)
            logger.error("%s not started: %s", call.label, err)
            with self._lock:
                self._running -= 1
            return False
        return True

    def detach(self) -> None:
        """The window is going: answers that come later are dropped."""
        with self._lock:
            self._bridge = None

    def _run(self, call: Call) -> None:
        result: Any = None
        error: RocarsError | None = None
        try:
            result, error = run_work(call)
        finally:
            with self._lock:
                self._running -= 1
                if self._bridge is not None:
                    self._bridge.finished.emit(call, result, error)
                else:
                    logger.info("%s answered after the kiosk window closed", call.label)


class ScreenStack(QStackedWidget):
    """Sized by the screen showing, not by the tallest of all screens."""

    def minimumSizeHint(self) -> QSize:  # noqa: N802 (Qt's name)
        current = self.currentWidget()
        return current.minimumSizeHint() if current is not None else super().minimumSizeHint()

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt's name)
        current = self.currentWidget()
        return current.sizeHint() if current is not None else super().sizeHint()


class KioskWindow(QWidget):
    """The whole kiosk on one screen."""

    def __init__(
        self,
        model: Kiosk,
        translations: Translations,
        *,
        print_dir: Path,
        tick_ms: int = 500,
    ) -> None:
        super().__init__()
        self.setObjectName("kiosk")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.model = model
        self.translations = translations
        self.print_dir = print_dir
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(2)
        self.bridge = CallBridge(self)
        self.bridge.finished.connect(self._finished, Qt.ConnectionType.QueuedConnection)
        # the USB stick's calls (those with a ``hold_s``) on threads of their own: a hung
        # stick never returns its thread, and two of them would leave every later call
        # (a sign-in, a query) waiting in the queue, and the session held for ever
        self.stick_threads = StickThreads(self.bridge, STICK_THREADS)
        # however the window goes (closed, or destroyed as the process ends): its
        # ``destroyed`` comes before its children (the bridge) are deleted
        threads = self.stick_threads
        self.destroyed.connect(lambda *_: threads.detach())
        model.executor = self._execute
        self.last_receipt: Path | None = None
        self._session = model.session
        # When the call being waited for was handed to the pool (time.monotonic()); None
        # when none is out.
        self._busy_since: float | None = None
        self.busy_timer = QTimer(self)
        self.busy_timer.setInterval(BUSY_HINT_EVERY_MS)
        self.busy_timer.timeout.connect(self._show_busy)
        self._apply_font(model.lang)
        self._build()
        model.add_listener(self.refresh)
        self.timer = QTimer(self)
        self.timer.setInterval(tick_ms)
        self.timer.timeout.connect(self._tick)
        self.timer.start()
        app = QApplication.instance()
        if app is not None:
            app.installEventFilter(self)
        self.model.touch(time.monotonic())
        self.refresh()

    # -- layout ------------------------------------------------------------------------------

    def _build(self) -> None:
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(0)
        top = QFrame()
        top.setObjectName("topbar")
        bar = QHBoxLayout(top)
        bar.setContentsMargins(24, 10, 24, 10)
        self.heading = label(name="heading", wrap=False)
        bar.addWidget(self.heading, 1)
        self.lang_buttons: dict[Language, QPushButton] = {}
        for lang in ALL_LANGUAGES:
            b = button(
                lang.button_label,
                partial(self.model.set_language, lang),
                checkable=True,
                name=f"lang_{lang.value}",
            )
            b.setFixedWidth(110)
            self.lang_buttons[lang] = b
            bar.addWidget(b)
        bar.addSpacing(30)
        self.back = button(on_click=self.model.back, role="nav", name="back")
        self.finish = button(on_click=self.model.finish, role="nav", name="finish")
        self.back.setFixedWidth(200)
        self.finish.setFixedWidth(240)
        bar.addWidget(self.back)
        bar.addWidget(self.finish)
        outer.addWidget(top)

        middle = QVBoxLayout()
        middle.setContentsMargins(32, 6, 32, 0)
        # The idle warning floats over the top of the screen (it never moves the layout).
        self.idle = QFrame(self)
        self.idle.setObjectName("idle")
        idle_line = QHBoxLayout(self.idle)
        self.idle_text = label(name="idle_text")
        self.idle_text.setStyleSheet("font-size: 34px; font-weight: bold; color: #7a5200;")
        self.idle_continue = button(on_click=self._still_here, role="primary", name="idle_continue")
        self.idle_continue.setFixedWidth(420)
        idle_line.addWidget(self.idle_text, 1)
        idle_line.addWidget(self.idle_continue)
        self.idle.hide()
        self.notice = label(name="notice")
        self.notice.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        self.notice.setContentsMargins(14, 4, 14, 4)
        self.notice.hide()
        middle.addWidget(self.notice)
        self.busy = label(name="busy")
        self.busy.setStyleSheet("font-size: 32px; color: #12355b; font-weight: bold;")
        self.busy.hide()
        middle.addWidget(self.busy)
        outer.addLayout(middle)

        self.stack = ScreenStack()
        self.stack.currentChanged.connect(lambda _i: self.stack.updateGeometry())
        self.screens: dict[Screen, KioskScreen] = {}
        for cls in SCREEN_CLASSES:
            screen = cls(self.model)
            self.screens[screen.kind] = screen
            self.stack.addWidget(screen)
        for rcls in RESULT_CLASSES:
            result = rcls(self.model, self.print_receipt)
            self.screens[result.kind] = result
            self.stack.addWidget(result)
        outer.addWidget(self.stack, 1)

    # -- model to widgets --------------------------------------------------------------------

    def refresh(self) -> None:
        model = self.model
        if model.session != self._session:
            # The session ended: wipe every screen's fields and what it showed, not only
            # the one showing (KioskScreen.wipe: nothing to undo back, no rows left).
            self._session = model.session
            for each in self.screens.values():
                each.wipe()
        if self.translations.language != model.lang:
            self.translations.set_language(model.lang)
            self._apply_font(model.lang)
        for lang, b in self.lang_buttons.items():
            b.setChecked(lang == model.lang)
        self.heading.setText(tr("Window", "ROCARS self-help kiosk"))
        self.back.setText(tr("Window", "◀ Back"))
        self.finish.setText(tr("Window", "Finish ✕"))
        at_start = model.screen == Screen.START
        self.back.setVisible(not at_start)
        self.finish.setVisible(not at_start)
        self.idle_continue.setText(tr("Window", "I am still here"))
        if not model.busy:  # the answer is in, or the session that waited for it ended
            self._busy_since = None
            self.busy_timer.stop()
        self._show_busy()
        self.show_notice(model.notice)
        screen = self.screens[model.screen]
        screen.refresh()
        if self.stack.currentWidget() is not screen:
            self.stack.setCurrentWidget(screen)
        if not model.idle.warned:
            self.idle.hide()

    def show_notice(self, notice: Notice | None) -> None:
        if notice is None:
            self.notice.hide()
            self.notice.setText("")
            return
        self.notice.setText(message(notice))
        self.notice.setProperty("level", notice.level.value)
        self.notice.setProperty("key", notice.key)
        restyle(self.notice)
        self.notice.show()

    def _apply_font(self, lang: Language) -> None:
        """The language's CJK family for every widget of the window, and for the app
        (dialogs). Through the style sheet: with one set, Qt does not pass a font change
        of the application or of the window on to widgets already polished, so the
        first kiosk in a process drew Latin text in the default font and a language
        switch left some labels in the previous language's family."""
        family = font_family(lang)
        self.setStyleSheet(f'{STYLE}\nQWidget {{ font-family: "{family}"; }}\n')
        font = QFont(family)
        font.setPixelSize(30)
        app = QApplication.instance()
        if isinstance(app, QApplication):
            app.setFont(font)

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 (Qt's name)
        if event.type() == QEvent.Type.LanguageChange:
            self.screens[self.model.screen].refresh()
        super().changeEvent(event)

    # -- background calls --------------------------------------------------------------------

    def _execute(self, call: Call) -> None:
        # a stick's call starts here (or is refused); its answer comes through the bridge's
        # queued signal, after this returns, so the wait below is counted before it
        if call.hold_s is not None and not self.stick_threads.start(call):
            # every stick thread is held by a stick that never answered (or the window is
            # going): this call would wait behind them (its PIN with it) for ever; the
            # person is told at once
            logger.warning("%s refused: the USB stick's threads are all waiting", call.label)
            error = KioskError("the USB stick does not answer", key="media_not_answering")
            self.bridge.finished.emit(call, None, error)
            return
        if self._busy_since is None:
            # a new wait, counted from now; a call that follows another's answer at once
            # (a request sent once it is signed, a batch's rows once read) goes on with it
            self._busy_since = time.monotonic()
        self.busy_timer.start()
        self._show_busy()
        if call.hold_s is None:
            self.pool.start(_Task(call, self.bridge))

    def _show_busy(self) -> None:
        """Says "Please wait…" while a call is out; after BUSY_HINT_AFTER_S, how long so far."""
        since = self._busy_since
        waited = 0.0 if since is None else time.monotonic() - since
        if waited >= BUSY_HINT_AFTER_S:
            text = tr(
                "Window",
                "Still working… {seconds} s so far. The answer is taking longer than usual;"
                " please keep waiting.",
                seconds=int(waited),
            )
        else:
            text = tr("Window", "Please wait…")
        self.busy.setText(text)
        self.busy.setVisible(self.model.busy)

    @Slot(object, object, object)
    def _finished(self, call: Call, result: Any, error: RocarsError | None) -> None:
        self.model.complete(call, result, error)

    # -- idle --------------------------------------------------------------------------------

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt's name)
        if event.type() in (
            QEvent.Type.MouseButtonPress,
            QEvent.Type.TouchBegin,
            QEvent.Type.KeyPress,
        ):
            self.model.touch(time.monotonic())
            if self.idle.isVisible():
                self.idle.hide()
        return False

    def _still_here(self) -> None:
        self.model.touch(time.monotonic())
        self.idle.hide()

    def _tick(self) -> None:
        now = time.monotonic()
        state = self.model.tick(now)
        if state == "warn":
            self.idle_text.setText(
                tr(
                    "Window",
                    "Are you still there? Everything you entered will be cleared in {seconds} s.",
                    seconds=self.model.idle.seconds_left(now),
                )
            )
            self._show_idle()
        else:
            self.idle.hide()

    def _show_idle(self) -> None:
        self.idle.setGeometry(60, 90, self.width() - 120, 130)
        self.idle.raise_()
        self.idle.show()

    # -- printing ----------------------------------------------------------------------------

    def print_receipt(self, title: str, rows: list[tuple[str, str]], name: str) -> None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        path = self.print_dir / f"receipt_{name}_{stamp}.pdf"
        try:
            write_receipt(path, self.model.lang, title, rows, self.model.clock())
        except OSError as err:
            logger.warning("receipt not printed: %s", err)
            self.model.notice = Notice("print_failed")
        else:
            self.last_receipt = path
            self.model.notice = Notice("receipt_printed", {"file": path.name}, Level.INFO)
        self.refresh()

    def closeEvent(self, event: Any) -> None:  # noqa: N802 (Qt's name)
        self.timer.stop()
        self.busy_timer.stop()
        self.model.reset()
        self.pool.waitForDone(5000)
        # a stick's call still out is not waited for: it may never end (StickThreads)
        self.stick_threads.detach()
        app = QApplication.instance()
        if app is not None:
            app.removeEventFilter(self)
        super().closeEvent(event)
