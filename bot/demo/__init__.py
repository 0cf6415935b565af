"""`python -m bot demo`: the real bot against the bundled stand-ins, written up as a transcript.

`run.py` is the command (arguments, progress line, exit code); `session.py` starts the
Discord and kie.ai stand-ins (``imagine_standins``, the only place in bot/ that may import
them) and the bot, and plays `script.py`; `transcript.py` turns what the Discord stand-in
stored into one self-contained HTML file. `screenshots.py` photographs that file in headless
Chromium for the README.
"""
