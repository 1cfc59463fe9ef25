"""Rendering: compile a campaign's template once, personalise and package per recipient."""
