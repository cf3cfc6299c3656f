"""Output for people and machines (no torch): terminal tables (``tables``), CSV and Markdown
(``export``), display frames (``views``), charts (``charts``), atomic files (``files``)."""
