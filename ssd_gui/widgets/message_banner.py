"""A dismissable message strip shown at the top of a view (errors and notices)."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QToolButton, QWidget

_STYLES = {
    "error": "background:#5c1f1f; color:#ffdede; border-radius:4px;",
    "info": "background:#1f3a5c; color:#e2eeff; border-radius:4px;",
}


class MessageBanner(QFrame):
    """Shows one message at a time; hidden until :meth:`show_message` is called.

    Non-modal on purpose: the app keeps running (and tests can read ``text()``) while a
    message is up, unlike a message box.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.label = QLabel(self)
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        close = QToolButton(self)
        close.setText("✕")
        close.setAutoRaise(True)
        close.clicked.connect(self.dismiss)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 4, 4)
        layout.addWidget(self.label, 1)
        layout.addWidget(close, 0, Qt.AlignmentFlag.AlignTop)
        self.kind = ""
        self.topic = ""
        self.hide()

    def show_message(self, text: str, kind: str = "error", topic: str = "") -> None:
        """Show ``text``; ``kind`` is "error" or "info"; ``topic`` lets :meth:`dismiss_topic` clear it."""
        self.kind = kind
        self.topic = topic
        self.setStyleSheet(f"MessageBanner {{{_STYLES.get(kind, _STYLES['info'])}}} QLabel {{color: inherit;}}")
        self.label.setText(text)
        self.show()

    def text(self) -> str:
        """The message shown now ("" when dismissed)."""
        return self.label.text()

    def dismiss(self) -> None:
        self.label.clear()
        self.kind = ""
        self.topic = ""
        self.hide()

    def dismiss_topic(self, topic: str) -> None:
        """Hide the message if it is about ``topic`` (e.g. a model error once a model loaded)."""
        if self.topic == topic:
            self.dismiss()
