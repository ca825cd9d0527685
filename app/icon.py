"""The app icon: one SVG, drawn by QtSvg at any size (resources/ holds PNGs made from it)."""

from __future__ import annotations

from functools import cache

from PySide6.QtCore import QByteArray, QRectF, Qt
from PySide6.QtGui import QIcon, QImage, QPainter, QPixmap

SVG = """<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 256 256" width="256" height="256">
  <defs>
    <linearGradient id="bg" x1="0" y1="0" x2="0" y2="1">
      <stop offset="0" stop-color="#2b3a55"/>
      <stop offset="1" stop-color="#16202f"/>
    </linearGradient>
    <radialGradient id="glow" cx="0.5" cy="0.55" r="0.5">
      <stop offset="0" stop-color="#fff4c9"/>
      <stop offset="0.45" stop-color="#ffc04d"/>
      <stop offset="1" stop-color="#e07a10"/>
    </radialGradient>
    <radialGradient id="halo" cx="0.5" cy="0.5" r="0.5">
      <stop offset="0" stop-color="#ffb340" stop-opacity="0.55"/>
      <stop offset="1" stop-color="#ffb340" stop-opacity="0"/>
    </radialGradient>
  </defs>
  <rect x="8" y="8" width="240" height="240" rx="52" fill="url(#bg)"/>
  <circle cx="128" cy="142" r="104" fill="url(#halo)"/>
  <path d="M104 58 a24 24 0 0 1 48 0" fill="none" stroke="#d8dde6" stroke-width="10"
        stroke-linecap="round"/>
  <path d="M88 74 h80 l14 22 h-108 z" fill="#d8dde6"/>
  <rect x="84" y="96" width="88" height="96" rx="14" fill="url(#glow)"/>
  <path d="M128 112 c14 16 16 30 0 50 c-16 -20 -14 -34 0 -50 z" fill="#fffaf0" opacity="0.9"/>
  <rect x="96" y="96" width="8" height="96" fill="#16202f" opacity="0.35"/>
  <rect x="152" y="96" width="8" height="96" fill="#16202f" opacity="0.35"/>
  <path d="M74 192 h108 l-10 20 h-88 z" fill="#d8dde6"/>
</svg>
"""


def render(side: int) -> QImage:
    from PySide6.QtSvg import QSvgRenderer

    image = QImage(side, side, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    renderer = QSvgRenderer(QByteArray(SVG.encode()))
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter, QRectF(0, 0, side, side))
    painter.end()
    return image


@cache
def app_icon() -> QIcon:
    icon = QIcon()
    for side in (16, 24, 32, 48, 64, 128, 256):
        icon.addPixmap(QPixmap.fromImage(render(side)))
    return icon
