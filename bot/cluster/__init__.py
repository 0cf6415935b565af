"""Several bot processes on one database: messages between them and limits shared by them.

Nothing here imports discord; the composition root (bot/runtime.py) builds one Notifier and
one limiter per process and hands them to whoever needs them.
"""
