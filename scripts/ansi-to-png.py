#!/usr/bin/env python3
"""Draws a tmux capture (capture-pane -e: text with ANSI colors) as a PNG, one monospace cell per character.

Usage: ansi-to-png.py CAPTURE.ans OUT.png COLUMNS ROWS
rich parses the escapes (colors, bold, dim, reverse); Pillow draws with DejaVu Sans Mono (fonts-dejavu-core).
"""
import sys

from PIL import Image, ImageDraw, ImageFont
from rich.color import ColorType
from rich.console import Console
from rich.terminal_theme import MONOKAI
from rich.text import Text

capture, out, columns, rows = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
FONT_DIR = "/usr/share/fonts/truetype/dejavu/"
regular = ImageFont.truetype(FONT_DIR + "DejaVuSansMono.ttf", 16)
bold = ImageFont.truetype(FONT_DIR + "DejaVuSansMono-Bold.ttf", 16)
cell_w = round(regular.getlength("M"))
cell_h = 20
pad = 12
theme = MONOKAI
background = tuple(theme.background_color)
foreground = tuple(theme.foreground_color)


def rgb(color, default):
    if color is None or color.type == ColorType.DEFAULT:
        return default
    return tuple(color.get_truecolor(theme))


def dim(c):
    return tuple(int(v * 0.6 + b * 0.4) for v, b in zip(c, background))


image = Image.new("RGB", (columns * cell_w + 2 * pad, rows * cell_h + 2 * pad), background)
draw = ImageDraw.Draw(image)
with open(capture, encoding="utf-8") as f:
    lines = f.read().split("\n")[:rows]
for row, line in enumerate(lines):
    text = Text.from_ansi(line)
    column = 0
    for segment in text.render(Console(width=10_000)):
        style = segment.style
        fg = rgb(style.color if style else None, foreground)
        bg = rgb(style.bgcolor if style else None, background)
        if style and style.reverse:
            fg, bg = bg, fg
        if style and style.dim:
            fg = dim(fg)
        font = bold if style and style.bold else regular
        for character in segment.text:
            if character == "\n" or column >= columns:
                continue
            x, y = pad + column * cell_w, pad + row * cell_h
            if bg != background:
                draw.rectangle([x, y, x + cell_w, y + cell_h], fill=bg)
            if character != " ":
                draw.text((x, y + 1), character, font=font, fill=fg)
            if style and style.underline:
                draw.line([x, y + cell_h - 2, x + cell_w, y + cell_h - 2], fill=fg)
            column += 1
image.save(out)
