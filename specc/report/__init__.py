"""Reporters: turn results (diagnostics, desired sets, plans, spec diffs) into text, JSON or Markdown.

Takes values, returns strings. The CLI prints what these return; nothing here prints or reads files.
"""
